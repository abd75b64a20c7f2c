"""Clips for the local engine's tests, made on the fly: textured stills, a panning background with a
fixed object over it, a face or a bright subject off-centre; and helpers to read frames back."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from editor.engines import local
from editor.engines.local import yuv
from editor.engines.base import EditRequest

DATA = Path(__file__).parent.parent / "data"
# libswscale's exact conversion: an independent reading of the engine's colours.
EXACT = yuv.Interpolation.BILINEAR | yuv.EXACT


def texture(width: int, height: int, seed: int = 1) -> np.ndarray:
    """Return a smooth random colour texture, rich enough for phase correlation and optical flow."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(30, 225, (max(2, height // 12), max(2, width // 12), 3), dtype=np.uint8)
    fine = rng.integers(-25, 25, (height, width, 3))
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).astype(int)
    return np.clip(smooth + fine // 3, 0, 255).astype(np.uint8)


def write_clip(path: Path, frames, *, fps: int = 25, audio_seconds: float = 0.0, colorspace: str | None = None) -> Path:
    """Encode RGB frames (near-lossless H.264) with an optional 440 Hz tone; with a colorspace
    ("ITU709", "ITU601"), converted to yuv420p in that matrix with exact rounding."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = None
        for n, rgb in enumerate(frames):
            if stream is None:
                stream = out.add_stream("libx264", rate=fps)
                stream.height, stream.width = rgb.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"preset": "ultrafast", "qp": "4"}
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if colorspace is not None:
                frame = frame.reformat(format="yuv420p", dst_colorspace=colorspace, dst_color_range="MPEG", interpolation=EXACT)
            frame.pts = n
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if audio_seconds:
            sound = out.add_stream("aac", rate=48000)
            sound.layout = "stereo"
            total = int(audio_seconds * 48000)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(total) / 48000)).astype(np.float32)
            for start in range(0, total, 1024):
                piece = tone[start : start + 1024]
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.stack([piece, piece])), format="fltp", layout="stereo")
                af.sample_rate = 48000
                af.pts = start
                for packet in sound.encode(af):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return path


def still_clip(path: Path, *, seconds: float = 1.0, size=(320, 240), audio: bool = False) -> Path:
    """A textured picture that does not move."""
    picture = texture(*size)
    return write_clip(path, (picture for _ in range(int(seconds * 25))), audio_seconds=seconds if audio else 0.0)


def read_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def read_exact(path: Path, colorspace: str) -> list[np.ndarray]:
    """Decode to RGB in a given matrix with exact rounding (the default conversion reads about a
    level dark)."""
    with av.open(str(path)) as container:
        return [
            f.reformat(format="rgb24", src_colorspace=colorspace, src_color_range="MPEG", interpolation=EXACT).to_ndarray()
            for f in container.decode(video=0)
        ]


def grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """How far the picture moved from a to b (phase correlation), in pixels."""
    ga, gb = grey(a), grey(b)
    window = cv2.createHanningWindow(ga.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(ga, gb, window)
    return dx, dy


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edit(src: Path, out: Path, prompt: str, *, ratio: str = "320:240", seed: int = 7, references=(), mask=None):
    request = EditRequest(
        input_path=src, output_path=out, prompt=prompt, ratio=ratio, seed=seed,
        references=tuple(references), mask_path=mask, recipe={"prompt": prompt},
    )
    return local.run(request, lambda fraction: None)


def test_still_clip_does_not_move(tmp_path):
    frames = read_frames(still_clip(tmp_path / "still.mp4"))
    assert len(frames) == 25
    dx, dy = shift(frames[0], frames[-1])
    assert abs(dx) < 0.2 and abs(dy) < 0.2
