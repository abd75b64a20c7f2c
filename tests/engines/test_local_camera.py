"""Camera and new angles on real frames: zoom and push scale the picture the right way, pans and
tilts move it the right way (phase correlation), dutch angle rotates it, shake is seeded, mirror
flips it, close-up and wide reframe it, and the ratio crop keeps the subject in frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from editor import media
from editor.engines.local import yuv
from editor.engines.local.camera import Camera, Window
from editor.engines.local.plan import make_plan
from tests.engines.test_local_clips import edit, read_frames, shift, still_clip, texture, write_clip


@pytest.fixture(scope="module")
def still(tmp_path_factory):
    return still_clip(tmp_path_factory.mktemp("camera") / "still.mp4")


@pytest.fixture(scope="module")
def subject_left(tmp_path_factory):
    """A bright, detailed disc on a plain dark background, well to the left of centre."""
    frame = np.full((240, 320, 3), 35, np.uint8)
    patch = texture(60, 60, seed=5)
    disc = np.zeros((60, 60), np.uint8)
    cv2.circle(disc, (30, 30), 28, 255, -1)
    region = frame[90:150, 25:85]
    region[disc > 0] = np.clip(patch[disc > 0].astype(int) + 60, 0, 255).astype(np.uint8)
    return write_clip(tmp_path_factory.mktemp("camera") / "subject.mp4", (frame for _ in range(25)))


def _zoomed(frame: np.ndarray, scale: float) -> np.ndarray:
    h, w = frame.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0, scale)
    return cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def test_zoom_in_magnifies_towards_the_end(still, tmp_path):
    out = tmp_path / "zoom.mp4"
    edit(still, out, "zoom in")
    frames = read_frames(out)
    source = read_frames(still)[0]
    assert len(frames) == 25
    assert _error(frames[0], source) < 4
    assert _error(frames[-1], _zoomed(source, 1.35)) < _error(frames[-1], source) / 3


def test_zoom_out_ends_on_the_whole_frame(still, tmp_path):
    out = tmp_path / "zoom.mp4"
    edit(still, out, "zoom out")
    frames = read_frames(out)
    source = read_frames(still)[0]
    assert _error(frames[0], _zoomed(source, 1.35)) < _error(frames[0], source) / 3
    assert _error(frames[-1], source) < 4


@pytest.mark.parametrize(
    "prompt, axis, sign",
    [("pan right", 0, -1), ("pan left", 0, 1), ("tilt up", 1, 1), ("tilt down", 1, -1)],
)
def test_pans_and_tilts_move_the_picture_the_right_way(still, tmp_path, prompt, axis, sign):
    out = tmp_path / "move.mp4"
    edit(still, out, prompt)
    frames = read_frames(out)
    moved = shift(frames[8], frames[16])
    # Panning right shows what is to the right: the picture slides left (and tilting up slides it down).
    assert moved[axis] * sign > 3, moved
    assert abs(moved[1 - axis]) < 1, moved


def test_dutch_angle_rotates_the_picture(still, tmp_path):
    out = tmp_path / "dutch.mp4"
    edit(still, out, "dutch angle 10 degrees")
    frame = read_frames(out)[12]
    source = read_frames(still)[0]
    h, w = source.shape[:2]

    def rotated(angle):
        fit = np.cos(np.radians(abs(angle))) + (w / h) * np.sin(np.radians(abs(angle)))
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, max(fit, 1.0))
        return cv2.warpAffine(source, m, (w, h), flags=cv2.INTER_LINEAR)

    errors = {angle: _error(frame[60:180, 80:240], rotated(angle)[60:180, 80:240]) for angle in (-10, 0, 10)}
    # The camera rolls counter-clockwise, so the picture turns clockwise (a negative angle to OpenCV).
    assert min(errors, key=errors.get) == -10, errors
    assert errors[-10] < errors[0] / 4


def test_handheld_shake_moves_every_frame_and_follows_the_seed(still, tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    edit(still, a, "handheld", seed=1)
    edit(still, b, "handheld", seed=2)
    frames = read_frames(a)
    steps = [shift(x, y) for x, y in zip(frames, frames[1:])]
    assert np.std([s[0] for s in steps]) + np.std([s[1] for s in steps]) > 0.2
    assert max(abs(s[0]) + abs(s[1]) for s in steps) < 6
    other = read_frames(b)
    assert _error(frames[12], other[12]) > 2


def test_mirror_flips_left_and_right(still, tmp_path):
    out = tmp_path / "mirror.mp4"
    edit(still, out, "mirror")
    frame = read_frames(out)[5]
    source = read_frames(still)[5]
    assert _error(frame, source[:, ::-1]) < 4
    assert _error(frame, source) > 15


def test_flip_upside_down(still, tmp_path):
    out = tmp_path / "flip.mp4"
    edit(still, out, "flip it upside down")
    assert _error(read_frames(out)[5], read_frames(still)[5][::-1]) < 4


def _bright_box(frame: np.ndarray) -> tuple[float, float, int]:
    """Centre (fractions) and pixel count of the bright subject."""
    mask = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) > 70
    ys, xs = np.nonzero(mask)
    return xs.mean() / frame.shape[1], ys.mean() / frame.shape[0], int(mask.sum())


def test_ratio_crop_keeps_the_subject_where_a_centre_crop_loses_it(subject_left, tmp_path):
    smart, centre = tmp_path / "smart.mp4", tmp_path / "centre.mp4"
    result = edit(subject_left, smart, "crop to vertical", ratio="720:1280")
    edit(subject_left, centre, "crop to vertical, centre crop", ratio="720:1280")
    assert (media.probe(smart).width, media.probe(smart).height) == (720, 1280)
    x, _, area = _bright_box(read_frames(smart)[10])
    assert area > 20000 and 0.2 < x < 0.8
    assert (cv2.cvtColor(read_frames(centre)[10], cv2.COLOR_RGB2GRAY) > 70).sum() < 500
    assert any("following the" in note for note in result.notes)


def test_close_up_frames_the_subject_larger(subject_left, tmp_path):
    out = tmp_path / "close.mp4"
    edit(subject_left, out, "close-up")
    before = _bright_box(read_frames(subject_left)[10])
    x, y, area = _bright_box(read_frames(out)[10])
    assert area > before[2] * 2.2
    assert abs(x - 0.5) < abs(before[0] - 0.5)


def test_push_in_ends_closer_on_the_subject(subject_left, tmp_path):
    out = tmp_path / "push.mp4"
    edit(subject_left, out, "push in")
    frames = read_frames(out)
    first, last = _bright_box(frames[0]), _bright_box(frames[-1])
    assert last[2] > first[2] * 1.4
    assert abs(last[0] - 0.5) < abs(first[0] - 0.5)


def test_wide_shot_shows_the_whole_frame_over_a_blurred_fill(still, tmp_path):
    out = tmp_path / "wide.mp4"
    edit(still, out, "wide shot", ratio="720:1280")
    frame = read_frames(out)[5]
    source = read_frames(still)[5]
    # 320×240 fitted to 720 wide is 540 high, centred in 1280.
    band = cv2.resize(frame[370:910], (320, 240), interpolation=cv2.INTER_AREA)
    assert _error(band, source) < 8
    fill = cv2.cvtColor(frame[:300], cv2.COLOR_RGB2GRAY)
    inside = cv2.cvtColor(frame[400:880], cv2.COLOR_RGB2GRAY)
    assert cv2.Laplacian(fill, cv2.CV_32F).var() < cv2.Laplacian(inside, cv2.CV_32F).var() / 4


def test_a_window_on_the_whole_frame_gives_the_frame_as_the_warp_would(tmp_path):
    """Rendering skips the warp only where the warp would copy: the same frame, whole; a window a
    quarter-pixel off is still warped."""
    picture = texture(320, 240, seed=3)
    camera = Camera(make_plan("brighter", ratio="320:240", seed=1, has_reference=False), src_size=(320, 240),
                    out_size=(320, 240), main_frames=10, total_frames=10, rate=25.0, subject=None)
    whole = Window(cx=160, cy=120, k=1.0, angle=0.0, flip_x=False, flip_y=False)
    warped = cv2.warpAffine(picture, camera.matrix(whole, 1.0), (320, 240), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT101)
    assert np.array_equal(camera.render(picture, whole, 1.0), warped)
    assert np.array_equal(warped, picture)
    nudged = Window(cx=160.25, cy=120, k=1.0, angle=0.0, flip_x=False, flip_y=False)
    assert not np.array_equal(camera.render(picture, nudged, 1.0), picture)


@pytest.mark.parametrize(
    ("prompt", "out_size", "window"),
    [
        ("zoom in", (320, 240), Window(cx=170, cy=110, k=0.7, angle=9.0, flip_x=False, flip_y=False)),
        ("mirror", (320, 240), Window(cx=160, cy=120, k=1.0, angle=0.0, flip_x=True, flip_y=False)),
        ("flip it upside down", (320, 240), Window(cx=150, cy=120, k=0.9, angle=0.0, flip_x=False, flip_y=True)),
        ("wide shot", (240, 320), Window(cx=160, cy=120, k=320 / 240, angle=0.0, flip_x=False, flip_y=False)),
    ],
)
def test_a_yuv420p_frame_is_warped_as_its_rgb_picture_is(prompt, out_size, window):
    """Warping the planes (chroma at half size) gives the picture that warping RGB gives, up to
    what 4:2:0 itself loses; chroma warped with the luma's map would be tens of levels off."""
    rng = np.random.default_rng(4)
    picture = cv2.resize(rng.integers(0, 256, (15, 20, 3), dtype=np.uint8), (320, 240), interpolation=cv2.INTER_NEAREST)
    camera = Camera(make_plan(prompt, ratio=f"{out_size[0]}:{out_size[1]}", seed=1, has_reference=False), src_size=(320, 240),
                    out_size=out_size, main_frames=10, total_frames=10, rate=25.0, subject=None)
    want = camera.render(picture, window, 1.0)
    got = camera.render_yuv(yuv.from_rgb(picture, "ITU601"), window, 1.0)
    assert got.shape == (out_size[1] * 3 // 2, out_size[0])
    subsampling = _error(yuv.to_rgb(yuv.from_rgb(want, "ITU601"), "ITU601"), want)
    assert _error(yuv.to_rgb(got, "ITU601"), want) < subsampling + 2


def test_camera_moves_keep_the_levels_of_the_source(still, tmp_path):
    """A mirror moves pixels and nothing else: the picture's mean level and colour stay within a
    quarter of a level of the source's."""
    out = tmp_path / "mirror.mp4"
    edit(still, out, "mirror")
    made = np.mean([f.reshape(-1, 3).mean(axis=0) for f in read_frames(out)], axis=0)
    source = np.mean([f.reshape(-1, 3).mean(axis=0) for f in read_frames(still)], axis=0)
    assert np.abs(made - source).max() < 0.25
