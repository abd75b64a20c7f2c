"""The local engine: real edits on this machine's CPU with FFmpeg (through PyAV), OpenCV and numpy.

It is an effects engine, not a generative model: it grades, relights, reframes, moves the camera,
retimes, removes a painted region and extends a shot, and says what it did.
"""

from __future__ import annotations

from editor.engines.local.pipeline import run
from editor.engines.local.plan import CAPABILITIES, make_plan

__all__ = ["CAPABILITIES", "describe", "run"]


def describe(prompt: str, *, ratio: str, seed: int, has_reference: bool, has_mask: bool = False) -> tuple[str, list[dict]]:
    """Return what the engine understood (summary and plan) without touching video."""
    plan = make_plan(prompt, ratio=ratio, seed=seed, has_reference=has_reference, has_mask=has_mask)
    return plan.summary(), plan.as_list()
