"""Relight and finish on real frames: light from a side, vignette, spotlight, time of day, sharpen
and soften each move the picture the way their names say."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.engines.test_local_clips import edit, read_frames, still_clip, write_clip


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """An even mid-grey picture with fine texture: any light shape shows."""
    rng = np.random.default_rng(2)
    frame = np.clip(120 + rng.normal(0, 6, (240, 320, 3)), 0, 255).astype(np.uint8)
    return write_clip(tmp_path_factory.mktemp("light") / "flat.mp4", (frame for _ in range(10)))


@pytest.fixture(scope="module")
def still(tmp_path_factory):
    return still_clip(tmp_path_factory.mktemp("light") / "still.mp4", seconds=0.4)


def _luma(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(float)


def _frame(src, tmp_path, prompt, n=5):
    out = tmp_path / "out.mp4"
    edit(src, out, prompt)
    return read_frames(out)[n]


@pytest.mark.parametrize("side", ["left", "right"])
def test_light_from_a_side_brightens_that_side(flat, tmp_path, side):
    y = _luma(_frame(flat, tmp_path, f"light from the {side}"))
    left, right = y[:, :80].mean(), y[:, -80:].mean()
    lit, dark = (left, right) if side == "left" else (right, left)
    assert lit > dark + 30


def test_light_from_above_brightens_the_top(flat, tmp_path):
    y = _luma(_frame(flat, tmp_path, "light from above"))
    assert y[:60].mean() > y[-60:].mean() + 30


def test_vignette_darkens_the_corners_not_the_centre(flat, tmp_path):
    y = _luma(_frame(flat, tmp_path, "vignette"))
    source = _luma(read_frames(flat)[5])
    assert abs(y[100:140, 140:180].mean() - source[100:140, 140:180].mean()) < 4
    assert y[:30, :30].mean() < source[:30, :30].mean() - 25


def test_spotlight_lights_the_subject_and_darkens_the_rest(tmp_path):
    frame = np.full((240, 320, 3), 110, np.uint8)
    cv2.circle(frame, (230, 120), 30, (200, 60, 60), -1)
    cv2.circle(frame, (230, 120), 12, (40, 200, 230), -1)
    src = write_clip(tmp_path / "subject.mp4", (frame for _ in range(10)))
    y = _luma(_frame(src, tmp_path, "spotlight on the subject"))
    source = _luma(frame)
    around_subject = (y[100:140, 250:265].mean(), source[100:140, 250:265].mean())
    far_corner = (y[:40, :40].mean(), source[:40, :40].mean())
    assert far_corner[0] < far_corner[1] - 30
    assert around_subject[0] > around_subject[1] - 8
    assert around_subject[0] - far_corner[0] > 50


def _mean_rgb(frame):
    return frame.reshape(-1, 3).astype(float).mean(axis=0)


def _saturation(frame):
    return cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)[..., 1].astype(float).mean()


def test_times_of_day_light_the_scene_as_they_should(still, tmp_path):
    source = read_frames(still)[5]
    before = _mean_rgb(source)
    golden = _mean_rgb(_frame(still, tmp_path, "golden hour"))
    blue = _mean_rgb(_frame(still, tmp_path, "blue hour"))
    night = _frame(still, tmp_path, "at night")
    overcast = _frame(still, tmp_path, "overcast")
    assert golden[0] - golden[2] > before[0] - before[2] + 15
    assert blue[2] - blue[0] > before[2] - before[0] + 10 and blue.mean() < before.mean()
    assert _mean_rgb(night).mean() < before.mean() * 0.5
    assert _saturation(overcast) < _saturation(source) * 0.85
    assert _luma(overcast).std() < _luma(source).std()


def _detail(frame):
    return cv2.Laplacian(_luma(frame), cv2.CV_64F).var()


def test_sharpen_adds_detail_and_soften_removes_it(still, tmp_path):
    source = _detail(read_frames(still)[5])
    assert _detail(_frame(still, tmp_path, "sharpen")) > source * 1.3
    assert _detail(_frame(still, tmp_path, "soften")) < source * 0.5


@pytest.mark.parametrize("prompt", ["vignette", "spotlight on the subject", "blue hour"])
def test_a_neutral_relight_on_yuv_planes_gives_what_it_gives_on_rgb(prompt):
    """The same gain on R, G and B is the same gain on Y above black and on U and V about their
    zero: relighting the planes gives the RGB relight's picture, up to what 4:2:0 itself loses."""
    from editor.engines.local import yuv
    from editor.engines.local.light import Relight
    from editor.engines.local.plan import make_plan
    from tests.engines.test_local_clips import texture

    relight = Relight(make_plan(prompt, ratio="320:240", seed=1, has_reference=False), 320, 240)
    assert relight.active and relight.neutral
    picture = texture(320, 240, seed=9)
    spot = (0.6, 0.4, 0.2)
    want = relight.apply(picture, spot)
    got = yuv.to_rgb(relight.apply_yuv(yuv.from_rgb(picture, "ITU709"), spot), "ITU709")
    subsampling = np.abs(yuv.to_rgb(yuv.from_rgb(want, "ITU709"), "ITU709").astype(float) - want).mean()
    assert np.abs(got.astype(float) - want).mean() < subsampling + 1.5
    assert np.abs(got.astype(float) - picture).mean() > subsampling + 5  # it did relight


def test_a_tinted_relight_is_not_applied_to_planes():
    from editor.engines.local import yuv
    from editor.engines.local.light import Relight
    from editor.engines.local.plan import make_plan

    relight = Relight(make_plan("light from the left", ratio="320:240", seed=1, has_reference=False), 320, 240)
    assert relight.active and not relight.neutral
    with pytest.raises(ValueError):
        relight.apply_yuv(yuv.new(320, 240))
