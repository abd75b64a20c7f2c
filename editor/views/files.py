"""Private media of the owner: clips (video, poster, download) and reference images, with HTTP Range."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_safe

from editor.models import ChangeMap, Clip, Reference
from editor.serving import serve_stored_file


def clip_download_name(clip: Clip, *, proxy: bool = False) -> str:
    """Name a download after what it is; a master keeps its real extension (.mov, .zip)."""
    stem = "original" if clip.is_original else f"edit-{clip.source_edit_id}"
    if proxy and clip.master:
        return f"{stem}-proxy{Path(clip.file).suffix}"
    return stem + Path(downloaded_file(clip)).suffix


def downloaded_file(clip: Clip) -> str:
    """Return the stored file a download gives: the master as delivered, where there is one."""
    return clip.master or clip.file


@require_safe
@login_required
def clip_media(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    if kind not in ("video", "poster", "download", "proxy", "heatmap"):
        raise Http404("No such media.")
    clip = get_object_or_404(Clip, pk=pk, project__owner=request.user)
    if kind == "poster":
        return serve_stored_file(request, clip.poster)
    if kind == "download":
        return serve_stored_file(request, downloaded_file(clip), download_name=clip_download_name(clip))
    if kind == "heatmap":
        change = ChangeMap.objects.filter(edit__result=clip, state=ChangeMap.State.DONE).exclude(heatmap="").first()
        if change is None:
            raise Http404("No change map for this clip.")
        return serve_stored_file(request, change.heatmap)
    if kind == "proxy":
        return serve_stored_file(request, clip.file, download_name=clip_download_name(clip, proxy=True))
    return serve_stored_file(request, clip.file)


@require_safe
@login_required
def reference_media(request: HttpRequest, pk: int) -> HttpResponse:
    reference = get_object_or_404(Reference, pk=pk, project__owner=request.user)
    return serve_stored_file(request, reference.file)
