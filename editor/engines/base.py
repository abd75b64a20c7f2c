"""The contract every engine honours: what an edit asks for and what it gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from editor.errors import Refusal

# Called with a fraction 0..1 of the work done. It may raise EditCancelled to stop the engine.
ProgressFn = Callable[[float], None]


@dataclass(frozen=True)
class EditRequest:
    input_path: Path
    output_path: Path
    prompt: str
    ratio: str
    seed: int
    references: tuple[Path, ...] = ()
    mask_path: Path | None = None
    # Written into the output MP4's metadata (prompt, seed, engine, ...).
    recipe: dict[str, str] = field(default_factory=dict)
    # Where an engine may keep what it learnt about an input (people masks), under the input's key
    # (its SHA-256); None keeps nothing.
    cache_dir: Path | None = None
    input_key: str = ""
    # Byte-identical output on every run (the encoder on one thread, slower); by default the
    # encoder uses every core and repeat runs give the same picture within encoding noise.
    exact: bool = False

    def cache_file(self, kind: str) -> Path | None:
        """Where what the engine learns of this input (kind: "people", "subject") is kept, or None."""
        if self.cache_dir is None or not self.input_key:
            return None
        return self.cache_dir / f"{kind}-{self.input_key}.npz"


@dataclass
class EditResult:
    output_path: Path
    # One line a user reads: "golden-hour look · reframe 960:960 · grain (seed 42)".
    summary: str
    # JSON-serialisable description of what was done, stored with the edit.
    plan: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class EngineError(Refusal):
    """The one error type engines raise: a stable code, a message a user can read, retryable or not."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, suggestions: tuple[str, ...] = ()):
        super().__init__(message, suggestions=suggestions)
        self.code = code
        self.retryable = retryable


class EditCancelled(Exception):
    """Raised by a progress callback to stop an engine mid-run."""
