"""Small synthetic clips made with PyAV, for tests that need real video without shipping files."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import numpy as np
from PIL import Image

DATA = Path(__file__).parent / "data"

FORMATS = {"mkv": "matroska", "mov": "mov", "webm": "webm", "avi": "avi", "mp4": "mp4"}
DEFAULT_VIDEO_CODEC = {"webm": "libvpx", "avi": "mpeg4"}
DEFAULT_AUDIO_CODEC = {"webm": "libopus", "avi": "mp3"}

PALETTE = np.array(
    [[235, 235, 235], [235, 235, 16], [16, 235, 235], [16, 235, 16], [235, 16, 235], [235, 16, 16], [16, 16, 235]],
    np.uint8,
)


def _bars(n: int, size: tuple[int, int], fps: int) -> np.ndarray:
    """Colour bars with a bright square moving across them, so consecutive frames differ."""
    w, h = size
    x = np.arange(w)
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:, :, :] = PALETTE[(x * 7 // w)][None, :, :]
    frame[h * 2 // 3 :, :, :] = (np.linspace(16, 235, w)[None, :, None]).astype(np.uint8)
    side = max(8, h // 6)
    left = int((n * w / (fps * 1.5)) % max(1, w - side))
    top = h // 3 - side // 2
    frame[top : top + side, left : left + side] = (255, 255, 255)
    return frame


def _scene(n: int, size: tuple[int, int], fps: int) -> np.ndarray:
    """A soft, textured natural-looking scene (sky gradient, ground, a drifting sun) with mid tones."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack([110 + 60 * yy / h, 140 + 50 * yy / h, 200 - 30 * yy / h], axis=-1)
    ground = np.stack([90 + 30 * np.sin(xx / 17.0), 120 + 20 * np.cos(yy / 11.0), 60 + 0 * xx], axis=-1)
    horizon = h * 0.6
    frame = np.where((yy > horizon)[..., None], ground, sky)
    cx = w * (0.2 + 0.6 * ((n / (fps * 2.0)) % 1.0))
    cy = h * 0.3
    sun = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (h * 0.08) ** 2))[..., None]
    frame = frame * (1 - sun) + np.array([250, 230, 170], np.float32) * sun
    texture = (np.sin(xx * 0.9 + n) * np.cos(yy * 0.7)) * 6
    return np.clip(frame + texture[..., None], 0, 255).astype(np.uint8)


_CAT: np.ndarray | None = None


def _cat(n: int, size: tuple[int, int], fps: int) -> np.ndarray:
    """The cat photograph (tests/data/chelsea_cat.png) near the left edge of a wider grey frame, bobbing."""
    global _CAT
    w, h = size
    if _CAT is None or _CAT.shape[0] != h:
        with Image.open(DATA / "chelsea_cat.png") as image:
            image = image.convert("RGB")
            scale = h / image.height
            _CAT = np.asarray(image.resize((max(2, round(image.width * scale)), h), Image.BILINEAR))
    frame = np.full((h, w, 3), 90, np.uint8)
    frame[:, :, 2] = 110
    left = int(w * 0.02) + int(4 * np.sin(n / 4))
    cat_w = min(_CAT.shape[1], w - left)
    frame[:, left : left + cat_w] = _CAT[:, :cat_w]
    return frame


PATTERNS = {"bars": _bars, "scene": _scene, "cat": _cat}


def make_clip(
    path: Path,
    *,
    seconds: float = 1.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    audio: bool = True,
    codec: str | None = None,
    container: str | None = None,
    pattern: str = "bars",
) -> Path:
    """Write a clip of moving content (and a 440 Hz tone when audio is on) in mp4, mov, mkv, webm or avi."""
    path = Path(path)
    ext = container or path.suffix.lstrip(".")
    fmt = FORMATS.get(ext, ext)
    codec = codec or DEFAULT_VIDEO_CODEC.get(ext, "libx264")
    draw = PATTERNS[pattern]
    frames = int(round(seconds * fps))
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "ultrafast", "threads": "1"}
        elif codec.startswith("libvpx"):
            video.options = {"deadline": "realtime", "cpu-used": "8"}
        sound = None
        if audio:
            sound = out.add_stream(DEFAULT_AUDIO_CODEC.get(ext, "aac"), rate=48000)
            sound.layout = "stereo"
        for n in range(frames):
            frame = av.VideoFrame.from_ndarray(draw(n, size, fps), format="rgb24")
            frame.pts = n
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            _write_tone(out, sound, seconds)
    return path


def _write_tone(out, sound, seconds: float) -> None:
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


def make_text_as_mp4(path: Path) -> Path:
    """Write a text file with a .mp4 name (an upload that only pretends to be a video)."""
    path = Path(path)
    path.write_text("this is not a video\n" * 200)
    return path


def make_truncated_mp4(src: Path, dest: Path, *, keep: float = 0.5) -> Path:
    """Copy the first `keep` fraction of a clip's bytes (an interrupted upload)."""
    data = Path(src).read_bytes()
    Path(dest).write_bytes(data[: int(len(data) * keep)])
    return Path(dest)


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """Yield every video frame of a file as an RGB uint8 array."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def frame_at(path: Path, index: int) -> np.ndarray:
    """Return frame number `index` (0-based) as RGB, as float for arithmetic."""
    for n, frame in enumerate(read_frames(path)):
        if n == index:
            return frame.astype(np.float32)
    raise AssertionError(f"{path} has fewer than {index + 1} frames")


def probe_frames(path: Path) -> list[float]:
    """Return the presentation time in seconds of every decoded video frame."""
    with av.open(str(path)) as container:
        return [float(frame.time) for frame in container.decode(video=0)]


def audio_seconds(path: Path) -> float:
    """Return how many seconds of audio decode from a file (0 when it has none)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0.0
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


# A plain H.264 writer for test media: CRF quality, a bitrate cap, optional source audio.
CRF = 20
PRESET = "veryfast"
MAX_BITS_PER_PIXEL = 0.14
# One thread and no macroblock tree: x264's output is then the same bytes on every run.
ENCODER_THREADS = 1
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
            "x264-params": "mbtree=0",
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
