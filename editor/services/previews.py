"""Preview on one frame: the local engine's plan for the edit form's settings, rendered on the
frame the player is paused on, in the web process and without the queue (editor.engines.local.preview).
It costs one frame's work, and each user may ask a limited number of times a minute (views)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
from django.conf import settings

from editor.engines import local as local_engine
from editor.engines.base import EditRequest, EngineError
from editor.errors import InputError
from editor.models import Clip, Reference
# Services import one another as modules: see services/remote_edits.py.
from editor.services import edits
from editor.storage import local_copy

JPEG_QUALITY = 88


@dataclass(frozen=True)
class FramePreview:
    jpeg: bytes
    summary: str
    notes: list[str]
    width: int
    height: int


def preview_frame(
    clip: Clip, prompt: str, *, ratio: str, seed: int, references: list[Reference], seconds: float, has_mask: bool = False
) -> FramePreview:
    """Render a local edit's plan on the frame of `clip` at `seconds`; refuse what the engine refuses."""
    with tempfile.TemporaryDirectory(prefix="aleph-preview-") as tmp, local_copy(clip.file) as source:
        request = EditRequest(
            input_path=source,
            output_path=Path(tmp) / "unused.mp4",
            prompt=prompt,
            ratio=ratio,
            seed=seed,
            references=tuple(edits._local_references(references, Path(tmp))),
            cache_dir=Path(settings.ALEPH_CACHE_DIR),
            input_key=clip.sha256,
        )
        try:
            shown = local_engine.preview(request, seconds, has_mask=has_mask)
        except EngineError as exc:
            raise InputError(exc.message, suggestions=exc.suggestions) from None
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(shown.picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise InputError("The preview could not be made.")
    height, width = shown.picture.shape[:2]
    return FramePreview(jpeg.tobytes(), shown.summary, shown.notes, width, height)
