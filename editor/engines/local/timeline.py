"""Time operations as a timeline: which source frames the output shows, in what order, and what
happens to the sound.

A traversal lists source frame indices in playing order (forward, reversed, a boomerang, a freeze
held in place). Output frames are positions along the traversal: whole steps when the speed is
unchanged, fractions for slow motion (those frames are interpolated with optical flow), larger
steps when sped up. A next-shot extension appends positions after the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from editor.engines.local.plan import EditPlan


@dataclass
class Timeline:
    traversal: list[int]
    positions: list[float]
    main: int  # output frames before any next-shot extension
    audio: str  # "copy", "tempo" or "drop"
    tempo: float = 1.0
    notes: list[str] = field(default_factory=list)

    @property
    def identity(self) -> bool:
        return self.main == len(self.traversal) and all(p == i for i, p in enumerate(self.positions[: self.main])) and self.traversal == list(range(len(self.traversal)))

    def sources(self, j: int) -> tuple[int, int, float]:
        """Return the two source frames output frame j lies between and how far along it is."""
        position = self.positions[j]
        low = int(math.floor(position))
        high = min(low + 1, len(self.traversal) - 1)
        fraction = position - low
        if fraction < 1e-6 or self.traversal[low] == self.traversal[high]:
            return self.traversal[low], self.traversal[low], 0.0
        return self.traversal[low], self.traversal[high], fraction


def _traversal(plan: EditPlan, count: int, rate: float) -> tuple[list[int], str]:
    order = list(range(count))
    audio = "copy"
    if plan.op("reverse"):
        order = order[::-1]
        audio = "drop:reversed"
    elif plan.op("boomerang"):
        order = order + order[-2::-1]
        audio = "drop:boomerang"
    if op := plan.op("freeze"):
        hold = max(1, int(round(op.params["hold"] * rate)))
        where = op.params["where"]
        if where == "end":
            at = len(order) - 1
        elif where == "start":
            at = 0
        elif where == "at":
            at = min(len(order) - 1, max(0, int(round(op.params["at"] * rate))))
        else:
            at = len(order) // 2
        order = order[: at + 1] + [order[at]] * hold + order[at + 1 :]
        if at < count - 1 and audio == "copy":
            audio = "drop:freeze"
    return order, audio


def build(plan: EditPlan, count: int, rate: float) -> Timeline:
    """Lay out the output frames of a plan for a clip of `count` frames at `rate` frames per second."""
    traversal, audio = _traversal(plan, count, rate)
    last = len(traversal) - 1
    tempo = 1.0
    if op := plan.op("slow_motion"):
        factor = op.params["factor"]
        positions = [j / factor for j in range(int(math.floor(last * factor)) + 1)]
        tempo = 1 / factor
    elif op := plan.op("speed"):
        factor = op.params["factor"]
        positions = [float(round(j * factor)) for j in range(int(math.floor(last / factor)) + 1)]
        tempo = factor
    else:
        positions = [float(j) for j in range(len(traversal))]
    main = len(positions)
    if op := plan.op("extend"):
        extra = max(1, int(round(op.params["seconds"] * rate)))
        if op.params["mode"] == "boomerang":
            back = positions[-2::-1] or positions[-1:]
            bounce = back + positions[1:]
            positions = positions + [bounce[i % len(bounce)] for i in range(extra)]
        else:
            positions = positions + [positions[-1]] * extra
    notes = []
    if audio.startswith("drop"):
        why = {"drop:reversed": "it would play backwards", "drop:boomerang": "it cannot follow a boomerang", "drop:freeze": "a freeze in the middle breaks its sync"}[audio]
        notes.append(f"Source audio dropped: {why}.")
        audio = "drop"
    elif tempo != 1.0:
        audio = "tempo"
        notes.append(f"Source audio retimed to {tempo:.3g}x speed with its pitch kept, so it stays in sync.")
    else:
        notes.append("Source audio kept in sync.")
    if plan.op("extend"):
        notes.append(f"The added {plan.op('extend').params['seconds']:g} s at the end have no sound.")
    return Timeline(traversal=traversal, positions=positions, main=main, audio=audio, tempo=tempo, notes=notes)
