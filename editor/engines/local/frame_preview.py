"""Preview on one frame: the plan of a prompt rendered on the frame at a time, without the queue.

The same pieces as a render, on one frame: the timeline picks the source frame that time shows, the
people edit and the style work on it, the camera frames it as it would be framed at that time
(following the clip's subject track, the one the render uses), the relight and the grade (the same 3D LUT, through
libavfilter) and the finish follow, and the grain of that frame is laid on. What needs other frames
is left out and said: removal fills from other frames, and a slow-motion in-between is shown as
its nearer source frame. People masks come from the clip's cache when an edit made them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import cv2
import numpy as np

from editor.constants import ratio_size
from editor.engines.base import EditRequest, EngineError
from editor.engines.local import color, people, pipeline, source, stylise, subject, timeline, yuv
from editor.engines.local.camera import Camera
from editor.engines.local.light import Relight
from editor.engines.local.plan import make_plan


@dataclass
class Preview:
    picture: np.ndarray  # RGB at the output size
    summary: str
    notes: list[str] = field(default_factory=list)


def preview(request: EditRequest, seconds: float, *, has_mask: bool = False) -> Preview:
    """Render the request's plan on the output frame at `seconds` (clamped to the result's length).
    `has_mask`: a mask is painted (removal is planned, but not shown)."""
    plan = make_plan(
        request.prompt, ratio=request.ratio, seed=request.seed, has_reference=bool(request.references),
        has_mask=has_mask or request.mask_path is not None,
    )
    info = source.index(request.input_path)
    width, height = ratio_size(request.ratio)
    rate = float(info.rate)
    line = timeline.build(plan, info.count, rate)
    total = len(line.positions)
    j = max(0, min(total - 1, int(round(seconds * rate))))
    a, b, fraction = line.sources(j)
    index = b if fraction >= 0.5 else a
    notes = []
    if plan.op("remove"):
        notes.append("Removal fills from other frames, so it shows only in the edit itself.")
    if fraction:
        notes.append("This time falls between two source frames; the nearer one is shown.")
    frame, rgb = _source_frame(request.input_path, info, index)

    if op := plan.op("people"):
        rgb = _people(request, info, index, rgb, op, notes)
    if op := plan.op("stylise"):
        styled = stylise.style(rgb, op.params["style"])
        rgb = cv2.addWeighted(styled, op.params["strength"], rgb, 1 - op.params["strength"], 0)
    # The subject as the render finds it (over the clip, kept in the cache for both).
    track = subject.cached_track(info, lambda f: None, request.cache_file("subject")) if pipeline.follows_subject(plan, info, width, height) else None
    camera = Camera(plan, src_size=(info.width, info.height), out_size=(width, height), main_frames=line.main, total_frames=total, rate=rate, subject=track)
    window = camera.window(j, a + (b - a) * fraction)
    picture = camera.render(np.ascontiguousarray(rgb), window, 1.0)
    relight = Relight(plan, width, height)
    if relight.active:
        picture = relight.apply(picture, pipeline._spot(camera, window, track, a + (b - a) * fraction))
    picture = _grade(plan, picture, request, rgb, j)
    return Preview(picture, plan.summary(), notes)


# The last source frames previewed, decoded: previewing the same paused frame again (a new prompt,
# another look) does not decode from the last keyframe again. At 1080p a frame is about 6 MB.
_FRAMES: OrderedDict[tuple, tuple] = OrderedDict()
FRAMES_KEPT = 4
# A threaded web server previews on several threads at once: the caches change under a lock (the
# decoding and the file writing happen outside it).
_LOCK = threading.Lock()


def _source_frame(path: Path, info, index: int):
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, index)
    with _LOCK:
        if key in _FRAMES:
            _FRAMES.move_to_end(key)
            return _FRAMES[key]
    reader = source.FrameReader(info)
    try:
        frame = next(iter(reader.frames([index])))[1]
    finally:
        reader.close()
    rgb = frame.reformat(format="rgb24", src_colorspace=info.colorspace, interpolation=yuv.Interpolation.BILINEAR | yuv.EXACT).to_ndarray()
    rgb.flags.writeable = False
    with _LOCK:
        _FRAMES[key] = (frame, rgb)
        while len(_FRAMES) > FRAMES_KEPT:
            _FRAMES.popitem(last=False)
    return frame, rgb


def _people(request: EditRequest, info, index: int, rgb: np.ndarray, op, notes: list[str]) -> np.ndarray:
    if op.params["effect"] in people.CLIP_EFFECTS:
        notes.append("Removing a person fills from other frames, so it shows only in the edit itself.")
        return rgb
    cache = request.cache_file("people")
    cached = people.read_cache(cache, info.count) if cache is not None and cache.is_file() else None
    if cached is not None:
        found = cached
    else:
        small = cv2.resize(rgb, (people.MODEL_W, people.MODEL_H), interpolation=cv2.INTER_AREA)
        coarse = people.segment(small)
        mask = np.rint(coarse * 255).astype(np.uint8)[None]
        faces = len(people.faces_of_people(rgb, coarse))
        found = people.People(mask, people.count_people(mask, faces))
        index = 0
    if not found.found.people:
        raise EngineError("no_person", f"The engine found no person on this frame, so it cannot do “{op.label}”.")
    notes.append(f"People: {found.found.describe()}." if cached is not None else "People: found on this frame.")
    effect = people.effect_for(op.params["effect"], op.params["amount"], rgb.shape[1], rgb.shape[0], request.references)
    return effect.apply(rgb, found.mask(index, rgb))


_CUBES: OrderedDict[str, Path] = OrderedDict()
CUBES_KEPT = 16


def _cube(table: np.ndarray | None) -> Path | None:
    """The grade's .cube file, written once per grade while this process previews (a few kept)."""
    if table is None:
        return None
    key = hashlib.sha256(np.ascontiguousarray(table).tobytes()).hexdigest()
    with _LOCK:
        path = _CUBES.get(key)
        if path is not None and path.is_file():
            _CUBES.move_to_end(key)
            return path
    folder = Path(tempfile.gettempdir()) / f"aleph-preview-cubes-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    path = folder / f"{key[:24]}.cube"
    # Written beside its name and moved into place: a thread reading the same grade never sees half a file.
    partial = path.with_name(f"{path.name}.{threading.get_ident()}.partial")
    color.write_cube(table, partial)
    partial.replace(path)
    with _LOCK:
        _CUBES[key] = path
        gone = []
        while len(_CUBES) > CUBES_KEPT:
            gone.append(_CUBES.popitem(last=False)[1])
    for old in gone:
        old.unlink(missing_ok=True)
    return path


def _grade(plan, picture: np.ndarray, request: EditRequest, source_rgb: np.ndarray, j: int) -> np.ndarray:
    """The grade, the finish and the grain, as the render's graph and grain do them."""
    reference_stats = clip_stats = None
    if plan.op("match_reference"):
        reference_stats = pipeline._image_stats(request.references[0])
        small = cv2.resize(source_rgb, (160, max(2, round(160 * source_rgb.shape[0] / source_rgb.shape[1]))), interpolation=cv2.INTER_AREA)
        clip_stats = color.lab_stats(small.reshape(-1, 3).astype(np.float32) / 255.0)
    table = color.build_lut([op.as_dict() for op in plan.ops], reference_stats=reference_stats, clip_stats=clip_stats)
    height, width = picture.shape[:2]
    graph = pipeline._rgb_graph(width, height, Fraction(25), _cube(table), plan)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
    frame.pts = 0
    graph.push(frame)
    out = graph.pull()
    grain = plan.op("grain")
    if grain:
        out = pipeline.Grain(plan.seed, grain.params["strength"], width, height).apply(out, j)
    return out.reformat(format="rgb24", src_colorspace="ITU709").to_ndarray()
