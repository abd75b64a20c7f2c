"""The local engine: real edits on this machine's CPU with FFmpeg (through PyAV), OpenCV and numpy.

It is an effects engine, not a generative model: it grades, relights, reframes, moves the camera,
retimes, removes a painted region, extends a shot, edits around the people it finds and paints in a
few styles, and says what it did. `preview` renders a plan on one frame, without the queue.
"""

from __future__ import annotations

from collections.abc import Callable

from editor.engines.local import timeline
from editor.engines.local.pipeline import run
from editor.engines.local.plan import CAPABILITIES, EditPlan, Op, make_plan
from editor.engines.local.frame_preview import Preview, preview

__all__ = ["CAPABILITIES", "Preview", "describe", "frame_map", "preview", "run"]


def describe(prompt: str, *, ratio: str, seed: int, has_reference: bool, has_mask: bool = False) -> tuple[str, list[dict]]:
    """Return what the engine understood (summary and plan) without touching video."""
    plan = make_plan(prompt, ratio=ratio, seed=seed, has_reference=has_reference, has_mask=has_mask)
    return plan.summary(), plan.as_list()


def frame_map(plan: list[dict], *, ratio: str, seed: int, count: int, fps: float) -> Callable[[int, float], int] | None:
    """Return which source frame each output frame of a stored plan shows (None: the same frame,
    output frame j is source frame j)."""
    ops = [Op(d["name"], d.get("params") or {}, d.get("label", "")) for d in plan if d.get("name") != "reframe"]
    layout = timeline.build(EditPlan(ops=ops, ratio=ratio, seed=seed), count, fps)
    if layout.identity:
        return None

    def source(j: int, t: float) -> int:
        low, high, fraction = layout.sources(min(j, len(layout.positions) - 1))
        return high if fraction >= 0.5 else low

    return source
