"""Optical flow with OpenCV's DIS: in-between frames for slow motion, and alignment for removal.

Flow is measured on a small grey copy (at most FLOW_WIDTH wide) and scaled up, which is where
DIS is fast and still accurate for the large, smooth motions of real footage.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

FLOW_WIDTH = 480
# A DIS object keeps working buffers between calls, so each thread gets its own.
_local = threading.local()


def _dis(preset: int):
    if not hasattr(_local, "dis"):
        _local.dis = {}
    if preset not in _local.dis:
        _local.dis[preset] = cv2.DISOpticalFlow_create(preset)
    return _local.dis[preset]


def small_grey(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """Return a grey copy at most FLOW_WIDTH wide and the factor from it to the frame."""
    height, width = rgb.shape[:2]
    scale = min(1.0, FLOW_WIDTH / width)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1:
        grey = cv2.resize(grey, (max(8, int(width * scale)), max(8, int(height * scale))), interpolation=cv2.INTER_AREA)
    return grey, 1 / scale


def flow(a_grey: np.ndarray, b_grey: np.ndarray, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST) -> np.ndarray:
    """Return the flow from a to b (for each pixel of a, where it went in b), in small-grey pixels,
    with one of DIS's presets (fast by default)."""
    return _dis(preset).calc(a_grey, b_grey, None)


def _base_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))


class Interpolator:
    """Make in-between frames of two frames by warping each toward the moment between them.

    The pair's flow is kept at the small size it was measured at; each in-between enlarges only the
    fraction of it that it needs, straight into the remap coordinates.
    """

    def __init__(self) -> None:
        self.key: tuple[int, int] | None = None
        self.fields: tuple[tuple, tuple, float] | None = None
        self.grid: tuple[np.ndarray, np.ndarray] | None = None

    def between(self, key: tuple[int, int], a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        """Return the frame a fraction t of the way from a to b (key names the pair, to reuse its flow)."""
        height, width = a.shape[:2]
        if self.key != key:
            a_small, factor = small_grey(a)
            b_small, _ = small_grey(b)
            # Each field as two contiguous planes (x, y), ready to enlarge.
            self.key, self.fields = key, (cv2.split(flow(a_small, b_small)), cv2.split(flow(b_small, a_small)), factor)
        if self.grid is None or self.grid[0].shape != (height, width):
            self.grid = _base_grid(width, height)
        forward, backward, factor = self.fields
        # Backward warping with each frame's own flow as the estimate of the in-between motion.
        from_a = self._warp(a, forward, -t * factor)
        from_b = self._warp(b, backward, -(1 - t) * factor)
        return cv2.addWeighted(from_a, 1 - t, from_b, t, 0)

    def _warp(self, picture: np.ndarray, field: tuple, scale: float) -> np.ndarray:
        height, width = picture.shape[:2]
        gx, gy = self.grid
        size = (width, height)
        map_x = cv2.scaleAdd(cv2.resize(field[0], size, interpolation=cv2.INTER_LINEAR), scale, gx)
        map_y = cv2.scaleAdd(cv2.resize(field[1], size, interpolation=cv2.INTER_LINEAR), scale, gy)
        return cv2.remap(picture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def global_shift(a_grey: np.ndarray, b_grey: np.ndarray) -> tuple[float, float]:
    """Return how far the picture moved from a to b (phase correlation), in the greys' pixels."""
    window = cv2.createHanningWindow(a_grey.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a_grey.astype(np.float32), b_grey.astype(np.float32), window)
    return float(dx), float(dy)
