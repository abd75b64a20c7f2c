"""The one way into the task queue. Every enqueue waits for the transaction that asked for it to
commit, so a worker never picks up work for a row it cannot see yet (or that was rolled back).

This is the only module that imports editor.tasks; the tasks call the services, which call this.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from editor import tasks
from editor.engines.remote.client import poll_delay


def run_edit(edit_id: int) -> None:
    """Enqueue an edit's run."""
    transaction.on_commit(lambda: tasks.run_edit_task.enqueue(edit_id))


def poll_remote(edit_id: int, polls: int) -> None:
    """Enqueue the next read of an edit's remote task, after a jittered delay (never sooner than 5 s)."""

    def enqueue() -> None:
        run_after = timezone.now() + timedelta(seconds=poll_delay(polls))
        tasks.poll_remote_task.using(run_after=run_after).enqueue(edit_id)

    transaction.on_commit(enqueue)


def cancel_remote(edit_id: int) -> None:
    """Enqueue asking the provider to cancel an edit's remote task."""
    transaction.on_commit(lambda: tasks.cancel_remote_task.enqueue(edit_id))
