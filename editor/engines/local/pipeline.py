"""The local engine's streaming pipeline: decode → crop/scale/grade in libavfilter → grain → H.264.

One frame at a time: memory does not grow with the clip's length. The grade is a single 3D LUT
applied by lut3d; the crop fills the chosen ratio; seeded grain is added to luma in numpy; the
source audio is copied packet by packet because timing is unchanged.
"""

from __future__ import annotations

import json
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import numpy as np
from PIL import Image

from editor.engines.base import EditRequest, EditResult, EngineError, ProgressFn, ratio_size
from editor.engines.local import color
from editor.engines.local.plan import EditPlan, make_plan

# H.264 output: quality by CRF, bits capped so grain cannot bloat a file.
CRF = 20
PRESET = "veryfast"
MAX_BITS_PER_PIXEL = 0.14
# One x264 thread: with frame threads and a VBV cap x264 is not byte-deterministic, and the same
# input, prompt and seed must give the same bytes.
ENCODER_THREADS = "1"
STATS_SAMPLES = 24
BT709 = 1  # AVCOL_PRI_BT709, AVCOL_TRC_BT709, AVCOL_SPC_BT709
MPEG_RANGE = 1


def run(request: EditRequest, progress: ProgressFn) -> EditResult:
    """Run a local edit from request.input_path to request.output_path."""
    plan = make_plan(request.prompt, ratio=request.ratio, seed=request.seed, has_reference=bool(request.references))
    partial = request.output_path.with_name(request.output_path.stem + ".partial.mp4")
    try:
        # Beside the output, so a run that is killed leaves its scraps in one folder.
        with tempfile.TemporaryDirectory(prefix="aleph-local-", dir=request.output_path.parent) as tmp:
            notes = _render(request, plan, Path(tmp), partial, progress)
        partial.replace(request.output_path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return EditResult(output_path=request.output_path, summary=plan.summary(), plan=plan.as_list(), notes=notes)


def _render(request: EditRequest, plan: EditPlan, tmp: Path, dest: Path, progress: ProgressFn) -> list[str]:
    ops = [op.as_dict() for op in plan.ops]
    reference_stats = clip_stats = None
    share_for_stats = 0.0
    if plan.op("match_reference"):
        reference_stats = _image_stats(request.references[0])
        clip_stats = _clip_stats(request.input_path, lambda f: progress(0.2 * f))
        share_for_stats = 0.2
    table = color.build_lut(ops, reference_stats=reference_stats, clip_stats=clip_stats)
    lut_path = None
    if table is not None:
        lut_path = tmp / "grade.cube"
        color.write_cube(table, lut_path)
    grain = plan.op("grain")
    width, height = ratio_size(request.ratio)
    try:
        source = av.open(str(request.input_path))
    except av.FFmpegError:
        raise EngineError("bad_input", "The input clip could not be opened.") from None
    with source:
        video_in = source.streams.video[0]
        video_in.thread_type = "AUTO"
        audio_in = source.streams.audio[0] if source.streams.audio else None
        rate = video_in.average_rate or video_in.guessed_rate or Fraction(25)
        total = video_in.frames or max(1, int(float(_duration(source, video_in)) * float(rate)))
        with av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            out.metadata["comment"] = json.dumps(request.recipe, sort_keys=True, ensure_ascii=False)
            if request.recipe:
                out.metadata["description"] = request.recipe.get("prompt", "")[:250]
            video_out = _video_encoder(out, width, height, rate)
            audio_out = _audio_output(out, audio_in)
            graph = None
            written = 0
            for packet in source.demux(*(s for s in (video_in, audio_in) if s is not None)):
                if packet.stream.type == "audio":
                    if audio_out is not None and packet.dts is not None:
                        packet.stream = audio_out
                        out.mux(packet)
                    continue
                for frame in packet.decode():
                    if graph is None:
                        graph = _build_graph(video_in, frame, width, height, lut_path)
                    graph.push(frame)
                    written = _drain(graph, out, video_out, written, rate, grain, plan.seed)
                    progress(share_for_stats + (1 - share_for_stats) * min(1.0, written / total))
            if graph is None:
                raise EngineError("bad_input", "The input clip has no frames that could be decoded.")
            graph.push(None)
            written = _drain(graph, out, video_out, written, rate, grain, plan.seed)
            for packet in video_out.encode():
                out.mux(packet)
    notes = ["Source audio kept in sync."] if audio_in is not None else []
    if written == 0:
        raise EngineError("bad_input", "No frames came out of the edit.")
    return notes


def _duration(container, stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return (container.duration or 0) / av.time_base


def _video_encoder(out, width: int, height: int, rate: Fraction):
    stream = out.add_stream("libx264", rate=rate)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    maxrate = int(width * height * float(rate) * MAX_BITS_PER_PIXEL)
    stream.options = {
        "crf": str(CRF),
        "preset": PRESET,
        "maxrate": str(maxrate),
        "bufsize": str(maxrate * 2),
        "threads": ENCODER_THREADS,
    }
    ctx = stream.codec_context
    ctx.color_primaries = BT709
    ctx.color_trc = BT709
    ctx.colorspace = BT709
    ctx.color_range = MPEG_RANGE
    return stream


def _audio_output(out, audio_in):
    if audio_in is None:
        return None
    if audio_in.codec_context.name in ("aac", "mp3", "mp3float", "ac3", "opus", "alac"):
        return out.add_stream_from_template(audio_in)
    return None


def _crop_box(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Return (w, h, x, y) of the centred crop that fills the target ratio."""
    target = width / height
    if src_w / src_h > target:
        crop_w, crop_h = int(round(src_h * target)) // 2 * 2, src_h // 2 * 2
    else:
        crop_w, crop_h = src_w // 2 * 2, int(round(src_w / target)) // 2 * 2
    return crop_w, crop_h, (src_w - crop_w) // 2, (src_h - crop_h) // 2


def _build_graph(stream, first_frame, width: int, height: int, lut_path: Path | None) -> av.filter.Graph:
    graph = av.filter.Graph()
    src = graph.add_buffer(template=stream)
    crop_w, crop_h, x, y = _crop_box(first_frame.width, first_frame.height, width, height)
    # HD sources are BT.709 even when untagged; smaller ones are usually BT.601.
    in_matrix = "bt709" if first_frame.height >= 720 else "bt601"
    chain = [graph.add("crop", f"{crop_w}:{crop_h}:{x}:{y}")]
    if lut_path is not None:
        chain.append(graph.add("scale", f"{width}:{height}:flags=bicubic:in_color_matrix={in_matrix}"))
        chain.append(graph.add("format", "gbrp"))
        chain.append(graph.add("lut3d", f"file={lut_path}:interp=tetrahedral"))
        chain.append(graph.add("scale", "out_color_matrix=bt709:out_range=tv"))
    else:
        chain.append(
            graph.add(
                "scale",
                f"{width}:{height}:flags=bicubic:in_color_matrix={in_matrix}:out_color_matrix=bt709:out_range=tv",
            )
        )
    chain.append(graph.add("format", "yuv420p"))
    sink = graph.add("buffersink")
    node = src
    for step in chain:
        node.link_to(step)
        node = step
    node.link_to(sink)
    graph.configure()
    return graph


def _drain(graph, out, video_out, written: int, rate: Fraction, grain, seed: int) -> int:
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return written
        if grain is not None:
            frame = _add_grain(frame, seed, written, grain.params["strength"])
        frame.pts = written
        frame.time_base = 1 / rate
        frame.color_primaries = BT709
        frame.color_trc = BT709
        frame.colorspace = BT709
        frame.color_range = MPEG_RANGE
        for packet in video_out.encode(frame):
            out.mux(packet)
        written += 1


def _add_grain(frame, seed: int, index: int, strength: float):
    """Add seeded, luma-only film grain, lighter in the highlights."""
    planes = frame.to_ndarray()
    height = frame.height
    luma = planes[:height].astype(np.float32)
    rng = np.random.default_rng([seed, index])
    noise = rng.standard_normal(luma.shape, dtype=np.float32)
    weight = 1.0 - 0.6 * (luma / 255.0)
    luma += noise * (strength * 255.0) * weight
    planes[:height] = np.clip(luma, 16, 235).astype(np.uint8)
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def _image_stats(path: Path):
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((320, 320))
            pixels = np.asarray(image, np.float32) / 255.0
    except OSError:
        raise EngineError("bad_reference", "The reference image could not be read.") from None
    return color.lab_stats(pixels)


def _clip_stats(path: Path, progress) -> tuple:
    """Colour statistics over the whole clip (sampled frames), so a transfer does not flicker."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        total = stream.frames or STATS_SAMPLES
        step = max(1, total // STATS_SAMPLES)
        samples = []
        for n, frame in enumerate(container.decode(stream)):
            if n % step == 0:
                small = frame.reformat(width=160, height=max(2, round(160 * frame.height / frame.width)), format="rgb24")
                samples.append(small.to_ndarray().reshape(-1, 3))
                progress(min(1.0, n / total))
    if not samples:
        raise EngineError("bad_input", "The input clip has no frames that could be decoded.")
    return color.lab_stats(np.concatenate(samples).astype(np.float32) / 255.0)
