"""A fake of Runway's video-to-video API and CometAPI's passthrough, served for real on 127.0.0.1.

It follows Runway's published OpenAPI document (tests/data/runway-openapi-subset.json): every create
body is validated against its model's closed schema with jsonschema, and a refused one gets the
spec's 400 (`{error, issues: [{code, path, message}]}`); creates answer `{id, estimatedCost}`;
tasks move PENDING → THROTTLED → RUNNING (with progress and `estimatedCost`) → SUCCEEDED / FAILED /
CANCELLED (with the final `cost`) one step per poll (or per `step_seconds`); DELETE answers 204, or 404
for a task already cancelled or deleted; outputs are signed links that expire and come in the format
the body asked for (MP4, ProRes .mov, a PNG-sequence .zip or 10-bit HEVC, made with PyAV). Every
answer the fake gives is held to the spec too: a violation fails the test when the fake stops.
Every request is recorded so a test can assert "exactly one create".

    with FakeProvider("runway") as fake:
        fake.inject("POST", "/v1/video_to_video", Fault.drop())      # the next create is lost after it took effect
        fake.next_plans.append(TaskPlan(outcome="FAILED", failure_code="SAFETY.INPUT.TEXT"))
        client = RemoteClient(fake.remote_config())
        ...
        assert len(fake.creates) == 1 and len(fake.tasks) == 1

Routes are matched without CometAPI's /runwayml prefix; "/v1/tasks/*" matches any task id.
"""

from __future__ import annotations

import email.parser
import email.policy
import fnmatch
import json
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

DATA = Path(__file__).resolve().parent.parent / "data"
DEFAULT_OUTPUT = DATA / "bigbuckbunny_720p_5s.mp4"
SPEC = json.loads((DATA / "runway-openapi-subset.json").read_text())
# Each model's closed request schema: the current spec's, and gen4_aleph's last published one.
REQUEST_SCHEMAS = {
    variant["properties"]["model"]["const"]: variant
    for source in ("video_to_video_request", "video_to_video_request_gen4_aleph")
    for variant in SPEC[source]["oneOf"]
}
CURRENT_MODELS = tuple(v["properties"]["model"]["const"] for v in SPEC["video_to_video_request"]["oneOf"])
# What the fake estimates for a task, in credits (Runway's own numbers are not the point here).
FAKE_ESTIMATES = {"aleph2": 140, "gen4_aleph": 75}
DEFAULT_ESTIMATE = 100
# The file a task delivers for each outputFormat, and how it is served.
OUTPUT_KINDS = {
    "mp4": (".mp4", "video/mp4"),
    "prores": (".mov", "video/quicktime"),
    "png_sequence": (".zip", "application/zip"),
    "sdr_rec709_10bit": (".mp4", "video/mp4"),
}


def schema_errors(schema: dict, instance: Any) -> list[jsonschema.ValidationError]:
    """Return every way `instance` breaks `schema` (JSON Schema 2020-12, as the spec is written)."""
    return sorted(jsonschema.Draft202012Validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))


def response_schema(name: str) -> dict:
    """Return a schema of the spec's answers: "create", "task", "upload", "organization", "400", "429", "404"."""
    return {
        "create": SPEC["video_to_video_response"],
        "task": SPEC["task_response"],
        "upload": SPEC["uploads_response"],
        "organization": SPEC["organization_response"],
        "400": SPEC["errors"]["400"],
        "429": SPEC["errors"]["429"],
        "404": SPEC["errors"]["tasks_404"],
    }[name]
RUNWAY_KEY = "key_" + "5eed" * 32
COMETAPI_KEY = "sk-" + "c0me7" * 8
COMET_PREFIX = "/runwayml"
RATIOS = ("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672", "848:480", "640:480")
FAILURE_CODES = (
    "SAFETY.INPUT.TEXT",
    "SAFETY.INPUT.IMAGE",
    "SAFETY.INPUT.VIDEO",
    "SAFETY.OUTPUT.VIDEO",
    "INPUT_PREPROCESSING.SAFETY.TEXT",
    "INPUT_PREPROCESSING.INTERNAL",
    "INTERNAL.BAD_OUTPUT.CODE01",
    "ASSET.INVALID",
    "THIRD_PARTY.UNAVAILABLE",
    "INTERNAL",
    None,
)
_COMET_STATUS = {
    "PENDING": "QUEUED",
    "THROTTLED": "QUEUED",
    "RUNNING": "IN_PROGRESS",
    "SUCCEEDED": "SUCCESS",
    "FAILED": "FAILURE",
    "CANCELLED": "FAILURE",
}


@dataclass
class Recorded:
    method: str
    path: str  # as received, CometAPI prefix included
    route: str  # without the CometAPI prefix
    query: str
    headers: dict[str, str]  # lower-case names
    json: Any
    body: bytes


@dataclass
class TaskPlan:
    """How one created task behaves: the statuses it shows, then its outcome."""

    steps: tuple[tuple[str, float | None], ...] = (
        ("PENDING", None),
        ("THROTTLED", None),
        ("RUNNING", 0.25),
        ("RUNNING", 0.75),
    )
    outcome: str = "SUCCEEDED"  # SUCCEEDED, FAILED or CANCELLED
    failure_code: str | None = None
    failure: str = "The task failed."
    # None: one step per GET. A number: one step per that many seconds since the create.
    step_seconds: float | None = None
    # SUCCEEDED with an empty output list (a provider bug clients must survive).
    empty_output: bool = False
    # The final cost reported on the ended task ({"credits": n}); None: the estimate (0 once cancelled).
    cost: int | None = None
    # The estimate the create answer and unfinished tasks carry; None: the fake's price for the model.
    estimate: int | None = None
    # False: the ended task carries no cost (outside the current spec, as older API versions did).
    report_cost: bool = True


@dataclass
class Fault:
    """What the next matching request gets instead of (or on top of) the normal answer."""

    kind: str  # "respond", "drop" or "slow"
    status: int = 0
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # True: the request takes effect (a create makes a billed task) before the fault hits.
    process: bool = False
    raw: bytes | None = None

    @classmethod
    def respond(cls, status: int, json: Any = None, headers: dict[str, str] | None = None, *, process: bool = False) -> Fault:
        return cls("respond", status, json, headers or {}, process=process)

    @classmethod
    def drop(cls, *, process: bool = True) -> Fault:
        """Read the request, then close the connection without answering."""
        return cls("drop", process=process)

    @classmethod
    def slow(cls, delay: float, *, process: bool = True) -> Fault:
        """Answer normally after `delay` seconds (long enough to hit the client's read timeout)."""
        return cls("slow", delay=delay, process=process)

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> Fault:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return cls.respond(429, {"error": "Too many requests."}, headers)

    @classmethod
    def daily_limit(cls) -> Fault:
        return cls.respond(429, {"error": "Your daily task limit has been reached."}, {"Retry-After": "1"})

    @classmethod
    def server_error(cls, status: int = 502, *, process: bool = False) -> Fault:
        return cls.respond(status, {"error": "Bad gateway."}, process=process)

    @classmethod
    def html(cls, status: int) -> Fault:
        return cls("respond", status, raw=b"<html><body>Not here</body></html>")


@dataclass
class FakeTask:
    id: str
    plan: TaskPlan
    body: dict[str, Any]
    created: float
    created_at: str
    polls: int = 0
    cancelled: bool = False
    deleted: bool = False

    @property
    def estimate(self) -> int:
        if self.plan.estimate is not None:
            return self.plan.estimate
        return FAKE_ESTIMATES.get(self.body.get("model"), DEFAULT_ESTIMATE)

    @property
    def cost(self) -> int:
        """The final charge: the plan's, else the estimate (nothing for a task cancelled before it ran)."""
        if self.plan.cost is not None:
            return self.plan.cost
        return 0 if self.cancelled else self.estimate

    @property
    def output_format(self) -> str:
        return self.body.get("outputFormat") or "mp4"

    def state(self, now: float) -> tuple[str, float | None]:
        if self.cancelled:
            return "CANCELLED", None
        if self.plan.step_seconds is None:
            index = self.polls
        else:
            index = int((now - self.created) / self.plan.step_seconds)
        if index < len(self.plan.steps):
            return self.plan.steps[index]
        return self.plan.outcome, None


class FakeProvider:
    """A scriptable Runway (or CometAPI) server on an ephemeral loopback port."""

    def __init__(
        self,
        provider: str = "runway",
        *,
        output_video: Path = DEFAULT_OUTPUT,
        comet_shape: str = "envelope",
        api_key: str | None = None,
    ):
        self.provider = provider
        self.api_key = api_key or (RUNWAY_KEY if provider == "runway" else COMETAPI_KEY)
        self.output_video = Path(output_video)
        self.comet_shape = comet_shape  # "envelope" or "bare"
        self.default_plan = TaskPlan()
        self.next_plans: deque[TaskPlan] = deque()
        self.output_ttl = 3600.0
        # The next this many output links are handed out already expired (a worker that read the
        # task long before it downloaded, or a clock far ahead of the provider's).
        self.expired_links = 0
        self.output_redirect = False
        self.task_not_exist_polls = 0  # CometAPI: GETs per task answered task_not_exist first
        self.credit_balance = 1000
        # An account opened before gen4_aleph left the spec still has it (False: a newer account).
        self.legacy_models = True
        self.schema_violations: list[str] = []
        self._masters: dict[str, bytes] = {}
        self.requests: list[Recorded] = []
        self.tasks: dict[str, FakeTask] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self._faults: list[tuple[str, str, Fault]] = []
        self._tokens: dict[str, tuple[str, float]] = {}
        self._not_exist_left: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-runway", daemon=True
        )

    # ---- lifecycle

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self.schema_violations:
            raise AssertionError("the fake answered outside the spec: " + "; ".join(self.schema_violations[:5]))

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- addresses

    @property
    def host(self) -> str:
        """The host:port that output links point at (for ALEPH_OUTPUT_HOSTS)."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def origin(self) -> str:
        return f"http://{self.host}"

    @property
    def base_url(self) -> str:
        return self.origin + (COMET_PREFIX if self.provider == "cometapi" else "")

    def remote_config(self, **overrides: Any):
        """Return a RemoteConfig pointing at this fake, with short timeouts."""
        from editor.engines.remote.config import RemoteConfig

        options = {
            "provider": self.provider,
            "base_url": self.base_url,
            "api_key": self.api_key,
            "connect_timeout": 2.0,
            "read_timeout": 2.0,
            "output_hosts": (self.host,),
            "max_output_bytes": 50 * 1000 * 1000,
            **overrides,
        }
        return RemoteConfig(**options)

    # ---- scripting

    def inject(self, method: str, route: str, *faults: Fault) -> None:
        """Queue faults for the next requests matching method and route (glob, e.g. "/v1/tasks/*")."""
        with self._lock:
            self._faults.extend((method.upper(), route, f) for f in faults)

    def expire_outputs(self) -> None:
        """Make every output link handed out so far expire now."""
        with self._lock:
            self._tokens = {t: (task, 0.0) for t, (task, _) in self._tokens.items()}

    # ---- what happened

    @property
    def creates(self) -> list[Recorded]:
        return self.received("POST", "/v1/video_to_video")

    def received(self, method: str, route: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and fnmatch.fnmatchcase(r.route, route)]

    def task_for(self, task_id: str) -> FakeTask:
        return self.tasks[task_id]

    # ---- request handling (called from server threads)

    def _take_fault(self, method: str, route: str) -> Fault | None:
        with self._lock:
            for i, (m, pattern, fault) in enumerate(self._faults):
                if m == method and fnmatch.fnmatchcase(route, pattern):
                    del self._faults[i]
                    return fault
        return None

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def handle(self, req: Recorded) -> tuple[int, dict[str, str], bytes]:
        """Answer one request normally: (status, headers, body)."""
        if req.route.startswith("/outputs/"):
            return self._output(req)
        if req.route.startswith("/upload-bucket/"):
            return self._upload_file(req)
        if self.provider == "cometapi" and not req.path.startswith(COMET_PREFIX + "/"):
            return 404, {"Content-Type": "text/html"}, b"<html>404</html>"
        auth = req.headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            # Echo what was sent, as some gateways do, so clients must keep keys out of messages.
            return self._error(401, f"Invalid API key {auth.removeprefix('Bearer ')}", "invalid_api_key")
        if req.method == "POST" and req.route == "/v1/video_to_video":
            if not req.headers.get("x-runway-version"):
                return self._error(400, "X-Runway-Version header is required", "invalid_request")
            return self._create(req)
        if req.method == "GET" and fnmatch.fnmatchcase(req.route, "/v1/tasks/*"):
            return self._get_task(req.route.rsplit("/", 1)[1])
        if self.provider == "cometapi":
            return 404, {"Content-Type": "text/html"}, b"<html>404 page not found</html>"
        if req.method == "DELETE" and fnmatch.fnmatchcase(req.route, "/v1/tasks/*"):
            return self._delete_task(req.route.rsplit("/", 1)[1])
        if req.method == "POST" and req.route == "/v1/uploads":
            return self._create_upload(req)
        if req.method == "GET" and req.route == "/v1/organization":
            return self._organization()
        return _json_reply(404, {"error": "Not found"})

    def _create(self, req: Recorded) -> tuple[int, dict[str, str], bytes]:
        issues = self._validate(req.json)
        if issues:
            if self.provider == "cometapi":
                return self._error(500, "; ".join(f"{'.'.join(map(str, i['path']))}: {i['message']}" for i in issues), "invalid_request")
            return self._answer("400", 400, {"error": "Validation of body failed", "issues": issues, "docUrl": "https://docs.dev.runwayml.com/api"})
        with self._lock:
            plan = self.next_plans.popleft() if self.next_plans else self.default_plan
            task = FakeTask(
                str(uuid.uuid4()), plan, req.json, time.monotonic(), datetime.now(UTC).isoformat().replace("+00:00", "Z")
            )
            self.tasks[task.id] = task
            self._not_exist_left[task.id] = self.task_not_exist_polls
            self.credit_balance -= task.estimate
        return self._answer("create", 200, {"id": task.id, "estimatedCost": {"credits": task.estimate}})

    def _validate(self, body: Any) -> list[dict[str, Any]]:
        """Hold a create body to its model's schema; return the spec's issues (empty: accepted)."""
        if not isinstance(body, dict):
            return [{"code": "invalid_type", "path": [], "message": "Expected object, received " + type(body).__name__}]
        model = body.get("model")
        if self.provider == "cometapi":
            offered = ("gen4_aleph",)
        else:
            offered = CURRENT_MODELS + (("gen4_aleph",) if self.legacy_models else ())
        if model not in offered:
            expected = " | ".join(f"'{m}'" for m in offered)
            return [{"code": "invalid_union_discriminator", "path": ["model"], "message": f"Invalid discriminator value. Expected {expected}"}]
        issues = [
            {"code": error.validator, "path": list(error.absolute_path), "message": error.message[:300]}
            for error in schema_errors(REQUEST_SCHEMAS[model], body)
        ]
        # An upload URI must name a finished upload of this account.
        for path, uri in _uris(body):
            if isinstance(uri, str) and uri.startswith("runway://") and not self._valid_uri(uri, ""):
                issues.append({"code": "custom", "path": path, "message": "Invalid input: unknown upload"})
        return issues

    def _answer(self, schema: str, status: int, data: Any) -> tuple[int, dict[str, str], bytes]:
        """Reply with JSON, noting any way the reply breaks the spec's schema for it."""
        for error in schema_errors(response_schema(schema), data):
            self.schema_violations.append(f"{schema} reply: {error.message[:200]}")
        return _json_reply(status, data)

    def _valid_uri(self, uri: Any, media: str) -> bool:
        if not isinstance(uri, str):
            return False
        if uri.startswith("data:"):
            return uri.startswith(f"data:{media}/") and ";base64," in uri
        if uri.startswith("runway://"):
            with self._lock:
                return any(u["uri"] == uri and "file" in u for u in self.uploads.values())
        return uri.startswith("https://")

    def _get_task(self, task_id: str) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            task = self.tasks.get(task_id)
            if task is not None and self._not_exist_left.get(task_id, 0) > 0:
                self._not_exist_left[task_id] -= 1
                task = None
            if task is None or task.deleted:
                if self.provider == "cometapi":
                    return _json_reply(400, {"code": "task_not_exist", "message": "task_not_exist", "data": None})
                return self._answer("404", 404, {"error": "Task not found"})
            status, progress = task.state(time.monotonic())
            task.polls += 1
        data: dict[str, Any] = {"id": task.id, "status": status, "createdAt": task.created_at}
        if status == "RUNNING":
            data["progress"] = progress
        if status == "SUCCEEDED":
            data["output"] = [] if task.plan.empty_output else [self._signed_output(task)]
        if status == "FAILED":
            data["failure"] = task.plan.failure
            if task.plan.failure_code is not None:
                data["failureCode"] = task.plan.failure_code
        if status not in ("SUCCEEDED", "FAILED", "CANCELLED"):
            data["estimatedCost"] = {"credits": task.estimate}
        elif task.plan.report_cost:
            data["cost"] = {"credits": task.cost}
        if self.provider == "cometapi" and self.comet_shape == "envelope":
            return _json_reply(200, self._envelope(task, data, progress))
        if not task.plan.empty_output and task.plan.report_cost:
            return self._answer("task", 200, data)
        return _json_reply(200, data)

    def _envelope(self, task: FakeTask, data: dict[str, Any], progress: float | None) -> dict[str, Any]:
        status = data["status"]
        inner = {k: v for k, v in data.items() if k != "progress"}  # progress only as CometAPI's percent string
        percent = {"SUCCEEDED": "100%", "RUNNING": f"{round((progress or 0) * 100)}%"}.get(status, "0%")
        return {
            "code": "success",
            "message": "",
            "data": {
                "task_id": task.id,
                "action": "video_to_video",
                "status": _COMET_STATUS[status],
                "fail_reason": data.get("failure", ""),
                "submit_time": int(time.time()),
                "start_time": 0,
                "finish_time": 0,
                "progress": percent,
                "data": inner,
            },
        }

    def _delete_task(self, task_id: str) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            task = self.tasks.get(task_id)
            if task is None or task.deleted or task.cancelled:
                # Already cancelled or deleted: the spec's 404, which a client may count as done.
                return self._answer("404", 404, {"error": "Task not found"})
            status, _ = task.state(time.monotonic())
            if status in ("PENDING", "THROTTLED", "RUNNING"):
                task.cancelled = True
            else:
                task.deleted = True
        return 204, {}, b""

    def _create_upload(self, req: Recorded) -> tuple[int, dict[str, str], bytes]:
        body = req.json if isinstance(req.json, dict) else {}
        if body.get("type") != "ephemeral" or not body.get("filename"):
            return _json_reply(400, {"error": "Validation of body failed", "issues": [{"path": ["type"], "message": "Invalid input"}]})
        upload_id = uuid.uuid4().hex
        key = f"uploads/{upload_id}/{body['filename']}"
        with self._lock:
            self.uploads[upload_id] = {"uri": f"runway://{key}", "fields": {"key": key, "policy": "fake-policy"}}
        return self._answer(
            "upload",
            200,
            {
                "uploadUrl": f"{self.origin}/upload-bucket/{upload_id}",
                "fields": {"key": key, "policy": "fake-policy"},
                "runwayUri": f"runway://{key}",
            },
        )

    def _upload_file(self, req: Recorded) -> tuple[int, dict[str, str], bytes]:
        upload_id = req.route.rsplit("/", 1)[1]
        with self._lock:
            upload = self.uploads.get(upload_id)
        if upload is None:
            return 404, {"Content-Type": "application/xml"}, b"<Error><Code>NoSuchUpload</Code></Error>"
        if "authorization" in req.headers:
            # Presigned POSTs carry their own signature; a second auth mechanism is rejected.
            return 400, {"Content-Type": "application/xml"}, b"<Error><Code>InvalidArgument</Code></Error>"
        parts = _multipart(req.headers.get("content-type", ""), req.body)
        if "file" not in parts or any(parts.get(k, {}).get("value") != v for k, v in upload["fields"].items()):
            return 400, {"Content-Type": "application/xml"}, b"<Error><Code>MalformedPOSTRequest</Code></Error>"
        with self._lock:
            upload["file"] = parts["file"]["value"]
            upload["filename"] = parts["file"]["filename"]
            upload["content_type"] = parts["file"]["content_type"]
            upload["order"] = list(parts)
        return 204, {}, b""

    def _organization(self) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            used = len(self.tasks)
            balance = self.credit_balance
        return _json_reply(
            200,
            {
                "creditBalance": balance,
                "tier": {
                    "maxMonthlyCreditSpend": 10000,
                    "models": {
                        "gen4_aleph": {"maxConcurrentGenerations": 2, "maxDailyGenerations": 50},
                        "aleph2": {"maxConcurrentGenerations": 1, "maxDailyGenerations": 20},
                    },
                },
                "usage": {"models": {"gen4_aleph": {"dailyGenerations": used}}},
            },
        )

    def _signed_output(self, task: FakeTask) -> str:
        token = secrets.token_urlsafe(16)
        with self._lock:
            expired = self.expired_links > 0
            self.expired_links -= expired
            self._tokens[token] = (task.id, 0.0 if expired else time.monotonic() + self.output_ttl)
        return f"{self.origin}/outputs/{task.id}{OUTPUT_KINDS[task.output_format][0]}?token={token}"

    def _output(self, req: Recorded) -> tuple[int, dict[str, str], bytes]:
        token = parse_qs(req.query).get("token", [""])[0]
        with self._lock:
            task_id, expires = self._tokens.get(token, ("", 0.0))
            task = self.tasks.get(task_id)
        extension, content_type = OUTPUT_KINDS[task.output_format] if task else ("", "")
        if not task_id or req.route != f"/outputs/{task_id}{extension}" or time.monotonic() > expires:
            return 403, {"Content-Type": "application/xml"}, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        if self.output_redirect:
            return 302, {"Location": self._signed_output(task)}, b""
        return 200, {"Content-Type": content_type}, self.master_bytes(task.output_format)

    def master_bytes(self, output_format: str) -> bytes:
        """Return the file a task delivers in an output format (made once with PyAV, then reused)."""
        if output_format == "mp4":
            return self.output_video.read_bytes()
        with self._lock:
            cached = self._masters.get(output_format)
        if cached is None:
            import tempfile

            from tests import media_factory

            with tempfile.TemporaryDirectory(prefix="fake-master-") as tmp:
                path = Path(tmp) / f"master{OUTPUT_KINDS[output_format][0]}"
                media_factory.make_master(output_format, path)
                cached = path.read_bytes()
            with self._lock:
                self._masters[output_format] = cached
        return cached

    def _error(self, status: int, message: str, code: str) -> tuple[int, dict[str, str], bytes]:
        if self.provider == "cometapi":
            return _json_reply(
                status,
                {"error": {"message": f"{message} (request id: {uuid.uuid4().hex[:12]})", "type": "comet_api_error", "code": code}},
            )
        return _json_reply(status, {"error": message})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        fake: FakeProvider = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        route = parts.path.removeprefix(COMET_PREFIX) if fake.provider == "cometapi" else parts.path
        try:
            parsed = json.loads(body) if body and "json" in (self.headers.get("Content-Type") or "") else None
        except ValueError:
            parsed = None
        request = Recorded(
            self.command, parts.path, route, parts.query, {k.lower(): v for k, v in self.headers.items()}, parsed, body
        )
        fake._record(request)
        fault = fake._take_fault(self.command, route)
        if fault is None:
            self._reply(*fake.handle(request))
            return
        if fault.process:
            answer = fake.handle(request)
        if fault.kind == "drop":
            self.close_connection = True
            return
        if fault.kind == "slow":
            time.sleep(fault.delay)
            self._reply(*(answer if fault.process else fake.handle(request)))
            return
        if fault.raw is not None:
            self._reply(fault.status, {"Content-Type": "text/html", **fault.headers}, fault.raw)
            return
        payload = json.dumps(fault.json).encode() if fault.json is not None else b""
        headers = {"Content-Type": "application/json", **fault.headers} if payload else fault.headers
        self._reply(fault.status, headers, payload)

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (read timeout); that is the point of a slow answer.
            self.close_connection = True


def _uris(body: dict[str, Any]) -> list[tuple[list, Any]]:
    """Return (path, uri) for every media URI in a create body."""
    found: list[tuple[list, Any]] = [([name], body[name]) for name in ("videoUri", "promptVideo") if name in body]
    for name in ("references", "keyframes", "referenceVideos", "referenceAudio"):
        items = body.get(name)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                found.append(([name, i, "uri"], item.get("uri")))
    return found


def _json_reply(status: int, data: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


def _multipart(content_type: str, body: bytes) -> dict[str, dict[str, Any]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts: dict[str, dict[str, Any]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        value: Any = payload if part.get_filename() else payload.decode()
        parts[name] = {"value": value, "filename": part.get_filename(), "content_type": part.get_content_type()}
    return parts
