"""Change maps: after an edit succeeds, how its result differs from its input, measured by a task.

The local engine's timeline says which source frame each result frame shows (so retimed edits are
compared on their mapped frames); remote results are compared by time from the part that was sent.
Geometry is found by the change map itself (editor.engines.changemap). Measuring twice is harmless:
a finished map is kept.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from django.db import transaction

from editor.engines import changemap
from editor.engines import local as local_engine
from editor.engines.base import EngineError
from editor.models import ChangeMap, Edit, new_storage_name
# Services import one another as modules: see services/remote_edits.py.
from editor.services import queue
from editor.storage import give_memory_back, local_copy, staged_files

log = logging.getLogger(__name__)


def ensure(edit: Edit) -> ChangeMap:
    """Return a succeeded edit's change map, asking for it to be measured if it never was (edits
    that finished before change maps existed are measured when first looked at)."""
    with transaction.atomic():
        row, created = ChangeMap.objects.get_or_create(edit=edit)
        if created:
            queue.measure_change(edit.pk)
    return row


def measure(edit_id: int) -> ChangeMap | None:
    """Measure a succeeded edit's change map (once); return it, or None for an edit without a result."""
    edit = Edit.objects.filter(pk=edit_id).select_related("input_clip", "result").first()
    if edit is None or not edit.is_succeeded or getattr(edit, "result", None) is None:
        return None
    row, _ = ChangeMap.objects.get_or_create(edit=edit)
    if row.is_done:
        return row
    with tempfile.TemporaryDirectory(prefix="aleph-change-") as tmp:
        heat = Path(tmp) / "heatmap.mp4"
        try:
            with staged_files() as staged:
                with local_copy(edit.input_clip.file) as source, local_copy(edit.result.file) as result:
                    mask = _local_mask(edit, Path(tmp))
                    found = changemap.measure(
                        source,
                        result,
                        heat,
                        source_index=_source_index(edit),
                        trim_start=0.0 if edit.is_local else edit.trim_start,
                        mask_path=mask,
                    )
                name = staged.save(heat, new_storage_name("heatmaps", ".mp4"))
                with transaction.atomic():
                    updated = ChangeMap.objects.filter(pk=row.pk).exclude(state=ChangeMap.State.DONE).update(
                        state=ChangeMap.State.DONE,
                        aligned=found.aligned,
                        reason=found.reason,
                        changed_share=found.changed_share,
                        peak_share=found.peak_share,
                        outside_share=found.outside_share,
                        heatmap=name,
                    )
                    if not updated:
                        raise _AlreadyMeasured()
        except _AlreadyMeasured:
            pass
        except EngineError as exc:
            log.warning("edit %s: change map failed: %s", edit_id, exc.message)
            ChangeMap.objects.filter(pk=row.pk).update(state=ChangeMap.State.FAILED, reason=exc.message)
    give_memory_back()
    row.refresh_from_db()
    return row


class _AlreadyMeasured(Exception):
    """Another run stored the map first; this run's heatmap is removed."""


def _local_mask(edit: Edit, tmp: Path) -> Path | None:
    if not edit.mask:
        return None
    target = tmp / "mask.png"
    with local_copy(edit.mask) as src:
        target.write_bytes(src.read_bytes())
    return target


def _source_index(edit: Edit):
    """Return which input frame each result frame of a local edit shows (None: by time)."""
    if not edit.is_local or not edit.plan:
        return None
    return local_engine.frame_map(
        edit.plan, ratio=edit.ratio, seed=edit.seed, count=edit.input_clip.frame_count, fps=edit.input_clip.fps
    )
