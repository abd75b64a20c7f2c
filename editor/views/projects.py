from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from editor import forms
from editor.engines import local as local_engine
from editor.models import Clip, Edit, Engine, Project, Reference, ShareLink, Status
from editor.services import remote_edits
from editor.services import projects as project_service
from editor.services.projects import InputError
from editor.views.common import go, owned_project

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
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "filters": filters,
        "query": query.urlencode(),
        "status_labels": dict(Status.choices),
    }
    return render(request, "editor/home.html", context)


@require_POST
@login_required
def project_star(request: HttpRequest, pk: int) -> HttpResponse:
    project = owned_project(request, pk)
    project_service.set_starred(project, not project.starred)
    project.starred = not project.starred
    if request.htmx:
        return render(request, "editor/home.html#star", {"project": project})
    return redirect(request.POST.get("next") or "home")


@require_POST
@login_required
def project_rename(request: HttpRequest, pk: int) -> HttpResponse:
    project = owned_project(request, pk)
    try:
        project_service.rename_project(project, request.POST.get("title", ""))
    except InputError as exc:
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
        if upload_form.is_valid():
            try:
                project = project_service.create_project_from_upload(
                    request.user, upload_form.cleaned_data["file"], upload_form.cleaned_data["title"]
                )
            except InputError as exc:
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
            project = project_service.create_project_from_url(
                request.user, import_form.cleaned_data["url"], import_form.cleaned_data["title"]
            )
        except InputError as exc:
            import_form.add_error("url", exc.message)
        else:
            return go(request, project.get_absolute_url())
    return _render_new(request, forms.UploadForm(), import_form, 400)


def _render_new(request, upload_form, import_form, status: int) -> HttpResponse:
    template = "editor/project_new.html" + ("#forms" if request.htmx else "")
    context = {
        "upload_form": upload_form,
        "import_form": import_form,
        "max_mb": project_service.max_upload_bytes() // 2**20,
    }
    return render(request, template, context, status=status)


@require_GET
@login_required
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = owned_project(request, pk)
    form = forms.EditForm(project=project, initial=forms.initial_from_query(request.GET, project))
    return render_project(request, project, form)


def render_project(request, project: Project, form: forms.EditForm, status: int = 200) -> HttpResponse:
    """Render the project page: the source, the edit form and the version tree."""
    edits = list(
        project.edits.select_related("input_clip", "result")
        .prefetch_related(
            Prefetch("references", queryset=Reference.objects.order_by("pk")),
            Prefetch("share_links", queryset=ShareLink.objects.order_by("-created_at")),
        )
        .order_by("created_at")
    )
    clips = {clip.pk: clip for clip in project.clips.all()}
    original = next((c for c in clips.values() if c.is_original), None)
    spent = [e.cost_usd for e in edits if e.cost_usd is not None]
    context = {
        "project": project,
        "original": original,
        "project_cost": sum(spent) if spent else None,
        "paused": [
            (Engine(p).label, remote_edits.breaker_paused_until(p))
            for p in remote_edits.configured_providers()
            if remote_edits.breaker_paused_until(p)
        ],
        "tree": version_tree(original, edits),
        "edit_count": len(edits),
        "form": form,
        "references": project.references.all(),
        "capabilities": local_engine.CAPABILITIES,
        "ratio_icons": {r: forms.ratio_icon(r) for r, _ in form.fields["ratio"].choices},
        "expiry_choices": forms.SHARE_EXPIRY_CHOICES,
    }
    return render(request, "editor/project_detail.html", context, status=status)


def version_tree(original: Clip | None, edits: list[Edit]) -> list[dict]:
    """Arrange edits as a tree: each edit under the clip it took as input, newest first."""
    children: dict[int, list[Edit]] = defaultdict(list)
    for edit in edits:
        children[edit.input_clip_id].append(edit)

    def nodes_for(clip_id: int | None, depth: int) -> list[dict]:
        nodes = []
        for edit in sorted(children.get(clip_id, []), key=lambda e: e.created_at, reverse=True):
            result = getattr(edit, "result", None) if edit.status == Status.SUCCEEDED else None
            nodes.append({"edit": edit, "children": nodes_for(result.pk, depth + 1) if result else [], "depth": depth})
        return nodes

    return nodes_for(original.pk if original else None, 0)


@require_POST
@login_required
def reference_add(request: HttpRequest, pk: int) -> HttpResponse:
    project = owned_project(request, pk)
    form = forms.ReferenceForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            project_service.add_reference(project, form.cleaned_data["image"])
        except InputError as exc:
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
        except InputError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, "Pause the video on the frame you want first.")
    return redirect(project.get_absolute_url() + "#references")


