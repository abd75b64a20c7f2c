"""What a FAILED task's failureCode means to a user, and whether a (new, billed) retry may be offered."""

from __future__ import annotations

from dataclasses import dataclass

from editor.engines.remote import catalog


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
            f"({catalog.windows_text()}) and a PNG or JPEG reference image, then submit again."
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
