"""Batches seen together: the contact sheet's cells, each labelled with what differs from the others."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from editor.models import UNFINISHED, Batch, Edit, Status
# Services import one another as modules: see services/remote_edits.py.
from editor.services import edits as edit_service
from editor.services import queue

log = logging.getLogger(__name__)


@dataclass
class Cell:
    edit: Edit
    # What sets this edit apart from the others of its batch: "seed 43", "prompt “…”", "aleph2".
    label: str
    # 1-based position on the sheet (keys 1–9 pick the first nine for an A/B compare).
    number: int


def differing(edits: list[Edit]) -> set[str]:
    """Return which settings vary across a batch's edits: "prompt", "seed", "model"."""
    varies = set()
    if len({e.prompt for e in edits}) > 1:
        varies.add("prompt")
    if len({e.seed for e in edits}) > 1:
        varies.add("seed")
    if len({(e.engine, e.model) for e in edits}) > 1:
        varies.add("model")
    return varies


def label(edit: Edit, varies: set[str]) -> str:
    # Short facts first, so a narrow cell still shows them; the prompt last.
    parts = []
    if "model" in varies:
        parts.append(edit.model or "local engine")
    if "seed" in varies:
        parts.append(f"seed {edit.seed}")
    if "prompt" in varies:
        parts.append(f"“{edit.prompt if len(edit.prompt) <= 40 else edit.prompt[:39] + '…'}”")
    return " · ".join(parts) or f"#{edit.pk}"


def sheet(batch: Batch) -> list[Cell]:
    """Return the batch's cells in the order they were asked for, in a constant number of queries."""
    edits = list(batch.edits.select_related("result", "input_clip", "change_map").order_by("pk"))
    varies = differing(edits)
    return [Cell(edit, label(edit, varies), n) for n, edit in enumerate(edits, start=1)]


def cell(edit: Edit) -> Cell:
    """Return one edit's cell (its label computed against the rest of its batch)."""
    siblings = list(Edit.objects.filter(batch_id=edit.batch_id).only("pk", "prompt", "seed", "engine", "model").order_by("pk"))
    number = next((n for n, e in enumerate(siblings, start=1) if e.pk == edit.pk), 1)
    return Cell(edit, label(edit, differing(siblings)), number)


# ---------------------------------------------------------------- queue control


def pause(batch: Batch) -> int:
    """Hold a batch's queued edits (what already runs or was sent goes on); return how many wait."""
    Batch.objects.filter(pk=batch.pk).update(paused=True)
    return batch.edits.filter(status=Status.QUEUED).count()


def resume(batch: Batch) -> int:
    """Let a paused batch's queued edits run again, in their order; return how many were enqueued."""
    with transaction.atomic():
        if not Batch.objects.filter(pk=batch.pk, paused=True).update(paused=False):
            return 0
        waiting = list(batch.edits.filter(status=Status.QUEUED).order_by("pk").values_list("pk", flat=True))
        for pk in waiting:
            queue.run_edit(pk)
    return len(waiting)


def cancel_unfinished(batch: Batch) -> int:
    """Cancel every unfinished edit of a batch (remote ones as their provider allows); return how many."""
    cancelled = 0
    for edit in batch.edits.filter(status__in=UNFINISHED).order_by("pk"):
        if edit.is_cancellable and edit_service.cancel_edit(edit):
            cancelled += 1
    return cancelled


def move_in_queue(edit: Edit, where: str) -> bool:
    """Run a queued edit next ("first") or after everything else waiting ("last")."""
    if edit.status != Status.QUEUED or not edit.task_id:
        return False
    return queue.prioritise(edit.task_id, first=where == "first")

