"""Engine-ready input for the remote engines: the clip and reference images the way the API wants them.

Pure: files in, files and dataclasses out; no ORM, no request.

- `prepare_video()` trims the clip to the model's window (the catalogue's: gen4_aleph 5 s from
  `trim_start`, aleph2 2 to 30 s), and either crops it to fill the chosen ratio at exactly the
  ratio's size (framing "crop": the API follows the input's shape, so this is what makes the ratio
  mean something there) or keeps its shape (every other framing; the long side at most
  KEEP_MAX_SIDE), caps the rate at 30 fps and encodes H.264 yuv420p MP4 with +faststart and BT.709 tags, without audio (the model ignores it).
  It then decides how the file travels: a `data:video/mp4;base64,…` URI when the encoded string is
  within the model's data-URI limit, else an ephemeral upload (`uri_kind == "upload"`: call
  `RemoteClient.upload_ephemeral(prepared.path, prepared.path.name, prepared.content_type)`).
  A provider without uploads gets a second, smaller encode, and then a refusal.
- `prepare_image()` does the same for a reference or keyframe image (PNG or JPEG).
- `estimate_cost()` gives the price shown before submitting, from the catalogue.

Every refusal is an `EngineError` whose message a user can act on.
"""

from __future__ import annotations

import base64
import io
import math
import shutil
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import av
import av.filter
from PIL import Image, ImageOps, UnidentifiedImageError

from editor import media
from editor.constants import ratio_size
from editor.engines.base import EngineError
from editor.engines.remote import catalog
from editor.engines.remote.client import UPLOAD_MAX_BYTES

MAX_FPS = Fraction(30)
# A clip sent with its own shape is scaled down to this long side at most.
KEEP_MAX_SIDE = 1920
# Quality first; a provider that cannot take an upload gets a second, smaller encode before a refusal.
CRF = 18
SMALLER_CRF = 26
PRESET = "fast"

_SCALE_MATRICES = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020"}


@dataclass(frozen=True)
class PreparedInput:
    path: Path
    # Seconds of video (None for an image).
    duration: float | None
    uri_kind: str  # "data" or "upload"
    # Only for uri_kind == "data"; kept out of repr because it can be 16 MB long.
    data_uri: str | None = field(repr=False)
    size: int
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class Cost:
    # Both None when the model has no published price (the provider's estimate comes at create).
    credits: int | None
    usd: Decimal | None
    # Where the price comes from, for the form's small print.
    basis: str
    # Of which the output format's surcharge, in credits.
    surcharge: int = 0

    @property
    def known(self) -> bool:
        return self.usd is not None


# ---------------------------------------------------------------- video


def model_window(model: str, clip_seconds: float, trim_start: float, duration: float | None = None) -> float:
    """Return how many seconds from trim_start the model will get, or raise a plain EngineError."""
    if model not in catalog.MODELS:
        raise EngineError("bad_model", f"Unknown model {model!r}.")
    shortest, longest = catalog.MODELS[model].window
    if not 0 <= trim_start < clip_seconds:
        raise EngineError("bad_trim", f"The start point {trim_start:g} s lies outside this {clip_seconds:.1f} s clip.")
    wanted = longest if duration is None else min(duration, longest)
    seconds = min(wanted, clip_seconds - trim_start)
    if seconds < shortest:
        raise EngineError(
            "input_too_short",
            f"{model} needs at least {shortest:g} s of video; from {trim_start:g} s there are only {seconds:.1f} s. "
            "Pick an earlier start or a longer clip.",
        )
    return seconds


def prepare_video(
    src: Path,
    dest_dir: Path,
    *,
    model: str,
    ratio: str,
    trim_start: float = 0.0,
    provider: str,
    duration: float | None = None,
    name: str = "engine_input",
    data_uri_limit: int | None = None,
    framing: str = "crop",
) -> PreparedInput:
    """Trim, reframe (crop to the ratio, or keep the shape) and encode a clip for the remote model,
    and choose data URI or upload."""
    spec = _offered(provider, model)
    if framing not in catalog.FRAMINGS:
        raise EngineError("bad_framing", f"Unknown framing {framing!r}.")
    if framing == "crop" and ratio not in catalog.RATIOS:
        raise EngineError("bad_ratio", f"Unsupported ratio {ratio!r}.")
    limit = data_uri_limit or spec.video_data_uri_limit
    seconds = model_window(model, _clip_seconds(src), trim_start, duration)
    dest = Path(dest_dir) / f"{name}.mp4"
    width, height = ratio_size(ratio) if framing == "crop" else _kept_size(src)
    steps = (CRF,) if catalog.PROVIDERS[provider].supports_upload else (CRF, SMALLER_CRF)
    for crf in steps:
        frames, fps = _encode(src, dest, trim_start, seconds, (width, height), crf)
        encoded = _data_uri_length("video/mp4", dest.stat().st_size)
        if encoded <= limit:
            break
    if frames == 0:
        raise EngineError("bad_input", "No video frames were found in the chosen part of the clip.")
    actual = float(frames / fps)
    shortest = spec.window[0]
    if actual < shortest - 0.05:
        raise EngineError("input_too_short", f"{model} needs at least {shortest:g} s of video; only {actual:.1f} s could be read.")
    return _routed(dest, "video/mp4", actual, width, height, provider, limit, "clip")


def _kept_size(src: Path) -> tuple[int, int]:
    """Return the even size a clip is sent at with its own shape (as displayed, long side capped)."""
    try:
        with av.open(str(src)) as container:
            stream = container.streams.video[0]
            first = next(container.decode(stream), None)
            if first is None:
                raise EngineError("bad_input", "No video frames were found in the clip.")
            width, height = first.width, first.height
            width = round(width * Fraction(stream.sample_aspect_ratio or 1))
            if int(getattr(first, "rotation", 0) or 0) % 180 == 90:
                width, height = height, width
    except av.FFmpegError:
        raise EngineError("bad_input", "That file could not be read as a video.") from None
    scale = min(1.0, KEEP_MAX_SIDE / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _offered(provider: str, model: str) -> catalog.Model:
    """Return the catalogue's entry for a model the provider offers; a plain EngineError otherwise."""
    if provider not in catalog.PROVIDERS:
        raise EngineError("bad_provider", f"Unknown provider {provider!r}.")
    if model not in catalog.PROVIDERS[provider].models:
        raise EngineError("bad_model", f"{catalog.PROVIDERS[provider].label} does not offer {model}.")
    return catalog.MODELS[model]


def _clip_seconds(src: Path) -> float:
    try:
        with av.open(str(src)) as container:
            if not container.streams.video:
                raise EngineError("bad_input", "That file has no video track.")
            seconds = media.clip_duration(container, container.streams.video[0])
    except av.FFmpegError:
        raise EngineError("bad_input", "That file could not be read as a video.") from None
    if seconds <= 0:
        raise EngineError("bad_input", "The clip's length could not be read.")
    return seconds


def _encode(src: Path, dest: Path, start: float, seconds: float, size: tuple[int, int], crf: int) -> tuple[int, Fraction]:
    """Encode [start, start + seconds) of src into dest; return (frames written, frame rate)."""
    try:
        with av.open(str(src)) as source, av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = source.streams.video[0]
            stream.thread_type = "AUTO"
            fps = min(stream.average_rate or stream.guessed_rate or Fraction(25), MAX_FPS)
            fps = Fraction(fps).limit_denominator(1001)
            video = out.add_stream("libx264", rate=fps)
            video.codec_context.time_base = 1 / fps
            video.width, video.height = size
            video.pix_fmt = "yuv420p"
            video.options = {"crf": str(crf), "preset": PRESET}
            # Tag BT.709 (the scale filter converts to it) so players show the colours as encoded.
            cc = video.codec_context
            cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
            wanted = max(1, math.ceil(seconds * fps - 1e-6))
            written = 0
            graph = None
            for frame in _frames_in_window(source, stream, start, seconds):
                if graph is None:
                    graph = _reframe_graph(stream, frame, size, fps)
                graph.vpush(frame)
                written = _drain(graph, video, out, written, wanted)
            if graph is not None:
                graph.vpush(None)
                written = _drain(graph, video, out, written, wanted)
            for packet in video.encode(None):
                out.mux(packet)
            return written, fps
    except av.FFmpegError as exc:
        dest.unlink(missing_ok=True)
        raise EngineError("bad_input", f"The clip could not be converted for the engine ({exc.__class__.__name__}).") from None


def _frames_in_window(source, stream, start: float, seconds: float):
    offset = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    if start > 0:
        source.seek(int((start + offset) / stream.time_base), stream=stream, backward=True)
    # Half a frame of slack so a frame stamped a hair before the cut still counts.
    slack = 0.5 / float(stream.average_rate or 25)
    for frame in source.decode(stream):
        if frame.time is None:
            continue
        t = frame.time - offset
        if t < start - slack:
            continue
        if t >= start + seconds - slack:
            break
        yield frame


def _reframe_graph(stream, first, size: tuple[int, int], fps: Fraction) -> av.filter.Graph:
    """Build rotate → crop to the target aspect → scale → 30 fps cap → yuv420p BT.709."""
    width, height = size
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(template=stream)]
    src_w, src_h = first.width, first.height
    rotation = int(getattr(first, "rotation", 0) or 0) % 360
    if rotation in (90, 270):
        # The display matrix says the picture is shown turned; bake the turn in.
        nodes.append(graph.add("transpose", "clock" if rotation == 270 else "cclock"))
        src_w, src_h = src_h, src_w
    elif rotation == 180:
        nodes += [graph.add("hflip"), graph.add("vflip")]
    sar = stream.sample_aspect_ratio or Fraction(1)
    crop_w, crop_h = _crop_box(src_w, src_h, Fraction(sar), Fraction(width, height))
    matrix = _SCALE_MATRICES.get(int(first.colorspace or 2), "bt709" if src_h >= 720 else "bt601")
    nodes.append(graph.add("crop", f"{crop_w}:{crop_h}:{(src_w - crop_w) // 2 // 2 * 2}:{(src_h - crop_h) // 2 // 2 * 2}"))
    nodes.append(
        graph.add("scale", f"{width}:{height}:flags=lanczos:in_color_matrix={matrix}:out_color_matrix=bt709:out_range=tv")
    )
    nodes.append(graph.add("setsar", "1"))
    nodes.append(graph.add("fps", f"fps={fps.numerator}/{fps.denominator}"))
    nodes.append(graph.add("format", "yuv420p"))
    nodes.append(graph.add("buffersink"))
    for a, b in zip(nodes, nodes[1:]):
        a.link_to(b)
    graph.configure()
    return graph


def _crop_box(src_w: int, src_h: int, sar: Fraction, target: Fraction) -> tuple[int, int]:
    """Return the largest even (width, height) of the source that shows the target aspect."""
    display = Fraction(src_w) * sar / src_h
    if display > target:
        crop_w, crop_h = round(src_h * target / sar), src_h
    else:
        crop_w, crop_h = src_w, round(src_w * sar / target)
    return max(2, min(src_w, crop_w) // 2 * 2), max(2, min(src_h, crop_h) // 2 * 2)


def _drain(graph: av.filter.Graph, video, out, written: int, wanted: int) -> int:
    while True:
        try:
            frame = graph.vpull()
        except (av.BlockingIOError, av.EOFError):
            return written
        if written >= wanted:
            continue
        frame.pts = written
        frame.time_base = video.codec_context.time_base
        for packet in video.encode(frame):
            out.mux(packet)
        written += 1


# ---------------------------------------------------------------- images


def prepare_image(
    path: Path,
    dest_dir: Path,
    *,
    provider: str,
    name: str = "reference",
    data_uri_limit: int = catalog.IMAGE_DATA_URI_LIMIT,
) -> PreparedInput:
    """Check a reference or keyframe image, keep it as PNG/JPEG (upright), and choose data URI or upload."""
    if provider not in catalog.PROVIDERS:
        raise EngineError("bad_provider", f"Unknown provider {provider!r}.")
    try:
        with Image.open(path) as image:
            image.load()
            kind = image.format
            upright = ImageOps.exif_transpose(image)
            turned = _orientation(image) not in (0, 1)
            if kind in ("PNG", "JPEG") and not turned:
                suffix = ".png" if kind == "PNG" else ".jpg"
                dest = Path(dest_dir) / f"{name}{suffix}"
                shutil.copyfile(path, dest)
            else:
                dest = Path(dest_dir) / f"{name}.png"
                _save_png(upright, dest)
                kind = "PNG"
            width, height = upright.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise EngineError("bad_image", "That image could not be read; use a PNG or JPEG file.") from None
    content_type = "image/png" if kind == "PNG" else "image/jpeg"
    return _routed(dest, content_type, None, width, height, provider, data_uri_limit, "image")


def _orientation(image: Image.Image) -> int:
    return int(image.getexif().get(0x0112, 1) or 1)


def _save_png(image: Image.Image, dest: Path) -> None:
    mode = "RGBA" if image.mode in ("RGBA", "LA", "P", "PA") else "RGB"
    buffer = io.BytesIO()
    image.convert(mode).save(buffer, format="PNG", optimize=True)
    dest.write_bytes(buffer.getvalue())


# ---------------------------------------------------------------- transport choice


def _data_uri_length(content_type: str, size: int) -> int:
    return len(f"data:{content_type};base64,") + 4 * math.ceil(size / 3)


def _routed(
    dest: Path,
    content_type: str,
    duration: float | None,
    width: int,
    height: int,
    provider: str,
    data_uri_limit: int,
    what: str,
) -> PreparedInput:
    size = dest.stat().st_size
    encoded = _data_uri_length(content_type, size)
    if encoded <= data_uri_limit:
        data_uri = f"data:{content_type};base64," + base64.b64encode(dest.read_bytes()).decode("ascii")
        return PreparedInput(dest, duration, "data", data_uri, size, content_type, width, height)
    limit_mb = data_uri_limit / 1_000_000
    spec = catalog.PROVIDERS[provider]
    if not spec.supports_upload:
        raise EngineError(
            "input_too_large",
            f"This {what} is {encoded / 1_000_000:.1f} MB once encoded for sending; {spec.label} takes at most "
            f"{limit_mb:g} MB and has no upload route. Use a shorter part or a smaller output ratio"
            + (" or a smaller image." if what == "image" else "."),
        )
    if size > UPLOAD_MAX_BYTES:
        raise EngineError("input_too_large", f"This {what} is {size / 1_000_000:.0f} MB; Runway uploads take at most 200 MB.")
    return PreparedInput(dest, duration, "upload", None, size, content_type, width, height)


# ---------------------------------------------------------------- cost


def estimate_cost(provider: str, model: str, seconds: float, *, output_format: str = "mp4", pixels: int = 0) -> Cost:
    """Estimate what one edit costs before it is submitted (whole seconds, rounded up: never understated)."""
    spec = _offered(provider, model)
    seller = catalog.PROVIDERS[provider]
    if seller.usd_per_call is not None:
        return Cost(None, seller.usd_per_call, seller.call_price_basis)
    credits = spec.credits_for(seconds, output_format=output_format, pixels=pixels)
    if credits is None:
        return Cost(None, None, spec.price_basis)
    whole = max(1, math.ceil(seconds - 1e-6))
    surcharge = spec.surcharge_per_second(output_format, pixels) * whole
    basis = spec.price_basis
    if surcharge:
        basis += f"; {catalog.OUTPUT_FORMATS[output_format][0]} adds {spec.surcharge_per_second(output_format, pixels)} a second"
    return Cost(math.ceil(credits), credits * catalog.CREDIT_USD, basis, surcharge)
