"""Masked removal on real frames: what the mask covers is gone on every frame, filled with the true
background where other frames show it, inpainted where none does."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from editor.engines.base import EngineError
from tests.engines.test_local_clips import edit, read_frames, texture, write_clip

BOX = (slice(90, 150), slice(130, 190))  # rows, columns of the object


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A background sliding left 3 px a frame, a red sign fixed over it; and the clean background."""
    folder = tmp_path_factory.mktemp("remove")
    backgrounds, frames = _sliding_sign(BOX, seed=9)
    clip = write_clip(folder / "sign.mp4", frames)
    truth = write_clip(folder / "truth.mp4", backgrounds)
    return clip, truth


def _sliding_sign(box, *, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """25 frames of a textured background sliding left 3 px a frame: the clean backgrounds, and
    the same with a red sign fixed over `box` (rows, columns)."""
    wide = texture(420, 240, seed=seed)
    backgrounds = [wide[:, 3 * n : 3 * n + 320].copy() for n in range(25)]
    frames = []
    for background in backgrounds:
        frame = background.copy()
        frame[box] = (220, 30, 30)
        frames.append(frame)
    return backgrounds, frames


def _mask(path, size=(320, 240), scale=1, box=BOX):
    mask = np.zeros((size[1] * scale, size[0] * scale), np.uint8)
    mask[box[0].start * scale : box[0].stop * scale, box[1].start * scale : box[1].stop * scale] = 255
    Image.fromarray(mask).save(path)
    return path


def _redness(region: np.ndarray) -> float:
    r, g, b = (region[..., c].astype(float) for c in range(3))
    return float((r - (g + b) / 2).mean())


def test_removal_fills_from_other_frames_with_the_true_background(scene, tmp_path):
    clip, truth = scene
    out = tmp_path / "clean.mp4"
    result = edit(clip, out, "remove the sign", mask=_mask(tmp_path / "mask.png"))
    assert "remove the masked region" in result.summary
    frames, truths, originals = read_frames(out), read_frames(truth), read_frames(clip)
    assert len(frames) == 25
    for n in (0, 12, 24):
        got, want, had = frames[n][BOX], truths[n][BOX], originals[n][BOX]
        assert abs(_redness(got) - _redness(want)) < 8 and _redness(had) > 100
        error = np.abs(got.astype(float) - want.astype(float)).mean()
        assert error < 10, (n, error)
        assert error < np.abs(had.astype(float) - want.astype(float)).mean() / 5
    # Outside the mask (and its small margin) the picture is only re-encoded.
    assert np.abs(frames[12][:, :100].astype(float) - originals[12][:, :100].astype(float)).mean() < 5


def test_what_no_frame_shows_is_inpainted(tmp_path):
    picture = texture(320, 240, seed=4)
    picture[BOX] = (220, 30, 30)
    clip = write_clip(tmp_path / "static.mp4", (picture for _ in range(10)))
    out = tmp_path / "clean.mp4"
    edit(clip, out, "erase it", mask=_mask(tmp_path / "mask.png"))
    region = read_frames(out)[5][BOX]
    assert _redness(region) < 25
    border = np.concatenate([picture[85:90, 130:190].reshape(-1, 3), picture[150:155, 130:190].reshape(-1, 3)]).astype(float)
    assert np.abs(region.reshape(-1, 3).mean(axis=0) - border.mean(axis=0)).max() < 40


def test_a_mask_of_another_size_is_scaled_to_the_frame(scene, tmp_path):
    clip, truth = scene
    out = tmp_path / "clean.mp4"
    edit(clip, out, "remove", mask=_mask(tmp_path / "big.png", scale=3))
    assert _redness(read_frames(out)[12][BOX]) < 25


def test_an_empty_mask_is_refused(scene, tmp_path):
    clip, _ = scene
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((240, 320), np.uint8)).save(empty)
    with pytest.raises(EngineError) as caught:
        edit(clip, tmp_path / "o.mp4", "remove", mask=empty)
    assert caught.value.code == "mask_empty"


def test_a_mask_in_the_corner_is_filled_from_other_frames_too(tmp_path):
    """The hole touches two edges of the picture; the background slides in from the right, 3 px a
    frame, so 18 frames back (the farthest removal looks) it showed all but the hole's first 16 columns."""
    corner = (slice(0, 60), slice(0, 70))
    backgrounds, frames = _sliding_sign(corner, seed=5)
    clip = write_clip(tmp_path / "corner.mp4", frames)
    out = tmp_path / "clean.mp4"
    edit(clip, out, "remove the logo", mask=_mask(tmp_path / "mask.png", box=corner))
    got = read_frames(out)[24]
    assert _redness(got[corner]) < 25
    shown = (corner[0], slice(20, 70))
    error = np.abs(got[shown].astype(float) - backgrounds[24][shown].astype(float)).mean()
    assert error < 10, error


def test_removal_on_a_boomerang_cleans_every_frame_both_ways(scene, tmp_path):
    """The timeline turns back at the end: frames already made are made again from the source,
    the same way, so the way back mirrors the way there."""
    clip, truth = scene
    out = tmp_path / "clean.mp4"
    edit(clip, out, "boomerang", mask=_mask(tmp_path / "mask.png"))
    frames, truths = read_frames(out), read_frames(truth)
    assert len(frames) > 40
    for n, frame in enumerate(frames):
        assert _redness(frame[BOX]) < 25, n
    assert np.abs(frames[3][BOX].astype(float) - truths[3][BOX].astype(float)).mean() < 10
    assert np.abs(frames[3][BOX].astype(float) - frames[-4][BOX].astype(float)).mean() < 4
