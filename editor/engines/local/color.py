"""Colour operations as one 3D LUT: every look and adjustment is a function on RGB in [0, 1].

The plan's colour operations are composed on a 33³ grid and written as a .cube file that
libavfilter's lut3d applies to every frame in C, so a grade costs the same whatever it contains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LUT_SIZE = 33
# Rec. 709 luma weights.
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ LUMA


def saturate(rgb: np.ndarray, amount: float) -> np.ndarray:
    """Scale saturation around luma (amount 0 = unchanged, -1 = grey)."""
    y = luma(rgb)[..., None]
    return y + (rgb - y) * (1.0 + amount)


def contrast(rgb: np.ndarray, amount: float, pivot: float = 0.45) -> np.ndarray:
    return (rgb - pivot) * (1.0 + amount) + pivot


def exposure(rgb: np.ndarray, stops: float) -> np.ndarray:
    # Work on approximately linear light so a stop looks like a stop.
    linear = np.power(np.clip(rgb, 0, 1), 2.2) * (2.0**stops)
    return np.power(np.clip(linear, 0, None), 1 / 2.2)


def temperature(rgb: np.ndarray, amount: float) -> np.ndarray:
    """Shift white balance: positive is warmer (more red, less blue)."""
    gains = np.array([1 + 0.35 * amount, 1 + 0.05 * amount, 1 - 0.4 * amount], np.float32)
    return rgb * gains


def split_tone(rgb: np.ndarray, shadows, highlights, strength: float) -> np.ndarray:
    y = luma(rgb)[..., None]
    shadow_w = np.clip(1 - y * 2, 0, 1)
    high_w = np.clip(y * 2 - 1, 0, 1)
    return rgb + strength * (shadow_w * (np.array(shadows) - 0.5) + high_w * (np.array(highlights) - 0.5))


def lift_gamma_gain(rgb: np.ndarray, lift=0.0, gamma=1.0, gain=1.0) -> np.ndarray:
    out = rgb * (gain - lift) + lift
    return np.power(np.clip(out, 0, 1), 1 / gamma)


def _teal_orange(rgb):
    rgb = split_tone(rgb, (0.25, 0.55, 0.6), (0.8, 0.55, 0.3), 0.5)
    rgb = saturate(rgb, 0.2)
    return contrast(rgb, 0.12)


def _black_white(rgb):
    y = luma(rgb)[..., None]
    return contrast(np.repeat(y, 3, axis=-1), 0.1)


def _noir(rgb):
    y = luma(rgb)[..., None]
    return lift_gamma_gain(contrast(np.repeat(y, 3, axis=-1), 0.45), lift=-0.03, gamma=0.9)


def _sepia(rgb):
    y = luma(rgb)[..., None]
    tone = np.array([1.07, 0.74, 0.43], np.float32)
    return contrast(y * tone + 0.04, -0.05)


def _vintage(rgb):
    rgb = saturate(rgb, -0.3)
    rgb = split_tone(rgb, (0.45, 0.5, 0.6), (0.65, 0.58, 0.42), 0.3)
    rgb = lift_gamma_gain(rgb, lift=0.07, gain=0.93)
    return contrast(rgb, -0.12)


def _winter(rgb):
    rgb = temperature(rgb, -0.45)
    rgb = saturate(rgb, -0.25)
    return lift_gamma_gain(rgb, lift=0.03, gamma=1.08)


def _neon_night(rgb):
    rgb = exposure(rgb, -0.6)
    rgb = split_tone(rgb, (0.35, 0.25, 0.75), (0.85, 0.35, 0.8), 0.5)
    rgb = saturate(rgb, 0.6)
    return contrast(rgb, 0.2)


def _bleach_bypass(rgb):
    y = luma(rgb)[..., None]
    rgb = rgb * 0.5 + y * 0.5
    return contrast(rgb, 0.4)


def _pastel(rgb):
    rgb = saturate(rgb, -0.4)
    rgb = lift_gamma_gain(rgb, lift=0.12, gamma=1.1)
    rgb = split_tone(rgb, (0.55, 0.5, 0.55), (0.6, 0.5, 0.55), 0.15)
    return contrast(rgb, -0.2)


def _matrix(rgb):
    rgb = rgb * np.array([0.82, 1.08, 0.8], np.float32)
    rgb = saturate(rgb, -0.2)
    return contrast(rgb, 0.18)


def _day_for_night(rgb):
    rgb = exposure(rgb, -1.6)
    rgb = temperature(rgb, -0.7)
    rgb = saturate(rgb, -0.45)
    return contrast(rgb, 0.1)


def _autumn(rgb):
    rgb = temperature(rgb, 0.3)
    rgb = split_tone(rgb, (0.5, 0.42, 0.35), (0.72, 0.52, 0.3), 0.3)
    # Push greens toward amber, the way fall foliage reads.
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    shift = np.clip(g - np.maximum(r, b), 0, 1)[..., None] * np.array([0.6, -0.2, -0.2], np.float32)
    return contrast(saturate(rgb + shift, 0.1), 0.06)


def _cross_process(rgb):
    r = np.clip(rgb[..., 0], 0, 1)
    g = np.clip(rgb[..., 1], 0, 1)
    b = np.clip(rgb[..., 2], 0, 1)
    # S-curves on red and green, a lifted and flattened blue: the look of slide film in C-41.
    r = r + 0.6 * (r * r * (3 - 2 * r) - r)
    g = g + 0.4 * (g * g * (3 - 2 * g) - g)
    b = 0.15 + b * 0.7
    return saturate(np.stack([r, g, b], axis=-1), 0.15)


def _vivid(rgb):
    rgb = saturate(rgb, 0.55)
    return contrast(rgb, 0.15)


def _moody(rgb):
    rgb = saturate(rgb, -0.35)
    rgb = split_tone(rgb, (0.42, 0.52, 0.52), (0.55, 0.52, 0.47), 0.3)
    rgb = exposure(rgb, -0.35)
    return lift_gamma_gain(contrast(rgb, 0.12), lift=0.02)


def _golden_hour(rgb):
    rgb = temperature(rgb, 0.45)
    rgb = split_tone(rgb, (0.55, 0.45, 0.35), (0.75, 0.55, 0.3), 0.35)
    rgb = saturate(rgb, 0.15)
    return contrast(rgb, 0.08)


def _blue_hour(rgb):
    rgb = exposure(rgb, -0.5)
    rgb = temperature(rgb, -0.5)
    rgb = split_tone(rgb, (0.35, 0.42, 0.65), (0.5, 0.5, 0.58), 0.35)
    return saturate(rgb, -0.1)


def _night(rgb):
    rgb = exposure(rgb, -1.8)
    rgb = temperature(rgb, -0.6)
    rgb = saturate(rgb, -0.5)
    return lift_gamma_gain(contrast(rgb, 0.15), lift=0.01)


def _overcast(rgb):
    rgb = temperature(rgb, -0.12)
    rgb = saturate(rgb, -0.3)
    rgb = contrast(rgb, -0.22)
    return exposure(rgb, -0.2)


# The colour half of a time-of-day relight; light.py adds where the light comes from.
TIME_OF_DAY_FUNCTIONS = {
    "golden_hour": _golden_hour,
    "blue_hour": _blue_hour,
    "night": _night,
    "overcast": _overcast,
}

LOOK_FUNCTIONS = {
    "teal_orange": _teal_orange,
    "black_white": _black_white,
    "noir": _noir,
    "sepia": _sepia,
    "vintage": _vintage,
    "winter": _winter,
    "neon_night": _neon_night,
    "bleach_bypass": _bleach_bypass,
    "pastel": _pastel,
    "matrix": _matrix,
    "day_for_night": _day_for_night,
    "autumn": _autumn,
    "cross_process": _cross_process,
    "vivid": _vivid,
    "moody": _moody,
}


# Colour transfer in a decorrelated opponent space (Reinhard et al.'s lαβ, computed from linear LMS).
_RGB2LMS = np.array(
    [[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]], np.float32
)
_LMS2RGB = np.linalg.inv(_RGB2LMS).astype(np.float32)
_LOG2LAB = (np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]])).astype(np.float32)
_LAB2LOG = np.linalg.inv(_LOG2LAB).astype(np.float32)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    lms = np.clip(rgb, 1e-4, 1) @ _RGB2LMS.T
    return np.log10(np.clip(lms, 1e-4, None)) @ _LOG2LAB.T


def from_lab(lab: np.ndarray) -> np.ndarray:
    lms = np.power(10.0, lab @ _LAB2LOG.T)
    return lms @ _LMS2RGB.T


def lab_stats(rgb_pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean and standard deviation of pixels (N×3 RGB in [0, 1]) in lαβ."""
    lab = to_lab(rgb_pixels.reshape(-1, 3).astype(np.float32))
    return lab.mean(axis=0), lab.std(axis=0) + 1e-4


def transfer(rgb: np.ndarray, source: tuple, target: tuple, strength: float) -> np.ndarray:
    """Move colours from the source statistics to the target's (Reinhard transfer)."""
    src_mean, src_std = source
    dst_mean, dst_std = target
    lab = to_lab(rgb)
    # Limit the stretch so a flat reference cannot blow a clip's contrast apart.
    scale = np.clip(dst_std / src_std, 0.4, 2.5)
    moved = (lab - src_mean) * scale + dst_mean
    out = from_lab(moved)
    return rgb + strength * (out - rgb)


def build_lut(ops: list[dict], *, reference_stats=None, clip_stats=None) -> np.ndarray | None:
    """Compose the colour operations of a plan into a LUT_SIZE³×3 table; None when none apply."""
    grid = np.linspace(0, 1, LUT_SIZE, dtype=np.float32)
    # .cube order: red varies fastest, then green, then blue.
    b, g, r = np.meshgrid(grid, grid, grid, indexing="ij")
    rgb = np.stack([r, g, b], axis=-1).reshape(-1, 3)
    identity = rgb.copy()
    applied = False
    for op in ops:
        name, params = op["name"], op["params"]
        if name == "match_reference" and reference_stats is not None and clip_stats is not None:
            rgb = np.clip(transfer(rgb, clip_stats, reference_stats, params.get("strength", 1.0)), 0, 1)
        elif name == "look":
            graded = LOOK_FUNCTIONS[params["look"]](rgb)
            rgb = np.clip(rgb + params.get("intensity", 1.0) * (graded - rgb), 0, 1)
        elif name == "time_of_day":
            graded = TIME_OF_DAY_FUNCTIONS[params["when"]](rgb)
            rgb = np.clip(rgb + params.get("intensity", 1.0) * (graded - rgb), 0, 1)
        elif name == "exposure":
            rgb = np.clip(exposure(rgb, params["amount"]), 0, 1)
        elif name == "contrast":
            rgb = np.clip(contrast(rgb, params["amount"]), 0, 1)
        elif name == "temperature":
            rgb = np.clip(temperature(rgb, params["amount"]), 0, 1)
        elif name == "saturation":
            rgb = np.clip(saturate(rgb, params["amount"]), 0, 1)
        else:
            continue
        applied = True
    if not applied or np.allclose(rgb, identity, atol=1e-4):
        return None
    return rgb


def write_cube(table: np.ndarray, path: Path) -> None:
    """Write a LUT as an Adobe .cube file."""
    head = f"LUT_3D_SIZE {LUT_SIZE}\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\n"
    # One %-format over all 36k rows: a third of the time of formatting them one by one.
    path.write_text(head + ("%.6f %.6f %.6f\n" * len(table)) % tuple(table.ravel().tolist()))
