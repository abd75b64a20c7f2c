"""Share links: the owner's create and revoke actions, and the public pages behind /s/<token>/."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST, require_safe
from django_ratelimit.core import get_usage
from django_ratelimit.decorators import ratelimit

from editor import forms
from editor.errors import Refusal
from editor.models import ShareLink
from editor.ratelimits import client_ip
from editor.services import notifications, reviews, sharing
from editor.serving import serve_stored_file
from editor.views.common import absolute_url, owned_edit
from editor.views.files import clip_download_name, downloaded_file
from editor.views.reviews import drawing_palette

SHARE_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    # The token never goes to another site in a Referer; the page's own forms (password, comments)
    # still post with their origin, which "no-referrer" would turn into "null" and CSRF would refuse.
    "Referrer-Policy": "same-origin",
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
        data = form.cleaned_data
        _, token = sharing.create_share_link(
            edit,
            expiry=data["expiry"],
            show_original=data["show_original"],
            password=data["password"],
            allow_download=data["allow_download"],
            allow_comments=data["allow_comments"],
            allow_approval=data["allow_approval"],
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


@require_POST
@login_required
def share_settings(request: HttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(ShareLink.objects.select_related("edit"), pk=pk, edit__project__owner=request.user)
    form = forms.ShareSettingsForm(request.POST)
    if form.is_valid():
        try:
            sharing.update_share_link(link, **form.cleaned_data)
        except Refusal as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "The link's settings are saved.")
    return redirect(link.edit.get_absolute_url())


# Wrong passwords allowed per link and address, and guest posts per link and per address.
UNLOCK_ATTEMPTS = "10/m"
GUEST_POSTS_PER_LINK = "30/m"
GUEST_POSTS_PER_CLIENT = "10/m"


def _limited(request: HttpRequest, group: str, rate: str, key) -> bool:
    """Count one attempt; tell whether the limit is already spent."""
    usage = get_usage(request, group=group, key=key, rate=rate, method="POST", increment=True)
    return bool(usage and usage["should_limit"])


@require_POST
@with_share_link
def share_unlock(request: HttpRequest, link: ShareLink, token: str) -> HttpResponse:
    key = lambda group, r: f"{link.pk}|{client_ip(r)}"  # noqa: E731
    if _limited(request, "share-unlock", UNLOCK_ATTEMPTS, key):
        return render(request, "editor/share_locked.html", {"token": token, "error": "Too many tries: wait a minute."}, status=429)
    if not sharing.unlock(link, request.POST.get("password", ""), request.session):
        return render(request, "editor/share_locked.html", {"token": token, "error": "That is not the password."}, status=403)
    return redirect("share_page", token)


@require_POST
@with_share_link
def share_comment(request: HttpRequest, link: ShareLink, token: str) -> HttpResponse:
    if not link.allow_comments or not sharing.is_unlocked(link, request.session):
        return _missing(request)
    if _limited(request, "share-post-link", GUEST_POSTS_PER_LINK, lambda g, r: str(link.pk)) or _limited(
        request, "share-post-client", GUEST_POSTS_PER_CLIENT, lambda g, r: f"{link.pk}|{client_ip(r)}"
    ):
        messages.error(request, "Too many comments in a minute: wait a little.")
        return redirect("share_page", token)
    form = forms.GuestCommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("share_page", token)
    data = form.cleaned_data
    try:
        drawing = reviews.read_drawing(request.POST.get("drawing", ""))
        reviews.add_guest_comment(link, data["name"], data["body"], data["seconds"], parent_id=data["parent"], drawing=drawing)
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        request.session["guest-name"] = data["name"][:60]
        notifications.guest_commented(link)
    return redirect("share_page", token)


@require_POST
@with_share_link
def share_review(request: HttpRequest, link: ShareLink, token: str) -> HttpResponse:
    if not link.allow_approval or not sharing.is_unlocked(link, request.session):
        return _missing(request)
    name = " ".join(request.POST.get("name", "").split())[:60]
    if not name:
        messages.error(request, "Give your name with your review.")
        return redirect("share_page", token)
    try:
        reviews.set_review(link.edit, request.POST.get("state", ""), f"{name} (guest)")
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        request.session["guest-name"] = name
        notifications.guest_reviewed(link, request.POST["state"], name)
    return redirect("share_page", token)


@require_GET
@ratelimit(key="ip", rate="60/m", group="share-page")
@with_share_link
def share_page(request: HttpRequest, link: ShareLink, token: str) -> HttpResponse:
    if not sharing.is_unlocked(link, request.session):
        return render(request, "editor/share_locked.html", {"token": token})
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
        "comments": reviews.thread(edit, link=link) if link.allow_comments else [],
        "guest_name": request.session.get("guest-name", ""),
        **drawing_palette(),
    }
    return render(request, "editor/share_page.html", context)


@require_safe
@ratelimit(key="ip", rate="1200/m", group="share-media")
@with_share_link
def share_media(request: HttpRequest, link: ShareLink, token: str, kind: str) -> HttpResponse:
    # The media stream needs the same unlocked session as the page.
    if not sharing.is_unlocked(link, request.session):
        return _missing(request)
    result = link.edit.result
    if kind == "result":
        return serve_stored_file(request, result.file, cache=NO_STORE)
    if kind == "poster":
        return serve_stored_file(request, result.poster, cache=NO_STORE)
    if kind == "download" and link.allow_download:
        return serve_stored_file(request, downloaded_file(result), download_name=clip_download_name(result), cache=NO_STORE)
    if kind == "original" and link.show_original:
        return serve_stored_file(request, link.edit.project.original.file, cache=NO_STORE)
    return _missing(request)
