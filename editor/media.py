"""Media facts and frames with PyAV: probe and validate clips, posters, frame grabs, image checks,
and the one H.264 writer every output of the studio goes through.

Pure: paths in, dataclasses and files out; no Django.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import numpy as np
from PIL import Image, UnidentifiedImageError

NOT_A_VIDEO = "This file is not a video we can read (it could not be decoded)."
DAMAGED = "The video is damaged or incomplete (its end could not be decoded)."


class MediaError(Exception):
    """A file was refused; the message says why in words a user understands."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


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


def probe(path: Path, *, max_seconds: float | None = None, check_tail: bool = True) -> ClipInfo:
    """Describe a clip after checking that it decodes at its start and (unless told not to, for a
    file this app has just written) near its end."""
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
        if max_seconds is not None and duration > max_seconds + 0.05:
            raise MediaError(f"The clip is {_seconds(duration)} long; the limit is {_seconds(max_seconds)}.")
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


def validate_image(path: Path, *, max_bytes: int) -> tuple[str, int, int]:
    """Check that a file is a PNG, JPEG or WebP image Pillow can fully load; return (format, w, h)."""
    size = Path(path).stat().st_size
    if size == 0:
        raise MediaError("The image file is empty.")
    if size > max_bytes:
        raise MediaError(f"The image is larger than the {max_bytes // (1024 * 1024)} MB limit.")
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            image.load()
            fmt = image.format
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise MediaError("This file is not an image we can read (PNG, JPEG or WebP).") from None
    if fmt not in IMAGE_FORMATS:
        raise MediaError("Reference images must be PNG, JPEG or WebP.")
    return IMAGE_FORMATS[fmt], width, height


# H.264 output: quality by CRF, bits capped so grain and noise cannot bloat a file.
CRF = 20
PRESET = "veryfast"
MAX_BITS_PER_PIXEL = 0.14
# A fixed thread count: x264 output is repeatable for a given thread count, so the same input,
# prompt and seed give the same bytes on every machine (its default follows the core count).
ENCODER_THREADS = 4
AUDIO_BIT_RATE = 160_000
BT709 = 1  # AVCOL_PRI_BT709 = AVCOL_TRC_BT709 = AVCOL_SPC_BT709
MPEG_RANGE = 1
# Browsers play AAC in MP4 everywhere; anything else is re-encoded.
COPYABLE_AUDIO = ("aac",)


def even(value: float) -> int:
    """Round a dimension down to an even number of pixels (at least 2), as yuv420p needs."""
    return max(2, int(value) // 2 * 2)


class VideoWriter:
    """Write an H.264 yuv420p MP4 with even size, +faststart, BT.709 tags, a bitrate cap and fixed metadata.

    Frames get consecutive timestamps at the given rate. Source audio is copied when it is AAC and
    its timing is unchanged, otherwise decoded, retimed (tempo) and encoded to AAC.
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        rate: Fraction,
        *,
        metadata: dict[str, str] | None = None,
        crf: int = CRF,
        preset: str = PRESET,
    ):
        if width % 2 or height % 2:
            raise ValueError(f"H.264 yuv420p needs even dimensions, not {width}x{height}")
        self.path = Path(path)
        self.width, self.height = width, height
        self.rate = Fraction(rate)
        # bitexact leaves out the muxer's version string, so bytes do not change with the library build.
        self._out = av.open(
            str(self.path), "w", format="mp4", options={"movflags": "+faststart+use_metadata_tags", "fflags": "+bitexact"}
        )
        for key, value in (metadata or {}).items():
            self._out.metadata[key] = value
        self.stream = self._video_stream(crf, preset)
        self.frames = 0
        self._audio: _AudioOut | None = None

    def _video_stream(self, crf: int, preset: str):
        stream = self._out.add_stream("libx264", rate=self.rate)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = "yuv420p"
        maxrate = int(self.width * self.height * float(self.rate) * MAX_BITS_PER_PIXEL)
        stream.options = {
            "crf": str(crf),
            "preset": preset,
            "maxrate": str(maxrate),
            "bufsize": str(maxrate * 2),
            "threads": str(ENCODER_THREADS),
        }
        ctx = stream.codec_context
        ctx.color_primaries = BT709
        ctx.color_trc = BT709
        ctx.colorspace = BT709
        ctx.color_range = MPEG_RANGE
        return stream

    def add_audio(self, source, *, tempo: float = 1.0, start: float = 0.0) -> None:
        """Carry a source audio stream; `start` is the video's first timestamp, so both begin together."""
        self._audio = _AudioOut(self._out, source, tempo=tempo, start=start)

    def mux_audio(self, packet) -> None:
        """Write one demuxed packet of the source audio stream given to add_audio."""
        if self._audio is not None:
            self._audio.feed(packet)

    def write(self, frame: av.VideoFrame) -> None:
        """Encode a frame (any format and size is converted to yuv420p at the output size)."""
        if frame.format.name != "yuv420p" or frame.width != self.width or frame.height != self.height:
            frame = frame.reformat(width=self.width, height=self.height, format="yuv420p")
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        frame.color_primaries = BT709
        frame.color_trc = BT709
        frame.colorspace = BT709
        frame.color_range = MPEG_RANGE
        for packet in self.stream.encode(frame):
            self._out.mux(packet)
        self.frames += 1

    def write_yuv(self, planes: np.ndarray) -> None:
        """Encode a yuv420p frame given as one (h * 3/2, w) uint8 array."""
        self.write(av.VideoFrame.from_ndarray(planes, format="yuv420p"))

    def write_rgb(self, rgb: np.ndarray) -> None:
        """Encode an RGB frame (h, w, 3 uint8), converted with the BT.709 matrix."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        self.write(frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"))

    def close(self) -> None:
        """Flush the encoders and finish the file."""
        for packet in self.stream.encode():
            self._out.mux(packet)
        if self._audio is not None:
            self._audio.flush()
        self._out.close()

    def abort(self) -> None:
        """Close the file without flushing (the caller removes it)."""
        try:
            self._out.close()
        except av.FFmpegError:
            pass

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class _AudioOut:
    """Source audio into the output: packets copied, or decoded → atempo → AAC."""

    def __init__(self, out, source, *, tempo: float, start: float):
        self._out = out
        self._source = source
        self._shift = start
        self.copy = tempo == 1.0 and source.codec_context.name in COPYABLE_AUDIO
        self._graph = None
        self._samples = 0
        if self.copy:
            self.stream = out.add_stream_from_template(source)
            return
        rate = source.codec_context.sample_rate or 48000
        layout = "mono" if source.codec_context.channels == 1 else "stereo"
        self.stream = out.add_stream("aac", rate=rate)
        self.stream.layout = layout
        self.stream.bit_rate = AUDIO_BIT_RATE
        self._rate = rate
        self._tempo = tempo
        self._layout = layout
        audio_start = float((source.start_time or 0) * source.time_base) if source.time_base else 0.0
        # Output samples to drop so audio that began before the video's first frame lines up with it.
        self._skip = max(0, int(round((start - audio_start) * rate / tempo)))

    def feed(self, packet) -> None:
        if packet.dts is None:
            return
        if self.copy:
            shift = int(round(self._shift / packet.time_base)) if packet.time_base else 0
            packet.pts -= shift
            packet.dts -= shift
            if packet.pts < 0:
                return
            packet.stream = self.stream
            self._out.mux(packet)
            return
        try:
            frames = packet.decode()
        except (av.FFmpegError, ValueError):
            # A damaged audio packet is dropped rather than failing the edit.
            return
        for frame in frames:
            self._push(frame)

    def _push(self, frame) -> None:
        if self._graph is None:
            self._graph = self._build_graph(frame)
        self._graph.push(frame)
        self._drain()

    def _build_graph(self, frame) -> av.filter.Graph:
        graph = av.filter.Graph()
        chain = [graph.add_abuffer(template=self._source)]
        chain.append(
            graph.add("aformat", f"sample_fmts=fltp:sample_rates={self._rate}:channel_layouts={self._layout}")
        )
        for factor in _tempo_factors(self._tempo):
            chain.append(graph.add("atempo", f"{factor:.6f}"))
        chain.append(graph.add("abuffersink"))
        for a, b in zip(chain, chain[1:]):
            a.link_to(b)
        graph.configure()
        return graph

    def _drain(self) -> None:
        while True:
            try:
                frame = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            if self._skip:
                # Audio that starts before the video's first frame is cut so both begin together.
                cut = min(self._skip, frame.samples)
                self._skip -= cut
                if cut == frame.samples:
                    continue
                frame = _tail_samples(frame, cut)
            frame.pts = self._samples
            frame.time_base = Fraction(1, self._rate)
            self._samples += frame.samples
            for packet in self.stream.encode(frame):
                self._out.mux(packet)

    def flush(self) -> None:
        if self.copy:
            return
        if self._graph is not None:
            self._graph.push(None)
            self._drain()
        for packet in self.stream.encode():
            self._out.mux(packet)


def _tail_samples(frame, cut: int):
    data = frame.to_ndarray()[:, cut:]
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    return out


def _tempo_factors(tempo: float) -> list[float]:
    """Split a tempo change into atempo steps within its 0.5–2.0 range."""
    factors = []
    while tempo > 2.0:
        factors.append(2.0)
        tempo /= 2.0
    while tempo < 0.5:
        factors.append(0.5)
        tempo /= 0.5
    if abs(tempo - 1.0) > 1e-6 or not factors:
        factors.append(tempo)
    return factors


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
