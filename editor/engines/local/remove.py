"""Masked removal: fill the painted region of every frame with what other frames show behind it.

The mask (PNG, white = remove) is scaled to the frame and grown a little to take the object's
edge with it. For each frame, nearby frames are aligned to it with DIS optical flow measured
around the region (the flow inside the region belongs to the object, so it is filled in from the
surrounding background's flow); wherever an aligned frame shows background — its own masked region
does not cover that spot — those pixels fill the hole, nearest frames first. What no frame ever
shows is inpainted (OpenCV's Telea method).

Frames are not held: each is looked at once, and only the pieces removal borrows from it are kept
(the frame's overview, the region's grey and the pixels within reach of the hole).

Frames come and go as yuv420p planes (see yuv.py). Motion is measured on luma; only the pixels
around the hole are converted to RGB to be filled, and only the hole's pixels (with the chroma
samples they share) are written back, so the rest of every frame leaves removal as it came in.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor, wait
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from editor.engines.base import EngineError
from editor.engines.local import flow, yuv

# Frames looked at for background, nearest first.
OFFSETS = (-2, 2, -5, 5, -10, 10, -18, 18)
FARTHEST = max(abs(o) for o in OFFSETS)
REGION_FLOW_WIDTH = 320
INPAINT_RADIUS = 5
INPAINT_SMALL_RADIUS = 3  # on a hole inpainted smaller: the same reach in the frame, or more
INPAINT_FULL_SIZE = 64  # pixels: larger holes are inpainted smaller
INPAINT_MAX_SHRINK = 4
STILL_SHIFT = 1.5  # pixels
# Whole frames are compared this small to find the background's overall motion between two frames.
OVERVIEW_WIDTH = 192
# How far from the hole another frame's background is kept, as a fraction of the frame's long side.
REACH = 0.1
REACH_MIN = 48  # pixels
# A frame is aligned only if the overall motion says it shows this much of what is still missing.
MIN_NEW_PIXELS = 16
MIN_NEW_SHARE = 0.002


def inpaint(region: np.ndarray, need: np.ndarray, *, full_size: int = INPAINT_FULL_SIZE, max_shrink: int = INPAINT_MAX_SHRINK) -> None:
    """Inpaint what no frame showed (`need`, bool), in place, with OpenCV's Telea method. Inpainting
    smooths a large hole anyway, so one is inpainted smaller (at most `full_size` across, down to
    1/`max_shrink` of its size) and enlarged; only the hole's pixels are taken from it."""
    ys, xs = np.nonzero(need)
    span = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
    factor = min(max_shrink, math.ceil(span / full_size))
    if factor <= 1:
        region[:] = cv2.inpaint(region, need.astype(np.uint8) * 255, INPAINT_RADIUS, cv2.INPAINT_TELEA)
        return
    h, w = need.shape
    size = (max(8, w // factor), max(8, h // factor))
    small = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    small_need = cv2.resize(need.astype(np.uint8) * 255, size, interpolation=cv2.INTER_NEAREST)
    small_need = cv2.dilate(small_need, np.ones((3, 3), np.uint8))
    filled = cv2.resize(cv2.inpaint(small, small_need, INPAINT_SMALL_RADIUS, cv2.INPAINT_TELEA), (w, h), interpolation=cv2.INTER_LINEAR)
    np.copyto(region, filled, where=need[..., None])


def load_mask(path: Path, width: int, height: int) -> np.ndarray:
    """Return the mask as a boolean array of the frame's size (True = remove)."""
    try:
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"))
    except OSError:
        raise EngineError("bad_mask", "The mask could not be read.") from None
    mask = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA) >= 128
    if not mask.any():
        raise EngineError("mask_empty", "The mask is empty: paint over what should be removed.")
    return mask


class _Kept(NamedTuple):
    """What removal keeps of a frame it may borrow background from (a frame itself is not kept)."""

    overview: np.ndarray  # the whole frame's luma, small, the hole greyed out: overall motion
    grey: np.ndarray  # the region and its reach, luma at flow scale: flow
    patch: np.ndarray  # the hole's box and its reach, RGB at full size: the pixels borrowed


class Remover:
    """Remove a masked region from the frames of a clip, one frame at a time.

    get_frame(index) returns a frame as a new packed yuv420p array, in the matrix `colorspace`.
    Each frame is looked at once, when it is first needed, and only the pieces around the hole that
    removal borrows from are kept.
    """

    def __init__(
        self, mask_path: Path, width: int, height: int, count: int, get_frame: Callable[[int], np.ndarray], colorspace: str
    ):
        self.count = count
        self.get_frame = get_frame
        self.colorspace = colorspace
        mask = load_mask(mask_path, width, height)
        grow = max(3, int(round(0.008 * max(width, height))))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        self.mask = cv2.dilate(mask.astype(np.uint8), kernel) > 0
        ys, xs = np.nonzero(self.mask)
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        # Enough surroundings to measure the background's motion around the hole.
        margin = max(32, int(0.75 * max(x1 - x0, y1 - y0)))
        self.box = (max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin))
        bx0, by0, bx1, by1 = self.box
        self.hole = self.mask[by0:by1, bx0:bx1]
        self.hole_u8 = self.hole.astype(np.uint8) * 255
        # Luma copies are drawn small by whole steps (OpenCV averages whole blocks fastest).
        step = max(1, math.ceil((bx1 - bx0) / REGION_FLOW_WIDTH))
        self.flow_scale = 1 / step
        self.sigma = max(4.0, 0.5 * max(x1 - x0, y1 - y0) * self.flow_scale)
        # Where another frame's background is looked for: as far as REACH from where it would be.
        reach = max(REACH_MIN, int(REACH * max(width, height)))
        gx0, gy0 = max(0, bx0 - reach), max(0, by0 - reach)
        gx1, gy1 = min(width, bx1 + reach), min(height, by1 + reach)
        gx1, gy1 = gx0 + (gx1 - gx0) // step * step, gy0 + (gy1 - gy0) // step * step
        self.grey_box = (gx0, gy0, gx1, gy1)
        self.grey_size = ((gx1 - gx0) // step, (gy1 - gy0) // step)
        scale = self.flow_scale
        self.flow_size = (max(8, round((bx1 - bx0) * scale)), max(8, round((by1 - by0) * scale)))
        self.patch_box = yuv.even_box((max(0, x0 - reach), max(0, y0 - reach), min(width, x1 + reach), min(height, y1 + reach)), width, height)
        px0, py0, px1, py1 = self.patch_box
        # The other frame's own hole: what it cannot lend.
        self.patch_hole = self.mask[py0:py1, px0:px1].astype(np.uint8) * 255
        step = max(1, round(width / OVERVIEW_WIDTH))
        self.overview_step = step
        self.overview_scale = 1 / step
        self.overview_size = (width // step, height // step)
        w, h = self.overview_size
        self.overview_hole = cv2.resize(self.mask[: h * step, : w * step].astype(np.uint8), self.overview_size, interpolation=cv2.INTER_NEAREST) > 0
        self.kept: dict[int, _Kept] = {}
        self.last: int | None = None  # the frame cleaned last
        # The frames the look-ahead chose to borrow from for the next frame: (index, others).
        self.planned: tuple[int, list[tuple[_Kept, tuple[float, float]]]] | None = None
        self.shifts: OrderedDict[tuple[int, int], tuple[float, float]] = OrderedDict()
        self.fill_pieces = self._hole_fill(*self.flow_size)
        self.helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aleph-remove")
        # Where the hole is inside the region: only those pixels are ever filled.
        hy, hx = np.nonzero(self.hole)
        top, bottom, left, right = int(hy.min()), int(hy.max()) + 1, int(hx.min()), int(hx.max()) + 1
        self.hole_box = (slice(top, bottom), slice(left, right))
        gx, gy = np.meshgrid(np.arange(bx0 + left, bx0 + right, dtype=np.float32), np.arange(by0 + top, by0 + bottom, dtype=np.float32))
        self.hole_grid = (gx, gy)  # frame coordinates of the hole's box
        # From the hole's box to the flow's pixels (the same sampling as enlarging the flow to the
        # region), and the flow's vectors from its pixels to the frame's.
        self.to_flow = np.float32([[scale, 0, (left + 0.5) * scale - 0.5], [0, scale, (top + 0.5) * scale - 0.5]])
        self.enlarge = np.float32([[1 / scale, 0, 0], [0, 1 / scale, 0]])
        # Inpainting reads known pixels around what it fills, so it gets a margin of the region.
        rh, rw = self.hole.shape
        pad = 4 * INPAINT_RADIUS
        # What is converted to RGB to be filled (frame pixels, whole chroma samples): the hole's box
        # and that margin.
        self.area = yuv.even_box(
            (bx0 + max(0, left - pad), by0 + max(0, top - pad), bx0 + min(rw, right + pad), by0 + min(rh, bottom + pad)), width, height
        )
        ax0, ay0, ax1, ay1 = self.area
        self.area_hole = self.mask[ay0:ay1, ax0:ax1]
        self.hole_in_area = (slice(by0 + top - ay0, by0 + bottom - ay0), slice(bx0 + left - ax0, bx0 + right - ax0))

    def _keep(self, index: int) -> _Kept:
        """Look at a frame once and keep what removal borrows from it."""
        kept = self.kept.get(index)
        if kept is None:
            packed = self.get_frame(index)
            luma = yuv.planes(packed)[0]
            w, h = self.overview_size
            step = self.overview_step
            overview = cv2.resize(luma[: h * step, : w * step], (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
            overview[self.overview_hole] = overview[~self.overview_hole].mean()
            gx0, gy0, gx1, gy1 = self.grey_box
            grey = cv2.resize(luma[gy0:gy1, gx0:gx1], self.grey_size, interpolation=cv2.INTER_AREA)
            patch = yuv.to_rgb(yuv.crop(packed, self.patch_box), self.colorspace)
            kept = self.kept[index] = _Kept(overview, grey, patch)
        return kept

    def _forget(self, index: int) -> None:
        """Drop what no frame from `index` on (either way) will borrow."""
        for old in [k for k in self.kept if abs(k - index) > FARTHEST]:
            del self.kept[old]

    def _hole_fill(self, w: int, h: int) -> tuple:
        """Pieces of the hole's flow fill that depend only on the flow's size (computed once)."""
        small = (max(8, w // 4), max(8, h // 4))
        valid = (cv2.resize(self.hole_u8, small, interpolation=cv2.INTER_AREA) < 8).astype(np.float32)
        sigma = max(1.0, self.sigma / 4)
        weights = np.maximum(cv2.GaussianBlur(valid, (0, 0), sigma), 1e-4)
        inside = (cv2.resize(self.hole_u8, (w, h), interpolation=cv2.INTER_NEAREST) > 0).astype(np.uint8)
        return small, cv2.merge([valid, valid]), sigma, cv2.merge([weights, weights]), inside

    def _region_grey(self, kept: _Kept, shift: tuple[float, float]) -> np.ndarray:
        """The region's grey at flow scale in a frame, where the overall motion put it."""
        bx0, by0 = self.box[:2]
        gx0, gy0 = self.grey_box[:2]
        scale = self.flow_scale
        matrix = np.float32([[1, 0, (bx0 + shift[0] - gx0) * scale], [0, 1, (by0 + shift[1] - gy0) * scale]])
        return cv2.warpAffine(kept.grey, matrix, self.flow_size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)

    def _background_flow(self, target_grey: np.ndarray, other_grey: np.ndarray) -> np.ndarray:
        """Flow from the target to another frame over the hole's box, in frame pixels, with the
        hole's flow taken from around it."""
        # The overall motion is already taken out: what is left is small, and DIS's ultrafast preset does.
        field = flow.flow(target_grey, other_grey, cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        # The hole's flow is the object's: replace it with the surroundings' flow, averaged by a
        # normalised convolution drawn small (the background's motion is smooth).
        small, valid, sigma, weights, inside = self.fill_pieces
        field_small = cv2.multiply(cv2.resize(field, small, interpolation=cv2.INTER_AREA), valid)
        spread = cv2.divide(cv2.GaussianBlur(field_small, (0, 0), sigma), weights)
        spread = cv2.resize(spread, self.flow_size, interpolation=cv2.INTER_LINEAR)
        cv2.copyTo(spread, inside, field)
        rows, cols = self.hole_box
        size = (cols.stop - cols.start, rows.stop - rows.start)
        box_field = cv2.warpAffine(field, self.to_flow, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        return cv2.transform(box_field, self.enlarge)

    def _shift(self, index: int, other_index: int) -> tuple[float, float]:
        """The background's overall motion from one frame to another (phase correlation on whole
        frames, in frame pixels); each pair is measured once, the way back is the same shift negated."""
        key = (min(index, other_index), max(index, other_index))
        if key not in self.shifts:
            dx, dy = flow.global_shift(self._keep(key[0]).overview, self._keep(key[1]).overview)
            self.shifts[key] = (dx / self.overview_scale, dy / self.overview_scale)
            # Kept until the far frame of each pair (up to 18 frames on) has asked for it too.
            if len(self.shifts) > 4 * len(OFFSETS) * FARTHEST:
                self.shifts.popitem(last=False)
        dx, dy = self.shifts[key]
        return (dx, dy) if index < other_index else (-dx, -dy)

    def _shows(self, shift: tuple[float, float]) -> np.ndarray:
        """Where, over the hole's box, a frame moved by `shift` is expected to show background."""
        px0, py0 = self.patch_box[:2]
        rows, cols = self.hole_box
        bx0, by0 = self.box[:2]
        matrix = np.float32([[1, 0, bx0 + cols.start + shift[0] - px0], [0, 1, by0 + rows.start + shift[1] - py0]])
        size = (cols.stop - cols.start, rows.stop - rows.start)
        hole = cv2.warpAffine(self.patch_hole, matrix, size, flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=255)
        return hole == 0

    def _from_other(self, other: _Kept, shift: tuple[float, float], target_grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Align another frame to the target over the hole's box: return its pixels there and where
        they show background (its own hole does not cover the spot, and it is within reach)."""
        field = self._background_flow(target_grey, self._region_grey(other, shift))
        px0, py0 = self.patch_box[:2]
        gx, gy = self.hole_grid
        map_x = gx + field[..., 0]
        map_x += np.float32(shift[0] - px0)
        map_y = gy + field[..., 1]
        map_y += np.float32(shift[1] - py0)
        moved = cv2.remap(other.patch, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        covered = cv2.remap(self.patch_hole, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=255)
        return moved, covered == 0

    def _others(self, index: int) -> list[tuple[_Kept, tuple[float, float]]]:
        """The frames to borrow from for frame `index`, nearest first, with the overall motion to each.

        Near the ends, the first and last frames stand in for those beyond them. A background that
        has not moved shows nothing new behind a fixed mask, and a frame whose own hole (moved by the
        overall motion) covers what nearer frames leave missing would add nothing: such frames are
        left out."""
        others = []
        expected = self.hole[self.hole_box].copy()
        enough = max(MIN_NEW_PIXELS, int(MIN_NEW_SHARE * np.count_nonzero(expected)))
        for other_index in dict.fromkeys(min(max(index + offset, 0), self.count - 1) for offset in OFFSETS):
            if other_index != index:
                shift = self._shift(index, other_index)
                if abs(shift[0]) + abs(shift[1]) >= STILL_SHIFT:
                    shows = expected & self._shows(shift)
                    if np.count_nonzero(shows) >= enough:
                        expected &= ~shows
                        others.append((self._keep(other_index), shift))
        return others

    def clean(self, index: int) -> np.ndarray:
        """Return frame `index` (packed yuv420p) with the masked region removed."""
        self._forget(index)
        target_grey = self._region_grey(self._keep(index), (0.0, 0.0))
        packed = self.get_frame(index)
        area = yuv.to_rgb(yuv.crop(packed, self.area), self.colorspace)
        # Only the hole's bounding box is ever filled: the rest of the region is there to measure flow.
        rows, cols = self.hole_box
        hole_region = area[self.hole_in_area]
        need = self.hole[rows, cols].copy()
        others = self.planned[1] if self.planned is not None and self.planned[0] == index else self._others(index)
        # The nearest frame is aligned here, the others meanwhile on the helper thread; all are used
        # nearest first, and those not yet started when the hole is full are not aligned at all.
        filled = np.ascontiguousarray(hole_region)
        later = [self.helper.submit(self._from_other, *other, target_grey) for other in others[1:]]
        results = [self._from_other(*others[0], target_grey)] if others else []
        # While the helper works, look ahead: the next frame (the same way again) reads and measures
        # the frames it will borrow from.
        ahead = index + (index - self.last if self.last is not None and abs(index - self.last) == 1 else 1)
        self.last = index
        self.planned = None
        if 0 <= ahead < self.count:
            self._keep(ahead)
            self.planned = (ahead, self._others(ahead))
        for result in itertools.chain(results, (future.result() for future in later)):
            moved, background = result
            usable = need & background
            cv2.copyTo(moved, usable.view(np.uint8), filled)
            need &= ~usable
            if not need.any():
                break
        for future in later:
            future.cancel()
        wait(later)
        hole_region[:] = filled
        if need.any():
            around = np.zeros(self.area_hole.shape, bool)
            around[self.hole_in_area] = need
            inpaint(area, around)
        # Everything filled lies in the hole: only its pixels are written back.
        yuv.paste(packed, yuv.from_rgb(area, self.colorspace), self.area, self.area_hole)
        return packed

    def close(self) -> None:
        self.helper.shutdown(wait=True)
