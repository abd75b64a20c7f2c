"""Share links: the owner's create and revoke actions, and the public pages behind /s/<token>/."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST, require_safe
from django_ratelimit.decorators import ratelimit

from editor import forms
from editor.errors import Refusal
from editor.models import ShareLink
from editor.services import sharing
from editor.serving import serve_stored_file
from editor.views.common import absolute_url, owned_edit
from editor.views.files import clip_download_name, downloaded_file

SHARE_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}
NO_STORE = "no-store, private"


def _public(response: HttpResponse) -> HttpResponse:
    for header, value in SHARE_HEADERS.items():
        response[header] = value
    response["Cache-Control"] = NO_STORE
    return response


def _missing(request: HttpRequest) -> HttpResponse:
    # Unknown, revoked and expired tokens look exactly the same from outside.
    return _public(render(request, "editor/share_missing.html", status=404))


def with_share_link(view):
    """Resolve the token on every request, so a revoked link stops working at once."""

    @wraps(view)
    def wrapper(request: HttpRequest, token: str, *args, **kwargs) -> HttpResponse:
        link = sharing.active_link(token)
        if link is None:
            return _missing(request)
        return _public(view(request, link, token, *args, **kwargs))

    return wrapper


@require_POST
@login_required
def share_create(request: HttpRequest, pk: int) -> HttpResponse:
    edit = owned_edit(request, pk)
    form = forms.ShareForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose when the link expires.")
        return redirect(edit.get_absolute_url())
    try:
        _, token = sharing.create_share_link(
            edit, expiry=form.cleaned_data["expiry"], show_original=form.cleaned_data["show_original"]
        )
    except Refusal as exc:
        messages.error(request, exc.message)
        return redirect(edit.get_absolute_url())
    url = absolute_url(request, reverse("share_page", args=[token]))
    # The token is only ever shown now: only its hash is stored.
    messages.success(request, f"Share link for edit #{edit.pk} (copy it now, it is shown once): {url}")
    return redirect(edit.get_absolute_url())


@require_POST
@login_required
def share_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(ShareLink.objects.select_related("edit"), pk=pk, edit__project__owner=request.user)
    sharing.revoke_share_link(link)
    messages.success(request, "The link is revoked: it no longer opens, and playback through it stops.")
    return redirect(link.edit.get_absolute_url())


@require_GET
@ratelimit(key="ip", rate="60/m", group="share-page")
@with_share_link
def share_page(request: HttpRequest, link: ShareLink, token: str) -> HttpResponse:
    sharing.count_view(link)
    edit = link.edit
    original = edit.project.original if link.show_original else None
    context = {
        "link": link,
        "edit": edit,
        "result": edit.result,
        "original": original,
        "token": token,
        "page_url": absolute_url(request, request.get_full_path()),
        "poster_url": absolute_url(request, reverse("share_media", args=[token, "poster"])),
        "video_url": absolute_url(request, reverse("share_media", args=[token, "result"])),
    }
    return render(request, "editor/share_page.html", context)


@require_safe
@ratelimit(key="ip", rate="1200/m", group="share-media")
@with_share_link
def share_media(request: HttpRequest, link: ShareLink, token: str, kind: str) -> HttpResponse:
    result = link.edit.result
    if kind == "result":
        return serve_stored_file(request, result.file, cache=NO_STORE)
    if kind == "poster":
        return serve_stored_file(request, result.poster, cache=NO_STORE)
    if kind == "download":
        return serve_stored_file(request, downloaded_file(result), download_name=clip_download_name(result), cache=NO_STORE)
    if kind == "original" and link.show_original:
        return serve_stored_file(request, link.edit.project.original.file, cache=NO_STORE)
    return _missing(request)
