"""Request bodies for POST /v1/video_to_video, built from the catalogue and checked field by field
before anything is sent (or billed). Every model's body is closed (the spec's
`additionalProperties: false`), so only the fields its catalogue entry says it takes are written."""

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
    """A keyframe image pinned to a time (`seconds` in the clip that is sent) or to a position (`at`,
    0–1 of its length), with an optional edit window of whole seconds (end exclusive)."""

    uri: str
    seconds: float | None = None
    at: float | None = None
    window: tuple[int, int] | None = None

    def time_in(self, clip_seconds: float | None) -> float | None:
        """Return the keyframe's time in seconds (None when pinned by position to a clip of unknown length)."""
        if self.seconds is not None:
            return self.seconds
        return None if clip_seconds is None else (self.at or 0.0) * clip_seconds


@dataclass(frozen=True)
class Options:
    """The per-model choices beyond prompt, seed and references (each only for a model that takes it)."""

    framing: str = ""
    output_format: str = "mp4"
    prores_profile: str = ""
    duration: int | str | None = None
    resolution: str = ""
    audio: bool | None = None
    mode: str = ""


def build_body(
    model: str,
    prompt: str,
    video_uri: str,
    *,
    ratio: str | None,
    seed: int | None,
    reference_uris: Sequence[str] = (),
    reference_video_uris: Sequence[str] = (),
    keyframes: Sequence[Keyframe] = (),
    public_figure_threshold: str = "auto",
    video_seconds: float | None = None,
    options: Options = Options(),
) -> dict[str, Any]:
    """Build a create body for a catalogued model, validated field by field."""
    spec = catalog.MODELS.get(model)
    if spec is None:
        raise _bad(f"Unknown model {model!r}; use one of {', '.join(catalog.MODELS)}.")
    prompt = (prompt or "").strip()
    mode = options.mode or (spec.modes[0] if spec.modes else "")
    if (spec.prompt_required or mode in ("edit", "extend")) and not prompt:
        raise _bad(f"{model} needs a prompt describing the edit.")
    if _utf16_len(prompt) > spec.prompt_max:
        raise _bad(f"The prompt is too long: {model} takes at most {spec.prompt_max} characters.")
    _check_uri(video_uri, "video", "the input video", spec.video_data_uri_limit)
    body: dict[str, Any] = {"model": model, spec.video_field: video_uri}
    if prompt:
        body["promptText"] = prompt
    _references(body, spec, reference_uris)
    _reference_videos(body, spec, reference_video_uris)
    _keyframes(body, spec, keyframes, video_seconds)
    if not prompt and "keyframes" not in body and "references" not in body:
        raise _bad(f"{model} needs a prompt or at least one keyframe image.")
    _framing(body, spec, options.framing or spec.framings[0], ratio, mode)
    if seed is not None and spec.takes_seed:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
            raise _bad(f"The seed must be a whole number from 0 to {SEED_MAX}.")
        body["seed"] = seed
    if spec.takes_moderation:
        if public_figure_threshold not in PUBLIC_FIGURE_THRESHOLDS:
            raise _bad("The public-figure threshold must be 'auto' or 'low'.")
        body["contentModeration"] = {"publicFigureThreshold": public_figure_threshold}
    _output(body, spec, options)
    _length(body, spec, options, mode)
    if spec.modes:
        if mode not in spec.modes:
            raise _bad(f"{model} takes the modes {', '.join(spec.modes)}.")
        body["mode"] = mode
    return body


def _references(body: dict, spec: catalog.Model, uris: Sequence[str]) -> None:
    _check_count(spec.name, len(uris), spec.max_references, "reference image")
    for uri in uris:
        _check_uri(uri, "image", "the reference image", spec.image_data_uri_limit)
    if uris:
        body["references"] = [{"type": "image", "uri": u} if spec.typed_references else {"uri": u} for u in uris]


def _reference_videos(body: dict, spec: catalog.Model, uris: Sequence[str]) -> None:
    _check_count(spec.name, len(uris), spec.max_reference_videos, "reference video")
    for uri in uris:
        _check_uri(uri, "video", "a reference video", spec.video_data_uri_limit)
    if uris:
        body["referenceVideos"] = [{"type": "video", "uri": u} for u in uris]


def _keyframes(body: dict, spec: catalog.Model, frames: Sequence[Keyframe], video_seconds: float | None) -> None:
    _check_count(spec.name, len(frames), spec.max_keyframes, "keyframe image")
    if not frames:
        return
    windows = [f.window is not None for f in frames]
    if any(windows) and not all(windows):
        raise _bad("Either every keyframe has an edit window or none has.")
    limit = spec.window[1]
    items = []
    for frame in frames:
        _check_uri(frame.uri, "image", "a keyframe image", spec.image_data_uri_limit)
        if (frame.seconds is None) == (frame.at is None):
            raise _bad("Pin each keyframe either by time (seconds) or by position (0–1).")
        item: dict[str, Any] = {"uri": frame.uri}
        if frame.seconds is not None:
            if not 0 <= frame.seconds <= min(limit, video_seconds if video_seconds is not None else limit):
                raise _bad(f"A keyframe at {frame.seconds:g} s lies outside the clip.")
            item["seconds"] = round(frame.seconds, 3)
        else:
            if not 0 <= frame.at <= 1:
                raise _bad("A keyframe's position must be between 0 and 1.")
            item["at"] = round(frame.at, 4)
        if frame.window is not None:
            start, end = frame.window
            if not (isinstance(start, int) and isinstance(end, int)) or not 0 <= start < end <= limit:
                raise _bad(f"An edit window must be whole seconds from 0 to {limit:g}, its end after its start.")
            time = frame.time_in(video_seconds)
            if time is not None and not start <= time < end:
                raise _bad(f"A keyframe at {time:g} s lies outside its edit window {start}–{end} s.")
            item["range"] = {"start_seconds": start, "end_seconds": end}
        items.append(item)
    body["keyframes"] = items


def _framing(body: dict, spec: catalog.Model, framing: str, ratio: str | None, mode: str) -> None:
    if framing not in spec.framings:
        raise _bad(f"{spec.name} cannot {catalog.FRAMINGS.get(framing, framing).lower()}.")
    if framing == "keep" or (ratio is None and framing in ("crop", "model")):
        # Cropped before sending (nothing to say), or the model's own default ratio.
        return
    allowed = spec.ratios_for(framing)
    if ratio not in allowed:
        raise _bad(f"Unsupported ratio {ratio!r} for {spec.name}.")
    if framing == "outpaint":
        body["targetAspectRatio"] = ratio
    elif framing == "model":
        # Seedance 2.5 keeps the input's shape when it edits or extends it.
        if mode not in ("edit", "extend"):
            body["ratio"] = ratio
    elif spec.sends_crop_ratio:
        body["ratio"] = ratio


def _output(body: dict, spec: catalog.Model, options: Options) -> None:
    output_format = options.output_format or "mp4"
    if not spec.output_formats:
        if output_format != "mp4":
            raise _bad(f"{spec.name} delivers MP4 only.")
        return
    if output_format not in spec.output_formats:
        raise _bad(f"{spec.name} cannot deliver {output_format}.")
    body["outputFormat"] = output_format
    if output_format == "prores":
        profile = options.prores_profile or catalog.PRORES_PROFILES[0]
        if profile not in catalog.PRORES_PROFILES:
            raise _bad(f"Unknown ProRes profile {profile!r}.")
        body["proresProfile"] = profile
    elif options.prores_profile:
        raise _bad("A ProRes profile goes only with ProRes output.")


def _length(body: dict, spec: catalog.Model, options: Options, mode: str) -> None:
    duration = options.duration
    if mode == "edit":
        # Seedance 2.5 edits in place: the length follows the input.
        body["duration"] = "auto"
    elif duration is not None and duration != "":
        if spec.durations is None:
            raise _bad(f"{spec.name} takes no output length: it follows the input.")
        if duration == "auto":
            if not spec.duration_auto:
                raise _bad(f"{spec.name} needs an output length in seconds.")
        elif isinstance(duration, bool) or not isinstance(duration, int) or not spec.durations[0] <= duration <= spec.durations[1]:
            raise _bad(f"{spec.name} makes {spec.durations[0]} to {spec.durations[1]} s of video.")
        body["duration"] = duration
    if options.resolution:
        if options.resolution not in spec.resolutions:
            raise _bad(f"{spec.name} does not render at {options.resolution}.")
        body["resolution"] = options.resolution
    if options.audio is not None and spec.takes_audio:
        body["audio"] = bool(options.audio)


def _check_count(model: str, count: int, limit: int, thing: str) -> None:
    if count > limit == 0:
        raise _bad(f"{model} does not take a {thing}.")
    if count > limit:
        raise _bad(f"{model} takes at most {limit} {thing}{'s' if limit > 1 else ''}.")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_uri(uri: str, media: str, what: str, data_limit: int) -> None:
    if not isinstance(uri, str) or not uri:
        raise _bad(f"No URI for {what}.")
    if uri.startswith("data:"):
        if not uri.startswith(f"data:{media}/") or ";base64," not in uri[:100]:
            raise _bad(f"The data URI for {what} must be data:{media}/…;base64.")
        if len(uri) > data_limit:
            raise _bad(f"The data URI for {what} is longer than the {data_limit:,} characters the model takes.")
        return
    if uri.startswith("runway://"):
        if len(uri) > 5000:
            raise _bad(f"The runway:// URI for {what} is too long.")
        return
    if not uri.startswith("https://") or len(uri) > 2048:
        raise _bad(f"The URI for {what} must be an https URL (at most 2048 characters), a data URI or runway://.")


def _bad(message: str) -> RemoteError:
    return RemoteError(ErrorKind.BAD_REQUEST, message)
