"""Task-queue entry points: a primary key in, one service call. Only services/queue.py enqueues them."""

from django_tasks import task

from editor.services import changes, edits, projects, remote_edits, sharing


@task()
def run_edit_task(edit_id: int) -> None:
    edits.run_edit(edit_id)


@task()
def poll_remote_task(edit_id: int) -> None:
    remote_edits.poll_remote_edit(edit_id)


@task()
def cancel_remote_task(edit_id: int) -> None:
    remote_edits.send_remote_cancel(edit_id)


@task()
def import_clip_task(import_id: int) -> None:
    projects.run_import(import_id)


@task()
def measure_change_task(edit_id: int) -> None:
    changes.measure(edit_id)


@task()
def watermark_copy_task(version_id: int) -> None:
    sharing.make_watermarked_copy(version_id)
