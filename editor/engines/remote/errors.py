"""The one error type of the remote engines: what went wrong (an enum), whether trying again may help,
and a message a user can read. The API key never appears in a message or a repr."""

from __future__ import annotations

from enum import StrEnum, auto

from editor.engines.base import EngineError


class ErrorKind(StrEnum):
    BAD_REQUEST = auto()  # the provider (or the local checks before sending) refused the request
    AUTH = auto()  # the key was refused
    RATE_LIMITED = auto()  # a create was refused for now; nothing was created or billed
    UNKNOWN_OUTCOME = auto()  # a create reached the provider but no clear answer came back
    CONNECTION = auto()  # nothing was sent (connection refused or timed out before sending)
    UNAVAILABLE = auto()  # reads kept failing; ask again later
    NOT_FOUND = auto()
    UNSUPPORTED = auto()  # the provider has no such route
    BAD_RESPONSE = auto()  # the reply could not be read
    OUTPUT_EXPIRED = auto()  # a result's signed link died; a fresh read of the task gives a new one
    OUTPUT_REFUSED = auto()  # a result's link or size is not acceptable; it was not downloaded
    DOWNLOAD_FAILED = auto()

    @property
    def passing(self) -> bool:
        """Tell whether this kind of failure of a read passes by itself, so the read is simply repeated later."""
        return self in (ErrorKind.UNAVAILABLE, ErrorKind.CONNECTION, ErrorKind.RATE_LIMITED, ErrorKind.DOWNLOAD_FAILED)


class RemoteError(EngineError):
    """A remote call failed; `kind` says how, the message is for the user.

    `code` is the provider's own error code when it gave one, else the kind.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        code: str | None = None,
        status: int | None = None,
        issues: tuple[str, ...] = (),
    ):
        kind = ErrorKind(kind)
        super().__init__(code or kind.value, message, retryable=retryable)
        self.kind = kind
        self.retry_after = retry_after
        self.status = status
        # The provider's field-level objections, each in words ("Keyframe 2, edit window, end: …").
        self.issues = issues

    def __repr__(self) -> str:
        return (
            f"RemoteError(kind={self.kind.value!r}, code={self.code!r}, retryable={self.retryable}, "
            f"message={self.message!r})"
        )
