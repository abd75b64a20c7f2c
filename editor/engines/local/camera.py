"""The virtual camera: one affine warp per output frame covers reframing, zoom, push and pull,
pan, tilt, dutch angle, handheld shake, mirror, close-up and wide framing.

A window of the output's aspect ratio is placed on the source frame (centre, size, rotation);
the output is that window resampled to the output size with cv2.warpAffine. Moves ease in and out
over the clip. Rotation and shake get a fixed extra zoom so the window never leaves the picture;
the wide shot places the whole frame over a blurred fill instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from editor.engines.local import yuv
from editor.engines.local.plan import EditPlan
from editor.engines.local.subject import SubjectTrack

SHAKE_PIXELS = 0.012  # of the window's width, at strength 1
SHAKE_DEGREES = 0.6
# A window that maps the frame onto itself (warping it gives the same pixels).
IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _flip_code(shape: tuple[int, ...], m: np.ndarray) -> int | None:
    """Return cv2.flip's code when the map is a mirror of the whole image onto itself (warping
    would give the same pixels), else None."""
    h, w = shape[:2]
    for code, (sx, sy) in ((1, (-1, 1)), (0, (1, -1)), (-1, (-1, -1))):
        flip = np.array([[sx, 0.0, w - 1.0 if sx < 0 else 0.0], [0.0, sy, h - 1.0 if sy < 0 else 0.0]])
        if np.abs(m - flip).max() < 1e-6:
            return code
    return None


@dataclass(frozen=True)
class Window:
    cx: float
    cy: float
    k: float  # source pixels per output pixel
    angle: float  # degrees, counter-clockwise
    flip_x: bool
    flip_y: bool


def ease(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3 - 2 * t)


def fill_crop(src_w: int, src_h: int, out_w: int, out_h: int) -> tuple[float, float]:
    """Return the size of the largest window of the output's aspect inside the source."""
    target = out_w / out_h
    if src_w / src_h > target:
        return src_h * target, float(src_h)
    return float(src_w), src_w / target


def _noise(seed: int, channel: int, count: int, rate: float) -> np.ndarray:
    """Seeded smooth noise in [-1, 1]: a few sines at handheld frequencies (0.4–3 Hz)."""
    rng = np.random.default_rng([seed, 1009, channel])
    t = np.arange(count) / rate
    total = np.zeros(count)
    for freq, weight in ((0.4, 1.0), (0.9, 0.6), (1.7, 0.35), (3.1, 0.2)):
        f = freq * rng.uniform(0.8, 1.25)
        total += weight * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return total / 2.15


class Camera:
    """Windows and warps for every output frame of an edit."""

    def __init__(
        self,
        plan: EditPlan,
        *,
        src_size: tuple[int, int],
        out_size: tuple[int, int],
        main_frames: int,
        total_frames: int,
        rate: float,
        subject: SubjectTrack | None,
    ):
        self.src_w, self.src_h = src_size
        self.out_w, self.out_h = out_size
        self.main = max(1, main_frames)
        self.total = total_frames
        self.subject = subject
        self.plan = plan
        self.wide = (op := plan.op("framing")) is not None and op.params["shot"] == "wide"
        self.close_up = op.params.get("zoom", 1.0) if op is not None and op.params["shot"] == "close_up" else 1.0
        self.crop_w, self.crop_h = fill_crop(self.src_w, self.src_h, self.out_w, self.out_h)
        if self.wide:
            scale = max(self.src_w / self.out_w, self.src_h / self.out_h)
            self.crop_w, self.crop_h = self.out_w * scale, self.out_h * scale
        self.drift = (0.0, 0.0)
        shake = plan.op("shake")
        self.shake_strength = shake.params["strength"] if shake else 0.0
        dutch = plan.op("dutch")
        self.dutch = dutch.params["angle"] if dutch else 0.0
        if self.shake_strength:
            self.shake = np.stack([_noise(plan.seed, c, total_frames, rate) for c in range(3)])
        # Fixed extra zoom so rotation and shake never show outside the picture.
        max_angle = math.radians(abs(self.dutch) + SHAKE_DEGREES * self.shake_strength)
        a, b = self.crop_w / 2, self.crop_h / 2
        fit = max(
            (a * math.cos(max_angle) + b * math.sin(max_angle)) / a,
            (a * math.sin(max_angle) + b * math.cos(max_angle)) / b,
        )
        self.guard = 1.0 if self.wide else fit * (1 + 2 * SHAKE_PIXELS * self.shake_strength)

    @property
    def moving(self) -> bool:
        """Whether the window changes from frame to frame."""
        ops = ("zoom", "push", "pan", "tilt", "shake")
        follows = self.subject is not None and not self.wide
        return self.plan.has(*ops) or follows or self.total > self.main and self.plan.op("extend").params["mode"] == "move"

    def set_drift(self, dx: float, dy: float) -> None:
        """Set how far the picture moved per frame at the end of the clip (source pixels), for a continued move."""
        self.drift = (dx, dy)

    def _subject_centre(self, position: float) -> tuple[float, float]:
        if self.subject is None:
            return self.src_w / 2, self.src_h / 2
        x, y, _, _ = self.subject.at(position)
        return x, y

    def window(self, j: int, position: float) -> Window:
        """Return the window for output frame j, showing source frame position `position`."""
        t = j / max(1, self.main - 1)
        e = ease(t)
        centre_x, centre_y = self.src_w / 2, self.src_h / 2
        target_x, target_y = self._subject_centre(position)
        if self.plan.reframe == "subject" and not self.wide:
            centre_x, centre_y = target_x, target_y
        zoom = self.close_up
        if self.close_up > 1:
            centre_x, centre_y = target_x, target_y
        if op := self.plan.op("zoom"):
            amount = op.params["amount"]
            zoom *= 1 + amount * (e if op.params["direction"] == "in" else 1 - e)
        if op := self.plan.op("push"):
            amount = op.params["amount"]
            toward = e if op.params["direction"] == "in" else 1 - e
            zoom *= 1 + amount * toward
            centre_x += (target_x - centre_x) * toward
            centre_y += (target_y - centre_y) * toward
        width = self.crop_w / zoom
        height = self.crop_h / zoom
        for name, axis in (("pan", 0), ("tilt", 1)):
            if op := self.plan.op(name):
                size, span, centre = (width, self.src_w, centre_x) if axis == 0 else (height, self.src_h, centre_y)
                travel = op.params["amount"] * span
                if span - size < travel:
                    # Zoom in just enough to leave room for the move.
                    shrink = (span - travel) / size
                    width, height = width * shrink, height * shrink
                    size *= shrink
                forward = op.params["direction"] in ("right", "down")
                # "Tilt up" shows what is above: the window travels toward the top.
                if name == "tilt":
                    forward = op.params["direction"] == "down"
                start = min(max(centre - travel / 2, size / 2), span - size / 2 - travel)
                offset = start + travel * (e if forward else 1 - e)
                if axis == 0:
                    centre_x = offset
                else:
                    centre_y = offset
        angle = self.dutch
        width, height = width / self.guard, height / self.guard
        if self.shake_strength and j < self.shake.shape[1]:
            sx, sy, sa = self.shake[:, j]
            centre_x += sx * SHAKE_PIXELS * self.shake_strength * width
            centre_y += sy * SHAKE_PIXELS * self.shake_strength * width
            angle += sa * SHAKE_DEGREES * self.shake_strength
        if j >= self.main:
            centre_x, centre_y, width, height = self._continue(j, centre_x, centre_y, width, height)
        if not self.wide:
            centre_x, centre_y = self._clamp(centre_x, centre_y, width, height, angle)
        mirror = self.plan.op("mirror")
        return Window(
            cx=centre_x,
            cy=centre_y,
            k=width / self.out_w,
            angle=angle,
            flip_x=mirror is not None and mirror.params["axis"] == "horizontal",
            flip_y=mirror is not None and mirror.params["axis"] == "vertical",
        )

    def _continue(self, j: int, cx: float, cy: float, width: float, height: float):
        """Carry the camera on over the held last frame: drift as the clip moved, and ease in a little."""
        op = self.plan.op("extend")
        if op is None or op.params["mode"] != "move":
            return cx, cy, width, height
        steps = j - self.main + 1
        u = ease(steps / max(1, self.total - self.main))
        creep = 1 + 0.18 * u
        return cx - self.drift[0] * steps, cy - self.drift[1] * steps, width / creep, height / creep

    def _clamp(self, cx: float, cy: float, width: float, height: float, angle: float) -> tuple[float, float]:
        rad = math.radians(abs(angle))
        half_w = (width * math.cos(rad) + height * math.sin(rad)) / 2
        half_h = (width * math.sin(rad) + height * math.cos(rad)) / 2
        cx = self.src_w / 2 if half_w * 2 >= self.src_w else min(max(cx, half_w), self.src_w - half_w)
        cy = self.src_h / 2 if half_h * 2 >= self.src_h else min(max(cy, half_h), self.src_h - half_h)
        return cx, cy

    def matrix(self, window: Window, work_scale: float, plane: float = 1.0) -> np.ndarray:
        """Return the 2×3 map from output pixels to work-frame pixels (for a plane sampled at
        `plane` times the frame's size: 0.5 for yuv420p chroma)."""
        rad = math.radians(window.angle)
        cos, sin = math.cos(rad), math.sin(rad)
        k = window.k * work_scale
        sx = -k if window.flip_x else k
        sy = -k if window.flip_y else k
        linear = np.array([[cos * sx, sin * sy], [-sin * sx, cos * sy]])
        centre_out = np.array([self.out_w / 2, self.out_h / 2]) * plane
        centre_src = np.array([window.cx, window.cy]) * work_scale * plane
        # Window geometry is in continuous coordinates; OpenCV's pixel centres sit at +0.5 of those.
        offset = centre_src - 0.5 - linear @ (centre_out - 0.5)
        return np.hstack([linear, offset[:, None]])

    def render(self, rgb: np.ndarray, window: Window, work_scale: float) -> np.ndarray:
        """Warp an RGB work frame through a window to the output size (the frame itself, not a
        copy, when the window maps it onto itself: warping would give the same pixels)."""
        m = self.matrix(window, work_scale)
        if self._is_identity(rgb.shape, m):
            return rgb
        return self._warp(rgb, m, (self.out_w, self.out_h), 0)

    def render_yuv(self, packed: np.ndarray, window: Window, work_scale: float) -> np.ndarray:
        """Warp a yuv420p work frame (packed, see yuv.py) through a window to the output size:
        the luma plane and the two chroma planes each in one warp (the frame itself when the
        window maps it onto itself)."""
        m = self.matrix(window, work_scale)
        if self._is_identity((packed.shape[0] * 2 // 3, packed.shape[1]), m):
            return packed
        out = yuv.new(self.out_w, self.out_h)
        chroma = self.matrix(window, work_scale, plane=0.5)
        for src, dst, mat, black in zip(yuv.planes(packed), yuv.planes(out), (m, chroma, chroma), yuv.BLACKS):
            self._warp(src, mat, (dst.shape[1], dst.shape[0]), black, dst)
        return out

    def _is_identity(self, shape: tuple[int, ...], m: np.ndarray) -> bool:
        return not self.wide and shape[:2] == (self.out_h, self.out_w) and np.abs(m - IDENTITY).max() < 1e-6

    def _warp(self, image: np.ndarray, m: np.ndarray, size: tuple[int, int], black: int, dst: np.ndarray | None = None) -> np.ndarray:
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        if not self.wide:
            if size == (image.shape[1], image.shape[0]) and (code := _flip_code(image.shape, m)) is not None:
                return cv2.flip(image, code, dst=dst)
            return cv2.warpAffine(image, m, size, dst=dst, flags=flags, borderMode=cv2.BORDER_REFLECT101)
        out = self._blurred_fill(image, size, black, dst)
        cv2.warpAffine(image, m, size, dst=out, flags=flags, borderMode=cv2.BORDER_TRANSPARENT)
        return out

    def _blurred_fill(self, image: np.ndarray, size: tuple[int, int], black: int, dst: np.ndarray | None) -> np.ndarray:
        """The wide shot's background: the frame cropped to the output's shape, blurred, and
        darkened to three fifths (toward `black`, the plane's level for black)."""
        h, w = image.shape[:2]
        out_w, out_h = size
        cw, ch = fill_crop(w, h, out_w, out_h)
        x, y = int((w - cw) / 2), int((h - ch) / 2)
        crop = image[y : y + int(ch), x : x + int(cw)]
        small = cv2.resize(crop, (max(8, out_w // 16), max(8, out_h // 16)), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), 2.0)
        small = ((small.astype(np.uint16) * 3 + 2 * black) // 5).astype(np.uint8)
        return cv2.resize(small, size, dst=dst, interpolation=cv2.INTER_LINEAR)

    def to_output(self, window: Window, x: float, y: float) -> tuple[float, float]:
        """Map a source pixel to output pixels through a window."""
        m = self.matrix(window, 1.0)
        inverse = cv2.invertAffineTransform(m)
        out = inverse @ np.array([x, y, 1.0])
        return float(out[0]), float(out[1])
