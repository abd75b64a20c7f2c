"""Reading what the providers answer: tasks (Runway's bare object and CometAPI's envelope), error
bodies, Retry-After, and which answers mean "try again"."""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx


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
    # What the provider charged, once the task has ended (0 for a refunded task); None when it did not say.
    cost_credits: int | None = None
    # The provider's estimate while the task is unfinished.
    estimated_credits: int | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class OrgInfo:
    credit_balance: int
    max_monthly_credit_spend: int | None = None


class Unreadable(Exception):
    """A reply this studio cannot read; the text says what was wrong with it."""


def task_from_json(task_id: str, data: dict[str, Any]) -> RemoteTask:
    """Read a task from a GET /v1/tasks/{id} reply; raise Unreadable when it is not one."""
    if isinstance(data.get("data"), dict) and "status" not in data:
        return _from_envelope(task_id, data)
    if isinstance(data.get("code"), str) and data["code"] != "success" and "status" not in data:
        raise Unreadable(str(data.get("message") or data["code"]))
    status = _status(data.get("status"))
    if status is None:
        raise Unreadable(f"unknown task status {str(data.get('status'))[:40]!r}")
    return _task(
        str(data.get("id") or task_id),
        status,
        data.get("progress"),
        data.get("output"),
        data.get("failure"),
        data.get("failureCode"),
        _parse_time(data.get("createdAt")),
        credits_of(data.get("cost")),
        credits_of(data.get("estimatedCost")),
    )


def credits_of(value: Any) -> int | None:
    """Read a {"credits": n} cost object (a fraction of a credit counts as a whole one)."""
    credits = value.get("credits") if isinstance(value, dict) else None
    if isinstance(credits, bool) or not isinstance(credits, (int, float)) or not math.isfinite(credits) or credits < 0:
        return None
    return math.ceil(credits)


def _from_envelope(task_id: str, envelope: dict[str, Any]) -> RemoteTask:
    outer = envelope["data"]
    inner = outer.get("data") if isinstance(outer.get("data"), dict) else {}
    # Runway's own status (inside) is the more precise; CometAPI's (outside) is the fallback.
    status = _status(inner.get("status")) or _status(outer.get("status"))
    if status is None:
        raise Unreadable(f"unknown task status {str(outer.get('status'))[:40]!r}")
    progress = inner.get("progress") if inner.get("progress") is not None else outer.get("progress")
    return _task(
        str(inner.get("id") or outer.get("task_id") or task_id),
        status,
        progress,
        inner.get("output") or outer.get("output"),
        inner.get("failure") or outer.get("fail_reason") or None,
        inner.get("failureCode"),
        _parse_time(inner.get("createdAt")) or _parse_time(outer.get("submit_time")),
        credits_of(inner.get("cost")),
        credits_of(inner.get("estimatedCost")),
    )


def org_from_json(data: dict[str, Any]) -> OrgInfo:
    """Read the organisation's credit balance and monthly cap; raise Unreadable without a balance."""
    balance = data.get("creditBalance")
    if not isinstance(balance, int):
        raise Unreadable("the organisation reply has no credit balance")
    tier = data.get("tier") if isinstance(data.get("tier"), dict) else {}
    return OrgInfo(balance, _int_or_none(tier.get("maxMonthlyCreditSpend")))


def error_details(response: httpx.Response) -> tuple[str, str | None, list[str]]:
    """Return (text, provider code, field issues) from Runway's or CometAPI's error body, unredacted."""
    data = json_of(response)
    if data is None:
        return "", None, []
    error = data.get("error")
    code = None
    if isinstance(error, dict):
        text = str(error.get("message") or "")
        code = str(error["code"]) if error.get("code") else None
    else:
        text = str(error or data.get("message") or "")
        if isinstance(data.get("code"), str) and data["code"] != "success":
            code = data["code"]
    issues = [plain_issue(issue.get("path"), issue.get("message")) for issue in _issues(data)]
    return " ".join(text.split())[:500], code, issues


# The words a user knows for the request's fields, for the provider's field-level 400 issues.
FIELD_WORDS = {
    "model": "Model",
    "promptText": "Prompt",
    "videoUri": "Input video",
    "promptVideo": "Input video",
    "keyframes": "Keyframe",
    "references": "Reference image",
    "referenceVideos": "Reference video",
    "referenceAudio": "Reference audio",
    "range": "edit window",
    "start_seconds": "start",
    "end_seconds": "end",
    "seconds": "time",
    "at": "position",
    "uri": "file",
    "seed": "Seed",
    "ratio": "Ratio",
    "targetAspectRatio": "Outpaint ratio",
    "outputFormat": "Output format",
    "proresProfile": "ProRes profile",
    "contentModeration": "Moderation",
    "publicFigureThreshold": "public-figure threshold",
    "duration": "Length",
    "resolution": "Resolution",
    "audio": "Sound",
    "mode": "Mode",
}


def plain_issue(path: Any, message: Any) -> str:
    """Say one field-level issue in words: (["keyframes", 1, "range", "end_seconds"], "…") becomes
    "Keyframe 2, edit window, end: …"."""
    words: list[str] = []
    for part in path if isinstance(path, list) else [path] if path else []:
        if isinstance(part, (int, float)) and not isinstance(part, bool) and words:
            words[-1] = f"{words[-1]} {int(part) + 1}"
        else:
            words.append(FIELD_WORDS.get(str(part), str(part)))
    text = " ".join(str(message or "invalid").split())[:300]
    return f"{', '.join(words)}: {text}" if words else text


def issue_fields(response: httpx.Response) -> list[str]:
    """Return the top-level fields the provider's 400 issues name."""
    data = json_of(response)
    if data is None:
        return []
    fields = []
    for issue in _issues(data):
        path = issue.get("path")
        first = path[0] if isinstance(path, list) and path else path
        if isinstance(first, str):
            fields.append(first)
    return fields


def _issues(data: dict[str, Any]) -> list[dict[str, Any]]:
    issues = data.get("issues")
    return [i for i in issues if isinstance(i, dict)] if isinstance(issues, list) else []


def retry_after(response: httpx.Response) -> float | None:
    """Return the seconds a provider asked to wait (Retry-After-Ms, or Retry-After in seconds or as a date)."""
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


def is_transient(response: httpx.Response) -> bool:
    return response.status_code in (408, 409, 429) or response.status_code >= 500


def is_comet_bad_request(response: httpx.Response) -> bool:
    # CometAPI reports some validation errors as a 500 carrying error.code "invalid_request".
    if response.status_code < 500:
        return False
    data = json_of(response)
    error = data.get("error") if data else None
    return isinstance(error, dict) and error.get("code") == "invalid_request"


def is_task_not_exist(response: httpx.Response) -> bool:
    data = json_of(response)
    if data is None:
        return False
    error = data.get("error")
    codes = [data.get("code"), data.get("message")]
    if isinstance(error, dict):
        codes += [error.get("code"), error.get("message")]
    return any(isinstance(c, str) and "task_not_exist" in c for c in codes)


def json_of(response: httpx.Response) -> dict[str, Any] | None:
    """Return a reply's JSON object, or None when it is not one."""
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _task(task_id, status, progress, outputs, failure, failure_code, created_at, cost=None, estimate=None) -> RemoteTask:
    urls = [u for u in outputs if isinstance(u, str) and u] if isinstance(outputs, list) else []
    failure = str(failure) if failure else None
    failure_code = str(failure_code) if failure_code else None
    if status == TaskStatus.SUCCEEDED and not urls:
        # A success without a video is of no use to anyone; report it as the provider's failure.
        status, failure = TaskStatus.FAILED, "The task finished without an output video."
    cost = cost if status in TERMINAL else None
    estimate = None if status in TERMINAL else estimate
    return RemoteTask(task_id, status, _progress(progress), urls, failure, failure_code, created_at, cost, estimate)


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


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
