"""Remote edits through the studio's services, against the fake Runway / CometAPI on loopback.

Each test drives the real state machine: create_edit records the edit, the queue runs the task a
worker would run next (polls are checked to be deferred by at least 5 s), and the fake records every
request it received, so "exactly one create" is counted on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import json
import io
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import av
import numpy as np
import pytest
from django.core.cache import cache
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from PIL import Image

from editor import media
from editor.engines.remote.body import build_body
from editor.engines.remote.client import RemoteClient
from editor.engines.remote.failures import describe_failure
from editor.errors import InputError
from editor.models import Clip, Edit, ProviderHealth, Status
from editor.services import edits as edit_service
from editor.services import providers, remote_edits
from editor.services.projects import add_reference, create_project_from_upload
from editor.storage import local_copy
from tests.conftest import upload_of
from tests.fakes import DEFAULT_OUTPUT, Fault, FakeProvider, TaskPlan
from tests.fakes.studio import (
    COMETAPI_TEST_KEY,
    RUNWAY_TEST_KEY,
    HookTransport,
    RefusingTransport,
    TaskQueue,
    closed_port_url,
    use_fake,
)

PROMPT = "turn the meadow into a snowy field at dusk"
ONE_STEP = TaskPlan(steps=())


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def runway(settings):
    cache.clear()
    with FakeProvider("runway", api_key=RUNWAY_TEST_KEY) as fake:
        fake.time = use_fake(settings, fake)
        yield fake


@pytest.fixture
def cometapi(settings):
    with FakeProvider("cometapi", api_key=COMETAPI_TEST_KEY) as fake:
        fake.time = use_fake(settings, fake)
        yield fake


@pytest.fixture
def queue(db):
    return TaskQueue()


@pytest.fixture(scope="session")
def three_second_clip(tmp_path_factory) -> Path:
    from tests.media_factory import make_clip

    return make_clip(tmp_path_factory.mktemp("clips") / "three.mp4", seconds=3.0, size=(320, 240), fps=25, audio=True)


@pytest.fixture
def long_project(owner, three_second_clip):
    return create_project_from_upload(owner, upload_of(three_second_clip), "Meadow")


def original(project) -> Clip:
    return project.clips.get(source_edit__isnull=True)


def ask(project, references=(), **overrides) -> Edit:
    """Ask for a remote edit as the form does; its run is enqueued when the transaction commits."""
    options = {
        "prompt": PROMPT,
        "ratio": "640:480",
        "seed": 1234,
        "public_figure_threshold": "auto",
        "engine": "runway",
        "model": "gen4_aleph",
        "trim_start": 0.0,
        **overrides,
    }
    with TestCase.captureOnCommitCallbacks(execute=True):
        return edit_service.create_edit(project, original(project), edit_service.EditSettings(**options), list(references))


def submit(project, queue, **overrides) -> Edit:
    """Ask for a remote edit and let the worker run it (prepare and create)."""
    edit = ask(project, **overrides)
    queue.run("run_edit_task")
    edit.refresh_from_db()
    return edit


def poll(queue, edit) -> Edit:
    queue.run("poll_remote_task")
    edit.refresh_from_db()
    return edit


def status_html(client, edit) -> str:
    response = client.get(reverse("edit_status", args=[edit.pk]), HTTP_HX_REQUEST="true")
    # 286 is htmx's "stop polling", sent once the edit is finished.
    assert response.status_code == (286 if edit.is_finished else 200)
    return response.content.decode()


def deletes(fake) -> list:
    return fake.received("DELETE", "/v1/tasks/*")


def reap_later(minutes: int = 30) -> None:
    """Run the reaper as it would run long after every worker went silent."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        edit_service.reap_stale_edits(now=timezone.now() + timedelta(minutes=minutes))


def gray_frames(path: Path, size=(320, 240)) -> list[np.ndarray]:
    import cv2

    with av.open(str(path)) as container:
        return [
            cv2.resize(frame.to_ndarray(format="gray"), size).astype(float)
            for frame in container.decode(video=0)
        ]


# ---------------------------------------------------------------- cost and the happy path


def test_cost_is_recorded_from_the_trimmed_window(long_project, project, runway, cometapi):
    trimmed = ask(long_project, trim_start=0.5)  # 2.5 s left of 3 s: three started seconds
    assert (trimmed.cost_credits, trimmed.cost_usd) == (45, Decimal("0.45"))
    whole = ask(project)  # a 1 s clip
    assert (whole.cost_credits, whole.cost_usd) == (15, Decimal("0.15"))
    comet = ask(project, engine="cometapi")
    assert (comet.cost_credits, comet.cost_usd) == (None, Decimal("0.96"))
    for edit in (trimmed, whole, comet):
        edit.refresh_from_db()
        assert edit.status == Status.QUEUED
    assert runway.creates == [] and cometapi.creates == []


def test_a_runway_edit_goes_from_create_to_a_stored_result(long_project, runway, queue, owner_client):
    edit = ask(long_project, trim_start=0.5)
    assert edit.cost_credits == 45
    assert queue.names() == ["run_edit_task"]

    queue.run("run_edit_task")
    edit.refresh_from_db()
    [task_id] = runway.tasks
    assert edit.status == Status.WAITING
    assert edit.remote_task_id == task_id
    assert edit.remote_submitted_at is not None
    assert queue.names() == ["poll_remote_task"]

    seen = []
    while not edit.is_finished:
        html = status_html(owner_client, edit)
        if edit.status == Status.WAITING:
            assert "Waiting in Runway" in html
        if edit.status == Status.RUNNING:
            assert f"{edit.progress} %" in html
        edit = poll(queue, edit)
        seen.append((edit.status, edit.progress))
    # PENDING and THROTTLED are both "waiting in Runway's queue"; RUNNING shows its progress.
    assert seen == [
        (Status.WAITING, 0),
        (Status.WAITING, 0),
        (Status.RUNNING, 25),
        (Status.RUNNING, 75),
        (Status.SUCCEEDED, 100),
    ]
    # No more reads: only the change map, which follows every success.
    assert queue.names() == ["measure_change_task"]

    result = edit.result
    with local_copy(result.file) as path:
        info = media.probe(path)
        # The provider's streams are kept bit for bit; the container adds the edit's recipe.
        assert _packet_digest(path) == _packet_digest(DEFAULT_OUTPUT)
        with av.open(str(path)) as container:
            recipe = json.loads(container.metadata["comment"])
        assert recipe["prompt"] == edit.prompt and recipe["seed"] == str(edit.seed) and recipe["model"] == "gen4_aleph"
        assert recipe["input_sha256"] == edit.input_clip.sha256
    assert (info.width, info.height, info.frame_count, info.video_codec) == (1280, 720, 132, "h264")
    assert info.duration == pytest.approx(5.28, abs=0.05)
    assert (result.width, result.height) == (1280, 720)
    assert result.duration == pytest.approx(info.duration)
    with local_copy(result.poster) as poster:
        assert Image.open(poster).format == "JPEG"
    assert edit.summary == "Runway gen4_aleph · 640:480 · seed 1234"
    assert len(runway.creates) == 1
    assert len(runway.received("GET", "/outputs/*")) == 1
    # Nothing ever deleted the task: DELETE would have destroyed the output.
    assert deletes(runway) == []
    # The provider's link is never shown; the result is served from our storage.
    page = owner_client.get(reverse("project_detail", args=[long_project.pk])).content.decode()
    assert "/outputs/" not in page and runway.host not in page
    assert reverse("clip_media", args=[result.pk, "poster"]) in page


def test_the_create_body_matches_the_contract_field_by_field(long_project, runway, queue, cat_png, tmp_path):
    reference = add_reference(long_project, upload_of(cat_png, content_type="image/png"))
    edit = ask(long_project, [reference], seed=4_000_000_000, public_figure_threshold="low", trim_start=0.5)
    queue.run("run_edit_task")
    [create] = runway.creates
    body = create.json
    assert set(body) == {"model", "promptText", "videoUri", "seed", "references", "ratio", "contentModeration"}
    assert body["model"] == "gen4_aleph"
    assert body["promptText"] == PROMPT
    assert body["seed"] == 4_000_000_000
    assert body["ratio"] == "640:480"
    assert body["contentModeration"] == {"publicFigureThreshold": "low"}
    assert create.headers["authorization"] == f"Bearer {RUNWAY_TEST_KEY}"
    assert create.headers["x-runway-version"] == "2024-11-06"
    assert create.headers["content-type"] == "application/json"

    # The video travels as an H.264 MP4 data URI, cropped to the ratio and trimmed from 0.5 s.
    prefix = "data:video/mp4;base64,"
    assert body["videoUri"].startswith(prefix)
    sent = tmp_path / "sent.mp4"
    sent.write_bytes(base64.b64decode(body["videoUri"][len(prefix) :], validate=True))
    info = media.probe(sent)
    assert (info.width, info.height, info.video_codec) == (640, 480, "h264")
    assert info.duration == pytest.approx(2.5, abs=0.05)
    with local_copy(original(long_project).file) as source:
        source_frames = gray_frames(source)
    first_sent = gray_frames(sent)[0]
    distances = [float(np.abs(first_sent - frame).mean()) for frame in source_frames]
    assert abs(int(np.argmin(distances)) - 12.5) <= 1.5, "the clip was not trimmed from 0.5 s"

    [ref] = body["references"]
    assert ref["type"] == "image"
    image_prefix, _, payload = ref["uri"].partition(";base64,")
    assert image_prefix in ("data:image/png", "data:image/jpeg")
    with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as image, Image.open(cat_png) as cat:
        assert image.size == cat.size
    edit.refresh_from_db()
    assert edit.status == Status.WAITING


def test_an_aleph2_body_carries_keyframes_pinned_in_the_sent_clip(long_project, runway, queue, cat_png, tmp_path):
    first, second = (add_reference(long_project, upload_of(cat_png, content_type="image/png")) for _ in range(2))
    keyframes = ({"reference": first.pk, "seconds": 0.0}, {"reference": second.pk, "seconds": 2.5})
    edit = ask(long_project, [first, second], model="aleph2", keyframes=keyframes, ratio="960:960", options={"framing": "crop"})
    queue.run("run_edit_task")
    edit.refresh_from_db()
    assert edit.status == Status.WAITING, edit.error_message
    [create] = runway.creates
    body = create.json
    # Cropped here to the ratio, so aleph2's deprecated `ratio` is not sent.
    assert set(body) == {"model", "promptText", "videoUri", "seed", "keyframes", "contentModeration", "outputFormat"}
    assert body["model"] == "aleph2"
    assert [k["seconds"] for k in body["keyframes"]] == [0.0, 2.5]
    for keyframe in body["keyframes"]:
        assert keyframe["uri"].startswith(("data:image/png;base64,", "data:image/jpeg;base64,"))
    sent = tmp_path / "sent.mp4"
    sent.write_bytes(base64.b64decode(body["videoUri"].split(",", 1)[1]))
    info = media.probe(sent)
    assert (info.width, info.height) == (960, 960)
    assert info.duration == pytest.approx(3.0, abs=0.05)


def test_an_aleph2_edit_whose_keyframe_image_was_deleted_fails_before_sending(long_project, runway, queue, cat_png):
    first = add_reference(long_project, upload_of(cat_png, content_type="image/png"))
    edit = ask(long_project, [first], model="aleph2", keyframes=({"reference": first.pk, "seconds": 1.0},))
    first.delete()
    queue.run("run_edit_task")
    edit.refresh_from_db()
    assert edit.status == Status.FAILED
    assert "keyframe image of this edit was deleted" in edit.error_message
    assert runway.requests == []


# ---------------------------------------------------------------- exactly one create under every fault


@pytest.mark.parametrize(
    "fault, billed",
    [
        (Fault.drop(process=False), False),  # the connection died before Runway acted on the request
        (Fault.drop(process=True), True),  # ...or after it had made (and billed) the task
        (Fault.slow(2.0, process=True), True),  # the answer came after the read timeout
        (Fault.server_error(502, process=True), True),
        (Fault.server_error(503, process=False), False),
        (Fault.server_error(500, process=True), True),
    ],
    ids=["dropped-before", "dropped-after", "slow-read", "502", "503", "500"],
)
def test_a_create_with_an_unknown_outcome_needs_attention_and_is_never_sent_twice(
    project, runway, queue, settings, owner_client, fault, billed
):
    settings.ALEPH_REMOTE_READ_TIMEOUT = 0.5
    runway.inject("POST", "/v1/video_to_video", fault)
    edit = submit(project, queue)
    assert edit.status == Status.NEEDS_ATTENTION
    assert edit.error_code == "unknown_outcome"
    assert "not known whether the task was created" in edit.error_message
    assert "Submit again" in edit.error_message and "billed" in edit.error_message
    assert edit.remote_task_id == ""
    assert len(runway.creates) == 1
    assert len(runway.tasks) == (1 if billed else 0)
    assert queue.pending() == []
    # Nothing sends it again: not the reaper, not another pass of the queue.
    reap_later()
    queue.run_all()
    edit.refresh_from_db()
    assert edit.status == Status.NEEDS_ATTENTION
    assert len(runway.creates) == 1
    assert runway.time.sleeps == []
    html = status_html(owner_client, edit)
    assert "Submit again (new, billed task)" in html
    assert ProviderHealth.objects.get(provider="runway").consecutive_failures == 1


def test_a_refused_connection_every_time_fails_and_bills_nothing(project, runway, queue, settings):
    settings.RUNWAYML_BASE_URL = closed_port_url()
    edit = submit(project, queue)
    assert edit.status == Status.FAILED
    assert edit.error_code == "connection"
    assert "Nothing was sent, so nothing was billed" in edit.error_message
    assert runway.requests == []
    # Refused connections are safe to repeat, with backoff, a few times.
    assert len(runway.time.sleeps) == 2
    assert queue.pending() == []


def test_a_refused_connection_is_retried_and_makes_one_task(project, runway, queue, settings):
    transport = RefusingTransport("POST", "/v1/video_to_video", times=1)
    settings.ALEPH_REMOTE_TRANSPORT = transport
    try:
        edit = submit(project, queue)
    finally:
        transport.shutdown()
    assert transport.refused == 1
    assert edit.status == Status.WAITING
    assert len(runway.creates) == 1
    assert list(runway.tasks) == [edit.remote_task_id]


def test_a_429_with_retry_after_is_retried_and_makes_one_task(project, runway, queue):
    runway.inject("POST", "/v1/video_to_video", Fault.rate_limited(retry_after=3))
    edit = submit(project, queue)
    assert edit.status == Status.WAITING
    assert runway.time.sleeps == [3.0]
    assert len(runway.creates) == 2  # the first was refused before any task existed
    assert list(runway.tasks) == [edit.remote_task_id]


def test_the_daily_limit_fails_at_once_with_a_plain_message(project, runway, queue):
    runway.inject("POST", "/v1/video_to_video", Fault.daily_limit())
    edit = submit(project, queue)
    assert edit.status == Status.FAILED
    assert "daily task limit" in edit.error_message
    assert "Nothing was created or billed" in edit.error_message
    assert len(runway.creates) == 1 and runway.tasks == {}
    # Not hammered: no wait-and-retry, nothing queued.
    assert runway.time.sleeps == []
    assert queue.pending() == []


def test_status_reads_that_keep_failing_are_tried_again_later_and_never_resend_the_create(project, runway, queue):
    runway.next_plans.append(ONE_STEP)
    edit = submit(project, queue)
    runway.inject(
        "GET",
        "/v1/tasks/*",
        Fault.server_error(502),
        Fault.drop(),
        Fault.rate_limited(retry_after=3),
        Fault.server_error(504),
    )
    edit = poll(queue, edit)
    # Four reads inside the poll, with capped backoff (and Runway's Retry-After), then a later poll.
    assert edit.status == Status.WAITING
    assert runway.time.sleeps == [0.5, 1.0, 3.0]
    assert queue.names() == ["poll_remote_task"]
    edit = poll(queue, edit)
    assert edit.status == Status.SUCCEEDED
    assert len(runway.creates) == 1
    assert len(runway.received("GET", "/v1/tasks/*")) == 5


# ---------------------------------------------------------------- workers that die


def test_a_worker_lost_between_the_create_and_saving_the_id_needs_attention_not_a_second_create(
    project, runway, queue, settings, owner_client
):
    edit = ask(project)
    # A worker claimed the run, sent the create, and died before it could save the task id.
    queue.pending("run_edit_task")[0].claim("dead-worker")
    with RemoteClient(runway.remote_config()) as client:
        client.create_video_to_video(build_body("gen4_aleph", PROMPT, "data:video/mp4;base64,AAAA", ratio="640:480", seed=1)).id
    stale = timezone.now() - timedelta(seconds=settings.ALEPH_STALE_SECONDS + 1)
    Edit.objects.filter(pk=edit.pk).update(
        status=Status.SUBMITTING, run_token="dead", attempts=1, started_at=stale, heartbeat_at=stale, remote_submitted_at=stale
    )

    reap_later()
    reap_later()
    edit.refresh_from_db()
    assert edit.status == Status.NEEDS_ATTENTION
    assert edit.error_code == "unknown_outcome"
    assert "worker stopped while sending" in edit.error_message and "billed" in edit.error_message
    assert queue.pending() == []
    assert len(runway.creates) == 1
    assert "Submit again (new, billed task)" in status_html(owner_client, edit)

    # Only the user sends it again, and then it is one new task.
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert remote_edits.submit_again(edit)
    assert not remote_edits.submit_again(edit)
    queue.run("run_edit_task")
    edit.refresh_from_db()
    assert edit.status == Status.WAITING
    assert len(runway.creates) == 2
    assert edit.remote_task_id == list(runway.tasks)[1]
    assert edit.error_message == ""


def test_a_create_answered_after_the_reaper_gave_up_keeps_the_task_id_for_the_user(project, runway, queue, settings):
    edit = ask(project)
    # The run is so slow that, while its create is on the wire, the reaper decides the worker is dead.
    transport = HookTransport("POST", "/v1/video_to_video", hook=reap_later)
    settings.ALEPH_REMOTE_TRANSPORT = transport
    try:
        queue.run("run_edit_task")
    finally:
        transport.shutdown()
    assert transport.called
    edit.refresh_from_db()
    [task_id] = runway.tasks
    assert edit.status == Status.NEEDS_ATTENTION
    assert edit.remote_task_id == task_id
    assert f"did create task {task_id}" in edit.error_message and "billed" in edit.error_message
    assert queue.pending() == []
    assert len(runway.creates) == 1
    # "Check again" follows the task that exists: its result is stored, and nothing new is sent.
    settings.ALEPH_REMOTE_TRANSPORT = None
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert remote_edits.check_again(edit)
    edit = poll(queue, edit)
    while not edit.is_finished:
        edit = poll(queue, edit)
    assert edit.status == Status.SUCCEEDED
    assert edit.result.file
    assert len(runway.creates) == 1


def test_a_key_refused_while_polling_keeps_the_task_and_check_again_reads_it(project, runway, queue, owner_client):
    runway.next_plans.append(ONE_STEP)
    edit = submit(project, queue)
    runway.inject("GET", "/v1/tasks/*", Fault.respond(401, {"error": "Unauthorized"}))
    edit = poll(queue, edit)
    assert edit.status == Status.NEEDS_ATTENTION
    assert edit.remote_task_id in edit.error_message and "Check again" in edit.error_message
    assert queue.pending() == []
    page = status_html(owner_client, edit)
    assert "Check again" in page and "Submit again" not in page
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = owner_client.post(reverse("edit_check_again", args=[edit.pk]))
    assert response.status_code == 302
    assert queue.names() == ["poll_remote_task"]
    edit = poll(queue, edit)
    assert edit.status == Status.SUCCEEDED
    assert len(runway.creates) == 1
    # Only an edit that needs attention and has a task can be checked again.
    assert not remote_edits.check_again(edit)


def test_a_worker_killed_while_polling_is_resumed_by_the_reaper_with_one_create(project, runway, queue, settings):
    edit = submit(project, queue)
    edit = poll(queue, edit)
    assert edit.status == Status.WAITING
    # The worker took the next poll and died in it: the task row stays claimed, and nothing follows the edit.
    queue.pending("poll_remote_task")[0].claim("dead-worker")
    assert queue.pending() == []
    reap_later()
    assert queue.names() == ["poll_remote_task"]
    # A second reaper pass does not start a second chain of polls.
    reap_later(minutes=1)
    assert queue.names() == ["poll_remote_task"]
    while not edit.is_finished:
        edit = poll(queue, edit)
    assert edit.status == Status.SUCCEEDED
    assert len(runway.creates) == 1
    assert Clip.objects.filter(source_edit=edit).count() == 1
    assert deletes(runway) == []


def test_the_reaper_leaves_an_edit_with_live_polls_alone(project, runway, queue, settings):
    edit = submit(project, queue)
    # Stale by the plain limit, but polls may be up to 30 s apart: the chain is still alive.
    just_stale = timezone.now() - timedelta(seconds=settings.ALEPH_STALE_SECONDS + 5)
    Edit.objects.filter(pk=edit.pk).update(heartbeat_at=just_stale)
    with TestCase.captureOnCommitCallbacks(execute=True):
        edit_service.reap_stale_edits()
    assert queue.names() == ["poll_remote_task"]


def test_a_run_that_dies_while_preparing_is_prepared_again_then_given_up(project, runway, queue, settings):
    edit = ask(project)
    stale = timezone.now() - timedelta(seconds=settings.ALEPH_STALE_SECONDS + 1)
    for attempt in (1, 2):
        queue.pending("run_edit_task")[0].claim("dead-worker")
        Edit.objects.filter(pk=edit.pk).update(status=Status.PREPARING, run_token="dead", attempts=attempt, heartbeat_at=stale)
        reap_later()
        edit.refresh_from_db()
        assert edit.status == Status.QUEUED
        assert queue.names() == ["run_edit_task"]
    queue.pending("run_edit_task")[0].claim("dead-worker")
    Edit.objects.filter(pk=edit.pk).update(status=Status.PREPARING, run_token="dead", attempts=3, heartbeat_at=stale)
    reap_later()
    edit.refresh_from_db()
    assert edit.status == Status.FAILED
    assert "nothing was billed" in edit.error_message
    assert runway.creates == []


# ---------------------------------------------------------------- outputs


def test_an_expired_output_link_is_read_again_and_the_result_stored(project, runway, queue):
    runway.next_plans.append(ONE_STEP)
    runway.expired_links = 1
    edit = submit(project, queue)
    edit = poll(queue, edit)
    assert edit.status == Status.SUCCEEDED
    downloads = runway.received("GET", "/outputs/*")
    assert len(downloads) == 2 and downloads[0].query != downloads[1].query
    assert len(runway.received("GET", "/v1/tasks/*")) == 2
    with local_copy(edit.result.file) as path:
        assert media.probe(path).frame_count == 132
    assert deletes(runway) == []


def test_a_failed_download_keeps_the_task_and_tries_again_later(project, runway, queue):
    runway.next_plans.append(ONE_STEP)
    runway.inject("GET", "/outputs/*", Fault.server_error(503))
    edit = submit(project, queue)
    edit = poll(queue, edit)
    assert edit.status == Status.WAITING
    assert Clip.objects.filter(source_edit=edit).count() == 0
    edit = poll(queue, edit)
    assert edit.status == Status.SUCCEEDED
    assert len(runway.creates) == 1
    assert deletes(runway) == []


def test_an_output_on_a_host_not_allowed_is_not_downloaded(project, runway, queue, settings):
    runway.next_plans.append(ONE_STEP)
    settings.ALEPH_OUTPUT_HOSTS = ["cdn.example.com"]
    edit = submit(project, queue)
    edit = poll(queue, edit)
    assert edit.status == Status.FAILED
    assert "ALEPH_OUTPUT_HOSTS" in edit.error_message
    assert runway.received("GET", "/outputs/*") == []


# ---------------------------------------------------------------- failures in plain language


@pytest.mark.parametrize("code", ["SAFETY.INPUT.TEXT", "SAFETY.OUTPUT.VIDEO", "INPUT_PREPROCESSING.SAFETY.TEXT"])
def test_moderation_fails_with_the_suspension_warning_and_is_never_retried(project, runway, queue, owner_client, code):
    runway.next_plans.append(TaskPlan(steps=(), outcome="FAILED", failure_code=code, failure="Moderated (internal detail)"))
    edit = submit(project, queue)
    edit = poll(queue, edit)
    assert edit.status == Status.FAILED
    assert edit.error_code == code
    assert "moderation" in edit.error_message
    assert "repeated moderation hits can get the account suspended" in edit.error_message
    assert "internal detail" not in edit.error_message
    if code == "SAFETY.INPUT.TEXT":
        assert "the prompt" in edit.error_message
    assert not describe_failure(edit.error_code).retryable
    assert edit.moderated
    with pytest.raises(InputError, match="moderation"):
        edit_service.rerun_edit(edit, new_seed=True)
    assert queue.pending() == []
    assert len(runway.creates) == 1
    # A moderation hit is the user's input, not the provider failing.
    assert not ProviderHealth.objects.filter(provider="runway", consecutive_failures__gt=0).exists()
    assert "account suspended" in status_html(owner_client, edit)


@pytest.mark.parametrize("code", ["INTERNAL", "INTERNAL.BAD_OUTPUT.CODE01", "THIRD_PARTY.UNAVAILABLE", None])
def test_internal_failures_fail_and_offer_a_billed_try_again(project, runway, queue, owner_client, code):
    runway.next_plans.append(TaskPlan(steps=(), outcome="FAILED", failure_code=code))
    edit = submit(project, queue)
    edit = poll(queue, edit)
    assert edit.status == Status.FAILED
    assert edit.error_code == (code or "failed")
    assert "Trying again creates a new task, billed again." in edit.error_message
    assert not edit.moderated
    assert describe_failure(code).retryable
    # Offered, never automatic.
    assert queue.pending() == []
    assert len(runway.creates) == 1
    assert ProviderHealth.objects.get(provider="runway").consecutive_failures == 1
    page = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "Try again (new, billed task)" in page


def test_an_unknown_failure_code_is_kept_and_shown(project, runway, queue, owner_client):
    runway.next_plans.append(TaskPlan(steps=(), outcome="FAILED", failure_code="QUOTA.NEW_THING", failure="New reason"))
    edit = submit(project, queue)
    edit = poll(queue, edit)
    assert edit.status == Status.FAILED
    assert edit.error_code == "QUOTA.NEW_THING"
    assert "does not recognise (code QUOTA.NEW_THING)" in edit.error_message
    assert "(code QUOTA.NEW_THING)" in status_html(owner_client, edit)
    assert queue.pending() == []


def test_a_task_cancelled_on_the_provider_side_ends_cancelled(project, runway, queue):
    runway.next_plans.append(TaskPlan(steps=(), outcome="CANCELLED"))
    edit = poll(queue, submit(project, queue))
    assert edit.status == Status.CANCELLED
    assert "cancelled on Runway's side" in edit.error_message
    assert queue.pending() == []


# ---------------------------------------------------------------- circuit breaker


def test_five_provider_failures_in_a_row_pause_new_edits_until_a_success(project, runway, queue, owner_client):
    survivor = submit(project, queue)
    assert survivor.status == Status.WAITING
    for n in range(1, providers.BREAKER_THRESHOLD + 1):
        providers.check_can_submit("runway")
        runway.inject("POST", "/v1/video_to_video", Fault.server_error(502))
        assert submit(project, queue).status == Status.NEEDS_ATTENTION
        assert ProviderHealth.objects.get(provider="runway").consecutive_failures == n

    with pytest.raises(InputError, match=r"Runway failed 5 times in a row, so new edits are paused until \d\d:\d\d UTC"):
        providers.check_can_submit("runway")
    edits_before = Edit.objects.count()
    with pytest.raises(InputError):
        ask(project)
    assert Edit.objects.count() == edits_before
    estimate = owner_client.get(
        reverse("edit_estimate", args=[project.pk]),
        {"engine": "runway", "model": "gen4_aleph", "input_clip": original(project).pk, "trim_start": "0"},
    ).content.decode()
    assert "paused after repeated provider failures" in estimate

    # The edit sent before the pause keeps going; its success closes the breaker.
    while not survivor.is_finished:
        survivor = poll(queue, survivor)
    assert survivor.status == Status.SUCCEEDED
    providers.check_can_submit("runway")
    assert ProviderHealth.objects.get(provider="runway").consecutive_failures == 0
    assert len(runway.creates) == 1 + providers.BREAKER_THRESHOLD


def test_after_the_cool_down_one_more_failure_pauses_again(project, runway, queue):
    ProviderHealth.objects.create(
        provider="runway", consecutive_failures=providers.BREAKER_THRESHOLD, paused_until=timezone.now() - timedelta(seconds=1)
    )
    providers.check_can_submit("runway")
    runway.inject("POST", "/v1/video_to_video", Fault.server_error(502))
    submit(project, queue)
    with pytest.raises(InputError, match="paused"):
        providers.check_can_submit("runway")


# ---------------------------------------------------------------- credit balance


def test_the_credit_balance_is_read_once_a_minute_and_an_outage_does_not_hold_up_pages(project, runway):
    runway.inject("GET", "/v1/organization", Fault.server_error(503))
    assert providers.credit_balance("runway") is None
    assert providers.credit_balance("runway") is None
    # One read, no retries or backoff while a page waits, and the failure is remembered.
    assert len(runway.received("GET", "/v1/organization")) == 1
    assert runway.time.sleeps == []
    cache.clear()
    assert providers.credit_balance("runway") == runway.credit_balance
    assert providers.credit_balance("runway") == runway.credit_balance
    assert len(runway.received("GET", "/v1/organization")) == 2
    assert providers.credit_balance("cometapi") is None


# ---------------------------------------------------------------- cancel


def cancel(edit) -> bool:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return edit_service.cancel_edit(edit)


def test_cancelling_a_running_runway_task_sends_delete(project, runway, queue):
    runway.next_plans.append(TaskPlan(steps=(("PENDING", None),) + (("RUNNING", 0.5),) * 6))
    edit = submit(project, queue)
    for _ in range(2):
        edit = poll(queue, edit)
    assert edit.status == Status.RUNNING
    assert cancel(edit)
    edit.refresh_from_db()
    assert edit.status == Status.CANCELLED
    assert sorted(queue.names()) == ["cancel_remote_task", "poll_remote_task"]
    queue.run_all()
    [delete] = deletes(runway)
    assert delete.route == f"/v1/tasks/{edit.remote_task_id}"
    assert runway.task_for(edit.remote_task_id).cancelled
    assert runway.received("GET", "/outputs/*") == []
    assert Edit.objects.get(pk=edit.pk).status == Status.CANCELLED


def test_cancel_reads_the_task_id_from_the_row_not_the_callers_copy(project, runway, queue):
    edit = ask(project)
    copy_from_the_page = Edit.objects.get(pk=edit.pk)
    queue.run("run_edit_task")
    assert copy_from_the_page.remote_task_id == ""
    assert cancel(copy_from_the_page)
    queue.run("cancel_remote_task")
    assert len(deletes(runway)) == 1


def test_a_succeeded_task_is_never_deleted(project, runway, queue):
    runway.next_plans.extend([ONE_STEP, ONE_STEP])
    done = poll(queue, submit(project, queue))
    assert done.status == Status.SUCCEEDED
    assert not cancel(done)
    # No cancel was enqueued (only the change map that follows every success).
    assert queue.names() == ["measure_change_task"]

    # The task finished on Runway's side just before the user pressed cancel.
    racing = submit(project, queue)
    assert racing.status == Status.WAITING
    assert cancel(racing)
    queue.run_all()
    assert deletes(runway) == []
    assert len(runway.received("GET", f"/v1/tasks/{racing.remote_task_id}")) == 1


def test_cancelling_before_the_create_sends_nothing(project, runway, queue):
    edit = ask(project)
    assert cancel(edit)
    queue.run_all()
    assert runway.requests == []
    assert Edit.objects.get(pk=edit.pk).status == Status.CANCELLED


def test_cancelling_on_cometapi_stops_polling_and_says_it_may_still_be_billed(project, cometapi, queue):
    edit = submit(project, queue, engine="cometapi")
    assert edit.status == Status.WAITING
    assert cancel(edit)
    edit.refresh_from_db()
    assert edit.status == Status.CANCELLED
    assert "may still complete and be billed" in edit.error_message
    assert edit.remote_task_id and edit.remote_task_id in edit.error_message
    assert queue.names() == ["poll_remote_task"]
    queue.run_all()
    assert [r.method for r in cometapi.requests] == ["POST"]


# ---------------------------------------------------------------- CometAPI


@pytest.mark.parametrize("shape", ["envelope", "bare"])
def test_a_cometapi_edit_survives_task_not_exist_and_reads_both_shapes(project, cometapi, queue, shape):
    cometapi.comet_shape = shape
    cometapi.task_not_exist_polls = 2
    edit = submit(project, queue, engine="cometapi")
    assert edit.status == Status.WAITING
    [create] = cometapi.creates
    assert create.path == "/runwayml/v1/video_to_video"
    assert create.headers["x-runway-version"] == "2024-11-06"
    assert create.headers["authorization"] == f"Bearer {COMETAPI_TEST_KEY}"
    seen = []
    while not edit.is_finished:
        edit = poll(queue, edit)
        seen.append((edit.status, edit.progress))
    assert seen == [
        (Status.WAITING, 0),
        (Status.WAITING, 0),
        (Status.RUNNING, 25),
        (Status.RUNNING, 75),
        (Status.SUCCEEDED, 100),
    ]
    # The task was unknown for two reads right after the create; the poll waited inside the grace period.
    assert cometapi.time.sleeps == [3.0, 3.0]
    assert len(cometapi.creates) == 1
    with local_copy(edit.result.file) as path:
        assert media.probe(path).frame_count == 132
    assert cometapi.received("DELETE", "/v1/tasks/*") == []


# ---------------------------------------------------------------- the key


def _texts_of(obj) -> list[str]:
    return [str(getattr(obj, field.attname)) for field in type(obj)._meta.concrete_fields]


def test_the_key_never_reaches_a_field_a_page_or_a_log(long_project, runway, queue, owner_client, caplog, cat_png, settings):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "editor", "django_tasks", "django_tasks_db"):
        caplog.set_level(logging.DEBUG, logger=name)
    reference = add_reference(long_project, upload_of(cat_png, content_type="image/png"))
    edit = ask(long_project, [reference])
    queue.run("run_edit_task")
    pages = [owner_client.get(reverse("project_detail", args=[long_project.pk])).content.decode()]
    edit.refresh_from_db()
    while not edit.is_finished:
        edit = poll(queue, edit)
        pages.append(status_html(owner_client, edit))
    assert edit.status == Status.SUCCEEDED
    pages.append(owner_client.get(reverse("project_detail", args=[long_project.pk])).content.decode())
    pages.append(owner_client.get(reverse("compare", args=[edit.pk])).content.decode())
    pages.append(
        owner_client.get(
            reverse("edit_estimate", args=[long_project.pk]),
            {"engine": "runway", "model": "gen4_aleph", "input_clip": original(long_project).pk, "trim_start": "0"},
        ).content.decode()
    )
    # A provider that echoes a bad key back in its error must not get it onto the page either.
    wrong_key = "key_" + "ef" * 64
    settings.RUNWAYML_API_SECRET = wrong_key
    refused = submit(long_project, queue)
    assert refused.status == Status.FAILED and "did not accept the API key" in refused.error_message
    pages.append(owner_client.get(reverse("project_detail", args=[long_project.pk])).content.decode())

    records = [r.getMessage() for r in caplog.records] + [caplog.text]
    rows = [*Edit.objects.all(), *Clip.objects.all(), *ProviderHealth.objects.all(), *DBTaskResult.objects.all()]
    fields = [text for row in rows for text in _texts_of(row)]
    assert len(runway.creates) == 2
    for key in (RUNWAY_TEST_KEY, wrong_key):
        for text in [*records, *pages, *fields]:
            assert key not in text
            assert key[4:] not in text
    assert any("submitted to runway" in r for r in records)


def _packet_digest(path) -> dict[str, str]:
    """Hash each stream's packets, in order (interleaving may change when a file is remuxed)."""
    digests: dict[str, hashlib._Hash] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size:
                digests.setdefault(packet.stream.type, hashlib.sha256()).update(bytes(packet))
    return {kind: digest.hexdigest() for kind, digest in digests.items()}


# ---------------------------------------------------------------- every edit ends


def _pending_polls(queue, edit) -> int:
    return len([r for r in queue.pending("poll_remote_task") if r.args_kwargs["args"] == [edit.pk]])


def test_a_poll_slower_than_the_stale_limit_never_gets_a_second_chain(project, runway, queue, settings):
    edit = submit(project, queue)
    assert _pending_polls(queue, edit) == 1

    def reaper_runs_meanwhile():
        # The poll is on the wire for longer than the stale limit and its margin: the reaper comes by.
        with TestCase.captureOnCommitCallbacks(execute=True):
            later = timezone.now() + timedelta(seconds=settings.ALEPH_STALE_SECONDS + 90)
            edit_service.reap_stale_edits(now=later)

    transport = HookTransport("GET", "/v1/tasks/" + edit.remote_task_id, reaper_runs_meanwhile)
    settings.ALEPH_REMOTE_TRANSPORT = transport
    try:
        poll(queue, edit)
    finally:
        transport.shutdown()
    assert transport.called
    # The running poll held the lease: the reaper started nothing, and the poll scheduled the one next read.
    assert _pending_polls(queue, edit) == 1


def test_a_lost_poll_chain_is_started_once_when_its_lease_has_run_out(project, runway, queue):
    edit = submit(project, queue)
    # The scheduled poll vanished from the queue (a wiped queue, a crash while it was being enqueued).
    queue.pending("poll_remote_task")[0].delete()
    reap_later(minutes=1)
    reap_later(minutes=2)
    assert _pending_polls(queue, edit) == 1
    while not edit.is_finished:
        edit = poll(queue, edit)
    assert edit.status == Status.SUCCEEDED and len(runway.creates) == 1


def _age_trouble(edit, settings) -> None:
    Edit.objects.filter(pk=edit.pk).update(
        trouble_since=timezone.now() - timedelta(seconds=settings.ALEPH_REMOTE_GIVE_UP_SECONDS + 1)
    )


def test_a_task_that_cannot_be_read_for_hours_ends_in_needs_attention(project, runway, queue, settings, owner_client):
    edit = submit(project, queue)
    runway.inject("GET", "/v1/tasks/*", *[Fault.server_error(503) for _ in range(8)])
    edit = poll(queue, edit)
    # One failed poll: still waiting, the streak recorded, the next read scheduled.
    assert edit.status == Status.WAITING and edit.trouble_since is not None
    assert _pending_polls(queue, edit) == 1
    _age_trouble(edit, settings)
    edit = poll(queue, edit)
    assert edit.status == Status.NEEDS_ATTENTION and edit.error_code == "gave_up"
    assert "For 6 hours Runway has not answered a status read" in edit.error_message
    assert queue.pending() == []
    assert "Check again (reads the same task)" in status_html(owner_client, edit)
    # "Check again" reads the same task: no second create, and the edit finishes.
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert remote_edits.check_again(edit)
    edit.refresh_from_db()
    assert edit.trouble_since is None
    while not edit.is_finished:
        edit = poll(queue, edit)
    assert edit.status == Status.SUCCEEDED and len(runway.creates) == 1


def test_a_read_that_works_again_ends_the_streak(project, runway, queue, settings):
    edit = submit(project, queue)
    runway.inject("GET", "/v1/tasks/*", *[Fault.server_error(503) for _ in range(4)])
    edit = poll(queue, edit)
    assert edit.trouble_since is not None
    edit = poll(queue, edit)
    assert edit.trouble_since is None and edit.status in (Status.WAITING, Status.RUNNING, Status.SUCCEEDED)


def test_a_result_whose_link_always_expires_ends_in_needs_attention(project, runway, queue, settings):
    runway.next_plans.append(ONE_STEP)
    edit = submit(project, queue)
    runway.expired_links = 1000
    edit = poll(queue, edit)
    assert edit.status == Status.WAITING and edit.trouble_since is not None
    _age_trouble(edit, settings)
    edit = poll(queue, edit)
    assert edit.status == Status.NEEDS_ATTENTION
    assert "the result of this task could not be downloaded from Runway" in edit.error_message
    assert Clip.objects.filter(source_edit=edit).count() == 0
    assert deletes(runway) == []
