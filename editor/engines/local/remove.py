"""Masked removal: fill the painted region of every frame with what other frames show behind it.

The mask (PNG, white = remove) is scaled to the frame and grown a little to take the object's
edge with it. For each frame, nearby frames are aligned to it with DIS optical flow measured
around the region (the flow inside the region belongs to the object, so it is filled in from the
surrounding background's flow); wherever an aligned frame shows background — its own masked region
does not cover that spot — those pixels fill the hole, nearest frames first. What no frame ever
shows is inpainted (OpenCV's Telea method).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from editor.engines.base import EngineError
from editor.engines.local import flow

# Frames looked at for background, nearest first.
OFFSETS = (-2, 2, -5, 5, -10, 10, -18, 18)
REGION_FLOW_WIDTH = 320
INPAINT_RADIUS = 5
INPAINT_FULL_SIZE = 64  # pixels: larger holes are inpainted smaller
INPAINT_MAX_SHRINK = 4
STILL_SHIFT = 1.5  # pixels
# Whole frames are compared this small to find the background's overall motion between two frames.
OVERVIEW_WIDTH = 192


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


class Remover:
    """Remove a masked region from the frames of a clip, one frame at a time."""

    def __init__(self, mask_path: Path, width: int, height: int, count: int, get_frame: Callable[[int], np.ndarray]):
        self.count = count
        self.get_frame = get_frame
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
        self.mask_u8 = self.mask.astype(np.uint8) * 255
        self.hole_u8 = self.hole.astype(np.uint8) * 255
        region_w = bx1 - bx0
        self.flow_scale = min(1.0, REGION_FLOW_WIDTH / region_w)
        self.sigma = max(4.0, 0.5 * max(x1 - x0, y1 - y0) * self.flow_scale)
        gx, gy = np.meshgrid(np.arange(region_w, dtype=np.float32), np.arange(by1 - by0, dtype=np.float32))
        self.grid = (gx, gy)
        self.overview_scale = min(1.0, OVERVIEW_WIDTH / width)
        size = (max(16, int(width * self.overview_scale)), max(16, int(height * self.overview_scale)))
        self.overview_hole = cv2.resize(self.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        self.overviews: OrderedDict[int, np.ndarray] = OrderedDict()
        self.shifts: OrderedDict[tuple[int, int], tuple[float, float]] = OrderedDict()
        self.fill_pieces: tuple | None = None
        self.helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aleph-remove")
        # Where the hole is inside the region: only those pixels are ever filled.
        hy, hx = np.nonzero(self.hole)
        top, bottom, left, right = int(hy.min()), int(hy.max()) + 1, int(hx.min()), int(hx.max()) + 1
        self.hole_box = (slice(top, bottom), slice(left, right))
        # Inpainting reads known pixels around what it fills, so it gets a margin of the region.
        rh, rw = self.hole.shape
        pad = 4 * INPAINT_RADIUS
        self.inpaint_box = (slice(max(0, top - pad), min(rh, bottom + pad)), slice(max(0, left - pad), min(rw, right + pad)))

    def _overview(self, index: int) -> np.ndarray:
        """A small grey copy of a whole frame with the hole greyed out, to measure global motion."""
        if index not in self.overviews:
            rgb = self.get_frame(index)
            h, w = self.overview_hole.shape
            grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
            grey[self.overview_hole] = grey[~self.overview_hole].mean()
            self.overviews[index] = grey
            if len(self.overviews) > 2 * max(abs(o) for o in OFFSETS) + 3:
                self.overviews.popitem(last=False)
        return self.overviews[index]

    def _grey(self, rgb_region: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(rgb_region, cv2.COLOR_RGB2GRAY)
        if self.flow_scale < 1:
            h, w = grey.shape
            grey = cv2.resize(grey, (max(8, int(w * self.flow_scale)), max(8, int(h * self.flow_scale))), interpolation=cv2.INTER_AREA)
        return grey

    def _hole_fill(self, w: int, h: int) -> tuple:
        """Pieces of the hole's flow fill that depend only on the flow's size (computed once)."""
        if self.fill_pieces is None or self.fill_pieces[0] != (w, h):
            small = (max(8, w // 4), max(8, h // 4))
            valid = (cv2.resize(self.hole_u8, small, interpolation=cv2.INTER_AREA) < 8).astype(np.float32)
            sigma = max(1.0, self.sigma / 4)
            weights = np.maximum(cv2.GaussianBlur(valid, (0, 0), sigma), 1e-4)
            inside = cv2.resize(self.hole_u8, (w, h), interpolation=cv2.INTER_NEAREST) > 0
            self.fill_pieces = ((w, h), small, valid[..., None], sigma, weights[..., None], inside[..., None])
        return self.fill_pieces[1:]

    def _background_flow(self, target_grey: np.ndarray, other_grey: np.ndarray) -> np.ndarray:
        """Flow from the target to another frame, with the hole's flow taken from around it."""
        field = flow.flow(target_grey, other_grey)
        # The hole's flow is the object's: replace it with the surroundings' flow, averaged by a
        # normalised convolution drawn small (the background's motion is smooth).
        h, w = field.shape[:2]
        small, valid, sigma, weights, inside = self._hole_fill(w, h)
        field_small = cv2.resize(field, small, interpolation=cv2.INTER_AREA) * valid
        spread = cv2.GaussianBlur(field_small, (0, 0), sigma) / weights
        spread = cv2.resize(spread, (w, h), interpolation=cv2.INTER_LINEAR)
        np.copyto(field, spread, where=inside)
        rh, rw = self.hole.shape
        return cv2.resize(field, (rw, rh), interpolation=cv2.INTER_LINEAR) / np.float32(self.flow_scale)

    def _inpaint(self, region: np.ndarray, need: np.ndarray) -> None:
        """Inpaint what no frame showed. Inpainting smooths a large hole anyway, so one is inpainted
        smaller (at most INPAINT_FULL_SIZE across, down to a quarter of its size) and enlarged."""
        ys, xs = np.nonzero(need)
        span = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
        factor = min(INPAINT_MAX_SHRINK, math.ceil(span / INPAINT_FULL_SIZE))
        if factor <= 1:
            region[:] = cv2.inpaint(region, need.astype(np.uint8) * 255, INPAINT_RADIUS, cv2.INPAINT_TELEA)
            return
        h, w = need.shape
        size = (max(8, w // factor), max(8, h // factor))
        small = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        small_need = cv2.resize(need.astype(np.uint8) * 255, size, interpolation=cv2.INTER_NEAREST)
        small_need = cv2.dilate(small_need, np.ones((3, 3), np.uint8))
        filled = cv2.resize(cv2.inpaint(small, small_need, INPAINT_RADIUS, cv2.INPAINT_TELEA), (w, h), interpolation=cv2.INTER_LINEAR)
        np.copyto(region, filled, where=need[..., None])

    def _shift(self, index: int, other_index: int) -> tuple[float, float]:
        """The background's overall motion from one frame to another (phase correlation on whole
        frames, in frame pixels); each pair is measured once, the way back is the same shift negated."""
        key = (min(index, other_index), max(index, other_index))
        if key not in self.shifts:
            dx, dy = flow.global_shift(self._overview(key[0]), self._overview(key[1]))
            self.shifts[key] = (dx / self.overview_scale, dy / self.overview_scale)
            # Kept until the far frame of each pair (up to 18 frames on) has asked for it too.
            if len(self.shifts) > 4 * len(OFFSETS) * max(abs(o) for o in OFFSETS):
                self.shifts.popitem(last=False)
        dx, dy = self.shifts[key]
        return (dx, dy) if index < other_index else (-dx, -dy)

    def _from_other(self, other: np.ndarray, shift: tuple[float, float], target_grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Align another frame to the target over the hole's box: return its pixels there and where
        they show background (its own hole does not cover the spot, and it is inside the picture)."""
        bx0, by0, bx1, by1 = self.box
        rows, cols = self.hole_box
        dx, dy = shift
        # The other frame's region is taken from where the overall motion put it; flow does the rest.
        matrix = np.float32([[1, 0, bx0 + dx], [0, 1, by0 + dy]])
        inverse = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        region = cv2.warpAffine(other, matrix, (bx1 - bx0, by1 - by0), flags=inverse, borderMode=cv2.BORDER_REPLICATE)
        field = self._background_flow(target_grey, self._grey(region))[rows, cols]
        map_x, map_y = self.grid[0][rows, cols] + field[..., 0], self.grid[1][rows, cols] + field[..., 1]
        moved = cv2.remap(region, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        covered = cv2.remap(
            self.mask_u8, map_x + np.float32(bx0 + dx), map_y + np.float32(by0 + dy), cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT, borderValue=255,
        )
        return moved, covered == 0

    def clean(self, index: int) -> np.ndarray:
        """Return frame `index` with the masked region removed."""
        frame = self.get_frame(index).copy()
        bx0, by0, bx1, by1 = self.box
        region = frame[by0:by1, bx0:bx1]
        target_grey = self._grey(region)
        self._hole_fill(*target_grey.shape[::-1])
        # Only the hole's bounding box is ever filled: the rest of the region is there to measure flow.
        rows, cols = self.hole_box
        hole_region = region[rows, cols]
        need = self.hole[rows, cols].copy()
        # Near the ends, the first and last frames stand in for those beyond them. A background that
        # has not moved shows nothing new behind a fixed mask, so such frames are left out.
        others = []
        for other_index in dict.fromkeys(min(max(index + offset, 0), self.count - 1) for offset in OFFSETS):
            if other_index != index:
                shift = self._shift(index, other_index)
                if abs(shift[0]) + abs(shift[1]) >= STILL_SHIFT:
                    others.append((self.get_frame(other_index), shift))
        # Nearest first, two at a time: one aligned here, the next on the helper thread.
        for at in range(0, len(others), 2):
            pair = others[at : at + 2]
            later = self.helper.submit(self._from_other, *pair[1], target_grey) if len(pair) > 1 else None
            results = [self._from_other(*pair[0], target_grey)] + ([later.result()] if later else [])
            for moved, background in results:
                usable = need & background
                np.copyto(hole_region, moved, where=usable[..., None])
                need &= ~usable
            if not need.any():
                break
        if need.any():
            inpaint_rows, inpaint_cols = self.inpaint_box
            around = np.zeros((inpaint_rows.stop - inpaint_rows.start, inpaint_cols.stop - inpaint_cols.start), bool)
            around[rows.start - inpaint_rows.start : rows.stop - inpaint_rows.start, cols.start - inpaint_cols.start : cols.stop - inpaint_cols.start] = need
            self._inpaint(region[inpaint_rows, inpaint_cols], around)
        return frame

    def close(self) -> None:
        self.helper.shutdown(wait=True)
