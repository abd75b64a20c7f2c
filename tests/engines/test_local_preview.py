"""Preview on one frame: the plan on the frame at a time, matching what the render makes there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from editor.engines.base import EditRequest, EngineError
from editor.engines.local import frame_preview as preview
from editor.engines.local import pipeline
from tests.media_factory import frame_at, make_clip, make_person_clip, person_frame


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("scene") / "scene.mp4", seconds=2.0, size=(640, 360), pattern="scene", audio=False)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize(
    "prompt, ratio",
    [
        ("golden hour, slightly", "640:360"),
        ("teal and orange, vignette", "640:360"),
        ("zoom in a lot", "640:360"),
        ("light from the left, warmer", "640:360"),
        ("reframe it vertical", "360:640"),
    ],
)
def test_the_preview_is_the_rendered_frame_at_that_time(scene, tmp_path, prompt, ratio):
    out = tmp_path / "out.mp4"
    pipeline.run(EditRequest(scene, out, prompt, ratio, 5), lambda f: None)
    for seconds in (0.4, 1.6):
        shown = preview.preview(EditRequest(scene, tmp_path / "x.mp4", prompt, ratio, 5), seconds)
        rendered = frame_at(out, int(round(seconds * 25)))
        assert shown.picture.shape == rendered.shape
        # Only the render's encoding (and its chroma subsampling) stands between them.
        assert _psnr(shown.picture, rendered) > 30, (prompt, seconds, _psnr(shown.picture, rendered))


def test_the_camera_is_where_it_would_be_at_that_time(scene, tmp_path):
    request = EditRequest(scene, tmp_path / "x.mp4", "zoom in a lot", "640:360", 1)
    start, end = preview.preview(request, 0.0).picture, preview.preview(request, 1.9).picture
    plain = EditRequest(scene, tmp_path / "x.mp4", "warmer", "640:360", 1)
    assert _psnr(start, preview.preview(plain, 0.0).picture) < 99
    assert _psnr(start, end) < 25  # the zoom has moved on by the end


def test_a_people_edit_previews_on_the_frame(tmp_path):
    clip = make_person_clip(tmp_path / "person.mp4", frames=10, size=(640, 360))
    shown = preview.preview(EditRequest(clip, tmp_path / "x.mp4", "black and white except the person", "640:360", 1), 0.2)
    truth = person_frame(5, (640, 360))[1]
    import cv2

    saturation = cv2.cvtColor(shown.picture, cv2.COLOR_RGB2HSV)[..., 1].astype(float)
    assert saturation[truth < 0.01].mean() < 8 and saturation[truth > 0.99].mean() > 60
    assert "People: found on this frame." in shown.notes


def test_removing_a_person_is_said_not_shown_and_the_rest_of_the_plan_is(tmp_path):
    clip = make_person_clip(tmp_path / "person.mp4", frames=10, size=(640, 360))
    plain = preview.preview(EditRequest(clip, tmp_path / "x.mp4", "warmer", "640:360", 1), 0.2)
    shown = preview.preview(EditRequest(clip, tmp_path / "x.mp4", "remove the person, warmer", "640:360", 1), 0.2)
    assert any("Removing a person" in note for note in shown.notes)
    assert _psnr(shown.picture, plain.picture) > 40


def test_what_the_preview_cannot_show_is_said_and_refusals_are_the_renders(scene, tmp_path):
    shown = preview.preview(EditRequest(scene, tmp_path / "x.mp4", "remove the logo, warmer", "640:360", 1), 0.5, has_mask=True)
    assert any("Removal" in note for note in shown.notes)
    with pytest.raises(EngineError) as caught:
        preview.preview(EditRequest(scene, tmp_path / "x.mp4", "frabjous plorb", "640:360", 1), 0.5)
    assert len(caught.value.suggestions) == 3
    with pytest.raises(EngineError) as caught:
        preview.preview(EditRequest(scene, tmp_path / "x.mp4", "blur the background", "640:360", 1), 0.5)
    assert caught.value.code == "no_person"


def test_a_time_past_the_end_shows_the_last_frame(scene, tmp_path):
    request = EditRequest(scene, tmp_path / "x.mp4", "warmer", "640:360", 1)
    assert np.array_equal(preview.preview(request, 99.0).picture, preview.preview(request, 49 / 25).picture)
