"""What the engine benchmark runs: one prompt per operation (and a few combinations), each with the
ffmpeg command-line filter chain a video engineer would write for the same job.

A case runs only when the engine's plan for its prompt contains the operations it names, so cases
for operations the engine does not have yet are listed as such instead of failing the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from editor.engines.local import color

# Families named by issue 4's targets.
LOOKS, RELIGHT, REFERENCE, REFRAME, CAMERA, GRAIN, FINISH, TIME, FLOW, REMOVAL, NEXT_SHOT, COMBO = (
    "looks", "relight", "reference", "reframe", "camera", "grain", "finish", "time", "flow slow motion",
    "removal", "next shot", "combination",
)
# Families whose ratio to ffmpeg must be at most 1.0.
RATIO_FAMILIES = {LOOKS, RELIGHT, REFRAME, CAMERA, GRAIN, COMBO}
# Families exempt from running faster than real time.
SLOW_FAMILIES = {FLOW, REMOVAL}


@dataclass(frozen=True)
class Context:
    """What an ffmpeg chain needs to mirror the engine's plan."""

    width: int
    height: int
    fps: float
    out_width: int
    out_height: int
    plan: list[dict]
    workdir: Path
    input_path: Path
    reference: Path | None
    mask: Path | None
    seed: int

    def op(self, name: str) -> dict | None:
        return next((op for op in self.plan if op["name"] == name), None)


@dataclass(frozen=True)
class FfmpegSide:
    filters: str
    audio: tuple[str, ...] = ("-c:a", "copy")
    note: str = ""


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    prompt: str
    expects: tuple[str, ...]
    ffmpeg: Callable[[Context], FfmpegSide]
    ratio: str = "1280:720"
    reference: bool = False
    mask: bool = False
    # Also run on the 30 s clip (one case per family keeps the whole run under 15 minutes).
    long: bool = False


def centre_crop(ctx: Context) -> str:
    """Return the crop and scale that fill the output ratio from the centre, as the engine frames it."""
    target = ctx.out_width / ctx.out_height
    if ctx.width / ctx.height > target:
        w, h = int(round(ctx.height * target)) // 2 * 2, ctx.height // 2 * 2
    else:
        w, h = ctx.width // 2 * 2, int(round(ctx.width / target)) // 2 * 2
    return f"crop={w}:{h}:{(ctx.width - w) // 2}:{(ctx.height - h) // 2}"


def in_matrix(ctx: Context) -> str:
    return "bt709" if ctx.height >= 720 else "bt601"


def to_size(ctx: Context) -> str:
    return f"scale={ctx.out_width}:{ctx.out_height}:flags=bicubic:in_color_matrix={in_matrix(ctx)}"


def to_output(ctx: Context) -> str:
    return "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"


def cube(ctx: Context, name: str = "grade.cube") -> Path:
    """Write the same 3D LUT the engine builds for this plan's colour operations."""
    reference_stats = clip_stats = None
    if ctx.op("match_reference") is not None:
        reference_stats = _image_stats(ctx.reference)
        clip_stats = _clip_stats(ctx.input_path)
    table = color.build_lut(ctx.plan, reference_stats=reference_stats, clip_stats=clip_stats)
    if table is None:
        raise ValueError("this plan has no colour operation to put in a LUT")
    path = ctx.workdir / name
    color.write_cube(table, path)
    return path


def _image_stats(path: Path):
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((320, 320))
        return color.lab_stats(np.asarray(image, np.float32) / 255.0)


def _clip_stats(path: Path, samples: int = 24):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        step = max(1, (stream.frames or samples) // samples)
        pixels = [
            frame.reformat(width=160, height=max(2, round(160 * frame.height / frame.width)), format="rgb24")
            .to_ndarray()
            .reshape(-1, 3)
            for n, frame in enumerate(container.decode(stream))
            if n % step == 0
        ]
    return color.lab_stats(np.concatenate(pixels).astype(np.float32) / 255.0)


def lut_chain(ctx: Context) -> FfmpegSide:
    """Crop, scale to RGB, apply the plan's LUT with lut3d, back to BT.709 YUV."""
    path = cube(ctx)
    return FfmpegSide(
        f"{centre_crop(ctx)},{to_size(ctx)},format=gbrp,lut3d=file={path}:interp=tetrahedral,{to_output(ctx)}"
    )


def grain_filter(ctx: Context) -> str:
    """Return ffmpeg's seeded temporal luma noise at the plan's grain strength."""
    strength = ctx.op("grain")["params"]["strength"]
    # noise's strength is a uniform amplitude; a Gaussian of σ has the same spread at √3·σ.
    amount = max(1, min(100, round(strength * 255 * math.sqrt(3))))
    return f"noise=c0s={amount}:c0f=t:c0_seed={ctx.seed % 2_147_483_647}"


def grain_chain(ctx: Context) -> FfmpegSide:
    return FfmpegSide(f"{centre_crop(ctx)},{to_size(ctx)},{to_output(ctx)},{grain_filter(ctx)}")


def lut_grain_chain(ctx: Context) -> FfmpegSide:
    path = cube(ctx)
    return FfmpegSide(
        f"{centre_crop(ctx)},{to_size(ctx)},format=gbrp,lut3d=file={path}:interp=tetrahedral,"
        f"{to_output(ctx)},{grain_filter(ctx)}"
    )


def reframe_chain(ctx: Context) -> FfmpegSide:
    return FfmpegSide(f"{centre_crop(ctx)},{to_size(ctx)}:out_color_matrix=bt709:out_range=tv,format=yuv420p")


def adjust_chain(ctx: Context) -> FfmpegSide:
    """Exposure and warmth as RGB gains (colorchannelmixer), contrast and saturation with eq."""
    gains = np.ones(3)
    if (op := ctx.op("exposure")) is not None:
        # The engine's exposure works on gamma-2.2 light: a stop is a gain of 2^(1/2.2) on the signal.
        gains *= 2.0 ** (op["params"]["amount"] / 2.2)
    if (op := ctx.op("temperature")) is not None:
        a = op["params"]["amount"]
        gains *= np.array([1 + 0.35 * a, 1 + 0.05 * a, 1 - 0.4 * a])
    eq = []
    if (op := ctx.op("contrast")) is not None:
        eq.append(f"contrast={1 + op['params']['amount']:.3f}")
    if (op := ctx.op("saturation")) is not None:
        eq.append(f"saturation={1 + op['params']['amount']:.3f}")
    steps = [centre_crop(ctx), to_size(ctx)]
    if not np.allclose(gains, 1.0):
        steps += ["format=gbrp", "colorchannelmixer=rr={:.4f}:gg={:.4f}:bb={:.4f}".format(*gains)]
    steps.append(to_output(ctx))
    if eq:
        steps.append("eq=" + ":".join(eq))
    return FfmpegSide(",".join(steps))


CASES: tuple[Case, ...] = (
    Case(LOOKS, "look: film noir", "film noir", ("look",), lut_chain, long=True),
    Case(LOOKS, "look: golden hour, slightly", "slightly golden hour", ("look",), lut_chain),
    Case(LOOKS, "look: teal and orange", "teal and orange", ("look",), lut_chain),
    Case(RELIGHT, "adjust: brighter, more contrast, warmer", "brighter, more contrast and warmer", ("exposure", "contrast", "temperature"), adjust_chain, long=True),
    Case(REFERENCE, "match the reference", "match the reference", ("match_reference",), lut_chain, reference=True, long=True),
    Case(REFRAME, "reframe to 960:960", "reframe to square", (), reframe_chain, ratio="960:960", long=True),
    Case(REFRAME, "reframe to 720:1280", "reframe vertical", (), reframe_chain, ratio="720:1280"),
    Case(GRAIN, "grain", "film grain", ("grain",), grain_chain, long=True),
    Case(COMBO, "golden hour + grain, 960:960", "golden hour with film grain, square", ("look", "grain"), lut_grain_chain, ratio="960:960", long=True),
    Case(COMBO, "noir + darker + grain", "film noir, a bit darker, grainy", ("look", "exposure", "grain"), lut_grain_chain),
)
