"""The life of an edit: the state graph, submitting, polling, cancelling, workers and the reaper."""

import re
import signal
import time
from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from editor import media
from editor.models import CANCELLABLE, TRANSITIONS, Clip, Edit, Status, time_limit
from editor.services import edits as edit_service
from editor.storage import local_copy
from tests.conftest import start_worker, stored_files


def _form(project, **overrides):
    data = {
        "prompt": "black and white",
        "input_clip": project.clips.get(source_edit__isnull=True).pk,
        "ratio": "960:960",
        "seed": "42",
        "public_figure_threshold": "auto",
        "engine": "local",
    }
    data.update(overrides)
    return data


def _new_edit(project, prompt="black and white", ratio="960:960", seed=42):
    return edit_service.create_edit(
        project,
        project.clips.get(source_edit__isnull=True),
        edit_service.EditSettings(prompt=prompt, ratio=ratio, seed=seed),
    )


def _wait_for(predicate, timeout=60.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


# The state graph


def test_finished_states_have_no_way_out():
    for status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED):
        assert TRANSITIONS[status] == set()


def test_every_status_is_in_the_graph():
    assert set(TRANSITIONS) == set(Status.values)
    for targets in TRANSITIONS.values():
        assert targets <= set(Status.values)


def test_move_refuses_an_edge_not_in_the_graph(project):
    edit = _new_edit(project)
    with pytest.raises(ValueError):
        Edit.objects.move(edit.pk, Status.SUCCEEDED, Status.RUNNING)


def test_move_is_compare_and_set(project):
    edit = _new_edit(project)
    assert Edit.objects.move(edit.pk, Status.QUEUED, Status.CANCELLED)
    # The second attempt finds the edit no longer queued and changes nothing.
    assert not Edit.objects.move(edit.pk, Status.QUEUED, Status.RUNNING)
    edit.refresh_from_db()
    assert edit.status == Status.CANCELLED
    assert edit.finished_at is not None


def test_cancellable_states_are_exactly_those_with_an_edge_to_cancelled():
    assert CANCELLABLE == {Status.QUEUED, Status.PREPARING, Status.WAITING, Status.RUNNING}
    # Once a create is on the wire, nobody may cancel it: its answer decides.
    assert Status.CANCELLED not in TRANSITIONS[Status.SUBMITTING]
    assert Status.CANCELLED not in TRANSITIONS[Status.NEEDS_ATTENTION]


def test_a_claim_counts_the_attempt_in_the_database(project):
    edit = _new_edit(project)
    Edit.objects.filter(pk=edit.pk).update(attempts=2)
    stale_copy = Edit.objects.get(pk=edit.pk)
    Edit.objects.filter(pk=edit.pk).update(attempts=5)
    # A claim made from an old copy of the row still counts from what the database holds.
    token = Edit.objects.claim(stale_copy.pk, Status.RUNNING)
    assert token
    assert Edit.objects.get(pk=edit.pk).attempts == 6
    assert Edit.objects.claim(edit.pk, Status.RUNNING) is None


# Submitting


def test_submitting_creates_a_queued_edit_and_enqueues_it_on_commit(owner_client, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project))
    assert response.status_code == 302
    edit = Edit.objects.get()
    assert edit.status == Status.QUEUED
    assert edit.seed == 42
    assert edit.summary  # what the engine understood, shown on the card
    assert len(callbacks) == 1
    task = DBTaskResult.objects.get()
    assert task.args_kwargs["args"] == [edit.pk]


def test_empty_seed_gets_a_random_recorded_seed(owner_client, project):
    owner_client.post(reverse("edit_create", args=[project.pk]), _form(project, seed=""))
    seed = Edit.objects.get().seed
    assert 0 <= seed <= 4_294_967_295


@pytest.mark.parametrize(
    "field, value",
    [("prompt", ""), ("prompt", "x" * 1001), ("seed", "-1"), ("seed", "4294967296"), ("ratio", "1:1"), ("engine", "runway")],
)
def test_bad_form_values_are_refused_and_change_nothing(owner_client, project, field, value):
    response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project, **{field: value}))
    assert response.status_code == 400
    assert Edit.objects.count() == 0
    assert DBTaskResult.objects.count() == 0


def test_a_prompt_the_engine_cannot_act_on_is_refused_with_what_it_can_do(owner_client, project):
    response = owner_client.post(
        reverse("edit_create", args=[project.pk]), _form(project, prompt="qwzx plorb frabjous")
    )
    assert response.status_code == 400
    assert Edit.objects.count() == 0
    page = response.content.decode()
    assert "The local engine cannot do that; the closest things it can do are:" in page
    # Three suggestions, each a button that fills the prompt with something the engine does.
    suggestions = re.findall(r'data-fill-prompt="([^"]+)"', page)
    assert len(suggestions) == 3
    from editor.engines.local.plan import make_plan

    for suggestion in suggestions:
        assert make_plan(suggestion, ratio="960:960", seed=1, has_reference=False).ops


def test_input_must_belong_to_the_project(owner_client, project, owner, small_clip):
    from editor.services.projects import create_project_from_upload
    from tests.conftest import upload_of

    other = create_project_from_upload(owner, upload_of(small_clip), "Other")
    response = owner_client.post(
        reverse("edit_create", args=[project.pk]), _form(project, input_clip=other.clips.get().pk)
    )
    assert response.status_code == 400
    assert Edit.objects.count() == 0


# Polling


def test_status_partial_polls_while_unfinished(owner_client, project):
    edit = _new_edit(project)
    response = owner_client.get(reverse("edit_status", args=[edit.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'hx-trigger="every 2s"' in response.content.decode()


def test_status_partial_stops_polling_when_edit_finished(owner_client, project):
    edit = _new_edit(project)
    Edit.objects.fail(edit.pk, Status.QUEUED, "broken", "It broke.")
    response = owner_client.get(reverse("edit_status", args=[edit.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    body = response.content.decode()
    # No polling trigger on the finished render (its one-time card fetch is tested below).
    assert 'hx-trigger="every' not in body
    assert "It broke." in body


def test_a_finished_poll_brings_the_whole_card_and_the_done_event_in_one_response(owner_client, project):
    import json

    edit = _new_edit(project)
    edit_service.run_edit(edit.pk)
    response = owner_client.get(reverse("edit_status", args=[edit.pk]), HTTP_HX_REQUEST="true")
    card = response.content.decode()
    assert "Re-run" in card and "Create link" in card and "hx-trigger" not in card
    # The card replaces itself (not just the status inside it), and nothing is fetched afterwards.
    assert response["HX-Retarget"] == f"#edit-{edit.pk}" and response["HX-Reswap"] == "outerHTML"
    assert card.lstrip().startswith(f'<li class="card edit-card" id="edit-{edit.pk}"')
    assert "hx-get" not in card
    event = json.loads(response["HX-Trigger"])["edit-finished"]
    assert event == {"id": edit.pk, "status": "succeeded", "prompt": "black and white"}


def test_an_unfinished_poll_sends_no_done_event(owner_client, project):
    edit = _new_edit(project)
    response = owner_client.get(reverse("edit_status", args=[edit.pk]), HTTP_HX_REQUEST="true")
    assert "HX-Trigger" not in response and "HX-Retarget" not in response


def test_a_poll_costs_at_most_three_queries(owner_client, project, django_assert_max_num_queries):
    edit = _new_edit(project)
    url = reverse("edit_status", args=[edit.pk])
    with django_assert_max_num_queries(3):
        owner_client.get(url, HTTP_HX_REQUEST="true")


def test_status_without_htmx_redirects_to_the_project_page(owner_client, project):
    edit = _new_edit(project)
    response = owner_client.get(reverse("edit_status", args=[edit.pk]))
    assert response.status_code == 302
    assert response["Location"].endswith(f"#edit-{edit.pk}")


def test_every_hx_get_has_a_plain_fallback(owner_client, project):
    _new_edit(project)
    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    # Polling is an enhancement: each polled status is rendered in full on the page itself, and its
    # URL answers a plain GET with this page. The only others are the cost line of the form and the
    # links to older versions (whose href is a page of their own).
    assert body.count("hx-get=") == (
        body.count('class="edit-status') + body.count('hx-target="#edit-estimate"') + body.count('class="more-versions"')
    )
    for form in body.split("<form")[1:]:
        assert 'action="' in form.split(">")[0] or 'method="get"' in form.split(">")[0]


# Running in-process


def test_run_edit_produces_a_result_that_matches_the_request(project):
    edit = _new_edit(project, prompt="black and white", ratio="960:960")
    edit_service.run_edit(edit.pk)
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED, edit.error_message
    assert edit.progress == 100
    result = edit.result
    assert (result.width, result.height) == (960, 960)
    original = edit.input_clip
    assert abs(result.duration - original.duration) <= 1 / original.fps + 1e-6
    assert edit.attempts == 1


def test_running_an_edit_twice_runs_it_once(project):
    edit = _new_edit(project)
    edit_service.run_edit(edit.pk)
    edit_service.run_edit(edit.pk)
    assert Clip.objects.filter(source_edit=edit).count() == 1
    assert Edit.objects.get(pk=edit.pk).attempts == 1


def test_cancel_a_queued_edit(owner_client, project):
    edit = _new_edit(project)
    response = owner_client.post(reverse("edit_cancel", args=[edit.pk]))
    assert response.status_code == 302
    edit.refresh_from_db()
    assert edit.status == Status.CANCELLED
    edit_service.run_edit(edit.pk)
    edit.refresh_from_db()
    assert edit.status == Status.CANCELLED
    assert not Clip.objects.filter(source_edit=edit).exists()


def test_cancel_while_running_stops_the_engine_and_keeps_nothing(project, private_media, monkeypatch):
    edit = _new_edit(project)
    files_before = stored_files(private_media / "media")
    real_writer = edit_service._progress_writer

    def cancelling_writer(edit_id, token):
        report = real_writer(edit_id, token)

        def wrapped(fraction):
            if fraction > 0.2:
                edit_service.cancel_edit(Edit.objects.get(pk=edit_id))
            report(1.0 if fraction > 0.2 else fraction)

        return wrapped

    monkeypatch.setattr(edit_service, "_progress_writer", cancelling_writer)
    edit_service.run_edit(edit.pk)
    edit.refresh_from_db()
    assert edit.status == Status.CANCELLED
    assert not Clip.objects.filter(source_edit=edit).exists()
    assert stored_files(private_media / "media") == files_before


def test_htmx_cancel_returns_the_finished_status(owner_client, project):
    edit = _new_edit(project)
    response = owner_client.post(reverse("edit_cancel", args=[edit.pk]), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Cancelled" in body and "hx-trigger" not in body


def test_an_edit_can_use_a_finished_result_as_input(project):
    first = _new_edit(project, prompt="warmer", ratio="1280:720")
    edit_service.run_edit(first.pk)
    first.refresh_from_db()
    second = edit_service.create_edit(
        project, first.result, edit_service.EditSettings(prompt="black and white", ratio="640:480", seed=7)
    )
    edit_service.run_edit(second.pk)
    second.refresh_from_db()
    assert second.status == Status.SUCCEEDED
    assert (second.result.width, second.result.height) == (640, 480)


# The reaper


def test_reaper_requeues_a_stale_run_and_the_rerun_makes_one_result(project, django_capture_on_commit_callbacks, settings):
    edit = _new_edit(project)
    stale = timezone.now() - timedelta(seconds=settings.ALEPH_STALE_SECONDS + 5)
    Edit.objects.filter(pk=edit.pk).update(status=Status.RUNNING, run_token="dead", heartbeat_at=stale, attempts=1)
    DBTaskResult.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert edit_service.reap_stale_edits() == [edit.pk]
    edit.refresh_from_db()
    assert edit.status == Status.QUEUED
    assert DBTaskResult.objects.count() == 1
    edit_service.run_edit(edit.pk)
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED
    assert edit.attempts == 2
    assert Clip.objects.filter(source_edit=edit).count() == 1


def test_reaper_leaves_live_runs_alone(project):
    edit = _new_edit(project)
    Edit.objects.filter(pk=edit.pk).update(status=Status.RUNNING, run_token="alive", heartbeat_at=timezone.now())
    assert edit_service.reap_stale_edits() == []
    assert Edit.objects.get(pk=edit.pk).status == Status.RUNNING


def test_reaper_gives_up_after_repeated_worker_deaths(project, settings):
    edit = _new_edit(project)
    stale = timezone.now() - timedelta(seconds=settings.ALEPH_STALE_SECONDS + 5)
    Edit.objects.filter(pk=edit.pk).update(
        status=Status.RUNNING, run_token="dead", heartbeat_at=stale, attempts=time_limit(Status.RUNNING, remote=False).max_attempts
    )
    assert edit_service.reap_stale_edits() == []
    edit.refresh_from_db()
    assert edit.status == Status.FAILED
    assert "stopped" in edit.error_message


def test_a_stale_run_that_wakes_up_cannot_write_a_second_result(project):
    edit = _new_edit(project)
    token = "first-run"
    Edit.objects.filter(pk=edit.pk).update(status=Status.RUNNING, run_token=token, heartbeat_at=timezone.now())
    report = edit_service._progress_writer(edit.pk, token)
    # The reaper gives the edit to another run...
    Edit.objects.filter(pk=edit.pk).update(run_token="second-run")
    # ...and the first run's next progress write tells it to stop.
    from editor.engines.base import EditCancelled

    with pytest.raises(EditCancelled):
        report(1.0)


# Real worker processes


def _frames_differ(a_path, b_path) -> bool:
    import av

    with av.open(str(a_path)) as a, av.open(str(b_path)) as b:
        fa = next(a.decode(video=0)).to_ndarray(format="gray").astype(float)
        fb = next(b.decode(video=0)).to_ndarray(format="gray").astype(float)
    import cv2

    fb = cv2.resize(fb, (fa.shape[1], fa.shape[0]))
    return float(np.abs(fa - fb).mean()) > 1.0


@pytest.mark.django_db(transaction=True)
def test_worker_path_end_to_end(client, owner, bunny, private_media):
    """Upload → edit → worker process → an output of the chosen ratio, the input's duration, and changed frames."""
    client.force_login(owner)
    with open(bunny, "rb") as fh:
        client.post(reverse("project_new"), {"file": fh})
    project = owner.projects.get()
    client.post(reverse("edit_create", args=[project.pk]), _form(project, prompt="golden hour", ratio="720:1280"))
    edit = Edit.objects.get()
    worker = start_worker(private_media, "--batch")
    output, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0, output
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED, (edit.error_message, output)
    result = edit.result
    with local_copy(result.file) as path:
        info = media.probe(path)
        original = project.clips.get(source_edit__isnull=True)
        with local_copy(original.file) as source:
            assert _frames_differ(source, path)
    assert (info.width, info.height) == (720, 1280)
    assert info.video_codec == "h264"
    assert abs(info.duration - original.duration) <= 1 / original.fps + 1e-6
    assert info.has_audio


@pytest.mark.django_db(transaction=True)
def test_two_workers_run_ten_edits_each_once(owner, small_clip, private_media):
    from editor.services.projects import create_project_from_upload
    from tests.conftest import upload_of

    project = create_project_from_upload(owner, upload_of(small_clip), "Race")
    edits = [_new_edit(project, prompt=p, ratio="640:480", seed=n) for n, p in enumerate(["warmer", "cooler"] * 5)]
    workers = [start_worker(private_media, "--batch", worker_id=f"w{n}") for n in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    for edit in edits:
        edit.refresh_from_db()
        assert edit.status == Status.SUCCEEDED, edit.error_message
        assert edit.attempts == 1
        assert Clip.objects.filter(source_edit=edit).count() == 1
    # Each task was claimed by exactly one worker.
    runs = DBTaskResult.objects.filter(task_path__endswith="run_edit_task")
    claims = list(runs.values_list("worker_ids", flat=True))
    assert len(claims) == 10 and all(len(ids) == 1 for ids in claims)
    assert runs.filter(status="SUCCESSFUL").count() == 10


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_edit_leaves_nothing_stuck(owner, bunny, private_media, settings):
    from editor.services.projects import create_project_from_upload
    from tests.conftest import upload_of

    project = create_project_from_upload(owner, upload_of(bunny), "Kill")
    edit = _new_edit(project, prompt="golden hour with film grain", ratio="1280:720")
    worker = start_worker(private_media, worker_id="doomed")
    try:
        assert _wait_for(lambda: Edit.objects.get(pk=edit.pk).progress > 0, timeout=120), "the edit never started"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    edit.refresh_from_db()
    assert edit.status == Status.RUNNING
    # Later, the reaper finds the silent run and re-queues it; a new worker finishes it once.
    settings.ALEPH_STALE_SECONDS = 5
    later = timezone.now() + timedelta(seconds=10)
    from django.db import transaction

    with transaction.atomic():
        requeued = edit_service.reap_stale_edits(now=later)
    assert requeued == [edit.pk]
    # The dead run's scratch folder went with it.
    import tempfile
    from pathlib import Path

    assert not list(Path(tempfile.gettempdir()).glob(f"aleph-edit-{edit.pk}-*"))
    rescue = start_worker(private_media, "--batch", worker_id="rescue")
    output, _ = rescue.communicate(timeout=300)
    assert rescue.returncode == 0, output
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED, (edit.error_message, output)
    assert edit.attempts == 2
    assert Clip.objects.filter(source_edit=edit).count() == 1


# Painted masks


def _mask_png(width=320, height=240, painted=True) -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("L", (width, height), 0)
    if painted:
        ImageDraw.Draw(image).rectangle((100, 60, 180, 140), fill=255)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _mask_file(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("mask.png", data, content_type="image/png")


def test_a_painted_mask_is_stored_with_the_edit_and_copied_on_rerun(owner_client, project, private_media):
    response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project, mask=_mask_file(_mask_png())))
    assert response.status_code == 302
    edit = Edit.objects.get()
    assert edit.mask.startswith("masks/") and (private_media / "media" / edit.mask).exists()
    rerun = edit_service.rerun_edit(edit, new_seed=False)
    assert rerun.mask and rerun.mask != edit.mask
    assert (private_media / "media" / rerun.mask).read_bytes() == (private_media / "media" / edit.mask).read_bytes()


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (32, 32), 255).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "value, message",
    [
        (_jpeg(), "not a PNG"),
        (b"@@@", "could not be read"),
    ],
)
def test_bad_masks_are_refused_and_change_nothing(owner_client, project, private_media, value, message):
    before = stored_files(private_media / "media")
    response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project, mask=_mask_file(value)))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Edit.objects.count() == 0
    assert stored_files(private_media / "media") == before


def test_an_empty_mask_is_refused(project, private_media):
    before = stored_files(private_media / "media")
    with pytest.raises(edit_service.InputError, match="empty"):
        edit_service.create_edit(
            project,
            project.clips.get(),
            edit_service.EditSettings(prompt="black and white", ratio="960:960", seed=1),
            mask_png=_mask_png(painted=False),
        )
    assert Edit.objects.count() == 0
    assert stored_files(private_media / "media") == before


def test_a_result_carries_its_recipe_in_its_metadata(project):
    import json

    import av

    edit = _new_edit(project, prompt="cooler", ratio="848:480", seed=31337)
    edit_service.run_edit(edit.pk)
    edit.refresh_from_db()
    with local_copy(edit.result.file) as path, av.open(str(path)) as container:
        recipe = json.loads(container.metadata["comment"])
    assert recipe == {
        "prompt": "cooler",
        "seed": "31337",
        "engine": "local",
        "model": "",
        "ratio": "848:480",
        "public_figure_threshold": "auto",
        "exact": "false",
        "input_sha256": edit.input_clip.sha256,
    }


def _x264_threads(storage_name) -> str:
    with local_copy(storage_name) as path:
        data = path.read_bytes()
    at = data.index(b"x264 - core")
    return data[at : data.index(b"\x00", at)].decode("ascii", "replace").split(" threads=", 1)[1].split()[0]


def test_the_exact_choice_is_kept_run_recorded_and_copied(owner_client, project, django_capture_on_commit_callbacks):
    import json

    import av

    page = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert 'name="exact"' in page and "data-local-only" in page
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("edit_create", args=[project.pk]), _form(project, prompt="cooler", exact="on"))
        owner_client.post(reverse("edit_create", args=[project.pk]), _form(project, prompt="cooler"))
    exact, fast = Edit.objects.order_by("pk")
    assert exact.exact and not fast.exact
    for edit in (exact, fast):
        edit_service.run_edit(edit.pk)
        edit.refresh_from_db()
        assert edit.status == Status.SUCCEEDED
    with local_copy(exact.result.file) as path, av.open(str(path)) as container:
        assert json.loads(container.metadata["comment"])["exact"] == "true"
    # The exact result was encoded on one thread, the default one on x264's own threads.
    assert _x264_threads(exact.result.file) == "1" and int(_x264_threads(fast.result.file)) > 1
    assert "exact</span>" in owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    # Copy settings ticks the box again; a rerun keeps the choice.
    form = owner_client.get(f"{reverse('project_detail', args=[project.pk])}?{exact.settings_query()}").context["form"]
    assert form.initial["exact"] is True
    form = owner_client.get(f"{reverse('project_detail', args=[project.pk])}?{fast.settings_query()}").context["form"]
    assert form.initial["exact"] is False
    assert edit_service.rerun_edit(exact, new_seed=False).exact


def test_a_pasted_recipe_carries_the_exact_choice(owner_client, project):
    import json

    recipe = json.dumps({"prompt": "golden hour", "seed": "9", "exact": "true"})
    form = owner_client.get(reverse("project_detail", args=[project.pk]), {"recipe": recipe}).context["form"]
    assert form.initial["exact"] is True and form.initial["prompt"] == "golden hour"


# Queued edits whose task was lost


def test_a_queue_that_fails_after_the_commit_costs_the_user_nothing(owner_client, project, monkeypatch, django_capture_on_commit_callbacks, settings):
    from django_tasks_db.backend import DatabaseBackend

    def broken_enqueue(*args, **kwargs):
        raise ConnectionError("the queue is down")

    monkeypatch.setattr(DatabaseBackend, "enqueue", broken_enqueue)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project))
    # The edit is saved and the user sent on; the reaper enqueues it once the stale limit has passed.
    assert response.status_code == 302
    edit = Edit.objects.get()
    assert edit.status == Status.QUEUED and edit.task_id == ""
    assert DBTaskResult.objects.count() == 0
    monkeypatch.undo()
    later = timezone.now() + timedelta(seconds=settings.ALEPH_STALE_SECONDS + 1)
    for now, requeued in ((None, []), (later, [edit.pk]), (later + timedelta(seconds=1), [])):
        # (A second pass finds its task waiting in the queue and leaves it alone.)
        with django_capture_on_commit_callbacks(execute=True):
            assert edit_service.reap_stale_edits(now=now) == requeued
    assert DBTaskResult.objects.count() == 1
    edit_service.run_edit(edit.pk)
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED


def test_a_queued_edit_waiting_for_a_busy_worker_is_not_enqueued_twice(project, django_capture_on_commit_callbacks, settings):
    with django_capture_on_commit_callbacks(execute=True):
        edit = _new_edit(project)
    assert Edit.objects.get(pk=edit.pk).task_id
    later = timezone.now() + timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        assert edit_service.reap_stale_edits(now=later) == []
    assert DBTaskResult.objects.count() == 1


def test_a_duplicate_run_of_a_queued_edit_runs_it_once(project):
    edit = _new_edit(project)
    edit_service.run_edit(edit.pk)
    edit_service.run_edit(edit.pk)
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED and edit.attempts == 1
    assert Clip.objects.filter(source_edit=edit).count() == 1


# A worker that is told to stop


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("grace, ends", [("1", Status.QUEUED), ("120", Status.SUCCEEDED)])
def test_a_stopping_worker_finishes_or_hands_back_its_edit_never_leaving_it_running(owner, bunny, private_media, grace, ends):
    import tempfile
    from pathlib import Path

    from editor.services.projects import create_project_from_upload
    from tests.conftest import upload_of

    project = create_project_from_upload(owner, upload_of(bunny), "Stop")
    edit = _new_edit(project, prompt="golden hour with film grain", ratio="1280:720")
    worker = start_worker(private_media, worker_id="stopping", extra_env={"ALEPH_SHUTDOWN_GRACE_SECONDS": grace})
    try:
        assert _wait_for(lambda: Edit.objects.get(pk=edit.pk).progress > 0, timeout=120), "the edit never started"
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=180)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, output
    edit.refresh_from_db()
    assert edit.status == ends, (edit.status, edit.error_message, output)
    if ends == Status.QUEUED:
        # Given back cleanly: no progress, no run token, its scratch folder gone, its run enqueued again.
        assert (edit.progress, edit.run_token, edit.attempts) == (0, "", 0)
        assert not list(Path(tempfile.gettempdir()).glob(f"aleph-edit-{edit.pk}-*"))
        assert DBTaskResult.objects.filter(status="READY").count() == 1
        assert "went back to the queue" in output
        rescue = start_worker(private_media, "--batch", worker_id="rescue")
        rescue_output, _ = rescue.communicate(timeout=300)
        edit.refresh_from_db()
        assert edit.status == Status.SUCCEEDED, rescue_output
    assert Clip.objects.filter(source_edit=edit).count() == 1


def test_the_queue_claims_its_tasks_with_skip_locked_on_postgresql(db):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (the PostgreSQL pass of make test): SQLite's writers take turns instead")
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        DBTaskResult.objects.ready().get_locked()
    assert any("FOR UPDATE SKIP LOCKED" in q["sql"] for q in queries), [q["sql"] for q in queries]
