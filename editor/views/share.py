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
from editor.models import Edit, SharedVersion, ShareLink, Status
from editor.ratelimits import client_ip
from editor.services import notifications, reviews, sharing
from editor.serving import serve_stored_file
from editor.views.common import absolute_url, owned_edit, owned_project
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
    return _create(request, edit, [], back=edit.get_absolute_url())


@require_POST
@login_required
def share_playlist(request: HttpRequest, pk: int) -> HttpResponse:
    """Share several finished versions of a project on one link, in the order they were ticked."""
    project = owned_project(request, pk)
    wanted = [int(v) for v in request.POST.getlist("versions") if v.isdigit()]
    found = {e.pk: e for e in Edit.objects.filter(project=project, pk__in=wanted, status=Status.SUCCEEDED)}
    chosen = [found[v] for v in dict.fromkeys(wanted) if v in found]
    back = project.get_absolute_url() + "#review-playlist"
    if len(chosen) != len(set(wanted)) or not chosen:
        messages.error(request, "Tick the finished versions of this project to share." if not wanted else "Some of those versions are not finished versions of this project.")
        return redirect(back)
    return _create(request, chosen[0], chosen[1:], back=back)


def _create(request: HttpRequest, edit: Edit, also: list[Edit], *, back: str) -> HttpResponse:
    form = forms.ShareForm(request.POST)
    if not form.is_valid():
        messages.error(request, forms.form_errors(form))
        return redirect(back)
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
            also=also,
            watermark_text=data["watermark_text"],
            watermark_position=data["watermark_position"],
            watermark_opacity=data["watermark_opacity"],
        )
    except Refusal as exc:
        messages.error(request, exc.message)
        return redirect(back)
    url = absolute_url(request, reverse("share_page", args=[token]))
    what = f"edit #{edit.pk}" if not also else f"{len(also) + 1} versions"
    # The token is only ever shown now: only its hash is stored.
    messages.success(request, f"Share link for {what} (copy it now, it is shown once): {url}")
    return redirect(back)


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
    if not form.is_valid():
        messages.error(request, forms.form_errors(form))
    else:
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


def _posted_version(request: HttpRequest, link: ShareLink) -> SharedVersion | None:
    position = request.POST.get("version", "1")
    return sharing.version_at(link, int(position)) if position.isdigit() and len(position) < 4 else None


@require_POST
@with_share_link
def share_comment(request: HttpRequest, link: ShareLink, token: str) -> HttpResponse:
    version = _posted_version(request, link)
    if version is None or not link.allow_comments or not sharing.is_unlocked(link, request.session):
        return _missing(request)
    back = reverse("share_version", args=[token, version.position])
    if _limited(request, "share-post-link", GUEST_POSTS_PER_LINK, lambda g, r: str(link.pk)) or _limited(
        request, "share-post-client", GUEST_POSTS_PER_CLIENT, lambda g, r: f"{link.pk}|{client_ip(r)}"
    ):
        messages.error(request, "Too many comments in a minute: wait a little.")
        return redirect(back)
    form = forms.GuestCommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, forms.form_errors(form))
        return redirect(back)
    data = form.cleaned_data
    try:
        drawing = reviews.read_drawing(request.POST.get("drawing", ""))
        comment = reviews.add_guest_comment(
            link, version.edit, data["name"], data["body"], data["seconds"], parent_id=data["parent"], drawing=drawing, email=data["email"]
        )
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        request.session["guest-name"] = data["name"][:60]
        request.session["guest-email"] = data["email"]
        notifications.guest_commented(comment)
        notifications.replied(comment)
    return redirect(back)


@require_POST
@with_share_link
def share_review(request: HttpRequest, link: ShareLink, token: str) -> HttpResponse:
    version = _posted_version(request, link)
    if version is None or not link.allow_approval or not sharing.is_unlocked(link, request.session):
        return _missing(request)
    back = reverse("share_version", args=[token, version.position])
    name = " ".join(request.POST.get("name", "").split())[:60]
    if not name:
        messages.error(request, "Give your name with your review.")
        return redirect(back)
    try:
        reviews.set_review(version.edit, request.POST.get("state", ""), f"{name} (guest)")
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        request.session["guest-name"] = name
        notifications.guest_reviewed(version.edit, request.POST["state"], name)
    return redirect(back)


def _media_url(token: str, position: int, kind: str) -> str:
    # The first version keeps the short addresses a one-version link has always had.
    if position == 1:
        return reverse("share_media", args=[token, kind])
    return reverse("share_version_media", args=[token, position, kind])


def _served(version: SharedVersion) -> tuple[str, str] | None:
    """The files a link serves for a version, (video, poster): its watermarked copy on a link with a
    watermark (None until the copy is made), else the result."""
    if version.link.watermark_text:
        if version.copy_state != SharedVersion.Copy.READY:
            return None
        return version.copy_file, version.copy_poster
    return version.edit.result.file, version.edit.result.poster


@require_GET
@ratelimit(key="ip", rate="60/m", group="share-page")
@with_share_link
def share_page(request: HttpRequest, link: ShareLink, token: str, n: int = 1) -> HttpResponse:
    if not sharing.is_unlocked(link, request.session):
        return render(request, "editor/share_locked.html", {"token": token})
    a, b = request.GET.get("a", ""), request.GET.get("b", "")
    if a.isdigit() and b.isdigit() and len(a) < 4 and len(b) < 4:
        return redirect("share_compare", token, int(a), int(b))
    version = sharing.version_at(link, n)
    if version is None:
        return _missing(request)
    version.link = link
    sharing.count_view(link)
    edit = version.edit
    playlist = sharing.playlist(link)
    places = [v.position for v in playlist]
    here = places.index(version.position)
    media = lambda kind: _media_url(token, version.position, kind)  # noqa: E731
    context = {
        "link": link,
        "version": version,
        "edit": edit,
        "result": edit.result,
        "served": _served(version) is not None,
        "original": edit.project.original if link.show_original else None,
        "token": token,
        "playlist": playlist if len(playlist) > 1 else [],
        "previous": places[here - 1] if here > 0 else None,
        "next": places[here + 1] if here + 1 < len(places) else None,
        "media": {kind: media(kind) for kind in ("result", "poster", "download", "original")},
        "page_url": absolute_url(request, request.get_full_path()),
        "poster_url": absolute_url(request, media("poster")),
        "video_url": absolute_url(request, media("result")),
        "comments": reviews.thread(edit, link=link) if link.allow_comments else [],
        "guest_name": request.session.get("guest-name", ""),
        "guest_email": request.session.get("guest-email", ""),
        **drawing_palette(),
    }
    return render(request, "editor/share_page.html", context)


@require_GET
@ratelimit(key="ip", rate="60/m", group="share-page")
@with_share_link
def share_compare(request: HttpRequest, link: ShareLink, token: str, a: int, b: int) -> HttpResponse:
    """Two versions of a review playlist under one transport (side by side or a wipe)."""
    if not sharing.is_unlocked(link, request.session):
        return render(request, "editor/share_locked.html", {"token": token})
    left, right = sharing.version_at(link, a), sharing.version_at(link, b)
    if left is None or right is None:
        return _missing(request)
    left.link = right.link = link
    context = {
        "link": link,
        "token": token,
        "left": left,
        "right": right,
        "pair": [left, right],
        "ready": _served(left) is not None and _served(right) is not None,
        "left_src": _media_url(token, a, "result"),
        "right_src": _media_url(token, b, "result"),
        "right_poster": _media_url(token, b, "poster"),
    }
    return render(request, "editor/share_compare.html", context)


@require_safe
@ratelimit(key="ip", rate="1200/m", group="share-media")
@with_share_link
def share_media(request: HttpRequest, link: ShareLink, token: str, kind: str, n: int = 1) -> HttpResponse:
    # The media stream needs the same unlocked session as the page.
    if not sharing.is_unlocked(link, request.session):
        return _missing(request)
    version = sharing.version_at(link, n)
    if version is None:
        return _missing(request)
    version.link = link
    result = version.edit.result
    served = _served(version)
    if kind == "original" and link.show_original:
        return serve_stored_file(request, version.edit.project.original.file, cache=NO_STORE)
    if served is None:
        return _missing(request)
    video, poster = served
    if kind == "result":
        return serve_stored_file(request, video, cache=NO_STORE)
    if kind == "poster":
        return serve_stored_file(request, poster, cache=NO_STORE)
    if kind == "download" and link.allow_download:
        if link.watermark_text:
            # A watermarked link never gives out the clean result.
            return serve_stored_file(request, video, download_name=f"edit-{version.edit_id}-watermarked.mp4", cache=NO_STORE)
        return serve_stored_file(request, downloaded_file(result), download_name=clip_download_name(result), cache=NO_STORE)
    return _missing(request)
