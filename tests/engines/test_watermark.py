"""The watermark burned into a share link's copy: where it lands, how strong it is, and that the copy
keeps everything else of the result (size, frames, timing, sound)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from editor.engines.base import EngineError
from editor.engines.watermark import Watermark, burn, overlay
from tests.media_factory import audio_seconds, make_clip, probe_frames, read_frames

SIZE = (320, 240)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("wm") / "in.mp4", seconds=1.0, size=SIZE, pattern="scene")


def _difference(a: Path, b: Path) -> np.ndarray:
    """Mean absolute difference per pixel (all frames, all channels) of two clips of one size."""
    total = None
    for n, (x, y) in enumerate(zip(read_frames(a), read_frames(b), strict=True), 1):
        d = np.abs(x.astype(np.int16) - y.astype(np.int16)).mean(axis=2)
        total = d if total is None else total + d
    return total / n


def _box(width: int, height: int, mark: Watermark) -> tuple[slice, slice]:
    drawn = overlay(width, height, mark)
    h, w = drawn.alpha.shape
    return slice(drawn.y, drawn.y + h), slice(drawn.x, drawn.x + w)


def test_the_copy_keeps_the_result_and_only_the_text_changes(clip, tmp_path):
    mark = Watermark("DRAFT for Acme", "bottom-right", 0.8)
    out = tmp_path / "marked.mp4"
    burn(clip, out, mark, metadata={"comment": "share copy"})
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert (vb.codec_context.width, vb.codec_context.height) == SIZE
        assert vb.codec_context.name == "h264" and b.metadata.get("comment") == "share copy"
    assert probe_frames(out) == pytest.approx(probe_frames(clip), abs=1e-3)
    assert audio_seconds(out) == pytest.approx(audio_seconds(clip), abs=0.05)
    diff = _difference(clip, out)
    rows, cols = _box(*SIZE, mark)
    inside = diff[rows, cols]
    outside = diff.copy()
    outside[rows, cols] = np.nan
    # The text sits in the bottom-right corner, and changes the picture there...
    assert rows.start > SIZE[1] / 2 and cols.stop > SIZE[0] * 0.8
    assert np.nanmean(inside) > 12
    # ...and nowhere else, beyond what encoding once more costs.
    assert np.nanmean(outside) < 2.5


def test_opacity_and_position_are_what_was_asked(clip, tmp_path):
    faint, strong, top = tmp_path / "faint.mp4", tmp_path / "strong.mp4", tmp_path / "top.mp4"
    burn(clip, faint, Watermark("DRAFT", "bottom-left", 0.15))
    burn(clip, strong, Watermark("DRAFT", "bottom-left", 0.9))
    burn(clip, top, Watermark("DRAFT", "top-left", 0.9))
    rows, cols = _box(*SIZE, Watermark("DRAFT", "bottom-left", 0.9))
    faint_change = _difference(clip, faint)[rows, cols].mean()
    strong_change = _difference(clip, strong)[rows, cols].mean()
    assert strong_change > 3 * faint_change
    # At the top, the bottom-left corner keeps its picture.
    top_diff = _difference(clip, top)
    assert top_diff[rows, cols].mean() < 2.5
    top_rows, top_cols = _box(*SIZE, Watermark("DRAFT", "top-left", 0.9))
    assert top_rows.stop < SIZE[1] / 2 and top_diff[top_rows, top_cols].mean() > 12


def test_long_text_on_a_small_picture_fits_inside_it():
    mark = Watermark("x" * 60, "centre", 0.5)
    drawn = overlay(160, 90, mark)
    h, w = drawn.alpha.shape
    assert drawn.x >= 0 and drawn.y >= 0 and drawn.x + w <= 160 and drawn.y + h <= 90
    assert drawn.alpha.max() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    "text, position, opacity", [("", "centre", 0.5), ("x" * 61, "centre", 0.5), ("ok", "middle", 0.5), ("ok", "centre", 0.0)]
)
def test_a_bad_watermark_is_refused(text, position, opacity):
    with pytest.raises(EngineError):
        Watermark(text, position, opacity)


def test_a_damaged_result_leaves_nothing_behind(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    out = tmp_path / "out.mp4"
    with pytest.raises(EngineError) as caught:
        burn(bad, out, Watermark("DRAFT"))
    assert caught.value.code == "watermark_failed" and not out.exists()
