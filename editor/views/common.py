"""Lookups every view shares: objects are fetched through their owner, so others get 404."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django_htmx.http import HttpResponseClientRedirect

from editor import uploads
from editor.models import Edit, Project


def owned_project(request: HttpRequest, pk: int) -> Project:
    return get_object_or_404(Project, pk=pk, owner=request.user)


def owned_edit(request: HttpRequest, pk: int) -> Edit:
    return get_object_or_404(
        Edit.objects.select_related("project", "input_clip", "result"), pk=pk, project__owner=request.user
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
