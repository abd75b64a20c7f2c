"""RemoteClient end to end against the fake provider running as a real HTTP server on loopback."""

from __future__ import annotations

import logging
import socket
import time

import av
import pytest

from editor.engines.remote.body import build_body
from editor.engines.remote.client import RemoteClient
from editor.engines.remote.errors import RemoteError
from editor.engines.remote.failures import describe_failure
from editor.engines.remote.parse import TaskStatus
from tests.fakes import DEFAULT_OUTPUT, FAILURE_CODES, Fault, TaskPlan

PROMPT = "turn the meadow into a snowy field"
VIDEO = "https://media.example/in.mp4"
IMAGE = "data:image/png;base64,iVBORw0KGgo="


def client_for(fake, *, sleeps: list[float] | None = None, **config) -> RemoteClient:
    record = sleeps.append if sleeps is not None else (lambda seconds: None)
    return RemoteClient(fake.remote_config(**config), sleep=record, jitter=lambda: 0.0)


def body(**overrides):
    options = {"ratio": "1280:720", "seed": 42, "reference_uris": [IMAGE], "public_figure_threshold": "auto", **overrides}
    return build_body("gen4_aleph", PROMPT, VIDEO, **options)


def poll_until_done(client: RemoteClient, task_id: str, limit: int = 20):
    seen = []
    for _ in range(limit):
        task = client.get_task(task_id)
        seen.append((task.status, task.progress))
        if task.is_terminal:
            return task, seen
    raise AssertionError(f"task never finished: {seen}")


def probe(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.width, stream.codec_context.height, frames


def test_an_edit_runs_from_create_to_a_stored_output(fake_runway, tmp_path):
    client = client_for(fake_runway)
    sent = body()
    task_id = client.create_video_to_video(sent).id
    task, seen = poll_until_done(client, task_id)
    assert seen == [
        (TaskStatus.PENDING, None),
        (TaskStatus.THROTTLED, None),
        (TaskStatus.RUNNING, 0.25),
        (TaskStatus.RUNNING, 0.75),
        (TaskStatus.SUCCEEDED, None),
    ]
    dest = tmp_path / "result.mp4"
    assert client.download_output(task.outputs[0], dest) == DEFAULT_OUTPUT.stat().st_size
    assert probe(dest) == (1280, 720, 132)
    [create] = fake_runway.creates
    assert create.json == sent
    assert create.json == {
        "model": "gen4_aleph",
        "promptText": PROMPT,
        "videoUri": VIDEO,
        "references": [{"type": "image", "uri": IMAGE}],
        "ratio": "1280:720",
        "seed": 42,
        "contentModeration": {"publicFigureThreshold": "auto"},
    }
    assert create.headers["authorization"] == f"Bearer {fake_runway.api_key}"
    assert create.headers["x-runway-version"] == "2024-11-06"
    assert create.headers["content-type"] == "application/json"
    [download] = fake_runway.received("GET", "/outputs/*")
    assert "authorization" not in download.headers


def test_statuses_can_progress_with_time(fake_runway):
    fake_runway.default_plan = TaskPlan(steps=(("PENDING", None), ("RUNNING", 0.5)), step_seconds=0.05)
    client = client_for(fake_runway)
    task_id = client.create_video_to_video(body()).id
    time.sleep(0.15)
    assert client.get_task(task_id).status == TaskStatus.SUCCEEDED


@pytest.mark.parametrize(
    "fault",
    [
        Fault.drop(process=True),
        Fault.drop(process=False),
        Fault.slow(1.0, process=True),
        Fault.server_error(500, process=True),
        Fault.server_error(502),
        Fault.server_error(503),
        Fault.server_error(504),
    ],
    ids=["lost-after-create", "lost-before-create", "slow", "500-after-create", "502", "503", "504"],
)
def test_exactly_one_create_under_every_injected_fault(fake_runway, fault):
    fake_runway.inject("POST", "/v1/video_to_video", fault)
    client = client_for(fake_runway, read_timeout=0.3)
    with pytest.raises(RemoteError) as info:
        client.create_video_to_video(body()).id
    assert info.value.kind == "unknown_outcome"
    assert not info.value.retryable
    assert len(fake_runway.creates) == 1
    assert len(fake_runway.tasks) == (1 if fault.process else 0)


def test_nothing_listening_is_a_connection_error_that_sent_nothing(fake_runway):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    client = client_for(fake_runway)
    dead = RemoteClient(
        fake_runway.remote_config(base_url=f"http://127.0.0.1:{closed_port}"), sleep=lambda s: None, jitter=lambda: 0.0
    )
    with pytest.raises(RemoteError) as info:
        dead.create_video_to_video(body()).id
    assert info.value.kind == "connection" and info.value.retryable
    assert fake_runway.requests == []
    client.close()


def test_create_waits_out_a_429_with_retry_after_and_creates_once(fake_runway):
    fake_runway.inject("POST", "/v1/video_to_video", Fault.rate_limited(retry_after=0.5))
    sleeps: list[float] = []
    task_id = client_for(fake_runway, sleeps=sleeps).create_video_to_video(body()).id
    assert sleeps == [0.5]
    assert len(fake_runway.creates) == 2
    assert list(fake_runway.tasks) == [task_id]


@pytest.mark.parametrize("fault", [Fault.rate_limited(), Fault.daily_limit()], ids=["no-retry-after", "daily-limit"])
def test_create_does_not_hammer_a_limit(fake_runway, fault):
    fake_runway.inject("POST", "/v1/video_to_video", fault)
    with pytest.raises(RemoteError) as info:
        client_for(fake_runway).create_video_to_video(body()).id
    assert info.value.kind == "rate_limited"
    assert len(fake_runway.creates) == 1 and fake_runway.tasks == {}


def test_daily_limit_message_is_plain(fake_runway):
    fake_runway.inject("POST", "/v1/video_to_video", Fault.daily_limit())
    with pytest.raises(RemoteError) as info:
        client_for(fake_runway).create_video_to_video(body()).id
    assert info.value.message.startswith("Runway's daily task limit for your organisation has been reached.")


def test_polls_survive_slow_and_failing_reads(fake_runway):
    client = client_for(fake_runway, read_timeout=0.3)
    task_id = client.create_video_to_video(body()).id
    fake_runway.inject(
        "GET", "/v1/tasks/*", Fault.slow(1.0, process=False), Fault.server_error(503), Fault.drop(process=False)
    )
    assert client.get_task(task_id).status == TaskStatus.PENDING
    assert len(fake_runway.received("GET", "/v1/tasks/*")) == 4


def test_an_expired_output_link_is_replaced_by_reading_the_task_again(fake_runway, tmp_path):
    fake_runway.default_plan = TaskPlan(steps=())
    client = client_for(fake_runway)
    task_id = client.create_video_to_video(body()).id
    stale = client.get_task(task_id).outputs[0]
    fake_runway.expire_outputs()
    with pytest.raises(RemoteError) as info:
        client.download_output(stale, tmp_path / "out.mp4")
    assert info.value.kind == "output_expired"
    assert not (tmp_path / "out.mp4").exists()
    fresh = client.get_task(task_id).outputs[0]
    assert fresh != stale
    assert client.download_output(fresh, tmp_path / "out.mp4") > 0
    assert probe(tmp_path / "out.mp4")[:2] == (1280, 720)


def test_a_redirecting_output_link_is_not_followed(fake_runway, tmp_path):
    fake_runway.default_plan = TaskPlan(steps=())
    fake_runway.output_redirect = True
    client = client_for(fake_runway)
    url = client.get_task(client.create_video_to_video(body()).id).outputs[0]
    with pytest.raises(RemoteError) as info:
        client.download_output(url, tmp_path / "out.mp4")
    assert info.value.kind == "output_refused"
    assert len(fake_runway.received("GET", "/outputs/*")) == 1


def test_an_output_over_the_size_cap_is_not_kept(fake_runway, tmp_path):
    fake_runway.default_plan = TaskPlan(steps=())
    client = client_for(fake_runway, max_output_bytes=100_000)
    url = client.get_task(client.create_video_to_video(body()).id).outputs[0]
    with pytest.raises(RemoteError) as info:
        client.download_output(url, tmp_path / "out.mp4")
    assert info.value.kind == "output_refused"
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "out.mp4.part").exists()


def test_an_output_host_outside_the_allowlist_is_refused(fake_runway, tmp_path):
    fake_runway.default_plan = TaskPlan(steps=())
    client = client_for(fake_runway, output_hosts=("cdn.example",))
    url = client.get_task(client.create_video_to_video(body()).id).outputs[0]
    with pytest.raises(RemoteError) as info:
        client.download_output(url, tmp_path / "out.mp4")
    assert info.value.kind == "output_refused"
    assert fake_runway.received("GET", "/outputs/*") == []


@pytest.mark.parametrize("code", FAILURE_CODES)
def test_each_failure_code_reaches_the_user_as_a_plain_message(fake_runway, code):
    fake_runway.default_plan = TaskPlan(steps=(("RUNNING", 0.5),), outcome="FAILED", failure_code=code, failure="internal detail 7731")
    client = client_for(fake_runway)
    task, _ = poll_until_done(client, client.create_video_to_video(body()).id)
    assert (task.status, task.failure_code) == (TaskStatus.FAILED, code)
    info = describe_failure(task.failure_code, task.failure)
    assert info.message == describe_failure(code, "internal detail 7731").message
    if code and "SAFETY" in code:
        assert info.suspension_warning and not info.retryable
        assert "internal detail" not in info.message
    assert len(fake_runway.creates) == 1


def test_moderation_failure_shows_the_plain_message(fake_runway):
    fake_runway.default_plan = TaskPlan(steps=(), outcome="FAILED", failure_code="SAFETY.INPUT.TEXT")
    client = client_for(fake_runway)
    task = client.get_task(client.create_video_to_video(body()).id)
    info = describe_failure(task.failure_code, task.failure)
    assert info.message.startswith("Runway's moderation blocked this edit; it points at the prompt")
    assert "repeated moderation hits can get the account suspended" in info.message


def test_a_success_without_output_is_reported_as_a_failure(fake_runway):
    fake_runway.default_plan = TaskPlan(steps=(), empty_output=True)
    client = client_for(fake_runway)
    task = client.get_task(client.create_video_to_video(body()).id)
    assert task.status == TaskStatus.FAILED and describe_failure(task.failure_code, task.failure).retryable


def test_cancel_stops_a_running_task_and_a_second_cancel_is_harmless(fake_runway):
    client = client_for(fake_runway)
    task_id = client.create_video_to_video(body()).id
    client.get_task(task_id)
    client.cancel_task(task_id)
    assert client.get_task(task_id).status == TaskStatus.CANCELLED
    client.cancel_task(task_id)
    client.cancel_task(task_id)
    assert len(fake_runway.received("DELETE", "/v1/tasks/*")) == 3


def test_a_large_input_goes_through_an_ephemeral_upload(fake_runway):
    client = client_for(fake_runway)
    uri = client.upload_ephemeral(DEFAULT_OUTPUT, "input.mp4", "video/mp4")
    assert uri.startswith("runway://")
    [upload] = fake_runway.uploads.values()
    assert upload["file"] == DEFAULT_OUTPUT.read_bytes()
    assert (upload["filename"], upload["content_type"]) == ("input.mp4", "video/mp4")
    task_id = client.create_video_to_video(build_body("gen4_aleph", PROMPT, uri, ratio=None, seed=None)).id
    assert fake_runway.tasks[task_id].body["videoUri"] == uri


def test_the_organisation_balance_is_read(fake_runway):
    client = client_for(fake_runway)
    before = client.organization().credit_balance
    client.create_video_to_video(body()).id
    info = client.organization()
    assert info.credit_balance == before - 75


def test_a_contract_violation_that_slips_through_comes_back_as_a_readable_bad_request(fake_runway):
    client = client_for(fake_runway)
    with pytest.raises(RemoteError) as info:
        client.create_video_to_video({**body(), "videoUri": "runway://never-uploaded"}).id
    assert info.value.kind == "bad_request"
    assert info.value.issues == ("Input video: Invalid input: unknown upload",)
    assert info.value.message.startswith("Runway refused 1 setting of this edit — Input video")


# ---------------------------------------------------------------- CometAPI


def test_cometapi_edit_runs_through_the_envelope(fake_cometapi, tmp_path):
    fake_cometapi.task_not_exist_polls = 2
    sleeps: list[float] = []
    client = client_for(fake_cometapi, sleeps=sleeps)
    task_id = client.create_video_to_video(body()).id
    assert fake_cometapi.creates[0].path == "/runwayml/v1/video_to_video"
    task, seen = poll_until_done(client, task_id)
    # The first read waits out task_not_exist, then the envelope's percent progress is read.
    assert sleeps == [3.0, 3.0]
    assert [s for s, _ in seen] == [TaskStatus.PENDING, TaskStatus.THROTTLED, TaskStatus.RUNNING, TaskStatus.RUNNING, TaskStatus.SUCCEEDED]
    assert [p for _, p in seen][2:] == [0.25, 0.75, 1.0]
    assert client.download_output(task.outputs[0], tmp_path / "out.mp4") > 0
    assert len(fake_cometapi.creates) == 1


def test_cometapi_task_that_never_appears_is_not_found(fake_cometapi):
    fake_cometapi.task_not_exist_polls = 100
    client = RemoteClient(
        fake_cometapi.remote_config(), sleep=lambda s: None, clock=iter(range(0, 1000, 5)).__next__, jitter=lambda: 0.0
    )
    task_id = client.create_video_to_video(body()).id
    with pytest.raises(RemoteError) as info:
        client.get_task(task_id)
    assert info.value.kind == "not_found"
    assert len(fake_cometapi.received("GET", "/v1/tasks/*")) == 7


def test_cometapi_bare_task_shape_is_read_too(fake_cometapi):
    fake_cometapi.comet_shape = "bare"
    client = client_for(fake_cometapi)
    task_id = client.create_video_to_video(body()).id
    client.get_task(task_id)
    client.get_task(task_id)
    assert client.get_task(task_id).progress == 0.25


def test_cometapi_invalid_request_500_is_a_bad_request_sent_once(fake_cometapi):
    client = client_for(fake_cometapi)
    with pytest.raises(RemoteError) as info:
        client.create_video_to_video({**body(), "seed": -5}).id
    assert info.value.kind == "bad_request" and info.value.code == "invalid_request"
    assert "seed: -5 is less than the minimum of 0" in info.value.message
    assert len(fake_cometapi.creates) == 1


def test_cometapi_has_no_cancel_upload_or_balance(fake_cometapi):
    client = client_for(fake_cometapi)
    for call in (lambda: client.cancel_task("abc"), client.organization, lambda: client.upload_ephemeral(DEFAULT_OUTPUT, "a.mp4", "video/mp4")):
        with pytest.raises(RemoteError) as info:
            call()
        assert info.value.kind == "unsupported"
    assert fake_cometapi.requests == []


# ---------------------------------------------------------------- the key stays secret


@pytest.mark.parametrize("provider_fixture", ["fake_runway", "fake_cometapi"])
def test_key_is_absent_from_every_message_and_log(request, provider_fixture, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    fake = request.getfixturevalue(provider_fixture)
    good = client_for(fake, read_timeout=0.3)
    wrong_key = fake.api_key[:-4] + "beef"
    wrong = RemoteClient(fake.remote_config(api_key=wrong_key), sleep=lambda s: None)
    errors = []
    fake.inject("POST", "/v1/video_to_video", Fault.drop(), Fault.slow(1.0), Fault.server_error(503), Fault.daily_limit())
    for _ in range(4):
        with pytest.raises(RemoteError) as info:
            good.create_video_to_video(body()).id
        errors.append(info.value)
    with pytest.raises(RemoteError) as info:
        wrong.create_video_to_video(body()).id
    errors.append(info.value)
    assert errors[-1].kind == "auth"
    fake.default_plan = TaskPlan(steps=())
    task_id = good.create_video_to_video(body()).id
    url = good.get_task(task_id).outputs[0]
    fake.expire_outputs()
    with pytest.raises(RemoteError) as info:
        good.download_output(url, tmp_path / "o.mp4")
    errors.append(info.value)
    for key in (fake.api_key, wrong_key):
        for error in errors:
            assert key not in str(error) and key not in repr(error)
        assert key not in caplog.text
        assert all(key not in record.getMessage() for record in caplog.records)
