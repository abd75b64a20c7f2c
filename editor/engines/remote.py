"""One httpx client for Runway's video-to-video API and CometAPI's Runway passthrough.

Pure: no ORM, no request, no Django import. Settings come in through `RemoteConfig`.

How the edit state machine uses it (one `RemoteClient` per job; close it, or use it as a context manager):

1. Prepare the input with `editor.engines.prepare` (trimmed, reframed, H.264, data URI or upload).
   For `uri_kind == "upload"` call `upload_ephemeral()` to get a `runway://` URI (Runway only).
2. `build_body(...)` validates every field locally; a violation raises `RemoteError(kind="bad_request")`
   before anything is sent or billed.
3. Save the edit as submitting, then `create_video_to_video(body)` and save the returned task id at once.
   The create is retried here only when nothing reached the provider (connection refused, connect
   timeout) or on a 429 with a short Retry-After. `kind == "unknown_outcome"` means the task may exist
   and be billed: move the edit to needs_attention and never POST again without the user.
4. Poll with a deferred task (`run_after = poll_delay(polls)`: 5 s or more, jittered): `get_task(task_id)`
   returns a `RemoteTask`.
   Transient read errors are retried inside the call with capped backoff; when they persist it raises
   `kind == "unavailable"` (retryable): re-enqueue the poll later. PENDING and THROTTLED are queueing,
   RUNNING carries `progress` (0..1 or None).
5. On SUCCEEDED: `download_output(task.outputs[0], path)` into storage, probe it, then mark the edit
   succeeded. `kind == "output_expired"` means the signed URL died: call `get_task()` again for fresh
   URLs. Never `cancel_task()` a succeeded task before its output is stored (DELETE destroys it).
6. On FAILED: `describe_failure(task.failure_code, task.failure)` gives the plain message and whether a
   (new, billed) retry may be offered. A retry is never automatic.

Every error is a `RemoteError` (an `EngineError`) with `kind`, `retryable`, `retry_after`, `code` and a
message a user can read. The API key never appears in a message, a repr or a log record.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from editor.engines.base import RATIOS, SEED_MAX, EngineError

logger = logging.getLogger(__name__)

PROVIDERS = ("runway", "cometapi")
DEFAULT_BASE_URLS = {
    "runway": "https://api.dev.runwayml.com",
    "cometapi": "https://api.cometapi.com/runwayml",
}
# aleph2 is only offered through Runway directly; CometAPI documents gen4_aleph on its passthrough.
MODELS_BY_PROVIDER = {"runway": ("gen4_aleph", "aleph2"), "cometapi": ("gen4_aleph",)}
RUNWAY_VERSION = "2024-11-06"
PUBLIC_FIGURE_THRESHOLDS = ("auto", "low")
PROMPT_MAX_UTF16 = 1000
MAX_REFERENCES = {"gen4_aleph": 1, "aleph2": 0}
MAX_KEYFRAMES = {"gen4_aleph": 0, "aleph2": 5}
# Runway honours Retry-After only up to this many seconds; a longer wait is not worth holding a worker.
MAX_RETRY_AFTER = 60.0
# Ephemeral uploads accept files from 512 B to 200 MB.
UPLOAD_MIN_BYTES = 512
UPLOAD_MAX_BYTES = 200 * 1000 * 1000

_LABELS = {"runway": "Runway", "cometapi": "CometAPI"}
_KEY_SETTINGS = {"runway": "RUNWAYML_API_SECRET", "cometapi": "COMETAPI_KEY"}
_BASE_SETTINGS = {"runway": "RUNWAYML_BASE_URL", "cometapi": "COMETAPI_BASE_URL"}
_TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_LOOPBACK_NAMES = ("localhost",)
_USER_AGENT = "AlephStudio/1.0"
# Key shapes that must never leak even when a provider echoes a key we did not send.
_KEY_PATTERNS = re.compile(r"(key_[0-9a-fA-F]{16,}|sk-[A-Za-z0-9]{16,}|Bearer\s+\S+)")


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    THROTTLED = "THROTTLED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})

# CometAPI's wrapped envelope uses its own task vocabulary next to Runway's.
_COMET_STATUSES = {
    "NOT_START": TaskStatus.PENDING,
    "SUBMITTED": TaskStatus.PENDING,
    "QUEUED": TaskStatus.PENDING,
    "IN_PROGRESS": TaskStatus.RUNNING,
    "SUCCESS": TaskStatus.SUCCEEDED,
    "FAILURE": TaskStatus.FAILED,
}


class RemoteError(EngineError):
    """A remote call failed; `kind` says how, the message is for the user.

    Kinds: bad_request, auth, rate_limited, unknown_outcome (a create may have happened), connection
    (nothing was sent), unavailable (reads kept failing), not_found, unsupported, bad_response,
    output_expired, output_refused, download_failed.
    `code` is the provider's own error code when it gave one, else the kind.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        code: str | None = None,
        status: int | None = None,
    ):
        super().__init__(code or kind, message, retryable=retryable)
        self.kind = kind
        self.retry_after = retry_after
        self.status = status

    def __repr__(self) -> str:
        return f"RemoteError(kind={self.kind!r}, code={self.code!r}, retryable={self.retryable}, message={self.message!r})"


@dataclass(frozen=True)
class RemoteConfig:
    """Where and how to reach one provider. An empty base_url means the provider's default."""

    provider: str
    base_url: str
    api_key: str = field(repr=False)
    version: str = RUNWAY_VERSION
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Hosts ("host", "host:port" or "*.domain") that output URLs may point at.
    output_hosts: tuple[str, ...] = ()
    max_output_bytes: int = 500 * 1000 * 1000
    # Wall-clock limit for one output download (the read timeout only bounds each wait for data).
    download_timeout: float = 600.0

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {PROVIDERS}, got {self.provider!r}")
        if not self.api_key:
            raise ValueError(f"an API key is required for {self.provider}")
        base = (self.base_url or DEFAULT_BASE_URLS[self.provider]).rstrip("/")
        url = httpx.URL(base)
        if url.scheme != "https" and not (url.scheme == "http" and _is_loopback(url.host)):
            raise ValueError(f"{self.provider} base URL must be https (plain http only for loopback): {base}")
        object.__setattr__(self, "base_url", base)
        object.__setattr__(self, "output_hosts", parse_output_hosts(self.output_hosts))

    def __repr__(self) -> str:
        return (
            f"RemoteConfig(provider={self.provider!r}, base_url={self.base_url!r}, api_key='[redacted]', "
            f"version={self.version!r}, output_hosts={self.output_hosts!r})"
        )

    @property
    def label(self) -> str:
        return _LABELS[self.provider]


def parse_output_hosts(value: str | Iterable[str]) -> tuple[str, ...]:
    """Normalise an allowlist of output hosts ("a.com, 127.0.0.1:8000, *.b.net"); raise ValueError on junk."""
    items = value.split(",") if isinstance(value, str) else list(value)
    hosts = []
    for item in items:
        entry = item.strip().lower()
        if not entry:
            continue
        host, port = _split_host_port(entry)
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"bad port in output host {item!r}")
        if not re.fullmatch(r"(\*\.)?[a-z0-9.\-]+|[0-9a-f:]+", host):
            raise ValueError(f"not a host name: {item!r}")
        hosts.append(entry)
    return tuple(hosts)


@dataclass(frozen=True)
class RemoteTask:
    """A provider task, normalised across Runway's bare object and CometAPI's envelope."""

    id: str
    status: TaskStatus
    progress: float | None = None
    outputs: list[str] = field(default_factory=list)
    failure: str | None = None
    failure_code: str | None = None
    created_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_queued(self) -> bool:
        """Tell whether the task waits in the provider's queue (PENDING or THROTTLED)."""
        return self.status in (TaskStatus.PENDING, TaskStatus.THROTTLED)


@dataclass(frozen=True)
class ModelLimits:
    max_concurrent: int | None
    max_daily: int | None
    daily_used: int | None


@dataclass(frozen=True)
class OrgInfo:
    credit_balance: int
    max_monthly_credit_spend: int | None = None
    models: dict[str, ModelLimits] = field(default_factory=dict)


@dataclass(frozen=True)
class Keyframe:
    """An aleph2 keyframe: an image pinned to a time (seconds) in the clip."""

    seconds: float
    uri: str


@dataclass(frozen=True)
class FailureInfo:
    message: str
    # A "try again" may be offered; it is never automatic.
    retryable: bool
    # Trying again creates a new task that is billed again.
    billed_retry: bool
    # Repeated moderation hits can get the account suspended; warn the user.
    suspension_warning: bool
    code: str | None


def poll_delay(polls: int, *, jitter: Callable[[], float] = random.random) -> float:
    """Return seconds until the next status read (for run_after): 5 s at first, slower for long queues."""
    # Runway asks for no more than one read every ~5 s; a task queued for minutes needs far fewer.
    base = 5.0 if polls < 24 else 10.0 if polls < 60 else 20.0
    return base * (1 + 0.5 * jitter())


# ---------------------------------------------------------------- request bodies


def build_body(
    model: str,
    prompt: str,
    video_uri: str,
    *,
    ratio: str | None,
    seed: int | None,
    reference_uris: Sequence[str] = (),
    keyframes: Sequence[Keyframe | tuple[float, str]] = (),
    public_figure_threshold: str = "auto",
    video_seconds: float | None = None,
) -> dict[str, Any]:
    """Build a POST /v1/video_to_video body for gen4_aleph or aleph2, validated field by field."""
    if model not in MAX_REFERENCES:
        raise _bad(f"Unknown model {model!r}; use gen4_aleph or aleph2.")
    prompt = (prompt or "").strip()
    if model == "gen4_aleph" and not prompt:
        raise _bad("gen4_aleph needs a prompt describing the edit.")
    if _utf16_len(prompt) > PROMPT_MAX_UTF16:
        raise _bad(f"The prompt is too long: at most {PROMPT_MAX_UTF16} characters.")
    _check_uri(video_uri, "video", "the input video")
    body: dict[str, Any] = {"model": model, "videoUri": video_uri}
    if prompt:
        body["promptText"] = prompt
    references = list(reference_uris)
    _check_count(model, len(references), MAX_REFERENCES[model], "reference image")
    for uri in references:
        _check_uri(uri, "image", "the reference image")
    if references:
        body["references"] = [{"type": "image", "uri": uri} for uri in references]
    frames = [k if isinstance(k, Keyframe) else Keyframe(float(k[0]), k[1]) for k in keyframes]
    _check_count(model, len(frames), MAX_KEYFRAMES[model], "keyframe image")
    for frame in frames:
        if frame.seconds < 0 or (video_seconds is not None and frame.seconds > video_seconds):
            raise _bad(f"A keyframe at {frame.seconds:g} s lies outside the clip.")
        _check_uri(frame.uri, "image", "a keyframe image")
    if frames:
        body["keyframes"] = [{"seconds": round(f.seconds, 3), "uri": f.uri} for f in frames]
    if model == "aleph2" and not prompt and not frames:
        raise _bad("aleph2 needs a prompt or at least one keyframe image.")
    if ratio is not None:
        if ratio not in RATIOS:
            raise _bad(f"Unsupported ratio {ratio!r}.")
        body["ratio"] = ratio
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
            raise _bad(f"The seed must be a whole number from 0 to {SEED_MAX}.")
        body["seed"] = seed
    if public_figure_threshold not in PUBLIC_FIGURE_THRESHOLDS:
        raise _bad("The public-figure threshold must be 'auto' or 'low'.")
    body["contentModeration"] = {"publicFigureThreshold": public_figure_threshold}
    return body


def _check_count(model: str, count: int, limit: int, thing: str) -> None:
    if count > limit == 0:
        raise _bad(f"{model} does not take a {thing}.")
    if count > limit:
        raise _bad(f"{model} takes at most {limit} {thing}{'s' if limit > 1 else ''}.")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_uri(uri: str, media: str, what: str) -> None:
    if not isinstance(uri, str) or not uri:
        raise _bad(f"No URI for {what}.")
    if uri.startswith("data:"):
        if not uri.startswith(f"data:{media}/") or ";base64," not in uri[:100]:
            raise _bad(f"The data URI for {what} must be data:{media}/…;base64.")
        return
    if uri.startswith("runway://"):
        return
    if not uri.startswith("https://") or len(uri) > 2048:
        raise _bad(f"The URI for {what} must be an https URL (at most 2048 characters), a data URI or runway://.")


def _bad(message: str) -> RemoteError:
    return RemoteError("bad_request", message)


# ---------------------------------------------------------------- task failures


_SUSPENSION = (
    " Credits for a moderated task are not refunded. Change the prompt or the inputs before trying again:"
    " repeated moderation hits can get the account suspended."
)
_BILLED = " Trying again creates a new task, billed again."
_SAFETY_INPUT = {
    "TEXT": "the prompt",
    "IMAGE": "the reference image",
    "VIDEO": "the input video",
}


def describe_failure(failure_code: str | None, failure: str | None = None) -> FailureInfo:
    """Turn a FAILED task's failureCode into a message a user understands, and say whether to offer a retry."""
    code = (failure_code or "").strip() or None
    if code is None:
        return _retry_info("Runway reported an unspecified internal error.", None)
    upper = code.upper()
    if upper.startswith("SAFETY.INPUT"):
        suffix = upper.split(".")[2] if upper.count(".") >= 2 else ""
        which = _SAFETY_INPUT.get(suffix, "one of the inputs")
        return _safety_info(f"Runway's moderation blocked this edit; it points at {which} (a best guess).", code)
    if upper.startswith("SAFETY.OUTPUT"):
        return _safety_info("Runway's moderation blocked the generated video.", code)
    if upper.startswith("SAFETY") or upper.startswith("INPUT_PREPROCESSING.SAFETY"):
        return _safety_info("Runway's moderation rejected the prompt before the edit started.", code)
    if upper == "ASSET.INVALID":
        message = (
            "Runway could not use an input file. Use a valid H.264 MP4 clip within the model's length "
            "(gen4_aleph uses 5 s; aleph2 takes 2 to 30 s) and a PNG or JPEG reference image, then submit again."
        )
        return FailureInfo(_with_note(message, failure), False, False, False, code)
    if upper.startswith("INTERNAL.BAD_OUTPUT"):
        return _retry_info(
            "Runway rejected its own result for quality reasons; text or graphics overlaid on the input are a"
            " common cause. Trying again unchanged is unlikely to work; change the input first.",
            code,
        )
    if upper == "INPUT_PREPROCESSING.INTERNAL":
        return _retry_info("Runway's moderation step failed on its side. Try again in a few minutes.", code)
    if upper.startswith("INTERNAL"):
        return _retry_info("Runway had an internal error. Try again in a few minutes.", code)
    if upper.startswith("THIRD_PARTY"):
        return _retry_info("A service Runway depends on was unavailable. Try again in a few minutes.", code)
    message = f"Runway reported an error this studio does not recognise (code {code}). Check the inputs before trying again."
    return FailureInfo(_with_note(message, failure), False, False, False, code)


def _safety_info(message: str, code: str) -> FailureInfo:
    return FailureInfo(message + _SUSPENSION, False, False, True, code)


def _retry_info(message: str, code: str | None) -> FailureInfo:
    return FailureInfo(message + _BILLED, True, True, False, code)


def _with_note(message: str, failure: str | None) -> str:
    note = " ".join((failure or "").split())[:300]
    return f"{message} Runway's note: {note}" if note else message


# ---------------------------------------------------------------- the client


class RemoteClient:
    """Talk to one provider. Sleep, clock and jitter are injectable so retries are testable."""

    def __init__(
        self,
        config: RemoteConfig,
        transport: httpx.BaseTransport | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        max_create_attempts: int = 3,
        max_read_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        not_found_grace: float = 30.0,
        not_found_interval: float = 3.0,
    ):
        self.config = config
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._max_create_attempts = max_create_attempts
        self._max_read_attempts = max_read_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._not_found_grace = not_found_grace
        self._not_found_interval = not_found_interval
        timeout = httpx.Timeout(
            config.read_timeout, connect=config.connect_timeout, pool=config.connect_timeout
        )
        common = {"timeout": timeout, "transport": transport, "follow_redirects": False, "trust_env": False}
        self._api = httpx.Client(
            base_url=config.base_url,
            headers={
                "Authorization": f"Bearer {config.api_key}",
                "X-Runway-Version": config.version,
                "Accept": "application/json",
                "User-Agent": _USER_AGENT,
            },
            **common,
        )
        # Presigned upload URLs and output URLs live on other hosts: never send them our key.
        self._bare = httpx.Client(headers={"User-Agent": _USER_AGENT}, **common)

    def close(self) -> None:
        self._api.close()
        self._bare.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteClient({self.config!r})"

    @property
    def label(self) -> str:
        return self.config.label

    # ---- create (never sent twice when its outcome is unknown)

    def create_video_to_video(self, body: dict[str, Any]) -> str:
        """POST a video-to-video task and return its id; never repeat a POST whose outcome is unknown."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._api.post(
                    "/v1/video_to_video", json=body, headers={"Content-Type": "application/json"}
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never left this machine, so repeating it cannot create a second task.
                if attempt >= self._max_create_attempts:
                    raise self._connection_error(exc) from None
                logger.warning("%s create: %s before sending, retrying", self.label, type(exc).__name__)
                self._sleep(self._backoff(attempt))
                continue
            except httpx.HTTPError as exc:
                raise self._unknown_outcome(type(exc).__name__) from None
            logger.info("%s POST /v1/video_to_video -> %s", self.label, response.status_code)
            if response.status_code == 429:
                error = self._rate_limited(response)
                if error.retryable and error.retry_after is not None and attempt < self._max_create_attempts:
                    self._sleep(error.retry_after)
                    continue
                raise error
            if response.is_success:
                task_id = _json(response).get("id") if _is_json(response) else None
                if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
                    raise self._unknown_outcome("the reply carried no task id")
                logger.info("%s created task %s", self.label, task_id)
                return task_id
            raise self._error_from_response(response, creating=True)

    # ---- reads (safe to repeat)

    def get_task(self, task_id: str, *, not_found_grace: float | None = None) -> RemoteTask:
        """GET a task and normalise it; transient errors are retried with capped backoff."""
        path = f"/v1/tasks/{_checked_id(task_id)}"
        grace = self._not_found_grace if not_found_grace is None else not_found_grace
        missing_since: float | None = None
        while True:
            response = self._read("GET", path)
            if self.config.provider == "cometapi" and _is_task_not_exist(response):
                now = self._clock()
                missing_since = now if missing_since is None else missing_since
                remaining = grace - (now - missing_since)
                if remaining > 0:
                    # A freshly created CometAPI task can be unknown for a few seconds.
                    self._sleep(min(self._not_found_interval, remaining))
                    continue
                raise RemoteError(
                    "not_found", f"CometAPI does not know task {task_id}.", code="task_not_exist", status=response.status_code
                )
            if response.status_code == 404:
                raise RemoteError("not_found", f"{self.label} does not know task {task_id} (it may have been deleted).", status=404)
            if not response.is_success:
                raise self._error_from_response(response, creating=False)
            return self._parse_task(task_id, response)

    def cancel_task(self, task_id: str) -> None:
        """Cancel a pending or running Runway task (DELETE); a task already gone counts as cancelled."""
        if self.config.provider != "runway":
            raise RemoteError("unsupported", f"{self.label} has no cancel route; the remote task may still complete and be billed.")
        response = self._read("DELETE", f"/v1/tasks/{_checked_id(task_id)}", headers={"Accept": "*/*"})
        if response.status_code == 404 or response.is_success:
            return
        raise self._error_from_response(response, creating=False)

    def organization(self) -> OrgInfo:
        """Read the organisation's credit balance and per-model limits (Runway only)."""
        if self.config.provider != "runway":
            raise RemoteError("unsupported", f"{self.label} does not report a credit balance.")
        response = self._read("GET", "/v1/organization")
        if not response.is_success:
            raise self._error_from_response(response, creating=False)
        data = self._json_or_raise(response)
        balance = data.get("creditBalance")
        if not isinstance(balance, int):
            raise self._bad_response("the organisation reply has no credit balance")
        tier = data.get("tier") if isinstance(data.get("tier"), dict) else {}
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        limits = tier.get("models") if isinstance(tier.get("models"), dict) else {}
        used = usage.get("models") if isinstance(usage.get("models"), dict) else {}
        models = {}
        for name in set(limits) | set(used):
            limit = limits.get(name) if isinstance(limits.get(name), dict) else {}
            spent = used.get(name) if isinstance(used.get(name), dict) else {}
            models[name] = ModelLimits(
                _int_or_none(limit.get("maxConcurrentGenerations")),
                _int_or_none(limit.get("maxDailyGenerations")),
                _int_or_none(spent.get("dailyGenerations")),
            )
        return OrgInfo(balance, _int_or_none(tier.get("maxMonthlyCreditSpend")), models)

    # ---- uploads

    def upload_ephemeral(self, path: Path, filename: str, content_type: str) -> str:
        """Upload a file through Runway's ephemeral uploads and return its runway:// URI (valid 24 h)."""
        if self.config.provider != "runway":
            raise RemoteError("unsupported", f"{self.label} has no upload route; send the file as a data URI.")
        size = os.path.getsize(path)
        if not UPLOAD_MIN_BYTES <= size <= UPLOAD_MAX_BYTES:
            raise _bad(f"Runway uploads take files from 512 bytes to 200 MB; this one is {size} bytes.")
        response = self._read(
            "POST", "/v1/uploads", json={"filename": filename, "type": "ephemeral"}, headers={"Content-Type": "application/json"}
        )
        if not response.is_success:
            raise self._error_from_response(response, creating=False)
        data = self._json_or_raise(response)
        upload_url, fields = data.get("uploadUrl"), data.get("fields")
        uri = data.get("runwayUri") or data.get("uri")
        if not isinstance(upload_url, str) or not isinstance(fields, dict) or not isinstance(uri, str) or not uri.startswith("runway://"):
            raise self._bad_response("the upload reply is missing its URL, fields or runway:// URI")
        target = httpx.URL(upload_url)
        if target.scheme != "https" and not (target.scheme == "http" and _is_loopback(target.host)):
            raise self._bad_response("the upload URL is not https")
        self._post_file(upload_url, {str(k): str(v) for k, v in fields.items()}, path, filename, content_type)
        logger.info("Runway upload of %d bytes done", size)
        return uri

    def _post_file(self, url: str, fields: dict[str, str], path: Path, filename: str, content_type: str) -> None:
        # A presigned POST only writes one object, so repeating it is harmless.
        attempt = 0
        while True:
            attempt += 1
            try:
                with open(path, "rb") as fh:
                    response = self._bare.post(url, data=fields, files={"file": (filename, fh, content_type)})
            except httpx.HTTPError as exc:
                error = RemoteError("unavailable", f"Uploading the input to Runway failed ({type(exc).__name__}).", retryable=True)
            else:
                if response.is_success:
                    return
                error = RemoteError(
                    "unavailable" if response.status_code >= 500 else "bad_request",
                    f"Runway's upload storage answered {response.status_code}.",
                    retryable=response.status_code >= 500,
                    status=response.status_code,
                )
            if not error.retryable or attempt >= self._max_read_attempts:
                raise error
            self._sleep(self._backoff(attempt))

    # ---- outputs

    def download_output(self, url: str, dest_path: Path) -> int:
        """Download an output URL from an allowed host into dest_path within the size cap; return its size."""
        self._check_output_url(url)
        dest_path = Path(dest_path)
        partial = dest_path.with_name(dest_path.name + ".part")
        try:
            with self._bare.stream("GET", url) as response:
                logger.info("%s output download -> %s", self.label, response.status_code)
                self._check_output_response(response)
                received = self._stream_to(response, partial)
            os.replace(partial, dest_path)
            return received
        except httpx.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise RemoteError(
                "download_failed", f"Downloading the result from {self.label} failed ({type(exc).__name__}).", retryable=True
            ) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def _check_output_url(self, url: str) -> None:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise RemoteError("output_refused", "The result link is not a valid URL.") from None
        if parsed.userinfo or not parsed.host:
            raise RemoteError("output_refused", "The result link is not a plain web address.")
        if parsed.scheme == "http" and not _is_loopback(parsed.host):
            raise RemoteError("output_refused", "The result link is not https; it was not downloaded.")
        if parsed.scheme not in ("https", "http"):
            raise RemoteError("output_refused", "The result link is not https; it was not downloaded.")
        if not _host_allowed(parsed, self.config.output_hosts):
            raise RemoteError(
                "output_refused",
                f"The result is hosted on {parsed.host}, which is not in ALEPH_OUTPUT_HOSTS; it was not downloaded.",
            )

    def _check_output_response(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (403, 404, 410):
            raise RemoteError(
                "output_expired", "The result link has expired; read the task again for a fresh one.", retryable=True, status=status
            )
        if response.is_redirect:
            raise RemoteError("output_refused", "The result link redirects elsewhere; redirects are not followed.", status=status)
        if status != 200:
            raise RemoteError(
                "download_failed", f"Downloading the result failed ({status}).", retryable=status >= 500 or status == 429, status=status
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.config.max_output_bytes:
            raise self._too_big()

    def _stream_to(self, response: httpx.Response, partial: Path) -> int:
        received = 0
        deadline = self._clock() + self.config.download_timeout
        with open(partial, "wb") as fh:
            for chunk in response.iter_bytes(256 * 1024):
                received += len(chunk)
                if received > self.config.max_output_bytes:
                    raise self._too_big()
                if self._clock() > deadline:
                    raise RemoteError(
                        "download_failed", "Downloading the result took too long and was stopped.", retryable=True
                    )
                fh.write(chunk)
        return received

    def _too_big(self) -> RemoteError:
        limit_mb = self.config.max_output_bytes / 1_000_000
        return RemoteError("output_refused", f"The result is larger than the {limit_mb:g} MB limit; it was not stored.")

    # ---- shared plumbing

    def _read(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request that is safe to repeat, retrying transient failures with capped backoff."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._api.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                error = RemoteError(
                    "unavailable", f"{self.label} could not be reached ({type(exc).__name__}).", retryable=True
                )
            else:
                logger.info("%s %s %s -> %s", self.label, method, path, response.status_code)
                if not _is_transient(response) or _is_comet_bad_request(response) or _is_task_not_exist(response):
                    return response
                error = self._read_error(response)
            if attempt >= self._max_read_attempts or (error.retry_after or 0) > MAX_RETRY_AFTER:
                raise error
            delay = error.retry_after if error.retry_after is not None else self._backoff(attempt)
            logger.warning("%s %s %s: %s, retrying in %.1f s", self.label, method, path, error.kind, delay)
            self._sleep(delay)

    def _read_error(self, response: httpx.Response) -> RemoteError:
        status = response.status_code
        if status == 429:
            return RemoteError(
                "unavailable",
                f"{self.label} is limiting requests for now; it will be asked again.",
                retryable=True,
                retry_after=_retry_after(response),
                status=status,
            )
        _, code, _ = self._error_details(response)
        return RemoteError(
            "unavailable", f"{self.label} is having trouble ({status}); it will be asked again.", retryable=True, code=code, status=status
        )

    def _backoff(self, attempt: int) -> float:
        # Exponential, capped, with up to +50% random jitter as Runway asks.
        base = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        return base * (1 + 0.5 * self._jitter())

    def _error_from_response(self, response: httpx.Response, *, creating: bool) -> RemoteError:
        """Map a final non-success answer to a RemoteError; for a create, a 5xx means the outcome is unknown."""
        status = response.status_code
        text, code, issues = self._error_details(response)
        detail = f": {text}" if text else ""
        if _is_comet_bad_request(response):
            return RemoteError("bad_request", f"{self.label} rejected the request{detail}", code=code, status=status)
        if status == 429:
            return self._rate_limited(response) if creating else self._read_error(response)
        if _is_transient(response):
            # For a create, a server error or timeout answer may come after the task was made.
            if creating:
                return self._unknown_outcome(f"it answered {status}", code=code, status=status)
            return self._read_error(response)
        if status == 401:
            return RemoteError(
                "auth",
                f"{self.label} did not accept the API key (401). Check the {_KEY_SETTINGS[self.config.provider]} "
                f"and {_BASE_SETTINGS[self.config.provider]} settings.",
                code=code,
                status=status,
            )
        if status == 403:
            return RemoteError("auth", f"{self.label} refused this request (403){detail}", code=code, status=status)
        if 300 <= status < 400:
            return RemoteError(
                "bad_response", f"{self.label} answered with a redirect ({status}); check the base URL setting.", status=status
            )
        if status >= 400:
            reason = "; ".join(issues) if issues else text or f"status {status}"
            return RemoteError("bad_request", f"{self.label} rejected the request: {reason}", code=code, status=status)
        return self._bad_response(f"unexpected status {status}")

    def _error_details(self, response: httpx.Response) -> tuple[str, str | None, list[str]]:
        """Return (text, provider code, field issues) from Runway's or CometAPI's error body."""
        if not _is_json(response):
            return "", None, []
        data = _json(response)
        error = data.get("error")
        code = None
        if isinstance(error, dict):
            text = str(error.get("message") or "")
            code = str(error["code"]) if error.get("code") else None
        else:
            text = str(error or data.get("message") or "")
            if isinstance(data.get("code"), str) and data["code"] != "success":
                code = data["code"]
        issues = []
        for issue in data.get("issues") or []:
            if isinstance(issue, dict):
                where = issue.get("path")
                where = ".".join(str(p) for p in where) if isinstance(where, list) else str(where or "")
                issues.append(self._redact(f"{where}: {issue.get('message', 'invalid')}" if where else str(issue.get("message"))))
        return self._redact(" ".join(text.split())[:500]), code, issues

    def _rate_limited(self, response: httpx.Response) -> RemoteError:
        text, code, _ = self._error_details(response)
        retry_after = _retry_after(response)
        if "daily" in text.lower():
            return RemoteError(
                "rate_limited",
                f"{self.label}'s daily task limit for your organisation has been reached. Nothing was created or billed; "
                "new edits can be submitted once the rolling 24-hour window frees up.",
                code=code,
                status=429,
            )
        if retry_after is None:
            return RemoteError(
                "rate_limited",
                f"{self.label} is refusing new tasks for now (too many requests; usually the organisation's daily task "
                "limit). Nothing was created or billed; try again later.",
                code=code,
                status=429,
            )
        return RemoteError(
            "rate_limited",
            f"{self.label} asked to wait {retry_after:g} s before the next request. Nothing was created or billed.",
            retryable=retry_after <= MAX_RETRY_AFTER,
            retry_after=retry_after,
            code=code,
            status=429,
        )

    def _unknown_outcome(self, reason: str, *, code: str | None = None, status: int | None = None) -> RemoteError:
        return RemoteError(
            "unknown_outcome",
            f"The request reached {self.label} but no clear answer came back ({reason}), so it is not known whether "
            f"the task was created. If it was, it is billed. Check {self.label}'s dashboard before submitting again.",
            code=code,
            status=status,
        )

    def _connection_error(self, exc: Exception) -> RemoteError:
        return RemoteError(
            "connection",
            f"Could not connect to {self.label} ({type(exc).__name__}). Nothing was sent, so nothing was billed; try again in a moment.",
            retryable=True,
        )

    def _bad_response(self, reason: str) -> RemoteError:
        return RemoteError("bad_response", f"{self.label} sent a reply this studio could not read ({reason}).", retryable=True)

    def _json_or_raise(self, response: httpx.Response) -> dict[str, Any]:
        if not _is_json(response):
            raise self._bad_response("not JSON; check the base URL setting")
        return _json(response)

    def _parse_task(self, task_id: str, response: httpx.Response) -> RemoteTask:
        data = self._json_or_raise(response)
        if isinstance(data.get("data"), dict) and "status" not in data:
            return self._parse_envelope(task_id, data)
        if isinstance(data.get("code"), str) and data["code"] != "success" and "status" not in data:
            raise self._bad_response(self._redact(str(data.get("message") or data["code"]))[:200])
        status = _status(data.get("status"))
        if status is None:
            raise self._bad_response(f"unknown task status {str(data.get('status'))[:40]!r}")
        return _task(
            str(data.get("id") or task_id),
            status,
            data.get("progress"),
            data.get("output"),
            data.get("failure"),
            data.get("failureCode"),
            _parse_time(data.get("createdAt")),
        )

    def _parse_envelope(self, task_id: str, envelope: dict[str, Any]) -> RemoteTask:
        outer = envelope["data"]
        inner = outer.get("data") if isinstance(outer.get("data"), dict) else {}
        # Runway's own status (inside) is the more precise; CometAPI's (outside) is the fallback.
        status = _status(inner.get("status")) or _status(outer.get("status"))
        if status is None:
            raise self._bad_response(f"unknown task status {str(outer.get('status'))[:40]!r}")
        progress = inner.get("progress") if inner.get("progress") is not None else outer.get("progress")
        return _task(
            str(inner.get("id") or outer.get("task_id") or task_id),
            status,
            progress,
            inner.get("output") or outer.get("output"),
            inner.get("failure") or outer.get("fail_reason") or None,
            inner.get("failureCode"),
            _parse_time(inner.get("createdAt")) or _parse_time(outer.get("submit_time")),
        )

    def _redact(self, text: str) -> str:
        text = text.replace(self.config.api_key, "[redacted]")
        return _KEY_PATTERNS.sub("[redacted]", text)


# ---------------------------------------------------------------- helpers


def _task(task_id, status, progress, outputs, failure, failure_code, created_at) -> RemoteTask:
    urls = [u for u in outputs if isinstance(u, str) and u] if isinstance(outputs, list) else []
    failure = str(failure) if failure else None
    failure_code = str(failure_code) if failure_code else None
    if status == TaskStatus.SUCCEEDED and not urls:
        # A success without a video is of no use to anyone; report it as the provider's failure.
        status, failure = TaskStatus.FAILED, "The task finished without an output video."
    return RemoteTask(task_id, status, _progress(progress), urls, failure, failure_code, created_at)


def _status(value: Any) -> TaskStatus | None:
    if not isinstance(value, str):
        return None
    value = value.strip().upper()
    if value in TaskStatus.__members__:
        return TaskStatus(value)
    return _COMET_STATUSES.get(value)


def _progress(value: Any) -> float | None:
    """Read 0.42, 42 or "42%" as a fraction 0..1."""
    if isinstance(value, str):
        text = value.strip().rstrip("%")
        try:
            number = float(text)
        except ValueError:
            return None
        number = number / 100 if value.strip().endswith("%") or number > 1 else number
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value / 100 if value > 1 else float(value)
    else:
        return None
    return min(1.0, max(0.0, number))


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _retry_after(response: httpx.Response) -> float | None:
    millis = response.headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _is_transient(response: httpx.Response) -> bool:
    return response.status_code in (408, 409, 429) or response.status_code >= 500


def _is_comet_bad_request(response: httpx.Response) -> bool:
    # CometAPI reports some validation errors as a 500 carrying error.code "invalid_request".
    if response.status_code < 500 or not _is_json(response):
        return False
    error = _json(response).get("error")
    return isinstance(error, dict) and error.get("code") == "invalid_request"


def _is_task_not_exist(response: httpx.Response) -> bool:
    if not _is_json(response):
        return False
    data = _json(response)
    error = data.get("error")
    codes = [data.get("code"), data.get("message")]
    if isinstance(error, dict):
        codes += [error.get("code"), error.get("message")]
    return any(isinstance(c, str) and "task_not_exist" in c for c in codes)


def _is_json(response: httpx.Response) -> bool:
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


def _json(response: httpx.Response) -> dict[str, Any]:
    return response.json()


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _checked_id(task_id: str) -> str:
    if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
        raise RemoteError("bad_request", "That is not a valid remote task id.")
    return task_id


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_host_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:
        host, port = entry, ""
    if port and not port.isdigit():
        raise ValueError(f"bad port in output host {entry!r}")
    return host, int(port) if port else None


def _host_allowed(url: httpx.URL, allowed: tuple[str, ...]) -> bool:
    default_port = 443 if url.scheme == "https" else 80
    host, port = url.host.lower(), url.port or default_port
    for entry in allowed:
        entry_host, entry_port = _split_host_port(entry)
        if (entry_port or default_port) != port:
            continue
        if entry_host == host or (entry_host.startswith("*.") and host.endswith(entry_host[1:])):
            return True
    return False
