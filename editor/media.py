"""Media facts and frames with PyAV: probe and validate clips, posters, frame grabs, image checks,
and a remux that labels a result with its recipe (the local engine encodes in its own pipeline).

Pure: paths in, dataclasses and files out; no Django.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import av
from PIL import Image, ImageOps, UnidentifiedImageError

from editor.errors import Refusal

NOT_A_VIDEO = "This file is not a video we can read (it could not be decoded)."
DAMAGED = "The video is damaged or incomplete (its end could not be decoded)."
TOO_BIG_TO_READ = "Reading the clip needed more memory than this server allows for a check, so it was refused."

# What a clip may be made of, read from its headers before a frame is decoded.
CONTAINERS = frozenset({"mov", "mp4", "matroska", "webm", "avi"})
VIDEO_CODECS = frozenset(
    {
        "h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "msmpeg4v1", "msmpeg4v2", "msmpeg4v3",
        "mpeg2video", "prores", "mjpeg", "dnxhd",
    }
)


@dataclass(frozen=True)
class ClipLimits:
    """How large a clip may be; checked on its headers before any frame is decoded."""

    max_seconds: float | None = None
    max_pixels: int = 3840 * 2160
    max_side: int = 8192
    max_fps: float = 240.0
    max_streams: int = 16


class MediaError(Refusal):
    """A file was refused; the message says why in words a user understands."""


@dataclass(frozen=True)
class ClipInfo:
    container: str
    video_codec: str
    width: int
    height: int
    duration: float
    fps: float
    frame_count: int
    has_audio: bool
    audio_codec: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def _seconds(value: float) -> str:
    total = int(round(value))
    minutes, seconds = divmod(total, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def probe(path: Path, *, limits: ClipLimits | None = None, check_tail: bool = True) -> ClipInfo:
    """Describe a clip after checking its headers (container, codec and, with limits, its size) and
    that it decodes at its start and (unless told not to, for a file this app has just written) near its end."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        raise MediaError("The file is empty.")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        raise MediaError(NOT_A_VIDEO) from None
    with container:
        if not container.streams.video:
            raise MediaError("This file has no video stream.")
        stream = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        fps = float(stream.average_rate or stream.base_rate or stream.guessed_rate or 0)
        duration = clip_duration(container, stream)
        if duration <= 0 or fps <= 0:
            raise MediaError(NOT_A_VIDEO)
        _check_headers(container, stream, fps, duration, limits)
        first = _decode_first(container, stream)
        if check_tail:
            _check_tail(container, stream, duration)
        frame_count = stream.frames or int(round(duration * fps))
        return ClipInfo(
            container=container.format.name,
            video_codec=stream.codec_context.name,
            width=first.width,
            height=first.height,
            duration=round(duration, 4),
            fps=round(fps, 4),
            frame_count=frame_count,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
        )


def _check_headers(container, stream, fps: float, duration: float, limits: ClipLimits | None) -> None:
    """Refuse a clip on what its headers say, before a frame of it is decoded."""
    if not CONTAINERS & set(container.format.name.split(",")):
        raise MediaError(f"This file is not a video container we accept ({container.format.name}).")
    codec = stream.codec_context.name
    if codec not in VIDEO_CODECS:
        raise MediaError(f"The video is coded as {codec}, which is not a video codec we accept.")
    if limits is None:
        return
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:
        raise MediaError(NOT_A_VIDEO)
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise MediaError(
            f"The video is {width}×{height}; the limit is {limits.max_pixels / 1e6:.1f} megapixels "
            f"and {limits.max_side} pixels a side."
        )
    if fps > limits.max_fps:
        raise MediaError(f"The video runs at {fps:g} frames a second; the limit is {limits.max_fps:g}.")
    if len(container.streams) > limits.max_streams:
        raise MediaError(f"The file has {len(container.streams)} streams; the limit is {limits.max_streams}.")
    if limits.max_seconds is not None and duration > limits.max_seconds + 0.05:
        raise MediaError(f"The clip is {_seconds(duration)} long; the limit is {_seconds(limits.max_seconds)}.")


def probe_isolated(path: Path, poster: Path, limits: ClipLimits, *, seconds: float, memory_mb: int) -> ClipInfo:
    """Probe a clip and write its poster in a child process bound in memory and time, so that a
    hostile file costs the calling process nothing."""
    command = [sys.executable, "-m", "editor.media", str(path), str(poster), json.dumps(asdict(limits)), str(memory_mb)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds, env=env)
    except subprocess.TimeoutExpired:
        raise MediaError(
            f"Checking the clip took longer than {seconds:g} s, so it was refused: it may be damaged or built to be slow to read."
        ) from None
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        answer = None
    if done.returncode != 0 or not isinstance(answer, dict):
        raise MediaError(TOO_BIG_TO_READ)
    if "error" in answer:
        raise MediaError(answer["error"])
    return ClipInfo(**answer["info"])


def _isolated_probe(path: str, poster: str, limits: str, memory_mb: str) -> dict:
    """Run in the child of probe_isolated: limit this process's memory, probe, write the poster."""
    cap = int(memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        info = probe(Path(path), limits=ClipLimits(**json.loads(limits)))
        extract_poster(Path(path), Path(poster))
    except MediaError as exc:
        return {"error": exc.message}
    except MemoryError:
        return {"error": TOO_BIG_TO_READ}
    return {"info": info.as_dict()}


def clip_duration(container, stream) -> float:
    """Return a stream's duration in seconds: its own, else the container's, else its last timestamp."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return _last_timestamp(container, stream)


def _last_timestamp(container, stream) -> float:
    """Read packet headers (no decoding) to find where the stream ends."""
    end = 0.0
    start = stream.start_time or 0
    try:
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base:
                end = max(end, float((packet.pts - start + (packet.duration or 0)) * packet.time_base))
    except (av.FFmpegError, ValueError):
        return 0.0
    container.seek(0)
    return end


def _decode_first(container, stream):
    try:
        for frame in container.decode(stream):
            return frame
    except MemoryError:
        raise MediaError(TOO_BIG_TO_READ) from None
    except (av.FFmpegError, ValueError):
        pass
    raise MediaError(NOT_A_VIDEO)


def _check_tail(container, stream, duration: float) -> None:
    """Decode a frame near the stated end, so a truncated file is caught now, not mid-edit."""
    start = float((stream.start_time or 0) * stream.time_base) if stream.time_base else 0.0
    target = start + max(0.0, duration - 0.5)
    try:
        container.seek(int(target / stream.time_base), stream=stream, backward=True)
        decoded = 0
        last_time = None
        for frame in container.decode(stream):
            decoded += 1
            last_time = frame.time
            if frame.time is not None and frame.time >= target - 0.05:
                return
            if decoded > 600:
                break
    except MemoryError:
        raise MediaError(TOO_BIG_TO_READ) from None
    except (av.FFmpegError, ValueError):
        raise MediaError(DAMAGED) from None
    if last_time is None or last_time < start + duration - 2.0:
        raise MediaError(DAMAGED)


def _frame_at(container, stream, at_seconds: float):
    """Return the first decoded frame at or after a time (the last frame when the time is past the end)."""
    start = float((stream.start_time or 0) * stream.time_base)
    target = start + max(0.0, at_seconds)
    container.seek(int(target / stream.time_base), stream=stream, backward=True)
    chosen = None
    for frame in container.decode(stream):
        chosen = frame
        if frame.time is None or frame.time >= target - 1e-3:
            break
    if chosen is None:
        raise MediaError(NOT_A_VIDEO)
    return chosen


def extract_poster(src: Path, dest: Path, *, at_seconds: float | None = None, max_width: int = 640) -> tuple[int, int]:
    """Write a JPEG poster from a frame ~10% into the clip (not a black first frame); return its size."""
    try:
        with av.open(str(src)) as container:
            stream = container.streams.video[0]
            duration = clip_duration(container, stream)
            when = duration * 0.1 if at_seconds is None else at_seconds
            image = _frame_at(container, stream, min(when, max(0.0, duration - 0.05))).to_image()
    except MemoryError:
        raise MediaError(TOO_BIG_TO_READ) from None
    except (av.FFmpegError, IndexError):
        raise MediaError(NOT_A_VIDEO) from None
    if image.width > max_width:
        image = image.resize((max_width, max(2, round(image.height * max_width / image.width))), Image.LANCZOS)
    image.convert("RGB").save(dest, "JPEG", quality=85)
    return image.size


def extract_frame_png(src: Path, at_seconds: float, dest: Path) -> tuple[int, int]:
    """Write the full-size frame at a time as PNG (a reference image grabbed from a clip)."""
    try:
        with av.open(str(src)) as container:
            stream = container.streams.video[0]
            image = _frame_at(container, stream, at_seconds).to_image()
    except (av.FFmpegError, IndexError):
        raise MediaError("That frame could not be read from the clip.") from None
    image.save(dest, "PNG")
    return image.size


IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
MAX_IMAGE_PIXELS = 50_000_000


def validate_image(path: Path, *, max_bytes: int, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[str, int, int]:
    """Check that a file is a PNG, JPEG or WebP image Pillow can fully load; return (format, w, h).

    The size in pixels is read from the header and checked before the image is decoded."""
    size = Path(path).stat().st_size
    if size == 0:
        raise MediaError("The image file is empty.")
    if size > max_bytes:
        raise MediaError(f"The image is larger than the {max_bytes // (1024 * 1024)} MB limit.")
    try:
        with warnings.catch_warnings():
            # Between the limit and twice it Pillow only warns; the check below refuses such an image.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            fmt = image.format
            width, height = image.size
            if fmt not in IMAGE_FORMATS:
                raise MediaError("Reference images must be PNG, JPEG or WebP.")
            if width * height > max_pixels:
                raise MediaError(f"The image is {width}×{height}; the limit is {max_pixels / 1e6:g} megapixels.")
            image.verify()
        with Image.open(path) as image:
            image.load()
    except Image.DecompressionBombError:
        # Pillow's own guard (set to the same limit) stopped it on the header, before decoding.
        raise MediaError(f"The image has more pixels than the limit of {max_pixels / 1e6:g} megapixels.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise MediaError("This file is not an image we can read (PNG, JPEG or WebP).") from None
    return IMAGE_FORMATS[fmt], width, height


def reencode_image(src: Path, dest_dir: Path) -> tuple[Path, str, int, int]:
    """Write an image again from its decoded pixels, upright, with no metadata and nothing appended.

    JPEG stays JPEG; PNG and WebP become PNG. Return (path, format, width, height)."""
    with Image.open(src) as image:
        fmt = image.format
        upright = ImageOps.exif_transpose(image)
        upright.load()
    if fmt == "JPEG":
        dest = Path(dest_dir) / "clean.jpg"
        upright.convert("L" if upright.mode == "L" else "RGB").save(dest, "JPEG", quality=95)
        return dest, "jpeg", upright.width, upright.height
    dest = Path(dest_dir) / "clean.png"
    mode = "RGBA" if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info else "RGB"
    upright.convert(mode).save(dest, "PNG")
    return dest, "png", upright.width, upright.height


MAX_MASK_BYTES = 10 * 1024 * 1024
MAX_MASK_SIDE = 8192


def read_mask(source: Path | bytes) -> Image.Image:
    """Check a removal mask (a PNG, white over what should go) and return it in grey."""
    size = Path(source).stat().st_size if isinstance(source, Path) else len(source)
    if size > MAX_MASK_BYTES:
        raise MediaError(f"The mask is larger than {MAX_MASK_BYTES // (1024 * 1024)} MB.")
    data = Path(source).read_bytes() if isinstance(source, Path) else source
    if not data:
        raise MediaError("The mask is empty: paint white over what should be removed.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise MediaError("The mask must be a PNG image; this file is not a PNG.")
            if max(image.size) > MAX_MASK_SIDE:
                raise MediaError(f"The mask must be at most {MAX_MASK_SIDE} pixels a side.")
            grey = image.convert("L")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise MediaError("The mask could not be read as an image.") from None
    if grey.getextrema()[1] < 128:
        raise MediaError("The mask is empty: paint white over what should be removed.")
    return grey


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a local file."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def remux_with_metadata(src: Path, dest: Path, metadata: dict[str, str]) -> None:
    """Copy a clip's streams into an MP4 (+faststart) carrying the given container metadata."""
    try:
        with av.open(str(src)) as source, av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            for key, value in metadata.items():
                out.metadata[key] = value
            streams = [s for s in source.streams if s.type in ("video", "audio")]
            mapping = {s.index: out.add_stream_from_template(s) for s in streams}
            for packet in source.demux(*streams):
                if packet.dts is None:
                    continue
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
    except (av.FFmpegError, ValueError):
        Path(dest).unlink(missing_ok=True)
        raise MediaError(NOT_A_VIDEO) from None


if __name__ == "__main__":
    print(json.dumps(_isolated_probe(*sys.argv[1:5])))
