"""Stylised looks from classical filters: painterly, oil painting, watercolour, pencil sketch, cartoon.

Each style is an edge-preserving smoothing (OpenCV's recursive domain-transform filter) with its own
finish: colour steps for oil and cartoon, dark ink lines for cartoon, a paper tone for watercolour,
OpenCV's pencil sketch for the sketch. They run at a long side of at most WORK_SIDE and are scaled
back, which is what keeps them faster than real time.

Filters like these shimmer on video: a pixel that sits on the edge of a colour step flips with the
faintest noise from frame to frame. `Stylise` holds them steady: where the input has not changed
since the last frame (within NOISE levels), the last frame's styled pixel is kept, and only what
moved is styled again. A still scene stays still; a moving one is styled as it moves.
"""

from __future__ import annotations

import cv2
import numpy as np

from editor.engines.base import EngineError

STYLES = ("painterly", "oil", "watercolour", "sketch", "cartoon")
WORK_SIDE = 640
# Input changes below this (0–255, largest of R, G, B, after a 3 × 3 blur) are noise, not motion.
NOISE = 6


def _smooth(rgb: np.ndarray, sigma_s: float, sigma_r: float) -> np.ndarray:
    return cv2.edgePreservingFilter(rgb, flags=cv2.RECURS_FILTER, sigma_s=sigma_s, sigma_r=sigma_r)


def _steps(rgb: np.ndarray, levels: int) -> np.ndarray:
    """Colour steps: each channel to `levels` values (in Lab, so steps follow lightness and hue)."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).astype(np.float32)
    size = 256 / levels
    lab = (np.floor(lab / size) + 0.5) * size
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_Lab2RGB)


def _painterly(rgb: np.ndarray) -> np.ndarray:
    soft = _smooth(rgb, 30, 0.45)
    hsv = cv2.cvtColor(soft, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.minimum(255, hsv[..., 1] * 1.2)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def _oil(rgb: np.ndarray) -> np.ndarray:
    return _steps(_smooth(cv2.medianBlur(rgb, 5), 40, 0.5), 14)


def _watercolour(rgb: np.ndarray) -> np.ndarray:
    wash = _smooth(cv2.medianBlur(rgb, 5), 60, 0.6).astype(np.float32)
    # Pigment on white paper: the darks lift, the colours stay.
    return np.clip(wash * 0.82 + 255 * 0.18, 0, 255).astype(np.uint8)


def _sketch(rgb: np.ndarray) -> np.ndarray:
    grey, _ = cv2.pencilSketch(rgb, sigma_s=30, sigma_r=0.08, shade_factor=0.04)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)


def _cartoon(rgb: np.ndarray) -> np.ndarray:
    flat = _steps(_smooth(_smooth(rgb, 30, 0.4), 30, 0.4), 8)
    grey = cv2.medianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 5)
    ink = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 4)
    return np.where(ink[..., None] == 0, (flat * 0.25).astype(np.uint8), flat)


FILTERS = {"painterly": _painterly, "oil": _oil, "watercolour": _watercolour, "sketch": _sketch, "cartoon": _cartoon}


def style(rgb: np.ndarray, name: str) -> np.ndarray:
    """One frame in a style (no steadying): for a still image, or the first frame of a clip."""
    if name not in FILTERS:
        raise EngineError("bad_plan", f"Unknown style {name}.")
    h, w = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(w, h))
    small = rgb if scale == 1.0 else cv2.resize(rgb, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    styled = FILTERS[name](np.ascontiguousarray(small))
    return styled if scale == 1.0 else cv2.resize(styled, (w, h), interpolation=cv2.INTER_CUBIC)


class Stylise:
    """A style over a sequence of frames, held steady where the picture does not move."""

    def __init__(self, name: str, strength: float = 1.0):
        if name not in FILTERS:
            raise EngineError("bad_plan", f"Unknown style {name}.")
        self.name = name
        self.strength = max(0.0, min(1.0, strength))
        self.last_in: np.ndarray | None = None
        self.last_out: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        styled = style(rgb, self.name)
        if self.strength < 1.0:
            styled = cv2.addWeighted(styled, self.strength, rgb, 1 - self.strength, 0)
        soft = cv2.blur(rgb, (3, 3))
        if self.last_in is not None and self.last_in.shape == soft.shape:
            moved = np.abs(soft.astype(np.int16) - self.last_in.astype(np.int16)).max(axis=2) > NOISE
            # Grow what moved a little, so a moving edge is styled with its surroundings.
            moved = cv2.dilate(moved.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            styled = np.where(moved[..., None], styled, self.last_out)
            # What stayed keeps its last input, so slow drifts still add up to a change.
            soft = np.where(moved[..., None], soft, self.last_in)
        self.last_in, self.last_out = soft, styled
        return styled
