"""The local engine's streaming pipeline, in one pass and in a fixed order:

1. time      — the timeline picks source frames (reverse, boomerang, freeze, speed, next shot);
2. remove    — the masked region is filled from other frames, then inpainted (source frames);
3. time      — slow-motion in-betweens are interpolated with optical flow;
4. camera    — one warp per frame: reframe to the ratio, zoom, push, pan, tilt, dutch, shake, mirror;
5. relight   — time-of-day light, directional light, spotlight, vignette (a gain map);
6. colour    — reference transfer, looks, time-of-day colour and adjustments (one 3D LUT, lut3d);
7. finish    — sharpen or soften (libavfilter), then seeded luma grain;
8. encode    — H.264 yuv420p BT.709, capped bitrate, +faststart; audio copied, retimed or dropped.

When an edit needs no per-pixel work in numpy (only colour, a fixed crop, time selection and
grain) the frames go straight from the decoder into a libavfilter graph (crop, scale, lut3d).
Otherwise the pixel work is done on the decoded yuv420p planes where it can be (removal, the
camera, a relight that is the same on R, G and B) and in RGB where it cannot (in-between frames,
a tinted relight).
Frames are pulled one at a time, so memory does not grow with the clip's length.
"""

from __future__ import annotations

import json
import tempfile
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import cv2
import numpy as np
from PIL import Image

from editor.constants import ratio_size
from editor.engines.base import EditRequest, EditResult, EngineError, ProgressFn
from editor.engines.local import color, flow, people, source, stylise, subject, timeline, yuv
from editor.engines.local.audio import AudioTrack
from editor.engines.local.camera import Camera, fill_crop
from editor.engines.local.light import Relight
from editor.engines.local.plan import EditPlan, make_plan
from editor.engines.local.remove import FARTHEST, Remover
from editor.engines.local.stages import Stage

# H.264 output: quality by CRF, bits capped so grain cannot bloat a file.
CRF = 20
PRESET = "veryfast"
MAX_BITS_PER_PIXEL = 0.14
# By default x264 runs as a user's ffmpeg command line runs it: its own frame threads over every
# core and macroblock-tree rate control. That gives the same bytes on a rerun as long as the VBV cap
# does not bind: where it binds, each frame's bit budget depends on how far the frames encoded
# alongside have got, and reruns differ by far more than encoding noise (30-34 dB PSNR with grain,
# measured here). So an edit that adds grain, or a source already denser than the cap, encodes as
# the exact mode does.
# The exact mode gives the same bytes for the same input, prompt and seed: x264 is not
# byte-deterministic with frame threads and a VBV cap, nor (in this build) with sliced threads while
# other processes load the cores, nor even on one thread with macroblock-tree rate control; so it
# runs on one thread with mbtree off, and the lookahead still picks B-frames.
ENCODER_THREADS = "0"  # x264's own choice: 1.5 threads a core
EXACT_ENCODER_THREADS = "1"
EXACT_X264_PARAMS = "mbtree=0"
STATS_SAMPLES = 24
# lut3d grades planar float RGB with SIMD: measured here 2.5 times faster than on 8-bit planes,
# the float conversion included, and without 8-bit rounding between the grade's steps.
LUT_FORMAT = "gbrpf32le"
# libswscale's default conversions from YUV to RGB and from one matrix to another read about a
# level dark (more on some colours); exact rounding with full chroma interpolation reads true (see
# yuv.py). A result edited again would otherwise drift darker with each version.
EXACT_FLAGS = "accurate_rnd+full_chroma_int"
BT709 = 1  # AVCOL_PRI_BT709, AVCOL_TRC_BT709, AVCOL_SPC_BT709
MPEG_RANGE = 1
JPEG_RANGE = 2
# Source frames kept: removal looks this far ahead (decoded frames, converted when asked for);
# anything else needs at most two converted frames at once, the neighbours of an in-between frame
# (a next shot's held frame is one of them, or the only one).
REMOVAL_CACHE = FARTHEST + 3
WORK_CACHE = 2
# While rendering, a frame of up to 1080p decodes on one core in a few ms, well under what x264
# spends on it, so the render's reader decodes in the thread that asks for frames: frame threads
# would only hold more frames (6-9 MB at 720p here, up to 30 MB for a source with B-frames) and
# compete with x264 for the cores. Larger sources, and the passes that only decode (subject,
# statistics, the tail's drift), use frame threads.
RENDER_FRAME_THREADS_ABOVE = 1920 * 1080


def run(request: EditRequest, progress: ProgressFn) -> EditResult:
    """Run a local edit from request.input_path to request.output_path."""
    plan = make_plan(
        request.prompt,
        ratio=request.ratio,
        seed=request.seed,
        has_reference=bool(request.references),
        has_mask=request.mask_path is not None,
    )
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


def crops_source(info: source.SourceInfo, width: int, height: int) -> bool:
    crop_w, crop_h = fill_crop(info.width, info.height, width, height)
    return crop_w < info.width * 0.98 or crop_h < info.height * 0.98


def follows_subject(plan: EditPlan, info: source.SourceInfo, width: int, height: int) -> bool:
    """Whether the edit needs the subject's track: a push, a spotlight, a close-up, or a reframe
    that crops and keeps the subject in frame."""
    framing = plan.op("framing")
    if plan.has("push", "spotlight") or (framing is not None and framing.params["shot"] == "close_up"):
        return True
    return plan.reframe == "subject" and crops_source(info, width, height) and framing is None


class _Progress:
    """Split one progress callback into consecutive stages."""

    def __init__(self, report: ProgressFn, shares: list[float]):
        self.report = report
        total = sum(shares) or 1.0
        self.shares = [s / total for s in shares]
        self.stage = 0
        self.done = 0.0

    def next(self) -> ProgressFn:
        start = self.done
        share = self.shares[self.stage]
        self.stage += 1
        self.done += share
        return lambda f: self.report(min(1.0, start + share * min(1.0, f)))


def _render(request: EditRequest, plan: EditPlan, tmp: Path, dest: Path, progress: ProgressFn) -> list[str]:
    info = source.index(request.input_path)
    width, height = ratio_size(request.ratio)
    rate = float(info.rate)
    line = timeline.build(plan, info.count, rate)
    notes = list(line.notes) if info.has_audio else []
    crops = crops_source(info, width, height)
    wants_subject = follows_subject(plan, info, width, height)
    people_op = plan.op("people")
    removes_people = people_op is not None and people_op.params["effect"] in people.CLIP_EFFECTS
    stages = _Progress(
        progress,
        [0.1 if plan.op("match_reference") else 0.0, 0.15 if wants_subject else 0.0, 0.25 if people_op else 0.0, 0.4 if removes_people else 0.0, 1.0],
    )
    stats_progress, subject_progress, people_progress, prepare_progress, render_progress = (stages.next() for _ in range(5))

    reference_stats = clip_stats = None
    if plan.op("match_reference"):
        reference_stats = _image_stats(request.references[0])
        clip_stats = _clip_stats(info, stats_progress)
    table = color.build_lut([op.as_dict() for op in plan.ops], reference_stats=reference_stats, clip_stats=clip_stats)
    lut_path = None
    if table is not None:
        lut_path = tmp / "grade.cube"
        color.write_cube(table, lut_path)

    track = subject.cached_track(info, subject_progress, request.cache_file("subject")) if wants_subject else None
    effect = None
    if people_op is not None:
        found = people.analyse(request.input_path, info.count, people_progress, cache=request.cache_file("people"))
        if not found.found.people:
            raise EngineError(
                "no_person",
                f"The engine found no person in this clip, so it cannot do “{people_op.label}”: its people edits need one in the picture.",
            )
        notes.append(f"People: {found.found.describe()}.")
        effect = (found, people_op.params["effect"], people_op.params["amount"], request.references, prepare_progress)
    if track is not None and crops and plan.reframe == "subject":
        notes.append(f"Reframed to {request.ratio} following the {track.kind}.")
    camera = Camera(
        plan,
        src_size=(info.width, info.height),
        out_size=(width, height),
        main_frames=line.main,
        total_frames=len(line.positions),
        rate=rate,
        subject=track,
    )
    relight = Relight(plan, width, height)
    numpy_path = (
        plan.has("remove", "people", "stylise", "slow_motion", "dutch", "shake", "mirror", "framing", "zoom", "push", "pan", "tilt")
        or relight.active
        or camera.moving
    )
    if plan.op("extend") and plan.op("extend").params["mode"] == "move":
        camera.set_drift(*_tail_drift(info, line.traversal))
    with av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        out.metadata["comment"] = json.dumps(request.recipe, sort_keys=True, ensure_ascii=False)
        if request.recipe:
            out.metadata["description"] = request.recipe.get("prompt", "")[:250]
        exact = request.exact or cap_binds(plan, info, width, height)
        video_out = _video_encoder(out, width, height, info.rate, exact=exact)
        sound = None
        if info.has_audio and line.audio != "drop":
            sound = AudioTrack(request.input_path, out, tempo=line.tempo)
        encoder = _Encoder(out, video_out, info.rate, plan, sound)
        reader = source.FrameReader(info, frame_threads=info.width * info.height > RENDER_FRAME_THREADS_ABOVE)
        try:
            if numpy_path:
                notes += _render_numpy(request, plan, info, line, camera, relight, track, reader, lut_path, encoder, render_progress, effect)
            else:
                _render_direct(plan, info, line, reader, width, height, lut_path, encoder, render_progress)
            encoder.finish()
        except BaseException:
            encoder.abort()
            raise
        finally:
            reader.close()
    if encoder.written == 0:
        raise EngineError("bad_input", "No frames came out of the edit.")
    return notes


class _Encoder:
    """The end of the pipeline: filter graph and grain, then encode, and mux audio alongside.

    Filtering (with grain) and encoding run on stages of their own (see stages.py), so they overlap
    with decoding and pixel work and with each other; `push` hands a frame over and returns at once
    unless the queue is full. x264 is the slowest step (in the exact mode, on one thread), so its stage
    does nothing else.
    """

    def __init__(self, out, stream, rate: Fraction, plan: EditPlan, sound: AudioTrack | None):
        self.out = out
        self.stream = stream
        self.rate = rate
        grain = plan.op("grain")
        width, height = stream.width, stream.height
        self.grain = Grain(plan.seed, grain.params["strength"], width, height) if grain else None
        self.sound = sound
        self.filtered = 0
        self.written = 0
        self.graph = None
        self.filtering: Stage | None = None
        self.encoding: Stage | None = None

    def start(self, graph) -> None:
        self.graph = graph
        self.encoding = Stage("encode", self._encode)
        self.filtering = Stage("filter", self._filter)

    def push(self, frame, pts: int) -> None:
        """Queue a frame for the graph, with its timestamp in the graph's input time base."""
        self.filtering.put((frame, pts))

    def _filter(self, item) -> None:
        frame, pts = item
        frame.pts = pts
        self.graph.push(frame)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                frame = self.graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            if self.grain is not None:
                frame = self.grain.apply(frame, self.filtered)
            self.filtered += 1
            self.encoding.put(frame)

    def _encode(self, frame) -> None:
        # Decoded frames keep their picture type through the graph, and libx264 would obey it and
        # copy the source's frame types; x264 chooses its own, as it does for frames made in numpy.
        frame.pict_type = av.video.frame.PictureType.NONE
        frame.pts = self.written
        frame.time_base = 1 / self.rate
        frame.color_primaries = BT709
        frame.color_trc = BT709
        frame.colorspace = BT709
        frame.color_range = MPEG_RANGE
        for packet in self.stream.encode(frame):
            self.out.mux(packet)
        self.written += 1
        if self.sound is not None:
            self.sound.feed(self.written / float(self.rate))

    def finish(self) -> None:
        if self.graph is not None:
            self.filtering.close()
            self.graph.push(None)
            self._drain()
            self.encoding.close()
        for packet in self.stream.encode():
            self.out.mux(packet)
        if self.sound is not None:
            self.sound.close()

    def abort(self) -> None:
        """Stop the stages after an error or a cancel, leaving the output unfinished."""
        for stage in (self.filtering, self.encoding):
            if stage is not None:
                stage.abort()


def _finish_filters(graph, plan: EditPlan) -> list:
    steps = []
    if op := plan.op("sharpen"):
        steps.append(graph.add("unsharp", f"luma_msize_x=5:luma_msize_y=5:luma_amount={op.params['amount']:.3f}"))
    if op := plan.op("soften"):
        steps.append(graph.add("gblur", f"sigma={op.params['amount']:.3f}"))
    return steps


def _end(graph, nodes: list, plan: EditPlan):
    """End a graph in yuv420p with the plan's finish, link its nodes in order and configure it."""
    nodes = [*nodes, graph.add("format", "yuv420p"), *_finish_filters(graph, plan), graph.add("buffersink")]
    for a, b in zip(nodes, nodes[1:]):
        a.link_to(b)
    graph.configure()
    return graph


def _matrix(info: source.SourceInfo) -> str:
    """The source's colour matrix as libswscale's scale filter names it."""
    return "bt709" if info.colorspace == "ITU709" else "bt601"


def _flags(matrix: str) -> str:
    """libswscale flags for a scale from a source in `matrix`: BT.709 sources are read true by the
    fast path, other matrices need exact rounding (see EXACT_FLAGS)."""
    return "bicubic" if matrix == "bt709" else f"bicubic+{EXACT_FLAGS}"


def _grade(graph, lut_path: Path, to_rgb: str) -> list:
    """YUV to planar float RGB (the scale filter's arguments `to_rgb`), the LUT, and back to BT.709."""
    return [
        graph.add("scale", to_rgb),
        graph.add("format", LUT_FORMAT),
        graph.add("lut3d", f"file={lut_path}:interp=tetrahedral"),
        graph.add("scale", "out_color_matrix=bt709:out_range=tv"),
    ]


def _direct_graph(stream, info: source.SourceInfo, width: int, height: int, lut_path: Path | None, plan: EditPlan):
    """Crop to the ratio, scale, grade and finish in libavfilter, straight from decoded frames."""
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(template=stream)]
    crop_w, crop_h = fill_crop(info.width, info.height, width, height)
    crop_w, crop_h = int(round(crop_w)) // 2 * 2, int(round(crop_h)) // 2 * 2
    x, y = (info.width - crop_w) // 2, (info.height - crop_h) // 2
    matrix = _matrix(info)
    nodes.append(graph.add("crop", f"{crop_w}:{crop_h}:{x}:{y}"))
    if lut_path is not None:
        nodes += _grade(graph, lut_path, f"{width}:{height}:flags={_flags(matrix)}:in_color_matrix={matrix}")
    else:
        nodes.append(graph.add("scale", f"{width}:{height}:flags={_flags(matrix)}:in_color_matrix={matrix}:out_color_matrix=bt709:out_range=tv"))
    return _end(graph, nodes, plan)


def _rgb_graph(width: int, height: int, rate: Fraction, lut_path: Path | None, plan: EditPlan):
    """Grade and finish output-sized RGB frames from numpy, ending in BT.709 yuv420p."""
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(width=width, height=height, format="rgb24", time_base=1 / rate)]
    if lut_path is not None:
        nodes.append(graph.add("format", LUT_FORMAT))
        nodes.append(graph.add("lut3d", f"file={lut_path}:interp=tetrahedral"))
    nodes.append(graph.add("scale", "out_color_matrix=bt709:out_range=tv"))
    return _end(graph, nodes, plan)


def _yuv_graph(width: int, height: int, info: source.SourceInfo, lut_path: Path | None, plan: EditPlan):
    """Grade and finish output-sized yuv420p frames from numpy (in the source's matrix), ending in
    BT.709 yuv420p."""
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(width=width, height=height, format="yuv420p", time_base=1 / info.rate)]
    matrix = _matrix(info)
    if lut_path is not None:
        nodes += _grade(graph, lut_path, f"flags={_flags(matrix)}:in_color_matrix={matrix}:in_range=tv")
    elif matrix != "bt709":
        nodes.append(graph.add("scale", f"flags={_flags(matrix)}:in_color_matrix={matrix}:in_range=tv:out_color_matrix=bt709:out_range=tv"))
    return _end(graph, nodes, plan)


def _render_direct(plan, info, line, reader, width, height, lut_path, encoder: _Encoder, progress) -> None:
    stream = reader.stream
    encoder.start(_direct_graph(stream, info, width, height, lut_path, plan))
    tick = 1 / float(info.rate) / float(stream.time_base)
    total = len(line.positions)
    for j in range(total):
        index, _, _ = line.sources(j)
        encoder.push(reader.frame(index), int(round(j * tick)))
        progress((j + 1) / total)


class _WorkFrames:
    """Source frames at the working size: packed yuv420p arrays (see yuv.py) for the planar path,
    RGB arrays otherwise.

    Without removal, two converted frames are cached around the frame being made: an in-between
    needs its two neighbours, a next shot holds one. Removal keeps its own pieces of each frame it
    borrows from (see Remover) and looks up to 18 frames ahead, so here it keeps the decoded frames
    it will still make, from the one being made to the farthest one looked at, and hands removal a
    frame's planes each time it asks. The reader then only ever steps forward (or backward by chunks
    for a reversed timeline) instead of seeking back for a frame it already passed.
    """

    def __init__(self, reader: source.FrameReader, info: source.SourceInfo, size: tuple[int, int], planar: bool = False):
        self.reader = reader
        self.info = info
        self.size = size
        self.planar = planar
        self.cache: dict[int, np.ndarray] = {}
        self.decoded: dict[int, av.VideoFrame] = {}
        self.clean_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.remover: Remover | None = None
        self.keep = WORK_CACHE
        self.centre = 0

    def _convert(self, frame: av.VideoFrame, planar: bool) -> np.ndarray:
        width, height = self.size
        scaled = (width, height) != (frame.width, frame.height)
        full = "JPEG" if frame.color_range == JPEG_RANGE else None  # a yuvj format says so itself
        # The planes as decoded, when they are already limited-range yuv420p at the working size.
        as_decoded = frame.to_ndarray() if not scaled and frame.format.name == "yuv420p" and full is None else None
        if planar:
            # The source's own matrix is kept; the encoder's graph converts to BT.709.
            if as_decoded is not None:
                return as_decoded
            return frame.reformat(
                width=width, height=height, format="yuv420p", src_color_range=full, dst_color_range="MPEG",
                interpolation="AREA" if scaled else None,
            ).to_ndarray()
        if as_decoded is not None:
            return yuv.to_rgb(as_decoded, self.info.colorspace)
        return frame.reformat(
            width=width, height=height, format="rgb24", src_colorspace=self.info.colorspace, src_color_range=full,
            interpolation=(yuv.Interpolation.AREA if scaled else yuv.Interpolation.BILINEAR) | yuv.EXACT,
        ).to_ndarray()

    def planes(self, index: int) -> np.ndarray:
        """Return a source frame's planes as a new packed array (what removal works on)."""
        return self._convert(self._decode(index), planar=True)

    def _nearest_first(self, index: int) -> tuple[int, int]:
        return abs(index - self.centre), index

    def _work(self, index: int) -> np.ndarray:
        """Return a source frame converted (a cached array, not to be written to)."""
        if index not in self.cache:
            self.cache[index] = self._convert(self.reader.frame(index), self.planar)
            while len(self.cache) > self.keep:
                del self.cache[max(self.cache, key=self._nearest_first)]
        return self.cache[index]

    def _decode(self, index: int) -> av.VideoFrame:
        if index in self.decoded:
            return self.decoded[index]
        if self.decoded:
            low, high = min(self.decoded), max(self.decoded)
            if high < index <= high + self.keep:
                on_the_way = range(high + 1, index)
            elif low - self.keep <= index < low:
                on_the_way = range(low - 1, index, -1)
            else:
                on_the_way = range(0)
            for k in on_the_way:
                if abs(k - self.centre) <= self.keep:
                    self.decoded[k] = self.reader.frame(k)
        self.decoded[index] = self.reader.frame(index)
        while len(self.decoded) > self.keep:
            del self.decoded[max(self.decoded, key=self._nearest_first)]
        return self.decoded[index]

    def get(self, index: int) -> np.ndarray:
        self.centre = index
        if self.remover is None:
            return self._work(index)
        if index not in self.clean_cache:
            clean = self.remover.clean(index)
            self.clean_cache[index] = clean if self.planar else yuv.to_rgb(clean, self.info.colorspace)
            # Made: removal has kept what it borrows from this frame.
            self.decoded.pop(index, None)
            if len(self.clean_cache) > 2:
                self.clean_cache.popitem(last=False)
        return self.clean_cache[index]


def _learn_people(remover: people.PersonRemover, info: source.SourceInfo, work_size: tuple[int, int], progress: ProgressFn) -> None:
    """Show the person remover every source frame before the render: small, for the camera's motion
    (its place on the canvas), then at the working size, for the background each frame shows."""
    reader = source.FrameReader(info)
    try:
        for index, frame in reader.frames(list(range(info.count))):
            grey = frame.reformat(width=people.MODEL_W, height=people.MODEL_H, format="gray", interpolation="AREA").to_ndarray()
            remover.learn(index, grey)
            progress(0.2 * (index + 1) / info.count)
    finally:
        reader.close()
    remover.lay_out()
    frames = _WorkFrames(source.FrameReader(info), info, work_size)
    try:
        for index in range(info.count):
            if remover.wants(index):
                remover.look(index, frames.get(index))
            progress(0.2 + 0.8 * (index + 1) / info.count)
    finally:
        frames.reader.close()


def _render_numpy(request, plan, info, line, camera: Camera, relight: Relight, track, reader, lut_path, encoder: _Encoder, progress, effect=None) -> list[str]:
    """Render through numpy; return notes on what was done (a person removal's)."""
    width, height = camera.out_w, camera.out_h
    total = len(line.positions)
    windows = []
    for j in range(total):
        a, b, f = line.sources(j)
        windows.append(camera.window(j, a + (b - a) * f))
    # Work at about the output's sampling: no point converting pixels the warp will throw away.
    smallest = min(w.k for w in windows)
    work_scale = 1.0 if smallest <= 1.25 else 1.0 / smallest
    work_size = (max(16, int(round(info.width * work_scale / 2)) * 2), max(16, int(round(info.height * work_scale / 2)) * 2))
    work_scale = work_size[0] / info.width
    # Removal, geometry and a neutral relight work on the decoded yuv420p planes; in-betweens and
    # a tinted relight need RGB.
    styler = stylise.Stylise(plan.op("stylise").params["style"], plan.op("stylise").params["strength"]) if plan.op("stylise") else None
    planar = all(line.sources(j)[2] == 0 for j in range(total)) and (relight.neutral or not relight.active) and effect is None and styler is None
    frames = _WorkFrames(reader, info, work_size, planar=planar)
    # People edits work on source frames at the working size, before the camera moves them.
    apply_people = None
    remover = None
    if effect is not None:
        found, name, amount, references, prepare = effect
        if name == "remove_person":
            remover = people.PersonRemover(found, work_size[0], work_size[1])
            _learn_people(remover, info, work_size, prepare)
            apply_people = remover.clean
        else:
            edit = people.effect_for(name, amount, work_size[0], work_size[1], references)
            apply_people = lambda index, rgb: edit.apply(rgb, found.mask(index, rgb))  # noqa: E731
    if plan.op("remove"):
        frames.remover = Remover(request.mask_path, work_size[0], work_size[1], info.count, frames.planes, info.colorspace)
        frames.keep = REMOVAL_CACHE
    try:
        interpolator = flow.Interpolator()
        if planar:
            encoder.start(_yuv_graph(width, height, info, lut_path, plan))
        else:
            encoder.start(_rgb_graph(width, height, info.rate, lut_path, plan))
        for j in range(total):
            a, b, fraction = line.sources(j)
            window = windows[j]
            spot = _spot(camera, window, track, a + (b - a) * fraction) if relight.active else None
            if planar:
                picture = camera.render_yuv(frames.get(a), window, work_scale)
                if relight.active:
                    picture = relight.apply_yuv(picture, spot)
                frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
            else:
                if fraction:
                    picture = interpolator.between((a, b), frames.get(a), frames.get(b), fraction)
                else:
                    picture = frames.get(a)
                if apply_people is not None:
                    picture = apply_people(a if fraction < 0.5 else b, picture)
                if styler is not None:
                    picture = styler(picture)
                picture = camera.render(picture, window, work_scale)
                if relight.active:
                    picture = relight.apply(picture, spot)
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.time_base = 1 / info.rate
            encoder.push(frame, j)
            progress((j + 1) / total)
    finally:
        if frames.remover is not None:
            frames.remover.close()
    return [remover.describe()] if remover is not None else []


def _spot(camera: Camera, window, track, position: float) -> tuple[float, float, float] | None:
    """Return where the subject is in the output frame (fractions) and a pool radius to light it."""
    if track is None:
        return None
    x, y, w, h = track.at(position)
    ox, oy = camera.to_output(window, x, y)
    radius = max(w, h) / window.k / camera.out_h * 0.9
    return ox / camera.out_w, oy / camera.out_h, max(0.12, min(0.6, radius))


def _tail_drift(info: source.SourceInfo, traversal: list[int]) -> tuple[float, float]:
    """Return how the picture moved per frame over the clip's last frames (source pixels)."""
    tail = traversal[-9:]
    if len(tail) < 2:
        return 0.0, 0.0
    reader = source.FrameReader(info)
    try:
        greys = []
        for _, frame in reader.frames(tail):
            small = frame.reformat(width=256, height=max(2, int(256 * info.height / info.width)) // 2 * 2, format="gray")
            greys.append(small.to_ndarray())
    finally:
        reader.close()
    shifts = [flow.global_shift(a, b) for a, b in zip(greys, greys[1:])]
    scale = info.width / 256
    dx = float(np.median([s[0] for s in shifts])) * scale
    dy = float(np.median([s[1] for s in shifts])) * scale
    return dx, dy


def _max_bitrate(width: int, height: int, rate: Fraction) -> int:
    return int(width * height * float(rate) * MAX_BITS_PER_PIXEL)


def cap_binds(plan: EditPlan, info: source.SourceInfo, width: int, height: int) -> bool:
    """Whether the bit cap will hold the encoder back (so x264 must run as in the exact mode to give
    the same picture on a rerun): grain is added, or the source is already denser than the cap."""
    if plan.op("grain") is not None:
        return True
    try:
        source_bits = info.path.stat().st_size * 8 / max(info.duration, 1e-3)
    except OSError:
        return False
    return source_bits > _max_bitrate(width, height, info.rate)


def _video_encoder(out, width: int, height: int, rate: Fraction, *, exact: bool = False):
    stream = out.add_stream("libx264", rate=rate)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    maxrate = _max_bitrate(width, height, rate)
    options = {
        "crf": str(CRF),
        "preset": PRESET,
        "maxrate": str(maxrate),
        "bufsize": str(maxrate * 2),
        "threads": EXACT_ENCODER_THREADS if exact else ENCODER_THREADS,
    }
    if exact:
        options["x264-params"] = EXACT_X264_PARAMS
    stream.options = options
    ctx = stream.codec_context
    ctx.color_primaries = BT709
    ctx.color_trc = BT709
    ctx.colorspace = BT709
    ctx.color_range = MPEG_RANGE
    return stream


class Grain:
    """Seeded film grain on luma, lighter in the highlights.

    One field of Gaussian noise is drawn from the seed, a little larger than the frame; each frame
    takes it at an offset and orientation drawn from (seed, frame number), so grain changes every
    frame, repeats exactly for the same seed, and costs a few saturating OpenCV passes per frame.
    """

    PAD = 64

    def __init__(self, seed: int, strength: float, width: int, height: int):
        self.seed = seed
        self.width, self.height = width, height
        rng = np.random.default_rng([seed, 0x6772616E])
        # Noise in 1/16 code values, weights in 1/128: one scale by 1/2048 brings the product back.
        field = rng.standard_normal((height + self.PAD, width + self.PAD), dtype=np.float32) * (strength * 255 * 16)
        self.field = np.clip(field, -32767, 32767).astype(np.int16)
        self.weight = np.round((1.0 - 0.6 * np.arange(256) / 255) * 128).astype(np.uint8)

    def apply(self, frame, index: int):
        planes = frame.to_ndarray()
        luma = planes[: self.height]
        rng = np.random.default_rng([self.seed, index])
        ox, oy = rng.integers(0, self.PAD, 2)
        flip_x, flip_y = rng.integers(0, 2, 2)
        noise = self.field[oy : oy + self.height, ox : ox + self.width]
        if flip_x or flip_y:
            noise = cv2.flip(noise, -1 if flip_x and flip_y else 1 if flip_x else 0)
        delta = cv2.multiply(noise, cv2.LUT(luma, self.weight), dtype=cv2.CV_16S, scale=1 / 2048)
        grained = cv2.add(luma, delta, dtype=cv2.CV_16S)
        planes[: self.height] = np.clip(grained, 16, 235)
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


def _clip_stats(info: source.SourceInfo, progress) -> tuple:
    """Colour statistics over the whole clip (sampled frames), so a transfer does not flicker."""
    step = max(1, info.count // STATS_SAMPLES)
    wanted = list(range(0, info.count, step))
    samples = []
    reader = source.FrameReader(info)
    try:
        for n, (_, frame) in enumerate(reader.frames(wanted)):
            small = frame.reformat(width=160, height=max(2, round(160 * frame.height / frame.width)), format="rgb24", src_colorspace=info.colorspace, interpolation=yuv.Interpolation.BILINEAR | yuv.EXACT)
            samples.append(small.to_ndarray().reshape(-1, 3))
            progress((n + 1) / len(wanted))
    finally:
        reader.close()
    return color.lab_stats(np.concatenate(samples).astype(np.float32) / 255.0)
