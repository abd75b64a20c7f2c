from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from editor import forms
from editor.constants import MAX_BATCH
from editor.engines.remote import catalog
from editor.errors import Refusal
from editor.models import UNFINISHED, Clip, Edit, Engine, Import, Project, Status
from editor.services import projects as project_service
from editor.services import credits, providers, versions
from editor.views.common import go, owned_project, refused_upload

PROJECT_SORTS = {
    "recent": ("-starred", "-updated_at"),
    "created": ("-created_at",),
    "title": ("title",),
    "edits": ("-edit_count", "-updated_at"),
}
PAGE_SIZE = 24


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    filters = forms.ProjectFilterForm(request.GET or None)
    params = filters.cleaned_data if filters.is_valid() else {}
    latest = Edit.objects.filter(project=OuterRef("pk")).order_by("-created_at")
    projects = Project.objects.filter(owner=request.user).annotate(
        edit_count=Count("edits", distinct=True),
        latest_status=Subquery(latest.values("status")[:1]),
        poster_clip=Subquery(Clip.objects.filter(project=OuterRef("pk"), source_edit__isnull=True).values("pk")[:1]),
    )
    if params.get("q"):
        q = params["q"]
        matching_prompt = Edit.objects.filter(project=OuterRef("pk"), prompt__icontains=q)
        projects = projects.filter(Q(title__icontains=q) | Exists(matching_prompt))
    if params.get("status"):
        projects = projects.filter(latest_status=params["status"])
    if params.get("engine"):
        projects = projects.filter(Exists(Edit.objects.filter(project=OuterRef("pk"), engine=params["engine"])))
    if params.get("starred"):
        projects = projects.filter(starred=True)
    projects = projects.order_by(*PROJECT_SORTS[params.get("sort") or "recent"])
    page = Paginator(projects, PAGE_SIZE).get_page(request.GET.get("page"))
    for project in page.object_list:
        project.latest_status_label = Status(project.latest_status).label if project.latest_status else ""
    return render(request, "editor/home.html", {"page": page, "filters": filters})


@require_POST
@login_required
def project_star(request: HttpRequest, pk: int) -> HttpResponse:
    project = owned_project(request, pk)
    project_service.set_starred(project, not project.starred)
    project.starred = not project.starred
    if request.htmx:
        return render(request, "editor/home.html#star", {"project": project})
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(next_url)
    return redirect("home")


@require_POST
@login_required
def project_rename(request: HttpRequest, pk: int) -> HttpResponse:
    project = owned_project(request, pk)
    try:
        project_service.rename_project(project, request.POST.get("title", ""))
    except Refusal as exc:
        messages.error(request, exc.message)
    return redirect(project.get_absolute_url())


@require_POST
@login_required
def project_delete(request: HttpRequest, pk: int) -> HttpResponse:
    project = owned_project(request, pk)
    title = project.title
    project_service.delete_project(project)
    messages.success(request, f"Deleted “{title}” and its files.")
    return go(request, reverse("home"))


@require_http_methods(["GET", "POST"])
@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    upload_form = forms.UploadForm()
    status = 200
    if request.method == "POST":
        upload_form = forms.UploadForm(request.POST, request.FILES)
        if not refused_upload(request, upload_form, "file") and upload_form.is_valid():
            try:
                project = project_service.create_project_from_upload(
                    request.user, upload_form.cleaned_data["file"], upload_form.cleaned_data["title"]
                )
            except Refusal as exc:
                upload_form.add_error("file", exc.message)
            else:
                return go(request, project.get_absolute_url())
        status = 400
    return _render_new(request, upload_form, forms.ImportForm(), status)


@require_POST
@login_required
def project_import(request: HttpRequest) -> HttpResponse:
    import_form = forms.ImportForm(request.POST)
    if import_form.is_valid():
        try:
            entry = project_service.start_import(
                request.user, import_form.cleaned_data["url"], import_form.cleaned_data["title"]
            )
        except Refusal as exc:
            import_form.add_error("url", exc.message)
        else:
            return go(request, entry.get_absolute_url())
    return _render_new(request, forms.UploadForm(), import_form, 400)


@require_GET
@login_required
@vary_on_headers("HX-Request")
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show an import's progress; the htmx poll of a finished one sends the page on to the project."""
    entry = get_object_or_404(Import, pk=pk, owner=request.user)
    if request.htmx:
        if entry.is_succeeded and entry.project_id:
            return HttpResponseClientRedirect(entry.project.get_absolute_url())
        response = render(request, "editor/import_detail.html#status", {"entry": entry})
        if entry.is_finished:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "editor/import_detail.html", {"entry": entry})


def _render_new(request, upload_form, import_form, status: int) -> HttpResponse:
    template = "editor/project_new.html" + ("#forms" if request.htmx else "")
    context = {"upload_form": upload_form, "import_form": import_form, **project_service.upload_limits()}
    return render(request, template, context, status=status)


@require_GET
@login_required
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = owned_project(request, pk)
    form = forms.EditForm(project=project, initial=forms.initial_from_query(request.GET, project))
    return render_project(request, project, form)


def render_project(request, project: Project, form: forms.EditForm, status: int = 200) -> HttpResponse:
    """Render the project page: the source, the edit form and the version tree (its newest part)."""
    tree = versions.version_tree(project)
    original = project.original
    chosen = form.data if form.is_bound else form.initial
    input_clip = next((c for c in project.clips.all() if str(c.pk) == str(chosen.get("input_clip"))), original)
    context = {
        "project": project,
        "original": original,
        "project_cost": tree.cost_usd,
        "project_credits": (tree.estimated_credits, tree.provider_estimated_credits, tree.charged_credits),
        "paused": providers.paused_providers(),
        "tree": tree,
        "batches": project.batches.annotate(
            size=Count("edits"),
            done=Count("edits", filter=Q(edits__status=Status.SUCCEEDED)),
            failed=Count("edits", filter=Q(edits__status__in=[Status.FAILED, Status.CANCELLED, Status.NEEDS_ATTENTION])),
            unfinished=Count("edits", filter=Q(edits__status__in=UNFINISHED)),
            credits=Sum("edits__cost_credits"),
        )[:10],
        "edit_count": tree.edit_count,
        # What a review playlist can hold: the project's finished versions, oldest first.
        "shareable": project.edits.filter(status=Status.SUCCEEDED).order_by("created_at", "pk")[:48],
        "form": form,
        "references": project.references.all(),
        "capabilities": providers.LOCAL_CAPABILITIES,
        "ratio_icons": {r: forms.ratio_icon(r) for r, _ in form.fields["ratio"].choices},
        "expiry_choices": forms.SHARE_EXPIRY_CHOICES,
        "catalog": catalog.page_facts(),
        # The per-model controls, each shown only for a model that takes it (studio.js reads the catalogue).
        "model_controls": [
            ("output_format", "formats"),
            ("prores_profile", "prores"),
            ("mode", "modes"),
            ("duration", "durations"),
            ("resolution", "resolutions"),
            ("audio", "audio"),
            ("reference_clips", "reference_videos"),
        ],
        "price_list": price_list(input_clip),
        **estimate_context(
            request.user,
            engine=chosen.get("engine") or Engine.LOCAL,
            model=chosen.get("model") or (catalog.DEFAULT_MODEL if chosen.get("engine") not in (None, "", Engine.LOCAL) else ""),
            input_clip=input_clip,
            trim_start=_seconds(chosen.get("trim_start")),
            output_format=chosen.get("output_format") or "mp4",
        ),
        "max_batch": MAX_BATCH,
        **project_service.upload_limits(),
    }
    return render(request, "editor/project_detail.html", context, status=status)


def _seconds(value) -> float:
    try:
        return max(0.0, float(value or 0))
    except (TypeError, ValueError):
        return 0.0


def estimate_context(
    user,
    *,
    engine=None,
    model=None,
    input_clip=None,
    trim_start=None,
    output_format="mp4",
    seed_count=1,
    prompt_count=None,
    also=(),
) -> dict:
    """Return what the cost line of the edit form shows for an engine, model, input and start (and,
    for a batch, every engine or model of it times its seeds and prompts), with what the user's
    allowance has left."""
    context: dict = {"engine": engine or Engine.LOCAL}
    targets = [(context["engine"], model or "")] + [t for t in also or () if t != (context["engine"], model or "")]
    each = (seed_count or 1) * (prompt_count or 1)
    if each * len(targets) > 1:
        context["batch"] = _batch_estimate(targets, each, input_clip, trim_start or 0.0, output_format)
    paid = [t for t in targets if t[0] != Engine.LOCAL and t[0] in providers.configured_providers()]
    if not paid:
        context["engine"] = Engine.LOCAL
        return context
    if context["engine"] not in providers.configured_providers() or context["engine"] == Engine.LOCAL:
        context["engine"], model = paid[0]
    context["allowance"] = mine = credits.allowance(user)
    context["server_left"] = credits.server_left()
    if model and input_clip:
        try:
            context["cost"] = cost = _estimate(context["engine"], model, input_clip, trim_start or 0.0, output_format)
        except Refusal as exc:
            context["problem"] = exc.message
        else:
            needed = context["batch"]["credits"] if context.get("batch") else credits.needed(cost)
            unknown = context["batch"]["unknown"] if context.get("batch") else needed is None
            if unknown:
                # Known only once the provider has created the task: only unlimited accounts may send it.
                context["fits"] = mine.limit is None and context["server_left"] is None
            else:
                context["fits"] = mine.fits(needed) and (context["server_left"] is None or needed <= context["server_left"])
    context["credits"] = providers.credit_balance(context["engine"])
    context["paused_until"] = providers.breaker_paused_until(context["engine"])
    return context


def _estimate(engine: str, model: str, input_clip: Clip, trim_start: float, output_format: str):
    spec = catalog.MODELS.get(model)
    return providers.estimate(
        engine,
        model,
        input_clip.duration,
        trim_start,
        output_format=output_format if spec and output_format in spec.output_formats else "mp4",
        clip_size=(input_clip.width, input_clip.height),
    )


def _batch_estimate(targets, each: int, input_clip, trim_start: float, output_format: str) -> dict:
    """Return a batch's size and its estimated credits (models without a price counted apart)."""
    total, unknown = 0, False
    for engine, model in targets:
        if engine == Engine.LOCAL or not input_clip or not model:
            continue
        try:
            cost = _estimate(engine, model, input_clip, trim_start, output_format)
        except Refusal:
            continue
        needed = credits.needed(cost)
        if needed is None:
            unknown = True
        else:
            total += needed * each
    return {"count": each * len(targets), "credits": total, "credits_text": f"{total:,}", "unknown": unknown}


def price_list(input_clip: Clip | None) -> list[tuple[str, str, object]]:
    """Return (provider, model, cost) for every configured remote model on this input from its start."""
    rows = []
    for provider in providers.configured_providers() if input_clip else []:
        for model in catalog.PROVIDERS[provider].models:
            try:
                cost = providers.estimate(provider, model, input_clip.duration, 0.0, clip_size=(input_clip.width, input_clip.height))
                rows.append((providers.label(provider), model, cost))
            except Refusal:
                continue
    return rows


@require_GET
@login_required
@vary_on_headers("HX-Request")
def project_versions(request: HttpRequest, pk: int) -> HttpResponse:
    """Show older versions under one input: list items for htmx, or a page of their own."""
    project = owned_project(request, pk)
    clip = get_object_or_404(Clip, pk=request.GET.get("input", "") or 0, project=project)
    offset = max(0, int(request.GET.get("offset", "0"))) if request.GET.get("offset", "0").isdigit() else 0
    tree = versions.version_tree(project, clip.pk, offset)
    context = {"project": project, "tree": tree, "clip": clip, "expiry_choices": forms.SHARE_EXPIRY_CHOICES}
    template = "editor/project_versions.html" + ("#nodes" if request.htmx else "")
    return render(request, template, context)


@require_POST
@login_required
def reference_add(request: HttpRequest, pk: int) -> HttpResponse:
    project = owned_project(request, pk)
    form = forms.ReferenceForm(request.POST, request.FILES)
    if refused_upload(request, form, "image"):
        messages.error(request, form.errors["image"][0])
    elif form.is_valid():
        try:
            project_service.add_reference(project, form.cleaned_data["image"])
        except Refusal as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, "Choose an image to attach.")
    return redirect(project.get_absolute_url() + "#references")


@require_POST
@login_required
def reference_from_frame(request: HttpRequest, pk: int) -> HttpResponse:
    project = owned_project(request, pk)
    form = forms.FrameReferenceForm(request.POST)
    if form.is_valid():
        clip = get_object_or_404(Clip, pk=form.cleaned_data["clip"], project=project)
        try:
            project_service.add_reference_from_frame(project, clip, form.cleaned_data["at"])
        except Refusal as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, "Pause the video on the frame you want first.")
    return redirect(project.get_absolute_url() + "#references")
