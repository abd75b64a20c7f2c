"""Small synthetic clips made with PyAV, for tests that need real video without shipping files."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from editor.engines.local.pipeline import _video_encoder

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


# A plain H.264 writer for test media: the local engine's own x264 stream (CRF, bitrate cap, one
# thread and no macroblock tree, so the same bytes on every run), with the index at the front.
class VideoWriter:
    """Write RGB frames to a +faststart H.264 yuv420p MP4 with BT.709 tags, frame after frame."""

    def __init__(self, path: Path, width: int, height: int, rate: Fraction):
        if width % 2 or height % 2:
            raise ValueError(f"H.264 yuv420p needs even dimensions, not {width}x{height}")
        self.rate = Fraction(rate)
        # bitexact leaves out the muxer's version string, so bytes do not change with the library build.
        self._out = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart", "fflags": "+bitexact"})
        self.stream = _video_encoder(self._out, width, height, self.rate)
        self.frames = 0

    def write_rgb(self, rgb: np.ndarray) -> None:
        """Encode an RGB frame (h, w, 3 uint8), converted with the BT.709 matrix."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        for packet in self.stream.encode(frame):
            self._out.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        for packet in self.stream.encode():
            self._out.mux(packet)
        self._out.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._out.close()


# ---------------------------------------------------------------- hostile files (tiny, with big claims)


def png_claiming(width: int, height: int) -> bytes:
    """Return a tiny PNG whose header claims width × height (its pixel data is a 16×16 image's)."""
    import io
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    # The IHDR chunk follows the 8-byte signature: length (4), type (4), width, height, ... then CRC.
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """Return a tiny JPEG whose frame header (SOF0) claims width × height."""
    import io
    import struct

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (40, 40, 200)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    at = data.index(b"\xff\xc0")
    # SOF0: marker (2), length (2), precision (1), height (2), width (2).
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def make_image_clip(path: Path, codec: str, frame: bytes, size: tuple[int, int], *, frames: int = 25) -> Path:
    """Mux already-coded frames (PNG or JPEG bytes) into a MOV that declares `size`, without decoding them."""
    with av.open(str(path), "w", format="mov") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height = size
        stream.pix_fmt = "rgb24" if codec == "png" else "yuvj420p"
        for n in range(frames):
            packet = av.Packet(frame)
            packet.stream = stream
            packet.pts = packet.dts = n
            packet.time_base = Fraction(1, 25)
            packet.duration = 1
            out.mux(packet)
    return path


# ---------------------------------------------------------------- delivered masters (what aleph2 returns)

# Runway's ProRes profile names → prores_ks's, and the pixel format each is written in.
PRORES_KS_PROFILES = {
    "422 Proxy": ("proxy", "yuv422p10le"),
    "422 LT": ("lt", "yuv422p10le"),
    "422": ("standard", "yuv422p10le"),
    "422 HQ": ("hq", "yuv422p10le"),
    "4444": ("4444", "yuv444p10le"),
    "4444 XQ": ("4444xq", "yuv444p10le"),
}


def _master_picture(n: int, frames: int, size: tuple[int, int], fps: int, colours) -> np.ndarray:
    """Moving colour bars, or with `colours` one solid colour a frame: colours[n * len(colours) // frames]."""
    if colours is None:
        return _bars(n, size, fps)
    w, h = size
    return np.full((h, w, 3), colours[n * len(colours) // frames], np.uint8)


def _write_master_video(
    path: Path,
    *,
    container: str,
    codec: str,
    pix_fmt: str,
    options: dict[str, str],
    seconds: float,
    size: tuple[int, int],
    fps: int,
    colours=None,
    audio: bool = False,
    tag: str | None = None,
) -> Path:
    """Write a video tagged BT.709 (limited range), its RGB pictures converted with the BT.709 matrix."""
    path = Path(path)
    frames = int(round(seconds * fps))
    with av.open(str(path), "w", format=container) as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height = size
        video.pix_fmt = pix_fmt
        video.options = options
        if tag:
            video.codec_tag = tag
        cc = video.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
        sound = None
        if audio:
            # A ProRes .mov carries PCM; the others AAC.
            sound = out.add_stream("pcm_s16le" if container == "mov" else "aac", rate=48000)
            sound.layout = "stereo"
        for n in range(frames):
            frame = av.VideoFrame.from_ndarray(_master_picture(n, frames, size, fps, colours), format="rgb24")
            frame = frame.reformat(format=pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")
            frame.pts = n
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            _write_tone(out, sound, seconds)
    return path


def make_prores_mov(
    path: Path, *, seconds=2.0, size=(320, 180), fps=24, profile="4444", colours=None, audio=False
) -> Path:
    """Write a ProRes QuickTime file (prores_ks) in one of Runway's profiles: 4444s are 4:4:4, the rest 4:2:2, 10-bit."""
    name, pix_fmt = PRORES_KS_PROFILES[profile]
    return _write_master_video(
        path, container="mov", codec="prores_ks", pix_fmt=pix_fmt, options={"profile": name},
        seconds=seconds, size=size, fps=fps, colours=colours, audio=audio,
    )


def make_hevc10_mp4(path: Path, *, seconds=2.0, size=(320, 180), fps=24, colours=None, audio=False) -> Path:
    """Write a 10-bit 4:2:0 HEVC MP4 (libx265, tagged hvc1 as Apple players want)."""
    return _write_master_video(
        path, container="mp4", codec="libx265", pix_fmt="yuv420p10le",
        options={"preset": "ultrafast", "x265-params": "log-level=error:pools=1:frame-threads=1"},
        seconds=seconds, size=size, fps=fps, colours=colours, audio=audio, tag="hvc1",
    )


def make_h264_mp4(path: Path, *, seconds=2.0, size=(320, 180), fps=24, colours=None, audio=False) -> Path:
    """Write an 8-bit 4:2:0 H.264 MP4 (libx264), the plain mp4 master."""
    return _write_master_video(
        path, container="mp4", codec="libx264", pix_fmt="yuv420p",
        options={"preset": "ultrafast", "crf": "12", "threads": "1"},
        seconds=seconds, size=size, fps=fps, colours=colours, audio=audio,
    )


def make_png_sequence_zip(
    path: Path, *, frames=48, size=(320, 180), names="frame_{:04d}.png", colours=None, reverse_entries=False
) -> Path:
    """Write a zip of PNG frames named names.format(n); with reverse_entries the last frame is stored first."""
    path = Path(path)
    order = range(frames - 1, -1, -1) if reverse_entries else range(frames)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for n in order:
            buffer = io.BytesIO()
            Image.fromarray(_master_picture(n, frames, size, 24, colours)).save(buffer, "PNG", compress_level=1)
            archive.writestr(names.format(n), buffer.getvalue())
    return path


def make_master(kind: str, path: Path, **kwargs) -> Path:
    """Write a master as aleph2 delivers it for an output format: mp4, prores, png_sequence or sdr_rec709_10bit.

    A PNG sequence may be asked for in seconds and fps like the videos (it is seconds × fps frames)."""
    if kind == "png_sequence" and ("seconds" in kwargs or "fps" in kwargs):
        kwargs["frames"] = int(round(kwargs.pop("seconds", 2.0) * kwargs.pop("fps", 24)))
    makers = {
        "mp4": make_h264_mp4,
        "prores": make_prores_mov,
        "png_sequence": make_png_sequence_zip,
        "sdr_rec709_10bit": make_hevc10_mp4,
    }
    return makers[kind](path, **kwargs)


# ---------------------------------------------------------------- a person on a known background

PERSON_CUTOUT = Path(__file__).parent / "data" / "astronaut_cutout.png"


def person_background(size: tuple[int, int]) -> np.ndarray:
    """A textured colour gradient (RGB): the known background behind the composited person."""
    width, height = size
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    base = np.concatenate([40 + 120 * x + 0 * y, 90 + 60 * y + 0 * x, 160 - 80 * x + 0 * y], axis=2)
    texture = np.random.default_rng(7).integers(0, 40, (height // 8 + 1, width // 8 + 1, 1)).repeat(8, 0).repeat(8, 1)
    return np.clip(base + texture[:height, :width], 0, 255).astype(np.uint8)


PAN_EXTRA = 400  # pixels of background beyond the frame, for a camera that pans


def person_frame(n: int, size: tuple[int, int], *, step: int = 4, pan: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frame n of a person sliding right `step` px a frame over person_background: (RGB, alpha 0–1).
    With `pan`, the camera pans right `pan` px a frame over a wider background (person_backdrop)."""
    import cv2

    width, height = size
    side = int(height * 0.85)
    cut = cv2.resize(cv2.imread(str(PERSON_CUTOUT), cv2.IMREAD_UNCHANGED), (side, side), interpolation=cv2.INTER_AREA)
    x0 = min(width - side, width // 4 + step * n)
    y0 = height - side
    alpha = np.zeros((height, width), np.float32)
    alpha[y0 : y0 + side, x0 : x0 + side] = cut[:, :, 3] / 255.0
    person = np.zeros((height, width, 3), np.float32)
    person[y0 : y0 + side, x0 : x0 + side] = cut[:, :, 2::-1]
    behind = person_backdrop(n, size, pan) if pan else person_background(size)
    picture = person * alpha[..., None] + behind * (1 - alpha[..., None])
    return np.clip(picture + 0.5, 0, 255).astype(np.uint8), alpha


def person_backdrop(n: int, size: tuple[int, int], pan: int) -> np.ndarray:
    """What a camera panning `pan` px a frame over a wide person_background shows at frame n."""
    width, height = size
    x = min(PAN_EXTRA, pan * n)
    return person_background((width + PAN_EXTRA, height))[:, x : x + width]


def make_person_clip(
    path: Path, *, frames: int = 25, size: tuple[int, int] = (640, 360), step: int = 4, fps: int = 25, pan: int = 0
) -> Path:
    """Write a clip of the cut-out person over the known background (nearly lossless H.264)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "12", "preset": "ultrafast", "threads": "1"}
        for n in range(frames):
            frame = av.VideoFrame.from_ndarray(person_frame(n, size, step=step, pan=pan)[0], format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return path
