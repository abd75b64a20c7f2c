"""Remote edits run by real `manage.py studio_worker` processes against the fake Runway on loopback.

The worker submits, then follows the task with deferred poll tasks (run_after 5 s or more), so these
tests wait real seconds; each plan is kept to one or two polls.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from editor import media
from editor.models import Clip, Edit, Status
from editor.services import edits as edit_service
from editor.services import remote_edits
from editor.storage import local_copy
from tests.conftest import start_worker
from tests.fakes import Fault, FakeProvider, TaskPlan
from tests.fakes.studio import RUNWAY_TEST_KEY, use_fake, worker_settings_env

pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = "make it look like a winter morning"


@pytest.fixture
def runway(settings):
    with FakeProvider("runway", api_key=RUNWAY_TEST_KEY) as fake:
        use_fake(settings, fake)
        yield fake


def ask(project) -> Edit:
    return edit_service.create_edit(
        project,
        project.clips.get(source_edit__isnull=True),
        edit_service.EditSettings(prompt=PROMPT, ratio="640:480", seed=7, engine="runway", model="gen4_aleph"),
    )


def wait_for(predicate, timeout: float, what: str, worker: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if worker is not None and worker.poll() is not None:
            raise AssertionError(f"the worker exited while waiting for {what}:\n{worker.communicate()[0]}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def status_of(edit: Edit) -> str:
    return Edit.objects.values_list("status", flat=True).get(pk=edit.pk)


def stop(worker: subprocess.Popen) -> str:
    """Stop a worker the way a deployment does (SIGTERM) and return what it printed."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        output, _ = worker.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        output, _ = worker.communicate()
    return output


def kill(worker: subprocess.Popen) -> str:
    worker.send_signal(signal.SIGKILL)
    output, _ = worker.communicate(timeout=10)
    return output


def polls() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path__endswith="poll_remote_task").order_by("enqueued_at"))


def test_a_worker_submits_polls_with_deferred_tasks_and_stores_the_result(project, runway, private_media):
    runway.next_plans.append(TaskPlan(steps=(("RUNNING", 0.5),)))
    edit = ask(project)
    worker = start_worker(private_media, worker_id="remote", extra_env=worker_settings_env(runway))
    try:
        wait_for(lambda: status_of(edit) == Status.RUNNING, 60, "the first poll", worker)
        assert Edit.objects.get(pk=edit.pk).progress == 50
        wait_for(lambda: status_of(edit) in (Status.SUCCEEDED, Status.FAILED), 60, "the result", worker)
    finally:
        output = stop(worker)
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED, (edit.error_message, output)
    assert len(runway.creates) == 1
    assert list(runway.tasks) == [edit.remote_task_id]
    # Two status reads, each a task of its own deferred by at least 5 s: nobody slept in a worker.
    assert len(runway.received("GET", "/v1/tasks/*")) == 2
    scheduled = polls()
    assert len(scheduled) == 2
    assert all(row.status == "SUCCESSFUL" for row in scheduled)
    assert all(row.run_after - row.enqueued_at >= timedelta(seconds=5) for row in scheduled)
    with local_copy(edit.result.file) as path:
        info = media.probe(path)
    assert (info.width, info.height, info.frame_count) == (1280, 720, 132)
    assert runway.received("DELETE", "/v1/tasks/*") == []
    assert RUNWAY_TEST_KEY not in output and RUNWAY_TEST_KEY[4:] not in output
    assert f"submitted to runway as task {edit.remote_task_id}" in output


def test_a_worker_killed_while_polling_is_replaced_and_the_edit_ends_with_one_create(project, runway, private_media):
    runway.next_plans.append(TaskPlan(steps=(("PENDING", None),)))
    # The first status read hangs: the worker is inside a poll when it is killed.
    runway.inject("GET", "/v1/tasks/*", Fault.slow(60.0, process=True))
    edit = ask(project)
    doomed = start_worker(private_media, worker_id="doomed", extra_env=worker_settings_env(runway))
    try:
        wait_for(lambda: runway.received("GET", "/v1/tasks/*"), 60, "the first poll", doomed)
    finally:
        kill(doomed)
    assert status_of(edit) == Status.WAITING
    [lost] = polls()
    assert (lost.status, lost.worker_ids) == ("RUNNING", ["doomed"])

    # Later the reaper finds the silent edit and schedules a fresh read; it never creates again.
    edit_service.reap_stale_edits(now=timezone.now() + timedelta(minutes=30))
    rescue = start_worker(private_media, worker_id="rescue", extra_env=worker_settings_env(runway))
    try:
        wait_for(lambda: status_of(edit) in (Status.SUCCEEDED, Status.FAILED), 60, "the rescued result", rescue)
    finally:
        output = stop(rescue)
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED, (edit.error_message, output)
    assert len(runway.creates) == 1
    assert len(runway.received("GET", "/v1/tasks/*")) == 2
    assert Clip.objects.filter(source_edit=edit).count() == 1
    resumed = polls()[1]
    assert resumed.worker_ids == ["rescue"] and resumed.status == "SUCCESSFUL"


def test_a_worker_killed_during_the_create_leaves_the_edit_needing_attention_not_resent(project, runway, private_media):
    # Runway makes the task, but its answer never arrives before the worker dies.
    runway.inject("POST", "/v1/video_to_video", Fault.slow(60.0, process=True))
    edit = ask(project)
    doomed = start_worker(private_media, worker_id="doomed", extra_env=worker_settings_env(runway))
    try:
        wait_for(lambda: runway.tasks, 60, "the create", doomed)
    finally:
        kill(doomed)
    edit.refresh_from_db()
    assert edit.status == Status.SUBMITTING
    assert edit.remote_submitted_at is not None and edit.remote_task_id == ""

    edit_service.reap_stale_edits(now=timezone.now() + timedelta(minutes=30))
    edit.refresh_from_db()
    assert edit.status == Status.NEEDS_ATTENTION
    assert "worker stopped while sending" in edit.error_message
    # Another worker has nothing to do: nobody resends the create on the user's behalf.
    idle = start_worker(private_media, "--batch", worker_id="idle", extra_env=worker_settings_env(runway))
    output = idle.communicate(timeout=60)[0]
    assert idle.returncode == 0, output
    assert len(runway.creates) == 1
    assert status_of(edit) == Status.NEEDS_ATTENTION

    # "Submit again" is the user's explicit choice: one new task.
    assert remote_edits.submit_again(edit)
    again = start_worker(private_media, "--batch", worker_id="again", extra_env=worker_settings_env(runway))
    output = again.communicate(timeout=60)[0]
    assert again.returncode == 0, output
    edit.refresh_from_db()
    assert edit.status == Status.WAITING, (edit.error_message, output)
    assert len(runway.creates) == 2
    assert edit.remote_task_id == list(runway.tasks)[1]
