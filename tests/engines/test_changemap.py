"""The change map on synthetic clips whose changed region is known: the numbers must match it."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from editor.engines.changemap import measure

SIZE = (320, 180)
FRAMES = 20


def scene(n: int = FRAMES, size=SIZE) -> list[np.ndarray]:
    """A textured picture drifting slowly to the right (texture gives the alignment something to hold)."""
    rng = np.random.default_rng(7)
    w, h = size
    base = cv2.GaussianBlur(rng.integers(0, 255, (h * 2, w * 2, 3), dtype=np.uint8), (0, 0), 3)
    base = cv2.normalize(base, None, 0, 255, cv2.NORM_MINMAX)
    return [np.ascontiguousarray(base[h // 2 : h // 2 + h, 10 + i : 10 + i + w]) for i in range(n)]


def write(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "4", "preset": "ultrafast"}
        for i, picture in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture
def source(tmp_path) -> Path:
    return write(tmp_path / "input.mp4", scene())


def heatmap_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_an_unchanged_result_changed_nothing(source, tmp_path):
    result = measure(source, source, tmp_path / "heat.mp4")
    assert result.aligned and result.changed_share < 0.01
    assert heatmap_frames(tmp_path / "heat.mp4") == FRAMES


def test_a_painted_square_is_its_share_of_the_frame_and_nothing_outside_its_mask(source, tmp_path):
    painted = [f.copy() for f in scene()]
    for f in painted:
        f[40:120, 100:180] = (250, 250, 250)
    result_path = write(tmp_path / "square.mp4", painted)
    mask = np.zeros((180, 320), np.uint8)
    mask[40:120, 100:180] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    result = measure(source, result_path, tmp_path / "heat.mp4", mask_path=tmp_path / "mask.png")
    assert result.aligned
    assert result.changed_share == pytest.approx(80 * 80 / (320 * 180), abs=0.015)
    assert result.outside_share < 0.01
    # A mask somewhere else: the square is change outside it.
    elsewhere = np.zeros((180, 320), np.uint8)
    elsewhere[130:170, 10:60] = 255
    cv2.imwrite(str(tmp_path / "elsewhere.png"), elsewhere)
    result = measure(source, result_path, tmp_path / "heat.mp4", mask_path=tmp_path / "elsewhere.png")
    assert result.outside_share == pytest.approx(6400 / (320 * 180 - 50 * 40), abs=0.02)


def test_a_colour_change_of_one_half_is_half_the_frame(source, tmp_path):
    tinted = [f.copy() for f in scene()]
    for f in tinted:
        f[:, :160] = 255 - f[:, :160]
    result = measure(source, write(tmp_path / "half.mp4", tinted), tmp_path / "heat.mp4")
    assert result.aligned
    assert result.changed_share == pytest.approx(0.5, abs=0.06)
    # The heatmap is bright on the changed half and dark on the other.
    with av.open(str(tmp_path / "heat.mp4")) as container:
        heat = next(container.decode(video=0)).to_ndarray(format="rgb24").mean(axis=2)
    assert heat[:, :150].mean() > 3 * heat[:, 170:].mean()


def test_a_reframe_lines_up_and_changed_almost_nothing(source, tmp_path):
    cropped = [cv2.resize(f[20:160, 90:230], (240, 240), interpolation=cv2.INTER_CUBIC) for f in scene()]
    result = measure(source, write(tmp_path / "reframe.mp4", cropped), tmp_path / "heat.mp4")
    assert result.aligned
    assert result.changed_share < 0.05


def test_a_reversed_result_is_compared_on_its_mapped_source_frames(tmp_path):
    # A still background with a bright square crossing it: frames far apart differ by the square.
    background = scene(1)[0]
    moving = []
    for i in range(FRAMES):
        frame = background.copy()
        frame[70:110, 20 + 12 * i : 60 + 12 * i] = (255, 255, 255)
        moving.append(frame)
    source = write(tmp_path / "input.mp4", moving)
    reversed_path = write(tmp_path / "reversed.mp4", moving[::-1])
    mapped = measure(source, reversed_path, tmp_path / "heat.mp4", source_index=lambda j, t: FRAMES - 1 - j)
    assert mapped.aligned and mapped.changed_share < 0.01
    # Compared by time instead, each frame shows the square where its source frame does not: twice its area.
    by_time = measure(source, reversed_path, tmp_path / "heat.mp4")
    assert by_time.aligned and by_time.changed_share > 0.03


def test_an_unrelated_picture_says_it_cannot_be_aligned(source, tmp_path):
    rng = np.random.default_rng(99)
    noise = [cv2.GaussianBlur(rng.integers(0, 255, (180, 320, 3), dtype=np.uint8), (0, 0), 2) for _ in range(FRAMES)]
    result = measure(source, write(tmp_path / "other.mp4", noise), tmp_path / "heat.mp4")
    assert not result.aligned and result.changed_share is None
    assert "does not line up" in result.reason
