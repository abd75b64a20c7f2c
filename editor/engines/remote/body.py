"""Request bodies for POST /v1/video_to_video, built from the catalogue and checked field by field
before anything is sent (or billed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from editor.constants import SEED_MAX
from editor.engines.remote import catalog
from editor.engines.remote.errors import ErrorKind, RemoteError

PUBLIC_FIGURE_THRESHOLDS = ("auto", "low")


@dataclass(frozen=True)
class Keyframe:
    """A keyframe image pinned to a time (seconds) in the clip that is sent."""

    seconds: float
    uri: str


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
    """Build a create body for a catalogued model, validated field by field."""
    spec = catalog.MODELS.get(model)
    if spec is None:
        raise _bad(f"Unknown model {model!r}; use one of {', '.join(catalog.MODELS)}.")
    prompt = (prompt or "").strip()
    if spec.prompt_required and not prompt:
        raise _bad(f"{model} needs a prompt describing the edit.")
    if _utf16_len(prompt) > spec.prompt_max:
        raise _bad(f"The prompt is too long: at most {spec.prompt_max} characters.")
    _check_uri(video_uri, "video", "the input video")
    body: dict[str, Any] = {"model": model, spec.video_field: video_uri}
    if prompt:
        body["promptText"] = prompt
    references = list(reference_uris)
    _check_count(model, len(references), spec.max_references, "reference image")
    for uri in references:
        _check_uri(uri, "image", "the reference image")
    if references:
        body["references"] = [{"type": "image", "uri": uri} for uri in references]
    frames = [k if isinstance(k, Keyframe) else Keyframe(float(k[0]), k[1]) for k in keyframes]
    _check_count(model, len(frames), spec.max_keyframes, "keyframe image")
    for frame in frames:
        if frame.seconds < 0 or (video_seconds is not None and frame.seconds > video_seconds):
            raise _bad(f"A keyframe at {frame.seconds:g} s lies outside the clip.")
        _check_uri(frame.uri, "image", "a keyframe image")
    if frames:
        body["keyframes"] = [{"seconds": round(f.seconds, 3), "uri": f.uri} for f in frames]
    if not prompt and not frames:
        raise _bad(f"{model} needs a prompt or at least one keyframe image.")
    if ratio is not None:
        if ratio not in spec.ratios:
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
    return RemoteError(ErrorKind.BAD_REQUEST, message)
