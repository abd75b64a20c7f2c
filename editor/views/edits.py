from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
import base64

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling, reswap, retarget, trigger_client_event
from django_ratelimit.decorators import ratelimit

from editor import forms
from editor.errors import Refusal
from editor.models import Edit
from editor.services import edits as edit_service
from editor.services import previews, remote_edits, reviews
from editor.views import reviews as review_views
from editor.views.common import owned_edit, owned_project, refused_upload
from editor.views.projects import estimate_context, render_project

HISTORY_SORTS = {"newest": "-created_at", "oldest": "created_at", "project": "project__title"}


@require_POST
@login_required
def edit_create(request: HttpRequest, pk: int) -> HttpResponse:
    project = owned_project(request, pk)
    form = forms.EditForm(request.POST, request.FILES, project=project)
    if not refused_upload(request, form, "mask") and form.is_valid():
        data = form.cleaned_data
        variants = [
            edit_service.EditSettings(
                prompt=variant["prompt"],
                ratio=variant["ratio"],
                seed=variant["seed"],
                public_figure_threshold=data["public_figure_threshold"],
                engine=variant["engine"],
                model=variant["model"],
                trim_start=data["trim_start"],
                keyframes=tuple(variant["keyframes"]),
                options=variant["options"],
                exact=data["exact"],
            )
            for variant in data["variants"]
        ]
        try:
            if len(variants) > 1:
                batch = edit_service.create_batch(project, data["input_clip"], variants, list(data["references"]), mask_png=data["mask"])
                messages.success(request, f"Batch “{batch.title}”: {len(variants)} edits queued.")
            else:
                edit_service.create_edit(project, data["input_clip"], variants[0], list(data["references"]), mask_png=data["mask"])
        except Refusal as exc:
            form.add_error("prompt", exc.message)
            form.prompt_suggestions = exc.suggestions
        else:
            return redirect(project.get_absolute_url())
    return render_project(request, project, form, status=400)


@require_GET
@login_required
@vary_on_headers("HX-Request")
def edit_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Render an edit's status for its poll; once it has finished, its whole version card instead."""
    # The poll of an unfinished edit is the studio's busiest request: one query, no joins beyond the owner check.
    edit = get_object_or_404(Edit, pk=pk, project__owner=request.user)
    if not request.htmx:
        return redirect(edit.get_absolute_url())
    if not edit.is_finished:
        return render(request, "editor/_edit_status.html", {"edit": edit})
    edit = owned_edit(request, pk)
    # One request brings the finished card (re-run, share, delete) in place of the status, and the
    # event the page's script turns into the done notification.
    response = render(request, "editor/_edit_card.html", {"edit": edit, "expiry_choices": forms.SHARE_EXPIRY_CHOICES})
    response = reswap(retarget(response, f"#edit-{edit.pk}"), "outerHTML")
    trigger_client_event(response, "edit-finished", {"id": edit.pk, "status": edit.status, "prompt": edit.prompt})
    # 286 tells htmx to stop polling as well.
    response.status_code = HttpResponseStopPolling.status_code
    return response


@require_POST
@login_required
def edit_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    edit = owned_edit(request, pk)
    if not edit_service.cancel_edit(edit):
        messages.info(request, f"Edit #{edit.pk} had already finished.")
    if request.htmx:
        edit.refresh_from_db()
        return render(request, "editor/_edit_status.html", {"edit": edit})
    return redirect(edit.get_absolute_url())


@require_POST
@login_required
def edit_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    edit = owned_edit(request, pk)
    try:
        edit_service.rerun_edit(edit, new_seed=request.POST.get("seed") == "new")
    except Refusal as exc:
        messages.error(request, exc.message)
    return redirect(edit.project.get_absolute_url())


@require_POST
@login_required
def edit_delete(request: HttpRequest, pk: int) -> HttpResponse:
    edit = owned_edit(request, pk)
    try:
        edit_service.delete_edit(edit)
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Deleted edit #{pk} and its result.")
    return redirect(edit.project.get_absolute_url())


@require_GET
@login_required
def compare(request: HttpRequest, pk: int) -> HttpResponse:
    edit = owned_edit(request, pk)
    if not edit.is_succeeded:
        raise Http404("This edit has no result yet.")
    wanted = request.GET.get("against", "")
    if wanted.isdigit():
        # A/B: another finished result of the same project (picked on the contact sheet).
        other = get_object_or_404(Edit.objects.select_related("result"), pk=int(wanted), project=edit.project, status=edit.status)
        context = {"edit": edit, "left": other.result, "right": edit.result, "against": "edit", "other": other, **_review_context(edit)}
        return render(request, "editor/compare.html", context)
    against = "original" if wanted == "original" else "input"
    left = edit.project.original if against == "original" else edit.input_clip
    context = {"edit": edit, "left": left, "right": edit.result, "against": against, **_review_context(edit)}
    return render(request, "editor/compare.html", context)


def _review_context(edit: Edit) -> dict:
    return {"comments": reviews.thread(edit), **review_views.drawing_palette()}


@require_GET
@login_required
def history(request: HttpRequest) -> HttpResponse:
    filters = forms.HistoryFilterForm(request.GET or None)
    params = filters.cleaned_data if filters.is_valid() else {}
    edits = Edit.objects.filter(project__owner=request.user).select_related("project", "input_clip", "result", "batch")
    if request.GET.get("batch", "").isdigit():
        edits = edits.filter(batch_id=int(request.GET["batch"]))
    if params.get("q"):
        edits = edits.filter(Q(prompt__icontains=params["q"]) | Q(project__title__icontains=params["q"]))
    if params.get("status"):
        edits = edits.filter(status=params["status"])
    if params.get("engine"):
        edits = edits.filter(engine=params["engine"])
    if params.get("review"):
        edits = edits.filter(review=params["review"])
    edits = edits.order_by(HISTORY_SORTS[params.get("sort") or "newest"], "-pk")
    page = Paginator(edits, 30).get_page(request.GET.get("page"))
    return render(request, "editor/history.html", {"page": page, "filters": filters})


@require_POST
@login_required
def edit_submit_again(request: HttpRequest, pk: int) -> HttpResponse:
    edit = owned_edit(request, pk)
    try:
        if remote_edits.submit_again(edit):
            messages.info(request, f"Edit #{edit.pk} was sent to the queue again; it will create a new, billed task.")
    except Refusal as exc:
        messages.error(request, exc.message)
    return redirect(edit.get_absolute_url())


@require_POST
@login_required
def edit_check_again(request: HttpRequest, pk: int) -> HttpResponse:
    edit = owned_edit(request, pk)
    if remote_edits.check_again(edit):
        messages.info(request, f"Edit #{edit.pk}: reading its task again (nothing new is sent or billed).")
    return redirect(edit.get_absolute_url())


@require_GET
@login_required
def edit_estimate(request: HttpRequest, pk: int) -> HttpResponse:
    """Render the cost line of the edit form for the engine, model, input and start chosen."""
    project = owned_project(request, pk)
    form = forms.EstimateForm(request.GET, project=project)
    form.is_valid()
    return render(request, "editor/_estimate.html", estimate_context(request.user, **form.cleaned_data))


@require_POST
@login_required
@ratelimit(key="user", rate="60/m", group="preview", block=False)
def edit_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The edit form's local plan on the paused frame, as JSON: the picture (a JPEG data URL), what
    was understood, and what the preview leaves out. No queue, nothing stored."""
    project = owned_project(request, pk)
    if getattr(request, "limited", False):
        return JsonResponse({"error": "Too many previews in a minute: wait a little."}, status=429)
    if request.POST.get("engine", "local") != "local":
        return JsonResponse({"error": "The preview shows the local engine's edits; choose the local engine."}, status=400)
    form = forms.PreviewForm(request.POST, project=project)
    if not form.is_valid():
        return JsonResponse({"error": forms.form_errors(form)}, status=400)
    data = form.cleaned_data
    try:
        shown = previews.preview_frame(
            data["input_clip"],
            data["prompt"],
            ratio=data["ratio"],
            seed=data["seed"] if data["seed"] is not None else 0,
            references=list(data["references"]),
            seconds=data["seconds"],
            has_mask=data["has_mask"],
        )
    except Refusal as exc:
        return JsonResponse({"error": exc.message, "suggestions": list(exc.suggestions)}, status=400)
    image = "data:image/jpeg;base64," + base64.b64encode(shown.jpeg).decode()
    return JsonResponse({"image": image, "summary": shown.summary, "notes": shown.notes, "width": shown.width, "height": shown.height})
