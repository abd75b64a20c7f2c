"""The change map: where, and how much, a result differs from its input.

Pure: files in, numbers and a heatmap video out; no Django. The input is read once into a scratch
file at a working resolution (so memory stays bounded however long the clip, and a reversed or
boomeranged result can still look up any source frame), then each result frame is compared with the
input frame it was made from:

- timing: `source_index(j, t)` names that frame (the local engine's timeline for retimed edits; by
  time, from the part sent, otherwise);
- geometry: the input frame is aligned to the result's picture by a similarity warp (scale,
  rotation, shift) fitted with RANSAC to ORB features, which do not mind colour and brightness
  changes and treat changed regions as outliers, so a reframe, a zoom, a dutch angle or an outpaint
  lines up. When the two pictures do not line up (a generated or restyled picture), the map says so
  instead of giving a number.

A pixel has changed when, after a light blur, one of its channels differs by more than
CHANGE_THRESHOLD; picture the input does not cover (outpainted borders) counts as changed. The
heatmap video has one frame per result frame, at the working resolution.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from editor.engines.base import EngineError

WORK_WIDTH = 320
CHANGE_THRESHOLD = 24
# Fewer agreeing feature matches than this (in the median frame) and the pictures do not line up.
MIN_INLIERS = 12
MAX_FRAMES = 30 * 120

ProgressFn = Callable[[float], None]
SourceIndex = Callable[[int, float], int]


@dataclass(frozen=True)
class ChangeMap:
    aligned: bool
    # Why the result could not be aligned to its input (empty when it was).
    reason: str
    frames: int
    # Mean share of each frame's pixels that changed, and the most in any one frame.
    changed_share: float | None
    peak_share: float | None
    # Of the pixels outside the edit's mask, the share that changed ("touched what you didn't ask").
    outside_share: float | None


def work_size(width: int, height: int, long_side: int = WORK_WIDTH) -> tuple[int, int]:
    """Return an even size with the long side at most `long_side`, keeping the shape."""
    scale = min(1.0, long_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def measure(
    input_path: Path,
    result_path: Path,
    heatmap_path: Path,
    *,
    source_index: SourceIndex | None = None,
    trim_start: float = 0.0,
    mask_path: Path | None = None,
    progress: ProgressFn | None = None,
) -> ChangeMap:
    """Compare a result with its input frame by frame; write the heatmap video and return the numbers."""
    with tempfile.TemporaryDirectory(prefix="aleph-changemap-") as tmp:
        frames, in_fps, in_size = _cache_input(Path(input_path), Path(tmp) / "input.u8")
        if frames == 0:
            raise EngineError("changemap_input", "The input has no frames to compare with.")
        cache = np.memmap(Path(tmp) / "input.u8", dtype=np.uint8, mode="r", shape=(frames, in_size[1], in_size[0], 3))
        mask = _read_mask(mask_path, in_size) if mask_path else None
        if source_index is None:
            # By time: the result starts at the start of the part that was sent.
            def source_index(j: int, t: float) -> int:
                return int(round((trim_start + t) * in_fps))

        try:
            return _compare(cache, in_size, Path(result_path), Path(heatmap_path), source_index, mask, progress)
        except (av.FFmpegError, cv2.error) as exc:
            Path(heatmap_path).unlink(missing_ok=True)
            raise EngineError("changemap_failed", f"The change map could not be made ({exc.__class__.__name__}).") from None


def _cache_input(path: Path, cache: Path) -> tuple[int, float, tuple[int, int]]:
    """Decode the input once into a raw file of working-size RGB frames; return (frames, fps, size)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        size = None
        frames = 0
        with open(cache, "wb") as out:
            for frame in container.decode(stream):
                if size is None:
                    size = work_size(frame.width, frame.height)
                out.write(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]).tobytes())
                frames += 1
                if frames >= MAX_FRAMES:
                    break
    return frames, fps, size or (2, 2)


def _read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise EngineError("changemap_mask", "The edit's mask could not be read.")
    return (cv2.resize(grey, size, interpolation=cv2.INTER_AREA) > 127).astype(np.uint8)


def _initial_warp(in_size: tuple[int, int], out_size: tuple[int, int]) -> np.ndarray:
    """Return the warp (result → input coordinates) of a centred crop of the input to the result's shape."""
    (iw, ih), (ow, oh) = in_size, out_size
    scale = min(iw / ow, ih / oh)
    return np.array([[scale, 0, (iw - ow * scale) / 2], [0, scale, (ih - oh * scale) / 2]], dtype=np.float32)


class _Aligner:
    """Line a result frame up with its source frame: ORB features matched both ways, then a
    similarity (scale, rotation, shift) fitted with RANSAC, so changed regions are outliers and do
    not pull the fit; a frame without enough agreeing matches keeps the previous frame's warp."""

    def __init__(self) -> None:
        self.orb = cv2.ORB_create(nfeatures=800, fastThreshold=10)
        self.matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)

    def align(self, result_grey: np.ndarray, input_grey: np.ndarray) -> tuple[np.ndarray | None, int]:
        """Return the warp and the number of matches that agree with it (None, 0 when none is found)."""
        kr, dr = self.orb.detectAndCompute(result_grey, None)
        ki, di = self.orb.detectAndCompute(input_grey, None)
        if dr is None or di is None or len(kr) < MIN_INLIERS or len(ki) < MIN_INLIERS:
            return None, 0
        matches = self.matcher.match(dr, di)
        if len(matches) < MIN_INLIERS:
            return None, 0
        src = np.float32([kr[m.queryIdx].pt for m in matches])
        dst = np.float32([ki[m.trainIdx].pt for m in matches])
        warp, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.5, maxIters=2000)
        if warp is None or inliers is None:
            return None, 0
        return warp.astype(np.float32), int(inliers.sum())


def _compare(cache, in_size, result_path: Path, heatmap_path: Path, source_index: SourceIndex, mask, progress) -> ChangeMap:
    shares: list[float] = []
    outside: list[float] = []
    agreeing: list[int] = []
    aligner = _Aligner()
    previous = None
    with av.open(str(result_path)) as source, av.open(str(heatmap_path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        rate = Fraction(stream.average_rate or stream.guessed_rate or 25).limit_denominator(1001)
        total = stream.frames or 0
        video = None
        for j, frame in enumerate(source.decode(stream)):
            out_size = work_size(frame.width, frame.height)
            if video is None:
                video = out.add_stream("libx264", rate=rate)
                video.width, video.height = out_size
                video.pix_fmt = "yuv420p"
                video.codec_context.time_base = 1 / rate
                video.options = {"preset": "veryfast", "crf": "26"}
                previous = _initial_warp(in_size, out_size)
            result = frame.to_ndarray(format="rgb24", width=out_size[0], height=out_size[1])
            t = float(frame.time - (stream.start_time or 0) * stream.time_base) if frame.time is not None else j / float(rate)
            index = min(len(cache) - 1, max(0, source_index(j, t)))
            original = np.asarray(cache[index])
            found, inliers = aligner.align(cv2.cvtColor(result, cv2.COLOR_RGB2GRAY), cv2.cvtColor(original, cv2.COLOR_RGB2GRAY))
            warp = previous = found if found is not None else previous
            agreeing.append(inliers)
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            aligned = cv2.warpAffine(original, warp, out_size, flags=flags, borderMode=cv2.BORDER_CONSTANT)
            covered = cv2.warpAffine(np.ones(original.shape[:2], np.uint8), warp, out_size, flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
            difference = np.abs(cv2.GaussianBlur(result, (3, 3), 0).astype(np.int16) - cv2.GaussianBlur(aligned, (3, 3), 0).astype(np.int16)).max(axis=2)
            changed = (difference > CHANGE_THRESHOLD) | (covered == 0)
            shares.append(float(changed.mean()))
            if mask is not None:
                masked = cv2.warpAffine(mask, warp, out_size, flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
                # A little room around the mask: its edges blend into the fill.
                masked = cv2.dilate(masked, np.ones((5, 5), np.uint8))
                away = (masked == 0) & (covered == 1)
                if away.any():
                    outside.append(float(changed[away].mean()))
            heat = np.where(covered == 0, 255, np.clip(difference * 3, 0, 255)).astype(np.uint8)
            colour = cv2.cvtColor(cv2.applyColorMap(heat, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
            picture = av.VideoFrame.from_ndarray(colour, format="rgb24")
            picture.pts = j
            for packet in video.encode(picture):
                out.mux(packet)
            if progress is not None and total:
                progress(min(0.99, (j + 1) / total))
        if video is None:
            raise EngineError("changemap_result", "The result has no frames to compare.")
        for packet in video.encode(None):
            out.mux(packet)
    if float(np.median(agreeing)) < MIN_INLIERS:
        return ChangeMap(
            False,
            "The result's picture does not line up with its input (a new or restyled picture, or a camera move "
            "the studio cannot follow), so no share of change is given.",
            len(shares),
            None,
            None,
            None,
        )
    return ChangeMap(
        True, "", len(shares), float(np.mean(shares)), float(np.max(shares)), float(np.mean(outside)) if outside else None
    )
