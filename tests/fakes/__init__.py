"""A fake of Runway's video-to-video API and CometAPI's passthrough, served for real on 127.0.0.1.

It follows the contract in runway-api.md: tasks move PENDING → THROTTLED → RUNNING (with progress) →
SUCCEEDED / FAILED one step per poll (or per `step_seconds`), outputs are signed links that expire,
bodies are validated field by field, and every request is recorded so a test can assert
"exactly one create".

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

DATA = Path(__file__).resolve().parent.parent / "data"
DEFAULT_OUTPUT = DATA / "bigbuckbunny_720p_5s.mp4"
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
    # The final cost reported on the ended task ({"credits": n}); None: not reported.
    cost: int | None = None


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
                return self._error(500, "; ".join(f"{i['path'][0]}: {i['message']}" for i in issues), "invalid_request")
            return _json_reply(400, {"error": "Validation of body failed", "issues": issues})
        with self._lock:
            plan = self.next_plans.popleft() if self.next_plans else self.default_plan
            task = FakeTask(
                str(uuid.uuid4()), plan, req.json, time.monotonic(), datetime.now(UTC).isoformat().replace("+00:00", "Z")
            )
            self.tasks[task.id] = task
            self._not_exist_left[task.id] = self.task_not_exist_polls
            self.credit_balance -= 75 if req.json.get("model") == "gen4_aleph" else 100
        return _json_reply(200, {"id": task.id})

    def _validate(self, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict):
            return [{"path": ["body"], "message": "Expected an object"}]
        issues = []

        def issue(path: str, message: str) -> None:
            issues.append({"path": [path], "message": message})

        model = body.get("model")
        allowed = {"gen4_aleph", "aleph2"} if self.provider == "runway" else {"gen4_aleph"}
        known = {"model", "promptText", "videoUri", "ratio", "seed", "contentModeration"}
        known |= {"references"} if model == "gen4_aleph" else {"keyframes"}
        if model not in allowed:
            issue("model", "Invalid enum value")
        for extra in set(body) - known:
            issue(extra, "Unrecognized key")
        prompt = body.get("promptText")
        if model == "gen4_aleph" and not isinstance(prompt, str):
            issue("promptText", "Required")
        if prompt is not None and (not isinstance(prompt, str) or not prompt or len(prompt.encode("utf-16-le")) // 2 > 1000):
            issue("promptText", "String must contain between 1 and 1000 character(s)")
        video = body.get("videoUri")
        if not self._valid_uri(video, "video"):
            issue("videoUri", "Invalid input")
        refs = body.get("references", [])
        if not isinstance(refs, list) or len(refs) > 1:
            issue("references", "Array must contain at most 1 element(s)")
        else:
            for ref in refs:
                if not isinstance(ref, dict) or ref.get("type") != "image" or not self._valid_uri(ref.get("uri"), "image"):
                    issue("references", "Invalid input")
        frames = body.get("keyframes", [])
        if not isinstance(frames, list) or len(frames) > 5:
            issue("keyframes", "Array must contain at most 5 element(s)")
        else:
            for frame in frames:
                if not isinstance(frame, dict) or not isinstance(frame.get("seconds"), (int, float)) or not self._valid_uri(frame.get("uri"), "image"):
                    issue("keyframes", "Invalid input")
        if "ratio" in body and body["ratio"] not in RATIOS:
            issue("ratio", "Invalid enum value")
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 4294967295):
            issue("seed", "Number must be between 0 and 4294967295")
        moderation = body.get("contentModeration")
        if moderation is not None and (
            not isinstance(moderation, dict) or moderation.get("publicFigureThreshold") not in ("auto", "low")
        ):
            issue("contentModeration", "Invalid input")
        return issues

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
                return _json_reply(404, {"error": "Task not found"})
            status, progress = task.state(time.monotonic())
            task.polls += 1
        data: dict[str, Any] = {"id": task.id, "status": status, "createdAt": task.created_at}
        if status == "RUNNING":
            data["progress"] = progress
        if status == "SUCCEEDED":
            data["output"] = [] if task.plan.empty_output else [self._signed_output(task.id)]
        if status == "FAILED":
            data["failure"] = task.plan.failure
            data["failureCode"] = task.plan.failure_code
        if status in ("SUCCEEDED", "FAILED", "CANCELLED") and task.plan.cost is not None:
            data["cost"] = {"credits": task.plan.cost}
        if self.provider == "cometapi" and self.comet_shape == "envelope":
            return _json_reply(200, self._envelope(task, data, progress))
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
            if task is None or task.deleted:
                return _json_reply(404, {"error": "Task not found"})
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
        return _json_reply(
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

    def _signed_output(self, task_id: str) -> str:
        token = secrets.token_urlsafe(16)
        with self._lock:
            expired = self.expired_links > 0
            self.expired_links -= expired
            self._tokens[token] = (task_id, 0.0 if expired else time.monotonic() + self.output_ttl)
        return f"{self.origin}/outputs/{task_id}.mp4?token={token}"

    def _output(self, req: Recorded) -> tuple[int, dict[str, str], bytes]:
        token = parse_qs(req.query).get("token", [""])[0]
        with self._lock:
            task_id, expires = self._tokens.get(token, ("", 0.0))
        if not task_id or req.route != f"/outputs/{task_id}.mp4" or time.monotonic() > expires:
            return 403, {"Content-Type": "application/xml"}, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        if self.output_redirect:
            return 302, {"Location": self._signed_output(task_id)}, b""
        return 200, {"Content-Type": "video/mp4"}, self.output_video.read_bytes()

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
