"""A remote result's delivered file (the "master"), kept exactly as delivered, and the H.264 proxy the
studio's players show.

Pure: files in, dataclasses and files out; no ORM, no request.

- `inspect_master()` says what a delivered file is, by its content (never its name or URL): an H.264
  or HEVC (8- or 10-bit) MP4, a ProRes QuickTime file, or a zip of PNG frames. A zip is read from its
  directory and the first bytes of each frame; nothing is extracted to disk and no frame is decoded.
- `make_proxy()` writes a browser-playable MP4 from a master: H.264 yuv420p with BT.709 tags, the long
  side at most PROXY_MAX_SIDE, frame after frame (never all frames in memory), AAC sound when the master
  has sound. An already playable H.264 MP4 is copied, not encoded again.

Every refusal is an `EngineError` whose message a user can read. Its codes:

- `master_unreadable`: the file is empty, damaged, cut short, or neither a video nor a zip;
- `master_unsupported`: a container, codec or stream layout the studio does not take;
- `master_too_large`: too many frames, too many pixels a frame, or too many bytes once unpacked;
- `master_unsafe`: a zip built to do harm (a zip bomb, a path that climbs out of its folder);
- `master_bad_frames`: a zip with no PNG frames, a file in it that is not a PNG, frames of different sizes;
- `proxy_failed`: the proxy could not be written (nothing is left at its path).
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path, PurePosixPath

import av
from av.video.format import VideoFormat
from av.video.reformatter import VideoReformatter
from PIL import Image, UnidentifiedImageError

from editor.engines.base import EngineError

PROXY_MAX_SIDE = 1920
PROXY_CRF = 18
PROXY_PRESET = "veryfast"
BT709, MPEG_RANGE, JPEG_RANGE = 1, 1, 2

# libavformat's one name for the ISO/QuickTime family; which of the two a file is comes from its brand.
ISO_FORMAT = "mov,mp4,m4a,3gp,3g2,mj2"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# FFmpeg's names for the ProRes profiles, as Runway names them.
PRORES_PROFILES = {
    "Proxy": "422 Proxy",
    "LT": "422 LT",
    "Standard": "422",
    "HQ": "422 HQ",
    "4444": "4444",
    "XQ": "4444 XQ",
}
# PNG (colour type, bit depth) → the pixel format a decoder gives.
PNG_PIX_FMTS = {
    (0, 1): "monob", (0, 2): "gray", (0, 4): "gray", (0, 8): "gray", (0, 16): "gray16be",
    (2, 8): "rgb24", (2, 16): "rgb48be",
    (3, 1): "pal8", (3, 2): "pal8", (3, 4): "pal8", (3, 8): "pal8",
    (4, 8): "ya8", (4, 16): "ya16be",
    (6, 8): "rgba", (6, 16): "rgba64be",
}
# The source matrix for a frame's colorspace tag; an untagged frame is taken as Rec. 709, which is
# what the remote models deliver.
SOURCE_MATRICES = {1: "ITU709", 5: "ITU601", 6: "SMPTE170M", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}
AAC_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000})

DAMAGED_ZIP = "The delivered PNG sequence (.zip) is damaged or incomplete, so it could not be read."
NOT_A_MASTER = "The delivered file is not a video or PNG sequence the studio can read (it could not be decoded)."


@dataclass(frozen=True)
class MasterLimits:
    """How large a delivered file may be; checked on its headers before a frame is decoded."""

    max_frames: int = 1800  # 30 s at 60 fps
    max_side: int = 8192
    max_pixels: int = 3840 * 2160 * 2  # per frame
    max_unpacked_bytes: int = 4 * 1024**3  # the sum of a zip's declared uncompressed sizes
    max_ratio: int = 200  # a zip entry compressed more than this is refused as a bomb


@dataclass(frozen=True)
class Master:
    kind: str  # "mp4" (H.264), "prores", "png_sequence", "hevc10" or "hevc"
    extension: str  # ".mp4", ".mov" or ".zip"
    content_type: str  # "video/mp4", "video/quicktime" or "application/zip"
    codec: str  # "h264", "prores", "hevc" or "png"
    pix_fmt: str  # as decoded: "yuv420p", "yuv444p12le", "rgb24", ...
    width: int
    height: int
    # The number of frames of a PNG sequence; for a video, what its header says (None when it says nothing).
    frames: int | None
    # Words for a user: "ProRes 4444 (.mov)", "PNG sequence, 120 frames (.zip)", "10-bit HEVC (.mp4)".
    label: str


def inspect_master(path: Path, *, limits: MasterLimits = MasterLimits()) -> Master:
    """Say what a delivered file is, from its content, or refuse it with a plain EngineError."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError:
        raise EngineError("master_unreadable", "The delivered file could not be opened.") from None
    if not magic:
        raise EngineError("master_unreadable", "The delivered file is empty.")
    if magic in ZIP_MAGIC:
        return _inspect_sequence(path, limits)
    return _inspect_video(path, limits)


def proxy_size(width: int, height: int) -> tuple[int, int]:
    """Return the even size of a master's proxy: its own shape, the long side at most PROXY_MAX_SIDE."""
    scale = min(Fraction(1), Fraction(PROXY_MAX_SIDE, max(width, height)))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def make_proxy(master_path: Path, master: Master, dest: Path, *, fps: float | Fraction, metadata: dict[str, str]) -> None:
    """Write a browser-playable H.264 MP4 of a master at dest (a PNG sequence plays at fps; a video keeps its timing)."""
    dest = Path(dest)
    with _removed_on_failure(dest):
        if master.kind == "png_sequence":
            _sequence_proxy(Path(master_path), master, dest, _rate(fps), metadata)
        else:
            _video_proxy(Path(master_path), master, dest, metadata)


@contextmanager
def _removed_on_failure(dest: Path) -> Iterator[None]:
    """Remove a half-written dest on any failure; turn the media libraries' errors into one EngineError."""
    try:
        yield
    except EngineError:
        dest.unlink(missing_ok=True)
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile, MemoryError,
            UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        dest.unlink(missing_ok=True)
        raise EngineError(
            "proxy_failed", "The preview of the delivered file could not be made; the file may be damaged."
        ) from None
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _rate(fps: float | Fraction) -> Fraction:
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise EngineError("proxy_failed", f"A PNG sequence cannot play at {float(fps):g} frames a second.")
    return rate


# ---------------------------------------------------------------- video masters


def _inspect_video(path: Path, limits: MasterLimits) -> Master:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError, ValueError, OSError):
        raise EngineError("master_unreadable", NOT_A_MASTER) from None
    with container:
        if container.format.name != ISO_FORMAT:
            raise EngineError(
                "master_unsupported",
                "The delivered file is not an MP4 or QuickTime video, the only video files the studio takes from a model.",
            )
        if len(container.streams.video) != 1:
            raise EngineError(
                "master_unsupported", f"The delivered file has {len(container.streams.video)} video streams; one was expected."
            )
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if codec not in ("h264", "hevc", "prores"):
            raise EngineError("master_unsupported", f"The delivered video is coded as {codec}, which the studio does not take.")
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise EngineError("master_unreadable", NOT_A_MASTER)
        _check_size(width, height, limits, "The delivered video")
        first = _first_frame(container, stream)
        pix_fmt = first.format.name
        extension, content_type = _iso_kind(container, codec)
        kind, words = _video_kind(codec, pix_fmt, stream)
        return Master(
            kind=kind,
            extension=extension,
            content_type=content_type,
            codec=codec,
            pix_fmt=pix_fmt,
            width=width,
            height=height,
            frames=stream.frames or None,
            label=f"{words} ({extension})",
        )


def _check_size(width: int, height: int, limits: MasterLimits, what: str) -> None:
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise EngineError(
            "master_too_large",
            f"{what} is {width}×{height}; the limit is {limits.max_pixels / 1e6:.1f} megapixels "
            f"and {limits.max_side} pixels a side.",
        )


def _first_frame(container, stream):
    try:
        for frame in container.decode(stream):
            return frame
    except MemoryError:
        raise EngineError("master_too_large", "Reading the delivered video needed more memory than this server allows.") from None
    except (av.FFmpegError, ValueError):
        pass
    raise EngineError("master_unreadable", "The delivered video is damaged: not one frame of it could be decoded.")


def _iso_kind(container, codec: str) -> tuple[str, str]:
    """Return (extension, content type): QuickTime when the file's brand says so, else MP4."""
    brand = (container.metadata.get("major_brand") or "").strip()
    quicktime = brand == "qt" if brand else codec == "prores"
    return (".mov", "video/quicktime") if quicktime else (".mp4", "video/mp4")


def _video_kind(codec: str, pix_fmt: str, stream) -> tuple[str, str]:
    """Return (kind, the format in words) for a master's video stream."""
    if codec == "prores":
        profile = PRORES_PROFILES.get(str(stream.codec_context.profile or ""))
        return "prores", f"ProRes {profile}" if profile else "ProRes"
    deep = VideoFormat(pix_fmt).components[0].bits > 8
    if codec == "hevc":
        return ("hevc10", "10-bit HEVC") if deep else ("hevc", "HEVC")
    return "mp4", "10-bit H.264" if deep else "H.264"


def _video_proxy(master_path: Path, master: Master, dest: Path, metadata: dict[str, str]) -> None:
    with av.open(str(master_path)) as source, av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        for key, value in metadata.items():
            out.metadata[key] = value
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        size = proxy_size(master.width, master.height)
        copy_video = _playable_as_is(master, size)
        if copy_video:
            video = out.add_stream_from_template(stream)
        else:
            video = _h264(out, stream.average_rate or stream.guessed_rate or Fraction(25), size)
            video.codec_context.time_base = stream.time_base
        audio = source.streams.audio[0] if source.streams.audio else None
        sound, copy_sound = _sound(out, audio) if audio is not None else (None, False)
        convert = _Converter(size)
        inputs = [stream] + ([audio] if audio is not None else [])
        for packet in source.demux(*inputs):
            if packet.stream is stream:
                if copy_video:
                    _copy(packet, video, out)
                else:
                    for frame in packet.decode():
                        _encode(video, out, convert(frame, stream.time_base))
            elif copy_sound:
                _copy(packet, sound, out)
            else:
                for frame in packet.decode():
                    frame.pts = None  # the encoder numbers the samples it is given
                    _encode(sound, out, frame)
        if not copy_video:
            _encode(video, out, None)
        if sound is not None and not copy_sound:
            _encode(sound, out, None)


def _playable_as_is(master: Master, size: tuple[int, int]) -> bool:
    """An 8-bit 4:2:0 H.264 stream that needs no scaling plays in every browser: copy it."""
    return master.kind == "mp4" and master.pix_fmt in ("yuv420p", "yuvj420p") and size == (master.width, master.height)


def _h264(out, rate: Fraction, size: tuple[int, int]):
    video = out.add_stream("libx264", rate=Fraction(rate).limit_denominator(1001))
    video.width, video.height = size
    video.pix_fmt = "yuv420p"
    video.options = {"crf": str(PROXY_CRF), "preset": PROXY_PRESET}
    # Tag BT.709 (the converter writes it) so players show the colours as encoded.
    cc = video.codec_context
    cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = BT709, BT709, BT709, MPEG_RANGE
    return video


def _sound(out, audio) -> tuple[object, bool]:
    """Add the proxy's sound stream: a copy of AAC, else AAC encoded from the master's sound."""
    if audio.codec_context.name == "aac":
        return out.add_stream_from_template(audio), True
    rate = audio.codec_context.sample_rate if audio.codec_context.sample_rate in AAC_RATES else 48000
    sound = out.add_stream("aac", rate=rate)
    sound.layout = "stereo" if audio.codec_context.layout.nb_channels >= 2 else "mono"
    return sound, False


def _copy(packet, stream, out) -> None:
    if packet.dts is None:  # the demuxer's empty flush packet
        return
    packet.stream = stream
    out.mux(packet)


def _encode(stream, out, frame) -> None:
    for packet in stream.encode(frame):
        out.mux(packet)


class _Converter:
    """Turn decoded frames into the proxy's yuv420p BT.709 limited-range frames, with rising timestamps."""

    def __init__(self, size: tuple[int, int]):
        self.width, self.height = size
        self.reformatter = VideoReformatter()
        self.last_pts: int | None = None

    def __call__(self, frame, time_base: Fraction):
        rgb = frame.format.name.startswith(("rgb", "bgr", "gbr", "gray", "ya", "pal", "mono"))
        converted = self.reformatter.reformat(
            frame,
            self.width,
            self.height,
            "yuv420p",
            src_colorspace=None if rgb else SOURCE_MATRICES.get(int(frame.colorspace or 2), "ITU709"),
            dst_colorspace="ITU709",
            interpolation="LANCZOS",
            src_color_range="JPEG" if rgb or frame.color_range == JPEG_RANGE else "MPEG",
            dst_color_range="MPEG",
        )
        pts = frame.pts
        if pts is None or (self.last_pts is not None and pts <= self.last_pts):
            pts = 0 if self.last_pts is None else self.last_pts + 1
        self.last_pts = pts
        converted.pts, converted.time_base = pts, time_base
        return converted


# ---------------------------------------------------------------- PNG sequences


def _inspect_sequence(path: Path, limits: MasterLimits) -> Master:
    try:
        with zipfile.ZipFile(path) as archive:
            entries = _sequence_entries(archive, limits)
            first = None
            for info in entries:
                header = _png_header(archive, info)
                width, height = header[0], header[1]
                _check_size(width, height, limits, f"The frame {info.filename}")
                _check_entry_bytes(info, width, height)
                if first is None:
                    first = header
                elif (width, height) != first[:2]:
                    raise EngineError(
                        "master_bad_frames",
                        f"The frames of the PNG sequence differ in size: {entries[0].filename} is {first[0]}×{first[1]}, "
                        f"{info.filename} is {width}×{height}.",
                    )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, NotImplementedError):
        raise EngineError("master_unreadable", DAMAGED_ZIP) from None
    width, height, pix_fmt = first
    return Master(
        kind="png_sequence",
        extension=".zip",
        content_type="application/zip",
        codec="png",
        pix_fmt=pix_fmt,
        width=width,
        height=height,
        frames=len(entries),
        label=f"PNG sequence, {len(entries)} frame{'s' if len(entries) != 1 else ''} (.zip)",
    )


def _sequence_entries(archive: zipfile.ZipFile, limits: MasterLimits | None) -> list[zipfile.ZipInfo]:
    """Return a zip's frame entries in natural order, after checking its directory (with limits, its sizes)."""
    infos = archive.infolist()
    if limits is not None and len(infos) > 2 * limits.max_frames + 16:
        raise EngineError(
            "master_too_large", f"The PNG sequence holds {len(infos)} files; at most {limits.max_frames} frames are taken."
        )
    frames = []
    unpacked = 0
    for info in infos:
        parts = _safe_parts(info.filename)
        if info.is_dir():
            continue
        unpacked += info.file_size
        if parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts):
            continue
        if info.flag_bits & 0x1:
            raise EngineError("master_unsupported", f"The frame {info.filename} is password-protected.")
        if limits is not None and info.file_size > limits.max_ratio * max(1, info.compress_size):
            raise EngineError(
                "master_unsafe",
                f"The file {info.filename} in the PNG sequence unpacks to over {limits.max_ratio} times its packed "
                "size, which is how a zip bomb is built, so the sequence was refused.",
            )
        frames.append(info)
    if limits is not None:
        if unpacked > limits.max_unpacked_bytes:
            raise EngineError(
                "master_too_large",
                f"The PNG sequence unpacks to {_amount(unpacked)}; the limit is {_amount(limits.max_unpacked_bytes)}.",
            )
        if len(frames) > limits.max_frames:
            raise EngineError("master_too_large", f"The PNG sequence has {len(frames)} frames; the limit is {limits.max_frames}.")
    if not frames:
        raise EngineError("master_bad_frames", "The delivered zip holds no PNG frames.")
    return sorted(frames, key=lambda info: (_natural_key(info.filename), info.filename))


def _safe_parts(name: str) -> list[str]:
    """Return a zip entry's path parts, refusing one that is absolute or climbs out of its folder."""
    unified = name.replace("\\", "/")
    parts = [part for part in PurePosixPath(unified).parts if part not in ("", ".")]
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified) or ".." in parts or not parts:
        raise EngineError(
            "master_unsafe",
            f"The PNG sequence names a file outside its own folder ({name!r}), so it was refused.",
        )
    return parts


def _natural_key(name: str) -> tuple:
    """Sort frame_2 before frame_10: digits compare as numbers (split() keeps text at even places)."""
    return tuple(int(part) if n % 2 else part for n, part in enumerate(re.split(r"(\d+)", name.casefold())))


def _png_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, int, str]:
    """Read (width, height, pix_fmt) from an entry's IHDR, its first 33 bytes, without decoding it."""
    with archive.open(info) as entry:
        head = entry.read(33)
    not_png = EngineError("master_bad_frames", f"The file {info.filename} in the PNG sequence is not a PNG image.")
    if len(head) < 33 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise not_png
    length, width, height, depth, colour = struct.unpack(">I4xIIBB", head[8:26])
    if length != 13 or zlib.crc32(head[12:29]) != struct.unpack(">I", head[29:33])[0]:
        raise not_png
    if not width or not height or (colour, depth) not in PNG_PIX_FMTS:
        raise not_png
    return width, height, PNG_PIX_FMTS[(colour, depth)]


def _check_entry_bytes(info: zipfile.ZipInfo, width: int, height: int) -> None:
    """Refuse a frame larger than a PNG of its size can be (16-bit RGBA stored raw), so each read is bounded."""
    if info.file_size > _png_bytes_cap(width, height):
        raise EngineError(
            "master_too_large",
            f"The frame {info.filename} is {_amount(info.file_size)}, more than a {width}×{height} PNG can hold.",
        )


def _png_bytes_cap(width: int, height: int) -> int:
    return (width * 8 + 1) * height * 103 // 100 + 1024 * 1024


def _amount(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _sequence_proxy(master_path: Path, master: Master, dest: Path, rate: Fraction, metadata: dict[str, str]) -> None:
    size = proxy_size(master.width, master.height)
    with zipfile.ZipFile(master_path) as archive:
        entries = _sequence_entries(archive, None)
        if len(entries) != master.frames:
            raise EngineError("proxy_failed", "The PNG sequence has changed since it was checked.")
        with av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            for key, value in metadata.items():
                out.metadata[key] = value
            video = _h264(out, rate, size)
            video.codec_context.time_base = 1 / rate
            convert = _Converter(size)
            for n, info in enumerate(entries):
                frame = av.VideoFrame.from_image(_read_png(archive, info, master))
                frame.pts = n
                _encode(video, out, convert(frame, 1 / rate))
            _encode(video, out, None)


def _read_png(archive: zipfile.ZipFile, info: zipfile.ZipInfo, master: Master) -> Image.Image:
    """Decode one frame of a sequence to RGB, checking its size against the master's before decoding."""
    _check_entry_bytes(info, master.width, master.height)
    data = archive.read(info)
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice it; over the limit is refused here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.size != (master.width, master.height):
                raise EngineError(
                    "proxy_failed", f"The frame {info.filename} is not {master.width}×{master.height} like the others."
                )
            # A proxy has no alpha: the colour shows as it is, the way FFmpeg drops alpha.
            return image.convert("RGB")
