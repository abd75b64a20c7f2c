"""The one way into the task queue. Every enqueue waits for the transaction that asked for it to
commit, so a worker never picks up work for a row it cannot see yet (or that was rolled back), and a
queue that fails then is logged, not raised: the edit is saved and the reaper enqueues it again.

This is the only module that imports editor.tasks; the tasks call the services, which call this.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.exceptions import TaskResultDoesNotExist

from editor import tasks
from editor.engines.remote.client import poll_delay
from editor.models import POLL_GRACE, Edit, Import

log = logging.getLogger(__name__)


def run_edit(edit_id: int) -> None:
    """Enqueue an edit's run, and remember its task so the reaper can tell whether it is still waiting."""

    def enqueue() -> None:
        Edit.objects.enqueued(edit_id, str(tasks.run_edit_task.enqueue(edit_id).id))

    transaction.on_commit(enqueue, robust=True)


def run_import(import_id: int) -> None:
    """Enqueue an import by link."""

    def enqueue() -> None:
        Import.objects.enqueued(import_id, str(tasks.import_clip_task.enqueue(import_id).id))

    transaction.on_commit(enqueue, robust=True)


def is_waiting(task_id: str) -> bool:
    """Tell whether a task is still in the queue, waiting for a worker (a claimed one whose worker
    died would wait forever, so it does not count)."""
    if not task_id:
        return False
    try:
        # Runs and polls share one backend, which finds a result by its id alone.
        return tasks.run_edit_task.get_backend().get_result(task_id).status == TaskResultStatus.READY
    except (TaskResultDoesNotExist, ValueError, ValidationError):
        return False


def poll_remote(edit_id: int, polls: int) -> None:
    """Enqueue the next read of an edit's remote task after a jittered delay (never sooner than 5 s),
    and hold the edit's lease until a little after it is due."""

    def enqueue() -> None:
        run_after = timezone.now() + timedelta(seconds=poll_delay(polls))
        result = tasks.poll_remote_task.using(run_after=run_after).enqueue(edit_id)
        Edit.objects.lease(edit_id, run_after + POLL_GRACE, task_id=str(result.id))

    transaction.on_commit(enqueue, robust=True)


def prioritise(task_id: str, *, first: bool) -> bool:
    """Put a waiting task before (or after) every other waiting task; tell whether it was waiting."""
    from django.db.models import Max, Min
    from django_tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY
    from django_tasks_db.models import DBTaskResult

    ready = DBTaskResult.objects.filter(status=TaskResultStatus.READY)
    if first:
        top = ready.exclude(id=task_id).aggregate(top=Max("priority"))["top"]
        priority = min(TASK_MAX_PRIORITY, (top if top is not None else 0) + 1)
    else:
        bottom = ready.exclude(id=task_id).aggregate(bottom=Min("priority"))["bottom"]
        priority = max(TASK_MIN_PRIORITY, (bottom if bottom is not None else 0) - 1)
    try:
        return ready.filter(id=task_id).update(priority=priority) == 1
    except (ValueError, ValidationError):
        return False


def measure_change(edit_id: int) -> None:
    """Enqueue measuring how a succeeded edit's result differs from its input."""
    transaction.on_commit(lambda: tasks.measure_change_task.enqueue(edit_id), robust=True)


def make_watermarked_copy(version_id: int) -> None:
    """Enqueue burning a share link's watermark into a copy of one of its versions."""
    transaction.on_commit(lambda: tasks.watermark_copy_task.enqueue(version_id), robust=True)


def cancel_remote(edit_id: int) -> None:
    """Enqueue asking the provider to cancel an edit's remote task."""
    transaction.on_commit(lambda: tasks.cancel_remote_task.enqueue(edit_id), robust=True)
