"""Lookups every view shares: objects are fetched through their owner, so others get 404."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django_htmx.http import HttpResponseClientRedirect

from editor import uploads
from editor.models import Edit, Project


def owned_project(request: HttpRequest, pk: int) -> Project:
    return get_object_or_404(Project, pk=pk, owner=request.user)


def owned_edit(request: HttpRequest, pk: int) -> Edit:
    return get_object_or_404(
        Edit.objects.select_related("project", "input_clip", "result", "change_map"), pk=pk, project__owner=request.user
    )


def go(request: HttpRequest, url: str) -> HttpResponse:
    """Redirect, the htmx way when the request came from htmx."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def refused_upload(request: HttpRequest, form, field: str) -> bool:
    """Show an upload the capped handler stopped as the field's one error; tell whether there was one."""
    message = uploads.refusal(request)
    if message:
        form.is_valid()
        form.errors[field] = form.error_class([message])
    return bool(message)


def absolute_url(request: HttpRequest, path: str) -> str:
    """Return a link to a path of this site as people outside reach it (ALEPH_PUBLIC_URL when set)."""
    if settings.ALEPH_PUBLIC_URL:
        return settings.ALEPH_PUBLIC_URL + path
    return request.build_absolute_uri(path)


def healthz(request: HttpRequest) -> HttpResponse:
    """Answer "ok": the web process is up (for a load balancer's health check; it reads nothing)."""
    return HttpResponse("ok\n", content_type="text/plain")
