"""Where the subject is over a clip: faces (BlazeFace, see people.py), cat faces and people (OpenCV's
bundled Haar cascade and HOG detector), the most salient area when none is found.

Frames are sampled a few times a second at low resolution; the samples become a smooth track
(held still when the subject barely moves), so a reframe follows the subject without jitter.
"""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from editor.engines.base import EngineError
from editor.engines.local import people, source

DETECT_WIDTH = 400
# The cat-face Haar cascade scans every scale of the whole picture, the costliest part of a track:
# it looks at the sample made smaller (a cat's face the subject of a shot stays tens of pixels
# tall) and in coarser scale steps. BlazeFace, which goes first, looks at the whole sample.
HAAR_WIDTH = 224
HAAR_SCALE_STEP = 1.15
SAMPLES_PER_SECOND = 2.5
MAX_SAMPLES = 36
# A track that moves less than this (fraction of the frame) is held still: a locked-off frame reads
# better than a crop that drifts by a few pixels.
STILL_RANGE = 0.04
SMOOTH_SECONDS = 0.6

# Detectors keep working buffers: each thread has its own (see people._net).
_DETECTORS = threading.local()


def _cascade(name: str) -> cv2.CascadeClassifier:
    cascades = _DETECTORS.__dict__.setdefault("cascades", {})
    if name not in cascades:
        cascades[name] = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    return cascades[name]


def _hog() -> cv2.HOGDescriptor:
    hog = getattr(_DETECTORS, "hog", None)
    if hog is None:
        hog = _DETECTORS.hog = cv2.HOGDescriptor()
        hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


@dataclass(frozen=True)
class Detection:
    cx: float
    cy: float
    size: float  # fraction of the frame height


@dataclass
class SubjectTrack:
    """The subject's box (centre x, y and width, height in source pixels) over source frame positions."""

    kind: str
    positions: np.ndarray
    boxes: np.ndarray  # N×4: cx, cy, w, h

    def at(self, position: float) -> tuple[float, float, float, float]:
        return tuple(float(np.interp(position, self.positions, self.boxes[:, i])) for i in range(4))


def _largest(boxes, width: int, height: int) -> Detection | None:
    if len(boxes) == 0:
        return None
    # Sorted so the choice never depends on the order the detector returned its boxes in.
    x, y, w, h = max((tuple(int(v) for v in box) for box in boxes), key=lambda b: (b[2] * b[3], -b[0], -b[1]))
    return Detection((x + w / 2) / width, (y + h / 2) / height, h / height)


def _haar_size(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    if w <= HAAR_WIDTH:
        return gray
    return cv2.resize(gray, (HAAR_WIDTH, max(2, round(h * HAAR_WIDTH / w))), interpolation=cv2.INTER_AREA)


def detect_cat_faces(gray: np.ndarray) -> Detection | None:
    """Return the largest cat face in a greyscale image."""
    small = _haar_size(gray)
    boxes = _cascade("haarcascade_frontalcatface_extended.xml").detectMultiScale(
        small, scaleFactor=HAAR_SCALE_STEP, minNeighbors=4, minSize=(20, 20)
    )
    return _largest(boxes, small.shape[1], small.shape[0])


def detect_people(gray: np.ndarray) -> Detection | None:
    """Return the largest person (HOG people detector), aimed at the upper body where heads are."""
    if gray.shape[0] < 128 or gray.shape[1] < 64:
        return None
    boxes, weights = _hog().detectMultiScale(gray, winStride=(8, 8), padding=(8, 8), scale=1.08)
    kept = [box for box, weight in zip(boxes, np.ravel(weights)) if weight > 0.5]
    found = _largest(kept, gray.shape[1], gray.shape[0])
    if found is None:
        return None
    return Detection(found.cx, found.cy - found.size * 0.25, found.size * 0.5)


def salient_point(gray: np.ndarray, previous: np.ndarray | None = None) -> Detection:
    """Return the centre of the most salient area: spectral residual saliency plus motion."""
    small = cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
    spectrum = np.fft.fft2(small)
    log_amplitude = np.log(np.abs(spectrum) + 1e-6)
    residual = log_amplitude - cv2.blur(log_amplitude, (3, 3))
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = cv2.GaussianBlur(saliency.astype(np.float32), (0, 0), 2.5)
    saliency /= saliency.max() + 1e-9
    if previous is not None:
        motion = np.abs(small - cv2.resize(previous, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32))
        motion = cv2.GaussianBlur(motion, (0, 0), 2.5)
        if motion.max() > 4:
            saliency = saliency + motion / motion.max()
    # The centroid of the strongest part, not the whole map: one clear subject pulls the frame.
    weights = np.clip(saliency - np.quantile(saliency, 0.9), 0, None)
    if weights.sum() <= 0:
        return Detection(0.5, 0.5, 0.5)
    ys, xs = np.mgrid[0:64, 0:64]
    cx = float((weights * (xs + 0.5)).sum() / weights.sum() / 64)
    cy = float((weights * (ys + 0.5)).sum() / weights.sum() / 64)
    return Detection(cx, cy, 0.4)


def detect_faces_dnn(gray: np.ndarray) -> Detection | None:
    """The largest face BlazeFace finds (people.py): frontal and turned faces, small or large, where
    the Haar cascade needs a frontal one."""
    found = people.faces(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB))
    if not found:
        return None
    x, y, w, h, _ = max(found, key=lambda f: (f[2] * f[3], -f[0], -f[1]))
    return Detection(x + w / 2, y + h / 2, h)


# BlazeFace finds frontal and turned faces; the frontal-face Haar cascade that used to follow it cost
# a third of a track and is not run. A face too small for BlazeFace on the whole sample is followed
# as a person (HOG) or as the most salient area.
DETECTORS = (("face", detect_faces_dnn), ("cat face", detect_cat_faces), ("person", detect_people))


def track(info: source.SourceInfo, progress: Callable[[float], None]) -> SubjectTrack:
    """Sample the clip a few times a second and return a smooth track of its subject."""
    count = int(min(MAX_SAMPLES, max(4, info.duration * SAMPLES_PER_SECOND)))
    wanted = sorted({int(round(i * (info.count - 1) / max(1, count - 1))) for i in range(count)})
    scale = min(1.0, DETECT_WIDTH / info.width)
    size = (max(2, int(round(info.width * scale))), max(2, int(round(info.height * scale))))
    samples: list[tuple[int, np.ndarray]] = []
    # Samples need not be exact frames: frames no other frame refers to are not decoded at all, each
    # sample is the first frame decoded at or after where it was wanted, and the decoder skips its
    # deblocking filter (the detectors look at a small copy).
    index_of = {p: i for i, p in enumerate(info.pts)}
    pending = list(wanted)
    with source.open_input(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = "NONREF"
        stream.codec_context.options = {"skip_loop_filter": "all"}
        for frame in container.decode(stream):
            index = index_of.get(frame.pts)
            if index is None or index < pending[0]:
                continue
            grey = frame.reformat(width=size[0], height=size[1], format="gray", interpolation="AREA")
            luma = np.frombuffer(grey.planes[0], np.uint8).reshape(size[1], grey.planes[0].line_size)[:, : size[0]]
            samples.append((index, cv2.equalizeHist(np.ascontiguousarray(luma))))
            while pending and pending[0] <= index:
                pending.pop(0)
            progress(0.5 * (len(wanted) - len(pending)) / len(wanted))
            if not pending:
                break
    if not samples:
        raise EngineError("bad_input", "The input clip has no frames that could be decoded.")
    result = _build(samples, size, scale, float(info.rate))
    progress(1.0)
    return result


def _build(samples: list[tuple[int, np.ndarray]], size: tuple[int, int], scale: float, rate: float) -> SubjectTrack:
    positions = np.array([float(i) for i, _ in samples])
    # A detector counts when it finds the subject in a fair share of the samples, so one false
    # positive in a busy background does not steer the whole clip; it stops as soon as it cannot.
    needed = max(1, len(samples) // 4)
    for kind, detector in DETECTORS:
        found: list[Detection | None] = []
        misses = 0
        for _, grey in samples:
            found.append(detector(grey))
            misses += found[-1] is None
            if misses > len(samples) - needed:
                break
        else:
            hits = [i for i, d in enumerate(found) if d is not None]
            return _smooth(kind, positions, _fill_gaps(found, hits), size, scale, rate)
    previous = None
    points = []
    for _, grey in samples:
        points.append(salient_point(grey, previous))
        previous = grey
    return _smooth("most salient area", positions, points, size, scale, rate)


def _fill_gaps(found: list[Detection | None], hits: list[int]) -> list[Detection]:
    """Give samples without a detection the values interpolated from those around them."""
    index = np.arange(len(found))
    hit = np.array(hits)
    values = {name: np.interp(index, hit, [getattr(found[i], name) for i in hits]) for name in ("cx", "cy", "size")}
    return [Detection(values["cx"][i], values["cy"][i], values["size"][i]) for i in index]


def _smooth(
    kind: str, positions: np.ndarray, points: list[Detection], size: tuple[int, int], scale: float, rate: float
) -> SubjectTrack:
    cx = np.array([p.cx for p in points])
    cy = np.array([p.cy for p in points])
    height = np.array([p.size for p in points])
    if len(positions) > 2:
        step = float(np.median(np.diff(positions))) or 1.0
        sigma = max(0.5, SMOOTH_SECONDS * rate / step)
        cx, cy, height = (_gaussian(series, sigma) for series in (cx, cy, height))
    for series in (cx, cy):
        if np.ptp(series) < STILL_RANGE:
            series[:] = series.mean()
    width_px, height_px = size[0] / scale, size[1] / scale
    box_h = height * height_px
    boxes = np.stack([cx * width_px, cy * height_px, box_h, box_h], axis=1)
    return SubjectTrack(kind, positions, boxes)


def _gaussian(series: np.ndarray, sigma: float) -> np.ndarray:
    radius = int(3 * sigma) + 1
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(series, radius, mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def cached_track(info: source.SourceInfo, progress: Callable[[float], None], cache: Path | None) -> SubjectTrack:
    """The clip's subject track, from the cache when an earlier edit or preview found it (a render
    and a preview of one clip then frame it alike), else found now and kept there."""
    if cache is not None and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as data:
                kind, positions, boxes = str(data["kind"]), data["positions"], data["boxes"]
            if boxes.ndim == 2 and boxes.shape[1] == 4 and len(positions) == len(boxes) and positions.max(initial=0) < info.count:
                cache.touch()
                progress(1.0)
                return SubjectTrack(kind, positions, boxes)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass
    found = track(info, progress)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(cache.name + ".partial")
        with open(partial, "wb") as fh:
            np.savez(fh, kind=np.array(found.kind), positions=found.positions, boxes=found.boxes)
        partial.replace(cache)
    return found
