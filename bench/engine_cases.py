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
from editor.engines.local.audio import atempo_chain

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
    frames: int

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


def ease(frames: int) -> str:
    """Return ffmpeg's expression for the engine's ease-in-out over the clip (n = frame number)."""
    t = f"min(1,n/{max(1, frames - 1)})"
    return f"({t}*{t}*(3-2*{t}))"


def vignette_chain(ctx: Context, where: str, angle: str) -> FfmpegSide:
    """ffmpeg has no relight: its vignette filter, centred where the light is, is the nearest tool."""
    chain = f"{centre_crop(ctx)},{to_size(ctx)}:out_color_matrix=bt709:out_range=tv,format=yuv420p"
    return FfmpegSide(f"{chain},vignette=a={angle}:{where}")


def light_chain(ctx: Context) -> FfmpegSide:
    side = ctx.op("light")["params"]["side"]
    where = {"left": "x0=0:y0=h/2", "right": "x0=w:y0=h/2", "top": "x0=w/2:y0=0"}[side]
    return vignette_chain(ctx, where, "PI/4")


def plain_vignette_chain(ctx: Context) -> FfmpegSide:
    return vignette_chain(ctx, "x0=w/2:y0=h/2", "PI/5")


def spotlight_chain(ctx: Context) -> FfmpegSide:
    return vignette_chain(ctx, "x0=w/2:y0=h*0.45", "PI/3")


def time_of_day_chain(ctx: Context) -> FfmpegSide:
    """The time of day's colour as the same LUT, its light as a vignette from the upper left."""
    path = cube(ctx)
    return FfmpegSide(
        f"{centre_crop(ctx)},{to_size(ctx)},format=gbrp,lut3d=file={path}:interp=tetrahedral,"
        f"{to_output(ctx)},vignette=a=PI/4:x0=0:y0=0"
    )


def zoom_chain(ctx: Context) -> FfmpegSide:
    """zoompan with the engine's eased zoom about the centre, one output frame per input frame."""
    op = ctx.op("zoom") or ctx.op("push")
    amount, inward = op["params"]["amount"], op["params"]["direction"] == "in"
    e = ease(ctx.frames).replace("n/", "in/")
    z = f"1+{amount}*{e}" if inward else f"1+{amount}*(1-{e})"
    return FfmpegSide(
        f"{centre_crop(ctx)},zoompan=z='{z}':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1"
        f":s={ctx.out_width}x{ctx.out_height}:fps={ctx.fps:g},{to_output(ctx)}"
    )


def move_chain(ctx: Context) -> FfmpegSide:
    """Pan or tilt: a window zoomed in by the travel, its position eased across the clip, scaled up."""
    pan, tilt = ctx.op("pan"), ctx.op("tilt")
    op = pan or tilt
    amount = op["params"]["amount"]
    e = ease(ctx.frames)
    forward = op["params"]["direction"] in ("right", "down")
    travel = e if forward else f"(1-{e})"
    if pan:
        x, y = f"'(iw-ow)*{travel}'", "(ih-oh)/2"
    else:
        x, y = "(iw-ow)/2", f"'(ih-oh)*{travel}'"
    return FfmpegSide(
        f"{centre_crop(ctx)},crop=w=iw*{1 - amount:.3f}:h=ih*{1 - amount:.3f}:x={x}:y={y},"
        f"{to_size(ctx)}:out_color_matrix=bt709:out_range=tv,format=yuv420p"
    )


def guard(width: float, height: float, degrees: float) -> float:
    """Return the zoom that keeps a window rotated by some degrees inside the picture (as the engine does)."""
    a, b, r = width / 2, height / 2, math.radians(degrees)
    return max((a * math.cos(r) + b * math.sin(r)) / a, (a * math.sin(r) + b * math.cos(r)) / b)


def dutch_chain(ctx: Context) -> FfmpegSide:
    angle = ctx.op("dutch")["params"]["angle"]
    g = guard(ctx.out_width, ctx.out_height, angle)
    return FfmpegSide(
        f"{centre_crop(ctx)},rotate=a={angle}*PI/180:c=black,crop=w=iw/{g:.4f}:h=ih/{g:.4f},"
        f"{to_size(ctx)}:out_color_matrix=bt709:out_range=tv,format=yuv420p"
    )


def shake_chain(ctx: Context) -> FfmpegSide:
    """Seeded-looking handheld shake: sums of sines at handheld frequencies on position and angle."""
    strength = ctx.op("shake")["params"]["strength"]
    degrees = 0.6 * strength
    g = guard(ctx.out_width, ctx.out_height, degrees) * (1 + 2 * 0.012 * strength)
    wobble = "(sin(2*PI*0.4*t+{p})+0.6*sin(2*PI*0.9*t+{q})+0.35*sin(2*PI*1.7*t+{r}))/1.95"
    dx, dy, da = (wobble.format(p=p, q=round(p + 1.3, 2), r=round(p + 2.1, 2)) for p in (0.3, 1.1, 2.4))
    amp = 0.012 * strength
    return FfmpegSide(
        f"{centre_crop(ctx)},rotate=a='{degrees}*PI/180*{da}':c=black,"
        f"crop=w=iw/{g:.4f}:h=ih/{g:.4f}:x='(iw-ow)/2+{amp}*ow*{dx}':y='(ih-oh)/2+{amp}*ow*{dy}',"
        f"{to_size(ctx)}:out_color_matrix=bt709:out_range=tv,format=yuv420p"
    )


def mirror_chain(ctx: Context) -> FfmpegSide:
    flip = "hflip" if ctx.op("mirror")["params"]["axis"] == "horizontal" else "vflip"
    return FfmpegSide(f"{reframe_chain(ctx).filters},{flip}")


def close_up_chain(ctx: Context) -> FfmpegSide:
    zoom = ctx.op("framing")["params"]["zoom"]
    return FfmpegSide(
        f"{centre_crop(ctx)},crop=w=iw/{zoom}:h=ih/{zoom},"
        f"{to_size(ctx)}:out_color_matrix=bt709:out_range=tv,format=yuv420p"
    )


def wide_chain(ctx: Context) -> FfmpegSide:
    """The whole frame fitted over a blurred, darkened fill of itself (the usual ffmpeg recipe)."""
    w, h = ctx.out_width, ctx.out_height
    return FfmpegSide(
        f"split[a][b];[a]{centre_crop(ctx)},scale={max(8, w // 16)}:{max(8, h // 16)}:flags=area,gblur=sigma=2,"
        f"lutyuv=y=16+(val-16)*0.6,scale={w}:{h}[bg];"
        f"[b]scale={w}:{h}:force_original_aspect_ratio=decrease:flags=bicubic[fg];"
        f"[bg][fg]overlay=(W-w)/2:(H-h)/2,scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
    )


def speed_chain(ctx: Context) -> FfmpegSide:
    factor = ctx.op("speed")["params"]["factor"]
    return FfmpegSide(f"{reframe_chain(ctx).filters},setpts=PTS/{factor},fps={ctx.fps:g}", atempo(factor))


def atempo(factor: float) -> tuple[str, ...]:
    """The ffmpeg side retimes its sound with the same atempo steps as the engine."""
    return ("-af", ",".join(f"atempo={s:g}" for s in atempo_chain(factor)), "-c:a", "aac", "-b:a", "160k")


def slow_motion_chain(ctx: Context) -> FfmpegSide:
    """Motion-compensated interpolation (ffmpeg's minterpolate, mci) after stretching time."""
    factor = ctx.op("slow_motion")["params"]["factor"]
    return FfmpegSide(
        f"{reframe_chain(ctx).filters},setpts={factor}*PTS,minterpolate=fps={ctx.fps:g}:mi_mode=mci",
        atempo(1 / factor),
    )


def reverse_chain(ctx: Context) -> FfmpegSide:
    return FfmpegSide(f"{reframe_chain(ctx).filters},reverse", ("-an",))


def boomerang_chain(ctx: Context) -> FfmpegSide:
    return FfmpegSide(f"{reframe_chain(ctx).filters},split[f][b];[b]reverse[r];[f][r]concat=n=2:v=1:a=0", ("-an",))


def freeze_chain(ctx: Context) -> FfmpegSide:
    """Hold the middle frame for the plan's time, with loop."""
    hold = ctx.op("freeze")["params"]["hold"]
    frames = max(1, round(hold * ctx.fps))
    return FfmpegSide(
        f"{reframe_chain(ctx).filters},loop=loop={frames}:size=1:start={ctx.frames // 2},setpts=N/FRAME_RATE/TB",
        ("-an",),
    )


def removal_chain(ctx: Context) -> FfmpegSide:
    """removelogo with the same mask (it needs the mask at the frame's size, which the bench paints)."""
    return FfmpegSide(f"removelogo=f={ctx.mask},{reframe_chain(ctx).filters}")


def extend_chain(ctx: Context) -> FfmpegSide:
    """Hold the last frame for the added seconds; a continued move also creeps in over them (zoompan)."""
    op = ctx.op("extend")["params"]
    pad = f"tpad=stop_mode=clone:stop_duration={op['seconds']:g}"
    if op["mode"] != "move":
        return FfmpegSide(f"{reframe_chain(ctx).filters},{pad}")
    added = max(1, round(op["seconds"] * ctx.fps))
    u = f"min(1,(in-{ctx.frames - 1})/{added})"
    z = f"if(gte(in,{ctx.frames}),1+0.18*{u}*{u}*(3-2*{u}),1)"
    return FfmpegSide(
        f"{centre_crop(ctx)},{pad},zoompan=z='{z}':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1"
        f":s={ctx.out_width}x{ctx.out_height}:fps={ctx.fps:g},{to_output(ctx)}"
    )


def sharpen_chain(ctx: Context) -> FfmpegSide:
    amount = ctx.op("sharpen")["params"]["amount"]
    return FfmpegSide(f"{reframe_chain(ctx).filters},unsharp=5:5:{amount}:5:5:0")


def soften_chain(ctx: Context) -> FfmpegSide:
    amount = ctx.op("soften")["params"]["amount"]
    return FfmpegSide(f"{reframe_chain(ctx).filters},gblur=sigma={amount}")


def zoom_look_grain_chain(ctx: Context) -> FfmpegSide:
    zoom = zoom_chain(ctx).filters
    path = cube(ctx)
    graded = zoom.replace(to_output(ctx), f"format=gbrp,lut3d=file={path}:interp=tetrahedral,{to_output(ctx)}")
    return FfmpegSide(f"{graded},{grain_filter(ctx)}")


def light_look_chain(ctx: Context) -> FfmpegSide:
    side = light_chain(ctx).filters.rsplit(",vignette=", 1)[1]
    path = cube(ctx)
    return FfmpegSide(
        f"{centre_crop(ctx)},{to_size(ctx)},format=gbrp,lut3d=file={path}:interp=tetrahedral,{to_output(ctx)},"
        f"vignette={side},vignette=a=PI/5"
    )


CASES: tuple[Case, ...] = (
    Case(LOOKS, "look: film noir", "film noir", ("look",), lut_chain, long=True),
    Case(LOOKS, "look: teal and orange, slightly", "slightly teal and orange", ("look",), lut_chain),
    Case(RELIGHT, "brighter, more contrast, warmer", "brighter, more contrast and warmer", ("exposure", "contrast", "temperature"), adjust_chain, long=True),
    Case(RELIGHT, "golden hour", "golden hour", ("time_of_day",), time_of_day_chain),
    Case(RELIGHT, "light from the left", "light from the left", ("light",), light_chain),
    Case(RELIGHT, "vignette", "add a vignette", ("vignette",), plain_vignette_chain),
    Case(RELIGHT, "spotlight on the subject", "spotlight on the subject", ("spotlight",), spotlight_chain),
    Case(REFERENCE, "match the reference", "match the reference", ("match_reference",), lut_chain, reference=True, long=True),
    Case(REFRAME, "reframe 960:960 (subject)", "reframe to square", (), reframe_chain, ratio="960:960", long=True),
    Case(REFRAME, "reframe 720:1280 (centre crop)", "centre crop to vertical", (), reframe_chain, ratio="720:1280"),
    Case(REFRAME, "reframe 720:1280 (subject)", "reframe to vertical", (), reframe_chain, ratio="720:1280", long=True),
    Case(CAMERA, "zoom in", "zoom in", ("zoom",), zoom_chain, long=True),
    Case(CAMERA, "push in", "push in", ("push",), zoom_chain),
    Case(CAMERA, "pan right", "pan right", ("pan",), move_chain),
    Case(CAMERA, "tilt up", "tilt up", ("tilt",), move_chain),
    Case(CAMERA, "dutch angle", "dutch angle", ("dutch",), dutch_chain),
    Case(CAMERA, "handheld shake", "handheld camera shake", ("shake",), shake_chain),
    Case(CAMERA, "mirror", "mirror it", ("mirror",), mirror_chain),
    Case(CAMERA, "close-up", "close-up", ("framing",), close_up_chain),
    Case(CAMERA, "wide shot 720:1280", "wide shot", ("framing",), wide_chain, ratio="720:1280"),
    Case(TIME, "speed up 2x", "speed up 2x", ("speed",), speed_chain, long=True),
    Case(TIME, "reverse", "reverse", ("reverse",), reverse_chain),
    Case(TIME, "boomerang", "boomerang", ("boomerang",), boomerang_chain),
    Case(TIME, "freeze frame", "freeze frame", ("freeze",), freeze_chain),
    Case(FLOW, "slow motion 2x (flow)", "slow motion 2x", ("slow_motion",), slow_motion_chain, long=True),
    Case(REMOVAL, "remove the masked region", "remove the logo", ("remove",), removal_chain, mask=True, long=True),
    Case(NEXT_SHOT, "next shot: hold +2 s", "hold the last frame for 2 more seconds", ("extend",), extend_chain),
    Case(NEXT_SHOT, "next shot: camera move +2 s", "continue the shot for 2 seconds with the camera moving", ("extend",), extend_chain),
    Case(GRAIN, "grain", "film grain", ("grain",), grain_chain, long=True),
    Case(FINISH, "sharpen", "sharpen", ("sharpen",), sharpen_chain),
    Case(FINISH, "soften", "soften", ("soften",), soften_chain),
    Case(COMBO, "noir + darker + grain", "film noir, a bit darker, grainy", ("look", "exposure", "grain"), lut_grain_chain),
    Case(COMBO, "teal and orange + grain, 960:960", "teal and orange with film grain, square", ("look", "grain"), lut_grain_chain, ratio="960:960", long=True),
    Case(COMBO, "zoom in + teal and orange + grain", "zoom in, teal and orange, film grain", ("zoom", "look", "grain"), zoom_look_grain_chain),
    Case(COMBO, "light from the left + vignette + sepia", "sepia, light from the left, vignette", ("light", "vignette", "look"), light_look_chain),
)
