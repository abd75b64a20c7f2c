"""Masked removal: fill the painted region of every frame with what other frames show behind it.

The mask (PNG, white = remove) is scaled to the frame and grown a little to take the object's
edge with it. For each frame, nearby frames are aligned to it with DIS optical flow measured
around the region (the flow inside the region belongs to the object, so it is filled in from the
surrounding background's flow); wherever an aligned frame shows background — its own masked region
does not cover that spot — those pixels fill the hole, nearest frames first. What no frame ever
shows is inpainted (OpenCV's Telea method).
"""

from __future__ import annotations

from collections import OrderedDict
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
INPAINT_FULL_SIZE = 64  # holes wider than this (pixels) are inpainted at half size
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

    def _background_flow(self, target_grey: np.ndarray, other_grey: np.ndarray) -> np.ndarray:
        """Flow from the target to another frame, with the hole's flow taken from around it."""
        field = flow.flow(target_grey, other_grey)
        # The hole's flow is the object's: replace it with the surroundings' flow, averaged by a
        # normalised convolution drawn small (the background's motion is smooth).
        h, w = field.shape[:2]
        small = (max(8, w // 4), max(8, h // 4))
        hole_small = cv2.resize(self.hole_u8, small, interpolation=cv2.INTER_AREA) < 8
        valid = hole_small.astype(np.float32)
        sigma = max(1.0, self.sigma / 4)
        weights = np.maximum(cv2.GaussianBlur(valid, (0, 0), sigma), 1e-4)
        field_small = cv2.resize(field, small, interpolation=cv2.INTER_AREA) * valid[..., None]
        spread = cv2.GaussianBlur(field_small, (0, 0), sigma) / weights[..., None]
        spread = cv2.resize(spread, (w, h), interpolation=cv2.INTER_LINEAR)
        inside = cv2.resize(self.hole_u8, (w, h), interpolation=cv2.INTER_NEAREST) > 0
        field[inside] = spread[inside]
        rh, rw = self.hole.shape
        return cv2.resize(field, (rw, rh), interpolation=cv2.INTER_LINEAR) / np.float32(self.flow_scale)

    def _inpaint(self, region: np.ndarray, need: np.ndarray) -> None:
        """Inpaint what no frame showed; a large hole is inpainted at half size (it is smooth anyway)."""
        ys, xs = np.nonzero(need)
        if max(xs.max() - xs.min(), ys.max() - ys.min()) < INPAINT_FULL_SIZE:
            region[:] = cv2.inpaint(region, need.astype(np.uint8) * 255, INPAINT_RADIUS, cv2.INPAINT_TELEA)
            return
        h, w = need.shape
        half = (max(8, w // 2), max(8, h // 2))
        small = cv2.resize(region, half, interpolation=cv2.INTER_AREA)
        small_need = cv2.resize(need.astype(np.uint8) * 255, half, interpolation=cv2.INTER_NEAREST)
        small_need = cv2.dilate(small_need, np.ones((3, 3), np.uint8))
        filled = cv2.resize(cv2.inpaint(small, small_need, INPAINT_RADIUS, cv2.INPAINT_TELEA), (w, h), interpolation=cv2.INTER_LINEAR)
        region[need] = filled[need]

    def clean(self, index: int) -> np.ndarray:
        """Return frame `index` with the masked region removed."""
        frame = self.get_frame(index).copy()
        bx0, by0, bx1, by1 = self.box
        region = frame[by0:by1, bx0:bx1]
        need = self.hole.copy()
        target_grey = self._grey(region)
        gx, gy = self.grid
        # Near the ends, the first and last frames stand in for those beyond them.
        candidates = dict.fromkeys(min(max(index + offset, 0), self.count - 1) for offset in OFFSETS)
        for other_index in candidates:
            if other_index == index:
                continue
            # First the background's overall motion (phase correlation on whole frames), then the
            # flow that is left once the other frame's region is taken from where the motion put it.
            dx, dy = flow.global_shift(self._overview(index), self._overview(other_index))
            dx, dy = dx / self.overview_scale, dy / self.overview_scale
            if abs(dx) + abs(dy) < STILL_SHIFT:
                # A background that has not moved shows nothing new behind a fixed mask.
                continue
            shift = np.float32([[1, 0, bx0 + dx], [0, 1, by0 + dy]])
            size = (bx1 - bx0, by1 - by0)
            inverse = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            other = cv2.warpAffine(self.get_frame(other_index), shift, size, flags=inverse, borderMode=cv2.BORDER_REPLICATE)
            field = self._background_flow(target_grey, self._grey(other))
            map_x, map_y = gx + field[..., 0], gy + field[..., 1]
            moved = cv2.remap(other, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            # Background only where the other frame's own hole does not cover the spot, inside the picture.
            covered = cv2.remap(
                self.mask_u8, map_x + np.float32(bx0 + dx), map_y + np.float32(by0 + dy), cv2.INTER_NEAREST,
                borderMode=cv2.BORDER_CONSTANT, borderValue=255,
            )
            usable = need & (covered == 0)
            region[usable] = moved[usable]
            need &= ~usable
            if not need.any():
                break
        if need.any():
            self._inpaint(region, need)
        return frame
