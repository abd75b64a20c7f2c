"""The base of every refusal a user reads: its message says what was wrong, and nothing was changed.

Media checks, link imports, engines and services each raise their own subclass; a view catches
`Refusal` and shows the message.
"""

from __future__ import annotations


class Refusal(Exception):
    """Something the user asked for was refused; `message` says why in words they understand."""

    def __init__(self, message: str, *, suggestions: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        # Prompts that would work instead, for a refusal of a prompt (shown as buttons that fill it).
        self.suggestions = tuple(suggestions)


class InputError(Refusal):
    """A service refused the user's input. Nothing was stored."""
