"""Private media of the owner: clips (video, poster, download) and reference images, with HTTP Range."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_safe

from editor.models import Clip, Reference
from editor.serving import serve_stored_file


def clip_download_name(clip: Clip) -> str:
    stem = "original" if clip.is_original else f"edit-{clip.source_edit_id}"
    return stem + Path(clip.file).suffix


@require_safe
@login_required
def clip_media(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    if kind not in ("video", "poster", "download"):
        raise Http404("No such media.")
    clip = get_object_or_404(Clip, pk=pk, project__owner=request.user)
    if kind == "poster":
        return serve_stored_file(request, clip.poster)
    if kind == "download":
        return serve_stored_file(request, clip.file, download_name=clip_download_name(clip))
    return serve_stored_file(request, clip.file)


@require_safe
@login_required
def reference_media(request: HttpRequest, pk: int) -> HttpResponse:
    reference = get_object_or_404(Reference, pk=pk, project__owner=request.user)
    return serve_stored_file(request, reference.file)
