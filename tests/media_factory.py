"""Small synthetic clips made with PyAV, for tests that need real video without shipping files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def _frame_rgb(n: int, size: tuple[int, int], fps: int) -> np.ndarray:
    """Colour bars with a bright square moving across them, so consecutive frames differ."""
    w, h = size
    x = np.arange(w)
    bars = np.zeros((h, w, 3), np.uint8)
    palette = np.array(
        [[235, 235, 235], [235, 235, 16], [16, 235, 235], [16, 235, 16], [235, 16, 235], [235, 16, 16], [16, 16, 235]],
        np.uint8,
    )
    bars[:, :, :] = palette[(x * 7 // w)][None, :, :]
    bars[h * 2 // 3 :, :, :] = (np.linspace(16, 235, w)[None, :, None]).astype(np.uint8)
    side = max(8, h // 6)
    left = int((n * w / (fps * 1.5)) % max(1, w - side))
    top = h // 3 - side // 2
    bars[top : top + side, left : left + side] = (255, 255, 255)
    return bars


def make_clip(
    path: Path,
    *,
    seconds: float = 1.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    audio: bool = True,
    codec: str = "libx264",
    container: str | None = None,
) -> Path:
    """Write a clip of moving colour bars (and a 440 Hz tone when audio is on)."""
    path = Path(path)
    fmt = container or path.suffix.lstrip(".")
    fmt = {"mkv": "matroska", "mov": "mov", "webm": "webm", "avi": "avi", "mp4": "mp4"}.get(fmt, fmt)
    frames = int(round(seconds * fps))
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "ultrafast"}
        sound = None
        if audio:
            audio_codec = "libopus" if fmt == "webm" else ("mp3" if fmt == "avi" else "aac")
            sound = out.add_stream(audio_codec, rate=48000)
            sound.layout = "stereo"
        for n in range(frames):
            frame = av.VideoFrame.from_ndarray(_frame_rgb(n, size, fps), format="rgb24")
            frame.pts = n
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            rate, chunk = 48000, 960
            total = int(seconds * rate)
            t = np.arange(total) / rate
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, total, chunk):
                piece = tone[start : start + chunk]
                samples = np.ascontiguousarray(np.stack([piece, piece]))
                frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
                frame.sample_rate = rate
                frame.pts = start
                frame.time_base = Fraction(1, rate)
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return path
