"""The base of every refusal a user reads: its message says what was wrong, and nothing was changed.

Media checks, link imports, engines and services each raise their own subclass; a view catches
`Refusal` and shows the message.
"""

from __future__ import annotations


class Refusal(Exception):
    """Something the user asked for was refused; `message` says why in words they understand."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InputError(Refusal):
    """A service refused the user's input. Nothing was stored."""
