"""Relighting as a gain map: light from a side or from above, vignette, a spotlight on the subject,
and where the light comes from at each time of day.

Every relight is a per-pixel, per-channel gain computed once (the spotlight follows the subject,
so its part is redrawn each frame at a small size). A frame is multiplied by the map in one
saturating OpenCV call before the colour grade, so a look then grades the relit scene.
"""

from __future__ import annotations

import cv2
import numpy as np

from editor.engines.local import yuv
from editor.engines.local.plan import EditPlan

# Gains are stored as uint8 × 1/128, so a map spans 0 to 1.99 and applies with one cv2.multiply.
GAIN_ONE = 128.0
MAP_DIVISOR = 4  # maps are smooth: draw them at a quarter size and let resize interpolate


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    xs = (np.arange(width, dtype=np.float32) + 0.5) / width
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height
    return np.meshgrid(xs, ys)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


def directional(width: int, height: int, side: str, strength: float) -> np.ndarray:
    """Return an RGB gain map for a warm key light from one side, falling off across the frame."""
    x, y = _grid(width, height)
    lit = {"left": 1 - x, "right": x, "top": 1 - y}[side]
    lit = _smoothstep(0.0, 1.0, lit)
    gain = 1 + strength * (1.1 * lit - 0.55)
    warm = np.stack([1 + 0.12 * strength * lit, np.ones_like(lit), 1 - 0.12 * strength * lit], axis=-1)
    return gain[..., None] * warm


def vignette(width: int, height: int, strength: float) -> np.ndarray:
    x, y = _grid(width, height)
    aspect = width / height
    r = np.sqrt(((x - 0.5) * aspect) ** 2 + (y - 0.5) ** 2) / np.sqrt((0.5 * aspect) ** 2 + 0.25)
    gain = 1 - 0.85 * strength * _smoothstep(0.3, 1.05, r)
    return np.repeat(gain[..., None], 3, axis=-1)


def spotlight(width: int, height: int, cx: float, cy: float, radius: float, strength: float) -> np.ndarray:
    """Return a gain map that darkens the frame around a soft pool of light at (cx, cy) (fractions)."""
    x, y = _grid(width, height)
    aspect = width / height
    d2 = ((x - cx) * aspect) ** 2 + (y - cy) ** 2
    pool = np.exp(-0.5 * d2 / max(radius, 0.05) ** 2)
    gain = (1 - 0.75 * strength) + strength * (0.75 + 0.25) * pool
    return np.repeat(gain[..., None], 3, axis=-1)


def time_of_day(width: int, height: int, when: str, intensity: float) -> np.ndarray | None:
    """Return where the light comes from at a time of day (the colour is in the grade)."""
    if when == "golden_hour":
        # Low sun: warm light raking in from the upper left.
        x, y = _grid(width, height)
        lit = _smoothstep(0.0, 1.0, 1 - (0.65 * x + 0.35 * y))
        gain = 1 + intensity * (0.35 * lit - 0.12)
        warm = np.stack([1 + 0.08 * intensity * lit, np.ones_like(lit), 1 - 0.1 * intensity * lit], axis=-1)
        return gain[..., None] * warm
    if when == "blue_hour":
        # The sky is the light source: brighter and cooler toward the top.
        x, y = _grid(width, height)
        lit = _smoothstep(0.0, 1.0, 1 - y)
        gain = 1 + intensity * (0.2 * lit - 0.08)
        return np.repeat(gain[..., None], 3, axis=-1)
    if when == "night":
        return vignette(width, height, 0.55 * intensity)
    return None


class Relight:
    """The plan's relight, as a gain map applied to output-sized RGB frames."""

    def __init__(self, plan: EditPlan, width: int, height: int):
        self.width, self.height = width, height
        self.map_w, self.map_h = max(8, width // MAP_DIVISOR), max(8, height // MAP_DIVISOR)
        static = np.ones((self.map_h, self.map_w, 3), np.float32)
        parts = 0
        if op := plan.op("time_of_day"):
            part = time_of_day(self.map_w, self.map_h, op.params["when"], op.params.get("intensity", 1.0))
            if part is not None:
                static *= part
                parts += 1
        if op := plan.op("light"):
            static *= directional(self.map_w, self.map_h, op.params["side"], op.params["strength"])
            parts += 1
        if op := plan.op("vignette"):
            static *= vignette(self.map_w, self.map_h, op.params["strength"])
            parts += 1
        spot = plan.op("spotlight")
        self.spot_strength = spot.params["strength"] if spot else 0.0
        self.static = static
        self.active = bool(parts) or bool(self.spot_strength)
        # The same gain on R, G and B scales Y above black and U and V about their zero alike, so
        # a neutral relight can be applied to yuv420p planes with the same result (see apply_yuv).
        self.neutral = bool(np.all(static == static[..., :1]))
        self._static_full = None if self.spot_strength else self._full(static)
        self._static_planes = None

    def _full(self, gains: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        # Quantised at the small size, then enlarged as uint8: a frame-sized float map is never made.
        small = np.clip(gains * GAIN_ONE + 0.5, 0, 255).astype(np.uint8)
        return cv2.resize(small, size or (self.width, self.height), interpolation=cv2.INTER_LINEAR)

    def _small(self, spot: tuple[float, float, float] | None) -> np.ndarray:
        """The map at its small size, with the spotlight's pool (if any) where `spot` says."""
        if not self.spot_strength:
            return self.static
        cx, cy, radius = spot if spot is not None else (0.5, 0.45, 0.25)
        return self.static * spotlight(self.map_w, self.map_h, cx, cy, radius, self.spot_strength)

    def apply(self, rgb: np.ndarray, spot: tuple[float, float, float] | None = None) -> np.ndarray:
        """Relight an output-sized RGB frame; `spot` is the subject's (x, y, radius) as fractions."""
        gains = self._static_full if self._static_full is not None else self._full(self._small(spot))
        return cv2.multiply(rgb, gains, scale=1 / GAIN_ONE)

    def apply_yuv(self, packed: np.ndarray, spot: tuple[float, float, float] | None = None) -> np.ndarray:
        """Relight an output-sized yuv420p frame (packed, see yuv.py) with a neutral map; returns a
        new frame. Y moves away from black and U, V away from their zero by the gain, as they do
        when R, G and B are all multiplied by it; Y stops at white, as it does from RGB."""
        if not self.neutral:
            raise ValueError("A tinted relight needs RGB frames.")
        if self._static_planes is not None:
            luma_gain, chroma_gain = self._static_planes
        else:
            gains = self._small(spot)[..., 0]
            luma_gain = self._full(gains)
            chroma_gain = self._full(gains, (self.width // 2, self.height // 2))
            if not self.spot_strength:
                self._static_planes = luma_gain, chroma_gain
        out = yuv.new(self.width, self.height)
        (y, u, v), (out_y, out_u, out_v) = yuv.planes(packed), yuv.planes(out)
        lifted = cv2.multiply(cv2.subtract(y, yuv.LUMA_BLACK), luma_gain, scale=1 / GAIN_ONE)
        cv2.min(cv2.add(lifted, yuv.LUMA_BLACK), yuv.LUMA_WHITE, dst=out_y)
        zero = np.full(u.shape, yuv.CHROMA_ZERO, np.uint8)
        for plane, dst in ((u, out_u), (v, out_v)):
            # Above and below zero separately, so every step stays in saturating uint8.
            above = cv2.multiply(cv2.subtract(plane, zero), chroma_gain, scale=1 / GAIN_ONE)
            below = cv2.multiply(cv2.subtract(zero, plane), chroma_gain, scale=1 / GAIN_ONE)
            cv2.subtract(cv2.add(zero, above), below, dst=dst)
        return out
