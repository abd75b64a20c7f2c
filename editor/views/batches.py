"""The contact sheet: a batch's results played together under one transport, cell by cell."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from editor.models import Batch, Edit, Status
from editor.services import batches, changes
from editor.views.common import go


@require_GET
@login_required
def batch_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(Batch.objects.select_related("project"), pk=pk, project__owner=request.user)
    cells = batches.sheet(batch)
    inputs = {c.edit.input_clip_id: c.edit.input_clip for c in cells}
    context = {
        "batch": batch,
        "cells": cells,
        # The batch's input, played in the first cell (a batch has one input).
        "input_clip": next(iter(inputs.values()), None),
        "done": sum(1 for c in cells if c.edit.is_succeeded),
        "fps": next((c.edit.result.fps for c in cells if c.edit.is_succeeded), 25),
        "unfinished": sum(1 for c in cells if c.edit.is_cancellable),
        "queued": sum(1 for c in cells if c.edit.status == Status.QUEUED),
    }
    return render(request, "editor/batch_sheet.html", context)


@require_GET
@login_required
@vary_on_headers("HX-Request")
def batch_cell(request: HttpRequest, pk: int) -> HttpResponse:
    """Render one cell for its poll; once the edit has finished, 286 stops the polling."""
    edit = get_object_or_404(Edit.objects.select_related("result", "input_clip"), pk=pk, project__owner=request.user, batch__isnull=False)
    if not request.htmx:
        return redirect("batch_sheet", edit.batch_id)
    response = render(request, "editor/_sheet_cell.html", {"cell": batches.cell(edit)})
    if edit.is_finished:
        # Its change map then follows in its own poll.
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_POST
@login_required
def edit_star(request: HttpRequest, pk: int) -> HttpResponse:
    """Star or unstar an edit (S on the contact sheet)."""
    edit = get_object_or_404(Edit, pk=pk, project__owner=request.user)
    starred = not edit.starred
    Edit.objects.filter(pk=edit.pk).update(starred=starred)
    if request.htmx:
        return HttpResponse("★" if starred else "☆")
    return go(request, request.POST.get("next") or edit.get_absolute_url())


def _owned_batch(request: HttpRequest, pk: int) -> Batch:
    return get_object_or_404(Batch, pk=pk, project__owner=request.user)


@require_POST
@login_required
def batch_pause(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _owned_batch(request, pk)
    waiting = batches.pause(batch)
    messages.success(request, f"Paused: {waiting} queued edit{'s' if waiting != 1 else ''} will wait. Edits already running go on.")
    return go(request, reverse("batch_sheet", args=[pk]))


@require_POST
@login_required
def batch_resume(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _owned_batch(request, pk)
    started = batches.resume(batch)
    messages.success(request, f"Resumed: {started} queued edit{'s' if started != 1 else ''} back in the queue.")
    return go(request, reverse("batch_sheet", args=[pk]))


@require_POST
@login_required
def batch_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _owned_batch(request, pk)
    cancelled = batches.cancel_unfinished(batch)
    messages.success(request, f"Cancelled {cancelled} unfinished edit{'s' if cancelled != 1 else ''} of this batch.")
    return go(request, reverse("batch_sheet", args=[pk]))


@require_POST
@login_required
def edit_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Run a queued edit of a batch next, or last."""
    edit = get_object_or_404(Edit, pk=pk, project__owner=request.user, batch__isnull=False)
    where = "first" if request.POST.get("where") == "first" else "last"
    if not batches.move_in_queue(edit, where):
        messages.error(request, f"Edit #{edit.pk} is not waiting in the queue any more.")
    return go(request, reverse("batch_sheet", args=[edit.batch_id]))


@require_GET
@login_required
@vary_on_headers("HX-Request")
def edit_change(request: HttpRequest, pk: int) -> HttpResponse:
    """Render what a succeeded edit changed, measuring it first if nobody has asked yet; 286 once known."""
    edit = get_object_or_404(Edit.objects.select_related("change_map"), pk=pk, project__owner=request.user, status=Status.SUCCEEDED)
    if not request.htmx:
        return redirect(edit.get_absolute_url())
    changes.ensure(edit)
    edit = Edit.objects.select_related("change_map").get(pk=edit.pk)
    response = render(request, "editor/_change.html", {"edit": edit, "poll": True})
    if not edit.change.is_measuring:
        response.status_code = HttpResponseStopPolling.status_code
    return response
