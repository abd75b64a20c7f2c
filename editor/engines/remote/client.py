"""One httpx client for Runway's video-to-video API and CometAPI's Runway passthrough.

Pure: no ORM, no request, no Django import. Settings come in through `RemoteConfig`; what each
provider can do comes from the catalogue. Every error is a `RemoteError`; the API key never appears
in a message, a repr or a log record.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from editor.engines.remote import parse
from editor.engines.remote.config import RemoteConfig, is_loopback, split_host_port
from editor.engines.remote.errors import ErrorKind, RemoteError
from editor.engines.remote.parse import OrgInfo, RemoteTask

logger = logging.getLogger(__name__)

# Runway honours Retry-After only up to this many seconds; a longer wait is not worth holding a worker.
MAX_RETRY_AFTER = 60.0
# A read is tried this many times, waiting at most BACKOFF_CAP seconds between tries; a task created a
# moment ago may be unknown for NEW_TASK_GRACE seconds (where the provider says so).
READ_ATTEMPTS = 4
BACKOFF_CAP = 8.0
NEW_TASK_GRACE = 30.0
# Ephemeral uploads accept files from 512 B to 200 MB.
UPLOAD_MIN_BYTES = 512
UPLOAD_MAX_BYTES = 200 * 1000 * 1000

_TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_USER_AGENT = "AlephStudio/1.0"
# Key shapes that must never leak even when a provider echoes a key we did not send.
_KEY_PATTERNS = re.compile(r"(key_[0-9a-fA-F]{16,}|sk-[A-Za-z0-9]{16,}|Bearer\s+\S+)")


def poll_delay(polls: int, *, jitter: Callable[[], float] = random.random) -> float:
    """Return seconds until the next status read (for run_after): 5 s at first, slower for long queues."""
    # Runway asks for no more than one read every ~5 s; a task queued for minutes needs far fewer.
    base = 5.0 if polls < 24 else 10.0 if polls < 60 else 20.0
    return base * (1 + 0.5 * jitter())


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
        max_read_attempts: int = READ_ATTEMPTS,
        backoff_base: float = 0.5,
        backoff_cap: float = BACKOFF_CAP,
        not_found_grace: float = NEW_TASK_GRACE,
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

    def create_video_to_video(self, body: dict[str, Any]) -> CreatedTask:
        """POST a video-to-video task and return its id (and the provider's estimate); never repeat a
        POST whose outcome is unknown."""
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
                reply = parse.json_of(response) or {}
                task_id = reply.get("id")
                if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
                    raise self._unknown_outcome("the reply carried no task id")
                logger.info("%s created task %s", self.label, task_id)
                return CreatedTask(task_id, parse.credits_of(reply.get("estimatedCost")))
            if response.status_code == 400 and self._model_refused(response):
                raise RemoteError(
                    ErrorKind.BAD_REQUEST,
                    f"{self.label} does not offer the model {str(body.get('model'))[:40]} to this account (newer accounts "
                    "no longer have gen4_aleph). Choose aleph2, its successor, and submit again. Nothing was created or billed.",
                    code="unknown_model",
                    status=400,
                )
            raise self._error_from_response(response, creating=True)

    def _model_refused(self, response: httpx.Response) -> bool:
        """Tell whether a 400 says the model itself is unknown (not some other field)."""
        fields = parse.issue_fields(response)
        if fields:
            return "model" in fields
        text = (parse.error_details(response)[0] or "").lower()
        return "model" in text and any(w in text for w in ("unknown", "invalid", "not available", "unsupported", "not found"))

    # ---- reads (safe to repeat)

    def get_task(self, task_id: str, *, not_found_grace: float | None = None) -> RemoteTask:
        """GET a task and normalise it; transient errors are retried with capped backoff."""
        path = f"/v1/tasks/{_checked_id(task_id)}"
        grace = self._not_found_grace if not_found_grace is None else not_found_grace
        missing_since: float | None = None
        while True:
            response = self._read("GET", path)
            if self.config.spec.new_task_grace and parse.is_task_not_exist(response):
                now = self._clock()
                missing_since = now if missing_since is None else missing_since
                remaining = grace - (now - missing_since)
                if remaining > 0:
                    # A freshly created CometAPI task can be unknown for a few seconds.
                    self._sleep(min(self._not_found_interval, remaining))
                    continue
                raise RemoteError(
                    ErrorKind.NOT_FOUND, f"CometAPI does not know task {task_id}.", code="task_not_exist", status=response.status_code
                )
            if response.status_code == 404:
                raise RemoteError(ErrorKind.NOT_FOUND, f"{self.label} does not know task {task_id} (it may have been deleted).", status=404)
            if not response.is_success:
                raise self._error_from_response(response, creating=False)
            return self._parse_task(task_id, response)

    def cancel_task(self, task_id: str) -> None:
        """Cancel a pending or running Runway task (DELETE); a task already gone counts as cancelled."""
        if not self.config.spec.supports_cancel:
            raise RemoteError(ErrorKind.UNSUPPORTED, f"{self.label} has no cancel route; the remote task may still complete and be billed.")
        response = self._read("DELETE", f"/v1/tasks/{_checked_id(task_id)}", headers={"Accept": "*/*"})
        if response.status_code == 404 or response.is_success:
            return
        raise self._error_from_response(response, creating=False)

    def organization(self) -> OrgInfo:
        """Read the organisation's credit balance and per-model limits (Runway only)."""
        if not self.config.spec.supports_balance:
            raise RemoteError(ErrorKind.UNSUPPORTED, f"{self.label} does not report a credit balance.")
        response = self._read("GET", "/v1/organization")
        if not response.is_success:
            raise self._error_from_response(response, creating=False)
        try:
            return parse.org_from_json(self._json_or_raise(response))
        except parse.Unreadable as exc:
            raise self._bad_response(str(exc)) from None

    # ---- uploads

    def upload_ephemeral(self, path: Path, filename: str, content_type: str) -> str:
        """Upload a file through Runway's ephemeral uploads and return its runway:// URI (valid 24 h)."""
        if not self.config.spec.supports_upload:
            raise RemoteError(ErrorKind.UNSUPPORTED, f"{self.label} has no upload route; send the file as a data URI.")
        size = os.path.getsize(path)
        if not UPLOAD_MIN_BYTES <= size <= UPLOAD_MAX_BYTES:
            raise RemoteError(ErrorKind.BAD_REQUEST, f"Runway uploads take files from 512 bytes to 200 MB; this one is {size} bytes.")
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
        if target.scheme != "https" and not (target.scheme == "http" and is_loopback(target.host)):
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
                error = RemoteError(ErrorKind.UNAVAILABLE, f"Uploading the input to Runway failed ({type(exc).__name__}).", retryable=True)
            else:
                if response.is_success:
                    return
                error = RemoteError(
                    ErrorKind.UNAVAILABLE if response.status_code >= 500 else ErrorKind.BAD_REQUEST,
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
                ErrorKind.DOWNLOAD_FAILED, f"Downloading the result from {self.label} failed ({type(exc).__name__}).", retryable=True
            ) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def _check_output_url(self, url: str) -> None:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise RemoteError(ErrorKind.OUTPUT_REFUSED, "The result link is not a valid URL.") from None
        if parsed.userinfo or not parsed.host:
            raise RemoteError(ErrorKind.OUTPUT_REFUSED, "The result link is not a plain web address.")
        if parsed.scheme == "http" and not is_loopback(parsed.host):
            raise RemoteError(ErrorKind.OUTPUT_REFUSED, "The result link is not https; it was not downloaded.")
        if parsed.scheme not in ("https", "http"):
            raise RemoteError(ErrorKind.OUTPUT_REFUSED, "The result link is not https; it was not downloaded.")
        if not _host_allowed(parsed, self.config.output_hosts):
            raise RemoteError(
                ErrorKind.OUTPUT_REFUSED,
                f"The result is hosted on {parsed.host}, which is not in ALEPH_OUTPUT_HOSTS; it was not downloaded.",
            )

    def _check_output_response(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (403, 404, 410):
            raise RemoteError(
                ErrorKind.OUTPUT_EXPIRED, "The result link has expired; read the task again for a fresh one.", retryable=True, status=status
            )
        if response.is_redirect:
            raise RemoteError(ErrorKind.OUTPUT_REFUSED, "The result link redirects elsewhere; redirects are not followed.", status=status)
        if status != 200:
            raise RemoteError(
                ErrorKind.DOWNLOAD_FAILED, f"Downloading the result failed ({status}).", retryable=status >= 500 or status == 429, status=status
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
        return RemoteError(ErrorKind.OUTPUT_REFUSED, f"The result is larger than the {limit_mb:g} MB limit; it was not stored.")

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
                    ErrorKind.UNAVAILABLE, f"{self.label} could not be reached ({type(exc).__name__}).", retryable=True
                )
            else:
                logger.info("%s %s %s -> %s", self.label, method, path, response.status_code)
                if not parse.is_transient(response) or parse.is_comet_bad_request(response) or parse.is_task_not_exist(response):
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
                ErrorKind.UNAVAILABLE,
                f"{self.label} is limiting requests for now; it will be asked again.",
                retryable=True,
                retry_after=parse.retry_after(response),
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
        if parse.is_comet_bad_request(response):
            return RemoteError(ErrorKind.BAD_REQUEST, f"{self.label} rejected the request{detail}", code=code, status=status)
        if status == 429:
            return self._rate_limited(response) if creating else self._read_error(response)
        if parse.is_transient(response):
            # For a create, a server error or timeout answer may come after the task was made.
            if creating:
                return self._unknown_outcome(f"it answered {status}", code=code, status=status)
            return self._read_error(response)
        if status == 401:
            return RemoteError(
                ErrorKind.AUTH,
                f"{self.label} did not accept the API key (401). Check the {self.config.spec.key_setting} "
                f"and {self.config.spec.base_url_setting} settings.",
                code=code,
                status=status,
            )
        if status == 403:
            return RemoteError(ErrorKind.AUTH, f"{self.label} refused this request (403){detail}", code=code, status=status)
        if 300 <= status < 400:
            return RemoteError(
                ErrorKind.BAD_RESPONSE, f"{self.label} answered with a redirect ({status}); check the base URL setting.", status=status
            )
        if status >= 400:
            if issues:
                listed = "; ".join(issues)
                return RemoteError(
                    ErrorKind.BAD_REQUEST,
                    f"{self.label} refused {len(issues)} setting{'s' if len(issues) > 1 else ''} of this edit — {listed}. "
                    "Nothing was created or billed.",
                    code=code,
                    status=status,
                    issues=tuple(issues),
                )
            reason = text or f"status {status}"
            return RemoteError(ErrorKind.BAD_REQUEST, f"{self.label} rejected the request: {reason}", code=code, status=status)
        return self._bad_response(f"unexpected status {status}")

    def _error_details(self, response: httpx.Response) -> tuple[str, str | None, list[str]]:
        """Return (text, provider code, field issues) from an error body, with any key redacted."""
        text, code, issues = parse.error_details(response)
        return self._redact(text), code, [self._redact(issue) for issue in issues]

    def _rate_limited(self, response: httpx.Response) -> RemoteError:
        text, code, _ = self._error_details(response)
        retry_after = parse.retry_after(response)
        if "daily" in text.lower():
            return RemoteError(
                ErrorKind.RATE_LIMITED,
                f"{self.label}'s daily task limit for your organisation has been reached. Nothing was created or billed; "
                "new edits can be submitted once the rolling 24-hour window frees up.",
                code=code,
                status=429,
            )
        if retry_after is None:
            return RemoteError(
                ErrorKind.RATE_LIMITED,
                f"{self.label} is refusing new tasks for now (too many requests; usually the organisation's daily task "
                "limit). Nothing was created or billed; try again later.",
                code=code,
                status=429,
            )
        return RemoteError(
            ErrorKind.RATE_LIMITED,
            f"{self.label} asked to wait {retry_after:g} s before the next request. Nothing was created or billed.",
            retryable=retry_after <= MAX_RETRY_AFTER,
            retry_after=retry_after,
            code=code,
            status=429,
        )

    def _unknown_outcome(self, reason: str, *, code: str | None = None, status: int | None = None) -> RemoteError:
        return RemoteError(
            ErrorKind.UNKNOWN_OUTCOME,
            f"The request reached {self.label} but no clear answer came back ({reason}), so it is not known whether "
            f"the task was created. If it was, it is billed. Check {self.label}'s dashboard before submitting again.",
            code=code,
            status=status,
        )

    def _connection_error(self, exc: Exception) -> RemoteError:
        return RemoteError(
            ErrorKind.CONNECTION,
            f"Could not connect to {self.label} ({type(exc).__name__}). Nothing was sent, so nothing was billed; try again in a moment.",
            retryable=True,
        )

    def _bad_response(self, reason: str) -> RemoteError:
        return RemoteError(ErrorKind.BAD_RESPONSE, f"{self.label} sent a reply this studio could not read ({reason}).", retryable=True)

    def _json_or_raise(self, response: httpx.Response) -> dict[str, Any]:
        data = parse.json_of(response)
        if data is None:
            raise self._bad_response("not JSON; check the base URL setting")
        return data

    def _parse_task(self, task_id: str, response: httpx.Response) -> RemoteTask:
        try:
            task = parse.task_from_json(task_id, self._json_or_raise(response))
        except parse.Unreadable as exc:
            raise self._bad_response(self._redact(str(exc))[:200]) from None
        # The provider's note on a failure is stored and shown: nothing key-like may ride along.
        return replace(task, failure=self._redact(task.failure)) if task.failure else task

    def _redact(self, text: str) -> str:
        text = text.replace(self.config.api_key, "[redacted]")
        return _KEY_PATTERNS.sub("[redacted]", text)


@dataclass(frozen=True)
class CreatedTask:
    id: str
    # The provider's estimate of the most the task may charge (None when it did not say).
    estimated_credits: int | None = None


def _checked_id(task_id: str) -> str:
    if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
        raise RemoteError(ErrorKind.BAD_REQUEST, "That is not a valid remote task id.")
    return task_id


def _host_allowed(url: httpx.URL, allowed: tuple[str, ...]) -> bool:
    default_port = 443 if url.scheme == "https" else 80
    host, port = url.host.lower(), url.port or default_port
    for entry in allowed:
        entry_host, entry_port = split_host_port(entry)
        if (entry_port or default_port) != port:
            continue
        if entry_host == host or (entry_host.startswith("*.") and host.endswith(entry_host[1:])):
            return True
    return False
