"""Reviewing a version in the compare view: timecoded comments with replies, and its review state."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
import csv

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST, require_safe

from editor.errors import Refusal
from editor.models import Comment, Notification, Review
from editor.services import notifications as notification_service
from editor.services import reviews
from editor.serving import serve_stored_file
from editor.views.common import go, owned_edit


def _panel(request: HttpRequest, edit, *, error: str = "", status: int = 200) -> HttpResponse:
    context = {"edit": edit, "comments": reviews.thread(edit), "comment_error": error, **drawing_palette()}
    return render(request, "editor/_comments.html", context, status=status)


def drawing_palette() -> dict:
    """What the drawing tools offer, and the review states (for the review panel)."""
    return {
        "review_choices": Review.choices,
        "draw_tools": [("pen", "Pen"), ("arrow", "Arrow"), ("box", "Box")],
        "draw_colours": reviews.COLOURS,
    }


@require_POST
@login_required
def comment_add(request: HttpRequest, pk: int) -> HttpResponse:
    edit = owned_edit(request, pk)
    parent = None
    if request.POST.get("parent", "").isdigit():
        parent = get_object_or_404(Comment, pk=int(request.POST["parent"]), edit=edit)
    try:
        seconds = float(request.POST.get("seconds") or 0)
        drawing = reviews.read_drawing(request.POST.get("drawing", ""))
        comment = reviews.add_comment(edit, request.user, request.POST.get("body", ""), seconds, parent=parent, drawing=drawing)
    except ValueError:
        error = "The comment's time could not be read."
    except Refusal as exc:
        error = exc.message
    else:
        error = ""
        notification_service.replied(comment)
    if request.htmx:
        return _panel(request, edit, error=error, status=400 if error else 200)
    if error:
        messages.error(request, error)
    return go(request, reverse("compare", args=[edit.pk]))


@require_POST
@login_required
def comment_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    comment = get_object_or_404(Comment.objects.select_related("edit"), pk=pk, edit__project__owner=request.user)
    reviews.resolve(comment, request.POST.get("resolved") != "0")
    edit = owned_edit(request, comment.edit_id)
    if request.htmx:
        return _panel(request, edit)
    return go(request, reverse("compare", args=[edit.pk]))


@require_POST
@login_required
def review_set(request: HttpRequest, pk: int) -> HttpResponse:
    edit = owned_edit(request, pk)
    try:
        reviews.set_review(edit, request.POST.get("state", ""), request.user.get_username())
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Edit #{edit.pk}: {Review(request.POST['state']).label.lower()}.")
    return go(request, request.POST.get("next") or reverse("compare", args=[edit.pk]))


@require_GET
@login_required
def comments_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """Download a version's comments as CSV (replies after their comment)."""
    edit = owned_edit(request, pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="edit-{edit.pk}-comments.csv"'
    response.write("\ufeff")  # spreadsheets read UTF-8 with its mark
    csv.writer(response).writerows(reviews.csv_rows(edit))
    return response


@require_GET
@login_required
def comments_print(request: HttpRequest, pk: int) -> HttpResponse:
    """A printable page of a version's comments, each with the frame it is pinned to."""
    edit = owned_edit(request, pk)
    return render(request, "editor/comments_print.html", {"edit": edit, "comments": reviews.thread(edit)})


@require_safe
@login_required
def comment_frame(request: HttpRequest, pk: int) -> HttpResponse:
    comment = get_object_or_404(Comment, pk=pk, edit__project__owner=request.user)
    if not comment.thumbnail:
        raise Http404("No frame for this comment.")
    return serve_stored_file(request, comment.thumbnail)


@require_GET
@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    """The latest notifications; opening the list marks them read."""
    items = list(Notification.objects.filter(user=request.user).select_related("edit")[:50])
    notification_service.read_all(request.user)
    return render(request, "editor/notifications.html", {"items": items})
