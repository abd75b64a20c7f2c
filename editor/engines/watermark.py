"""A watermark burned into a copy of a result: a line of text at a corner or the centre, at an opacity.

Pure: a file in, a file out; no ORM, no request. The text is drawn once (Pillow, white with a dark
outline so it reads on any picture) and blended into every decoded frame's yuv420p planes with numpy,
so the copy keeps the result's size, frame count, timing and colour tags; the sound is copied as it is.
The result itself is never touched: the copy is written to `dest`, and nothing is left there on failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from editor.engines.base import EngineError

POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "centre")
MAX_TEXT = 60
CRF = "20"
PRESET = "veryfast"


@dataclass(frozen=True)
class Watermark:
    text: str
    position: str = "bottom-right"
    # 0–1: how much the text covers the picture under it.
    opacity: float = 0.5

    def __post_init__(self) -> None:
        if not self.text.strip() or len(self.text) > MAX_TEXT:
            raise EngineError("watermark_bad", f"A watermark is 1 to {MAX_TEXT} characters of text.")
        if self.position not in POSITIONS:
            raise EngineError("watermark_bad", f"A watermark sits at one of: {', '.join(POSITIONS)}.")
        if not 0.05 <= self.opacity <= 1:
            raise EngineError("watermark_bad", "A watermark's opacity is between 5 % and 100 %.")


@dataclass(frozen=True)
class Overlay:
    """The drawn text as where it goes (x, y), its alpha (0–1, opacity applied) and its luma (0–255)."""

    x: int
    y: int
    alpha: np.ndarray
    luma: np.ndarray


def overlay(width: int, height: int, mark: Watermark) -> Overlay:
    """Draw the watermark for a picture of width × height: its size follows the picture's height."""
    size = max(12, round(height / 16))
    stroke = max(1, size // 12)
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(mark.text, stroke_width=stroke)
    text_w, text_h = right - left, bottom - top
    # Long text on a small picture is scaled down to fit the width with a margin.
    margin = max(4, round(min(width, height) * 0.04))
    if text_w > width - 2 * margin:
        size = max(8, int(size * (width - 2 * margin) / text_w))
        stroke = max(1, size // 12)
        font = ImageFont.load_default(size=size)
        left, top, right, bottom = font.getbbox(mark.text, stroke_width=stroke)
        text_w, text_h = right - left, bottom - top
    text_w, text_h = min(text_w, width), min(text_h, height)
    # Even sizes and places, so the half-size chroma planes line up with the luma plane.
    box_w, box_h = text_w + text_w % 2, text_h + text_h % 2
    picture = Image.new("LA", (box_w, box_h), (0, 0))
    ImageDraw.Draw(picture).text((-left, -top), mark.text, font=font, fill=(255, 255), stroke_width=stroke, stroke_fill=(0, 255))
    luma, alpha = (np.asarray(band, dtype=np.float32) for band in picture.split())
    x = {"top-left": margin, "bottom-left": margin, "centre": (width - box_w) // 2}.get(mark.position, width - margin - box_w)
    y = {"top-left": margin, "top-right": margin, "centre": (height - box_h) // 2}.get(mark.position, height - margin - box_h)
    x, y = max(0, x - x % 2), max(0, y - y % 2)
    box_w, box_h = min(box_w, width - x), min(box_h, height - y)
    return Overlay(x, y, alpha[:box_h, :box_w] / 255.0 * mark.opacity, luma[:box_h, :box_w])


def blend(planes: np.ndarray, width: int, height: int, mark: Overlay) -> None:
    """Blend the overlay into a yuv420p frame held as one (height * 3 / 2, width) uint8 array, in place."""
    a, x, y = mark.alpha, mark.x, mark.y
    h, w = a.shape
    luma_plane = planes[:height]
    region = luma_plane[y : y + h, x : x + w].astype(np.float32)
    # Limited range: the text's white is 235 and its outline 16.
    target = 16.0 + mark.luma * (219.0 / 255.0)
    luma_plane[y : y + h, x : x + w] = np.rint(region + (target - region) * a).astype(np.uint8)
    # Chroma goes towards grey under the text, with the alpha averaged over each 2 × 2 block.
    ca = a[: h - h % 2, : w - w % 2].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    quarter = (width // 2) * (height // 2)
    chroma = planes[height:].reshape(-1)
    for index in range(2):
        plane = chroma[index * quarter : (index + 1) * quarter].reshape(height // 2, width // 2)
        part = plane[y // 2 : y // 2 + ca.shape[0], x // 2 : x // 2 + ca.shape[1]].astype(np.float32)
        plane[y // 2 : y // 2 + ca.shape[0], x // 2 : x // 2 + ca.shape[1]] = np.rint(part + (128.0 - part) * ca).astype(np.uint8)


def burn(src: Path, dest: Path, mark: Watermark, *, metadata: dict[str, str] | None = None) -> None:
    """Write a copy of the video at src with the watermark burned into every frame, at dest."""
    dest = Path(dest)
    try:
        _burn(Path(src), dest, mark, metadata or {})
    except EngineError:
        dest.unlink(missing_ok=True)
        raise
    except (av.FFmpegError, OSError, ValueError, MemoryError):
        dest.unlink(missing_ok=True)
        raise EngineError("watermark_failed", "The watermarked copy could not be made; the result may be damaged.") from None
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _burn(src: Path, dest: Path, mark: Watermark, metadata: dict[str, str]) -> None:
    with av.open(str(src)) as source, av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        for key, value in metadata.items():
            out.metadata[key] = value
        if not source.streams.video:
            raise EngineError("watermark_failed", "The result has no picture to watermark.")
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        if width % 2 or height % 2:
            raise EngineError("watermark_failed", f"A {width}×{height} picture cannot be watermarked (odd size).")
        video = out.add_stream("libx264", rate=stream.average_rate or stream.guessed_rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = stream.time_base
        video.options = {"crf": CRF, "preset": PRESET}
        cc, sc = video.codec_context, stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = (
            sc.color_primaries, sc.color_trc, sc.colorspace, sc.color_range
        )
        audio = source.streams.audio[0] if source.streams.audio else None
        sound = out.add_stream_from_template(audio) if audio is not None else None
        drawn = overlay(width, height, mark)
        inputs = [stream] + ([audio] if audio is not None else [])
        for packet in source.demux(*inputs):
            if packet.stream is stream:
                for frame in packet.decode():
                    if frame.format.name != "yuv420p":
                        frame = frame.reformat(format="yuv420p")
                    planes = frame.to_ndarray()
                    blend(planes, width, height, drawn)
                    marked = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                    marked.pts, marked.time_base = frame.pts, frame.time_base
                    for out_packet in video.encode(marked):
                        out.mux(out_packet)
            elif packet.dts is not None:
                packet.stream = sound
                out.mux(packet)
        for out_packet in video.encode(None):
            out.mux(out_packet)
