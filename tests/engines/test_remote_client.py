"""RemoteClient against respx: retries, error mapping, parsing, uploads and downloads at the HTTP seam."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from editor.engines.remote.client import RemoteClient, poll_delay
from editor.engines.remote.config import RemoteConfig, parse_output_hosts
from editor.engines.remote.errors import RemoteError
from editor.engines.remote.parse import OrgInfo, TaskStatus

RUNWAY = "https://api.dev.runwayml.com"
COMET = "https://api.cometapi.com/runwayml"
KEY = "key_" + "ab12" * 32
COMET_KEY = "sk-" + "Zq9" * 12
TASK = "2f6b3c1e-7a0d-4c7e-9b8a-1f2e3d4c5b6a"
BODY = {"model": "gen4_aleph", "promptText": "snow", "videoUri": "https://in.example/a.mp4"}
# The create answer as the spec has it: the task's id and the provider's estimate.
CREATED = {"id": TASK, "estimatedCost": {"credits": 75}}
# Tasks as the spec has them (tests/engines/test_spec.py holds these to its schema).
RUNNING_TASK = {"id": TASK, "status": "RUNNING", "createdAt": "2026-11-02T10:00:00.000Z", "progress": 0.42, "estimatedCost": {"credits": 75}}
FAILED_TASK = {
    "id": TASK,
    "status": "FAILED",
    "createdAt": "2026-11-02T10:00:00Z",
    "failure": "bad",
    "failureCode": "SAFETY.INPUT.TEXT",
    "cost": {"credits": 75},
}
PENDING_TASK = {"id": TASK, "status": "PENDING", "createdAt": "2026-11-02T10:00:00Z", "estimatedCost": {"credits": 75}}
SPEC_REPLIES = {"create": [CREATED], "task": [RUNNING_TASK, FAILED_TASK, PENDING_TASK]}


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def time_():
    return FakeTime()


@pytest.fixture
def dl(tmp_path):
    """An empty folder for downloads."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


def runway(time_: FakeTime, **config) -> RemoteClient:
    options = {"output_hosts": ("cdn.example", "*.cloudfront.net", "127.0.0.1:8123"), **config}
    return RemoteClient(RemoteConfig("runway", "", KEY, **options), sleep=time_.sleep, clock=time_.clock, jitter=lambda: 0.0)


def comet(time_: FakeTime) -> RemoteClient:
    return RemoteClient(RemoteConfig("cometapi", "", COMET_KEY), sleep=time_.sleep, clock=time_.clock, jitter=lambda: 0.0)


def raises(kind: str, call) -> RemoteError:
    with pytest.raises(RemoteError) as info:
        call()
    assert info.value.kind == kind, info.value
    return info.value


# ---------------------------------------------------------------- configuration


def test_config_repr_hides_the_key():
    config = RemoteConfig("runway", "", KEY)
    assert KEY not in repr(config) and KEY not in str(config)
    assert KEY not in repr(RemoteClient(config))
    assert "[redacted]" in repr(config)


def test_config_defaults_base_urls_per_provider():
    assert RemoteConfig("runway", "", KEY).base_url == RUNWAY
    assert RemoteConfig("cometapi", "", COMET_KEY).base_url == COMET
    assert RemoteConfig("runway", "https://api.dev-stage.runwayml.com/", KEY).base_url == "https://api.dev-stage.runwayml.com"


@pytest.mark.parametrize(
    "provider, base, key",
    [("openai", "", KEY), ("runway", "http://api.example", KEY), ("runway", "", "")],
)
def test_config_rejects_bad_values(provider, base, key):
    with pytest.raises(ValueError):
        RemoteConfig(provider, base, key)


def test_config_allows_plain_http_only_on_loopback():
    assert RemoteConfig("runway", "http://127.0.0.1:9000", KEY).base_url == "http://127.0.0.1:9000"


def test_parse_output_hosts_normalises_and_rejects_junk():
    assert parse_output_hosts(" CDN.example, 127.0.0.1:8000 ,,*.cloudfront.net,[::1]:9") == (
        "cdn.example",
        "127.0.0.1:8000",
        "*.cloudfront.net",
        "[::1]:9",
    )
    for junk in ("cdn.example:http", "https://cdn.example", "a b", "h:99999"):
        with pytest.raises(ValueError):
            parse_output_hosts(junk)


# ---------------------------------------------------------------- create


@respx.mock
def test_create_sends_the_contract_headers_and_body(time_):
    route = respx.post(f"{RUNWAY}/v1/video_to_video").respond(200, json=CREATED)
    created = runway(time_).create_video_to_video(BODY)
    assert (created.id, created.estimated_credits) == (TASK, 75)
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["x-runway-version"] == "2024-11-06"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == BODY


@respx.mock
def test_cometapi_create_goes_to_the_passthrough_path_with_the_version_header(time_):
    route = respx.post(f"{COMET}/v1/video_to_video").respond(200, json=CREATED)
    assert comet(time_).create_video_to_video(BODY).id == TASK
    request = route.calls.last.request
    assert request.url.path == "/runwayml/v1/video_to_video"
    assert request.headers["authorization"] == f"Bearer {COMET_KEY}"
    assert request.headers["x-runway-version"] == "2024-11-06"


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow connect")])
@respx.mock
def test_create_retries_a_connection_that_never_opened(time_, error):
    route = respx.post(f"{RUNWAY}/v1/video_to_video").mock(side_effect=[error, httpx.Response(200, json=CREATED)])
    assert runway(time_).create_video_to_video(BODY).id == TASK
    assert route.call_count == 2
    assert time_.sleeps == [0.5]


@respx.mock
def test_create_gives_up_after_bounded_connection_attempts(time_):
    route = respx.post(f"{RUNWAY}/v1/video_to_video").mock(side_effect=httpx.ConnectError("refused"))
    error = raises("connection", lambda: runway(time_).create_video_to_video(BODY).id)
    assert route.call_count == 3
    assert error.retryable
    assert "nothing was billed" in error.message


@respx.mock
def test_create_waits_for_retry_after_on_429_then_succeeds(time_):
    route = respx.post(f"{RUNWAY}/v1/video_to_video").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "slow down"}), httpx.Response(200, json=CREATED)]
    )
    assert runway(time_).create_video_to_video(BODY).id == TASK
    assert route.call_count == 2
    assert time_.sleeps == [2.0]


@respx.mock
def test_create_honours_retry_after_ms(time_):
    respx.post(f"{RUNWAY}/v1/video_to_video").mock(
        side_effect=[httpx.Response(429, headers={"retry-after-ms": "1500"}), httpx.Response(200, json=CREATED)]
    )
    runway(time_).create_video_to_video(BODY).id
    assert time_.sleeps == [1.5]


@respx.mock
def test_create_does_not_wait_for_a_long_retry_after(time_):
    route = respx.post(f"{RUNWAY}/v1/video_to_video").respond(429, headers={"Retry-After": "600"}, json={"error": "later"})
    error = raises("rate_limited", lambda: runway(time_).create_video_to_video(BODY).id)
    assert route.call_count == 1 and time_.sleeps == []
    assert error.retry_after == 600 and not error.retryable


@respx.mock
def test_create_stops_after_bounded_429_retries(time_):
    route = respx.post(f"{RUNWAY}/v1/video_to_video").respond(429, headers={"Retry-After": "1"})
    error = raises("rate_limited", lambda: runway(time_).create_video_to_video(BODY).id)
    assert route.call_count == 3 and time_.sleeps == [1.0, 1.0]
    assert error.retry_after == 1.0


@respx.mock
def test_create_429_without_retry_after_is_not_retried(time_):
    route = respx.post(f"{RUNWAY}/v1/video_to_video").respond(429, json={"error": "Too many requests"})
    error = raises("rate_limited", lambda: runway(time_).create_video_to_video(BODY).id)
    assert route.call_count == 1 and time_.sleeps == []
    assert "Nothing was created or billed" in error.message


@respx.mock
def test_create_daily_limit_says_so_and_is_not_hammered(time_):
    route = respx.post(f"{RUNWAY}/v1/video_to_video").respond(
        429, headers={"Retry-After": "1"}, json={"error": "Your daily task limit has been reached."}
    )
    error = raises("rate_limited", lambda: runway(time_).create_video_to_video(BODY).id)
    assert route.call_count == 1
    assert error.message.startswith("Runway's daily task limit for your organisation has been reached.")
    assert not error.retryable


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("no answer"),
        httpx.WriteTimeout("stuck sending"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset"),
        httpx.WriteError("broken pipe"),
    ],
)
@respx.mock
def test_create_with_unknown_outcome_is_never_sent_twice(time_, error):
    route = respx.post(f"{RUNWAY}/v1/video_to_video").mock(side_effect=[error, httpx.Response(200, json=CREATED)])
    failure = raises("unknown_outcome", lambda: runway(time_).create_video_to_video(BODY).id)
    assert route.call_count == 1
    assert not failure.retryable
    assert "not known whether the task was created" in failure.message


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
@respx.mock
def test_create_server_error_is_an_unknown_outcome(time_, status):
    route = respx.post(f"{RUNWAY}/v1/video_to_video").respond(status, json={"error": "oops"})
    failure = raises("unknown_outcome", lambda: runway(time_).create_video_to_video(BODY).id)
    assert route.call_count == 1 and failure.status == status


@respx.mock
def test_create_success_without_an_id_is_an_unknown_outcome(time_):
    respx.post(f"{RUNWAY}/v1/video_to_video").respond(200, text="<html>ok</html>")
    raises("unknown_outcome", lambda: runway(time_).create_video_to_video(BODY).id)


@respx.mock
def test_create_400_lists_the_issues(time_):
    respx.post(f"{RUNWAY}/v1/video_to_video").respond(
        400,
        json={
            "error": "Validation of body failed",
            "issues": [
                {"code": "invalid_union", "path": ["videoUri"], "message": "Invalid input"},
                {"code": "too_big", "path": ["keyframes", 1, "range", "end_seconds"], "message": "Number must be less than or equal to 30"},
            ],
        },
    )
    error = raises("bad_request", lambda: runway(time_).create_video_to_video(BODY).id)
    # Field by field, in the words the form uses.
    assert error.issues == ("Input video: Invalid input", "Keyframe 2, edit window, end: Number must be less than or equal to 30")
    assert error.message.startswith("Runway refused 2 settings of this edit — Input video: Invalid input; Keyframe 2")
    assert "Nothing was created or billed" in error.message
    assert not error.retryable


@respx.mock
@pytest.mark.parametrize(
    "reply",
    [
        {"error": "Validation of body failed", "issues": [{"code": "invalid_union_discriminator", "path": ["model"], "message": "Invalid discriminator value. Expected 'aleph2' | 'seedance2'"}]},
        {"error": "Unknown model gen4_aleph"},
    ],
)
def test_create_400_for_an_unknown_model_suggests_aleph2(time_, reply):
    respx.post(f"{RUNWAY}/v1/video_to_video").respond(400, json=reply)
    error = raises("bad_request", lambda: runway(time_).create_video_to_video({**BODY, "model": "gen4_aleph"}).id)
    assert error.code == "unknown_model"
    assert "does not offer the model gen4_aleph" in error.message and "Choose aleph2" in error.message


@respx.mock
def test_create_401_names_the_setting_but_never_the_key(time_):
    respx.post(f"{RUNWAY}/v1/video_to_video").respond(401, json={"error": f"Invalid API key {KEY}"})
    error = raises("auth", lambda: runway(time_).create_video_to_video(BODY).id)
    assert "RUNWAYML_API_SECRET" in error.message
    assert KEY not in error.message and KEY not in repr(error) and KEY not in str(error)


@respx.mock
def test_cometapi_500_invalid_request_is_a_bad_request(time_):
    route = respx.post(f"{COMET}/v1/video_to_video").respond(
        500, json={"error": {"message": "seed out of range (request id: 42)", "type": "comet_api_error", "code": "invalid_request"}}
    )
    error = raises("bad_request", lambda: comet(time_).create_video_to_video(BODY).id)
    assert route.call_count == 1
    assert error.code == "invalid_request"
    assert error.message == "CometAPI rejected the request: seed out of range (request id: 42)"


@respx.mock
def test_cometapi_error_envelope_is_read(time_):
    respx.post(f"{COMET}/v1/video_to_video").respond(
        403, json={"error": {"message": "insufficient quota", "type": "comet_api_error", "code": "insufficient_user_quota"}}
    )
    error = raises("auth", lambda: comet(time_).create_video_to_video(BODY).id)
    assert error.code == "insufficient_user_quota"
    assert "insufficient quota" in error.message


@respx.mock
def test_cometapi_redirect_to_an_html_page_points_at_the_base_url(time_):
    respx.post(f"{COMET}/v1/video_to_video").respond(301, headers={"Location": "https://www.cometapi.com/"})
    error = raises("bad_response", lambda: comet(time_).create_video_to_video(BODY).id)
    assert "base URL" in error.message


# ---------------------------------------------------------------- tasks


@respx.mock
def test_get_task_reads_runways_bare_task(time_):
    respx.get(f"{RUNWAY}/v1/tasks/{TASK}").respond(
        200, json=RUNNING_TASK
    )
    task = runway(time_).get_task(TASK)
    assert task.status == TaskStatus.RUNNING and task.progress == pytest.approx(0.42)
    assert (task.estimated_credits, task.cost_credits) == (75, None)
    assert task.created_at.isoformat() == "2026-11-02T10:00:00+00:00"
    assert not task.is_terminal and task.status not in (TaskStatus.PENDING, TaskStatus.THROTTLED)


@respx.mock
def test_get_task_reads_failure_fields(time_):
    respx.get(f"{RUNWAY}/v1/tasks/{TASK}").respond(
        200, json=FAILED_TASK
    )
    task = runway(time_).get_task(TASK)
    assert (task.status, task.failure, task.failure_code, task.is_terminal) == (TaskStatus.FAILED, "bad", "SAFETY.INPUT.TEXT", True)
    assert (task.estimated_credits, task.cost_credits) == (None, 75)


@respx.mock
def test_get_task_treats_success_without_output_as_failure(time_):
    respx.get(f"{RUNWAY}/v1/tasks/{TASK}").respond(200, json={"id": TASK, "status": "SUCCEEDED", "output": []})
    task = runway(time_).get_task(TASK)
    assert task.status == TaskStatus.FAILED and task.failure_code is None and "without an output" in task.failure


@respx.mock
def test_get_task_reads_cometapis_envelope_with_percent_progress(time_):
    respx.get(f"{COMET}/v1/tasks/{TASK}").respond(
        200,
        json={
            "code": "success",
            "message": "",
            "data": {
                "task_id": TASK,
                "action": "video_to_video",
                "status": "IN_PROGRESS",
                "fail_reason": "",
                "submit_time": 1790000000,
                "progress": "45%",
                "data": {"id": TASK, "status": "RUNNING", "createdAt": "2026-11-02T10:00:00Z"},
            },
        },
    )
    task = comet(time_).get_task(TASK)
    assert task.status == TaskStatus.RUNNING and task.progress == pytest.approx(0.45)
    assert task.created_at.year == 2026


@pytest.mark.parametrize(
    "outer, expected",
    [("QUEUED", TaskStatus.PENDING), ("NOT_START", TaskStatus.PENDING), ("IN_PROGRESS", TaskStatus.RUNNING), ("FAILURE", TaskStatus.FAILED)],
)
@respx.mock
def test_get_task_maps_cometapis_own_statuses(time_, outer, expected):
    respx.get(f"{COMET}/v1/tasks/{TASK}").respond(
        200, json={"code": "success", "data": {"task_id": TASK, "status": outer, "progress": "0%", "fail_reason": "boom", "submit_time": 1790000000}}
    )
    task = comet(time_).get_task(TASK)
    assert task.status == expected
    assert task.created_at is not None


@respx.mock
def test_get_task_envelope_success_carries_outputs(time_):
    respx.get(f"{COMET}/v1/tasks/{TASK}").respond(
        200,
        json={"code": "success", "data": {"status": "SUCCESS", "progress": "100%", "data": {"id": TASK, "status": "SUCCEEDED", "output": ["https://cdn.example/o.mp4"]}}},
    )
    task = comet(time_).get_task(TASK)
    assert task.status == TaskStatus.SUCCEEDED and task.outputs == ["https://cdn.example/o.mp4"] and task.progress == 1.0


@respx.mock
def test_get_task_unknown_status_is_a_bad_response(time_):
    respx.get(f"{RUNWAY}/v1/tasks/{TASK}").respond(200, json={"id": TASK, "status": "EXPLODED"})
    raises("bad_response", lambda: runway(time_).get_task(TASK))


@respx.mock
def test_get_task_retries_server_errors_with_capped_exponential_backoff(time_):
    route = respx.get(f"{RUNWAY}/v1/tasks/{TASK}").mock(
        side_effect=[httpx.Response(503), httpx.ReadTimeout("t"), httpx.Response(502), httpx.Response(200, json=PENDING_TASK)]
    )
    client = RemoteClient(
        RemoteConfig("runway", "", KEY), sleep=time_.sleep, clock=time_.clock, jitter=lambda: 1.0, backoff_cap=1.0
    )
    assert client.get_task(TASK).status == TaskStatus.PENDING
    assert route.call_count == 4
    # 0.5 s then 1 s (capped), each stretched by the +50% jitter.
    assert time_.sleeps == [0.75, 1.5, 1.5]


@respx.mock
def test_get_task_gives_up_with_a_retryable_error(time_):
    route = respx.get(f"{RUNWAY}/v1/tasks/{TASK}").mock(side_effect=httpx.ReadTimeout("t"))
    error = raises("unavailable", lambda: runway(time_).get_task(TASK))
    assert route.call_count == 4 and error.retryable


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
@respx.mock
def test_get_task_keeps_a_persistent_transient_answer_retryable(time_, status):
    route = respx.get(f"{RUNWAY}/v1/tasks/{TASK}").respond(status, json={"error": "busy"})
    error = raises("unavailable", lambda: runway(time_).get_task(TASK))
    assert route.call_count == 4 and error.retryable and error.status == status


@respx.mock
def test_get_task_honours_retry_after_on_429(time_):
    respx.get(f"{RUNWAY}/v1/tasks/{TASK}").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json=PENDING_TASK)]
    )
    runway(time_).get_task(TASK)
    assert time_.sleeps == [3.0]


@respx.mock
def test_get_task_404_on_runway_is_not_found_at_once(time_):
    route = respx.get(f"{RUNWAY}/v1/tasks/{TASK}").respond(404, json={"error": "Task not found"})
    raises("not_found", lambda: runway(time_).get_task(TASK))
    assert route.call_count == 1


@respx.mock
def test_cometapi_task_not_exist_is_retried_for_30_seconds_then_not_found(time_):
    route = respx.get(f"{COMET}/v1/tasks/{TASK}").respond(400, json={"code": "task_not_exist", "message": "task_not_exist", "data": None})
    error = raises("not_found", lambda: comet(time_).get_task(TASK))
    assert error.code == "task_not_exist"
    assert sum(time_.sleeps) == pytest.approx(30.0)
    assert route.call_count == 11


@respx.mock
def test_cometapi_task_not_exist_clears_when_the_task_appears(time_):
    missing = httpx.Response(200, json={"error": {"message": "task_not_exist", "type": "comet_api_error", "code": "task_not_exist"}})
    respx.get(f"{COMET}/v1/tasks/{TASK}").mock(side_effect=[missing, missing, httpx.Response(200, json=PENDING_TASK)])
    assert comet(time_).get_task(TASK).status == TaskStatus.PENDING
    assert time_.sleeps == [3.0, 3.0]


def test_get_task_refuses_an_id_that_is_not_an_id(time_):
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(url__regex=r".*").respond(200)
        raises("bad_request", lambda: runway(time_).get_task("../organization"))
        assert route.call_count == 0


# ---------------------------------------------------------------- cancel, organisation


@pytest.mark.parametrize("status", [204, 200, 404])
@respx.mock
def test_cancel_accepts_done_and_already_gone(time_, status):
    route = respx.delete(f"{RUNWAY}/v1/tasks/{TASK}").respond(status)
    runway(time_).cancel_task(TASK)
    assert route.call_count == 1
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


@respx.mock
def test_cancel_retries_a_transient_failure(time_):
    route = respx.delete(f"{RUNWAY}/v1/tasks/{TASK}").mock(side_effect=[httpx.Response(503), httpx.Response(204)])
    runway(time_).cancel_task(TASK)
    assert route.call_count == 2


def test_cancel_on_cometapi_is_unsupported(time_):
    error = raises("unsupported", lambda: comet(time_).cancel_task(TASK))
    assert "may still complete and be billed" in error.message


@respx.mock
def test_organization_reads_balance_and_limits(time_):
    respx.get(f"{RUNWAY}/v1/organization").respond(
        200,
        json={
            "creditBalance": 1234,
            "tier": {"maxMonthlyCreditSpend": 5000, "models": {"gen4_aleph": {"maxConcurrentGenerations": 2, "maxDailyGenerations": 50}}},
            "usage": {"models": {"gen4_aleph": {"dailyGenerations": 7}}},
        },
    )
    info = runway(time_).organization()
    assert isinstance(info, OrgInfo)
    assert info.credit_balance == 1234 and info.max_monthly_credit_spend == 5000


def test_organization_on_cometapi_is_unsupported(time_):
    raises("unsupported", lambda: comet(time_).organization())


# ---------------------------------------------------------------- uploads


@respx.mock
def test_upload_posts_fields_and_file_without_our_key(time_, tmp_path):
    source = tmp_path / "in.mp4"
    source.write_bytes(b"\x00" * 4096)
    respx.post(f"{RUNWAY}/v1/uploads").respond(
        200,
        json={"uploadUrl": "https://bucket.example/upload", "fields": {"key": "k/in.mp4", "policy": "p"}, "runwayUri": "runway://k/in.mp4"},
    )
    bucket = respx.post("https://bucket.example/upload").respond(204)
    assert runway(time_).upload_ephemeral(source, "in.mp4", "video/mp4") == "runway://k/in.mp4"
    create = respx.calls[0].request
    assert json.loads(create.content) == {"filename": "in.mp4", "type": "ephemeral"}
    upload = bucket.calls.last.request
    assert "authorization" not in upload.headers
    body = upload.content
    assert b'name="key"\r\n\r\nk/in.mp4' in body and b'name="policy"\r\n\r\np' in body
    assert b'name="file"; filename="in.mp4"' in body and b"Content-Type: video/mp4" in body
    # Presigned POSTs need the file as the last part.
    assert body.index(b'name="file"') > body.index(b'name="policy"')


def test_upload_refuses_files_outside_runways_limits(time_, tmp_path):
    tiny = tmp_path / "tiny.mp4"
    tiny.write_bytes(b"x" * 100)
    raises("bad_request", lambda: runway(time_).upload_ephemeral(tiny, "tiny.mp4", "video/mp4"))


def test_upload_on_cometapi_is_unsupported(time_, tmp_path):
    raises("unsupported", lambda: comet(time_).upload_ephemeral(tmp_path / "x.mp4", "x.mp4", "video/mp4"))


# ---------------------------------------------------------------- downloads


@respx.mock
def test_download_writes_the_file_without_sending_our_key(time_, dl):
    route = respx.get("https://cdn.example/out.mp4").respond(200, content=b"v" * 5000, headers={"Content-Type": "video/mp4"})
    dest = dl / "out.mp4"
    assert runway(time_).download_output("https://cdn.example/out.mp4", dest) == 5000
    assert dest.read_bytes() == b"v" * 5000
    assert "authorization" not in route.calls.last.request.headers
    assert not (dl / "out.mp4.part").exists()


@pytest.mark.parametrize(
    "url", ["https://d1x2.cloudfront.net/o.mp4", "http://127.0.0.1:8123/o.mp4", "https://cdn.example:443/o.mp4"]
)
@respx.mock
def test_download_accepts_allowed_hosts(time_, dl, url):
    respx.get(url).respond(200, content=b"ok")
    assert runway(time_).download_output(url, dl / "o.mp4") == 2


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/o.mp4",
        "http://cdn.example/o.mp4",
        "https://cdn.example:8443/o.mp4",
        "https://cloudfront.net.evil.example/o.mp4",
        "http://127.0.0.1:9999/o.mp4",
        "ftp://cdn.example/o.mp4",
        "https://user:pw@cdn.example/o.mp4",
        "file:///etc/passwd",
    ],
)
def test_download_refuses_other_hosts_and_schemes_without_a_request(time_, dl, url):
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().respond(200, content=b"nope")
        raises("output_refused", lambda: runway(time_).download_output(url, dl / "o.mp4"))
        assert route.call_count == 0
    assert not (dl / "o.mp4").exists()


@respx.mock
def test_download_does_not_follow_redirects(time_, dl):
    respx.get("https://cdn.example/o.mp4").respond(302, headers={"Location": "https://cdn.example/elsewhere.mp4"})
    other = respx.get("https://cdn.example/elsewhere.mp4").respond(200, content=b"x")
    raises("output_refused", lambda: runway(time_).download_output("https://cdn.example/o.mp4", dl / "o.mp4"))
    assert other.call_count == 0


@pytest.mark.parametrize("status", [403, 404, 410])
@respx.mock
def test_download_of_an_expired_link_asks_for_a_fresh_one(time_, dl, status):
    respx.get("https://cdn.example/o.mp4").respond(status, text="<Error>AccessDenied</Error>")
    error = raises("output_expired", lambda: runway(time_).download_output("https://cdn.example/o.mp4", dl / "o.mp4"))
    assert error.retryable


@respx.mock
def test_download_refuses_a_declared_size_over_the_cap(time_, dl):
    respx.get("https://cdn.example/o.mp4").respond(200, content=b"x" * 2000)
    raises("output_refused", lambda: runway(time_, max_output_bytes=1000).download_output("https://cdn.example/o.mp4", dl / "o.mp4"))
    assert list(dl.iterdir()) == []


@respx.mock
def test_download_stops_a_stream_past_the_cap_and_deletes_the_partial_file(time_, dl):
    chunks = [b"x" * 600, b"x" * 600, b"x" * 600]

    def streamed(request):
        return httpx.Response(200, content=iter(chunks))

    respx.get("https://cdn.example/o.mp4").mock(side_effect=streamed)
    raises("output_refused", lambda: runway(time_, max_output_bytes=1000).download_output("https://cdn.example/o.mp4", dl / "o.mp4"))
    assert list(dl.iterdir()) == []


@respx.mock
def test_download_timeout_is_retryable_and_leaves_nothing(time_, dl):
    respx.get("https://cdn.example/o.mp4").mock(side_effect=httpx.ReadTimeout("slow"))
    error = raises("download_failed", lambda: runway(time_).download_output("https://cdn.example/o.mp4", dl / "o.mp4"))
    assert error.retryable and list(dl.iterdir()) == []


# ---------------------------------------------------------------- the key stays secret


@respx.mock
def test_key_never_appears_in_errors_or_logs(time_, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    echo = {"error": f"key {KEY} rejected", "issues": [{"path": ["auth"], "message": f"Bearer {KEY}"}]}
    respx.post(f"{RUNWAY}/v1/video_to_video").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(401, json=echo),
            httpx.Response(400, json=echo),
            httpx.Response(403, json=echo),
            httpx.Response(429, json=echo),
            httpx.ReadTimeout("t"),
            httpx.Response(503, json=echo),
        ]
    )
    respx.get(f"{RUNWAY}/v1/tasks/{TASK}").mock(side_effect=httpx.ReadTimeout("t"))
    respx.get("https://cdn.example/o.mp4").respond(403)
    client = runway(time_)
    errors = []
    for call in [lambda: client.create_video_to_video(BODY).id] * 6 + [
        lambda: client.get_task(TASK),
        lambda: client.download_output("https://cdn.example/o.mp4", tmp_path / "o.mp4"),
    ]:
        with pytest.raises(RemoteError) as info:
            call()
        errors.append(info.value)
    assert {e.kind for e in errors} == {"auth", "bad_request", "rate_limited", "unknown_outcome", "unavailable", "output_expired"}
    for error in errors:
        assert KEY not in str(error) and KEY not in repr(error) and KEY not in error.message
    assert caplog.records, "the client is expected to log its requests"
    for record in caplog.records:
        assert KEY not in record.getMessage()
    assert KEY not in caplog.text


# ---------------------------------------------------------------- poll cadence


def test_poll_delay_never_reads_faster_than_every_five_seconds_and_slows_for_long_queues():
    assert poll_delay(0, jitter=lambda: 0.0) == 5.0
    assert poll_delay(0, jitter=lambda: 1.0) == 7.5
    assert poll_delay(30, jitter=lambda: 0.0) == 10.0
    assert poll_delay(500, jitter=lambda: 0.0) == 20.0
    assert min(poll_delay(n) for n in range(200)) >= 5.0
