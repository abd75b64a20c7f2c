"""The staff page: accounts, their allowances and this month's spend, approvals and invitations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from editor import forms
from editor.errors import Refusal
from editor.models import Invite
from editor.services import accounts, credits
from editor.views.common import absolute_url


def _staff_only(request: HttpRequest) -> None:
    # Like another user's project: the page is not there for anyone but staff.
    if not request.user.is_staff:
        raise Http404("No such page.")


@require_GET
@login_required
def staff(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    context = {
        "members": accounts.members(),
        "mode": accounts.signup_mode(),
        "mode_text": accounts.MODES[accounts.signup_mode()],
        "invites": Invite.objects.filter(used_at__isnull=True).select_related("created_by")[:50],
        "server_spent": credits.spent_this_month(),
        "server_left": credits.server_left(),
        "invite_form": forms.InviteForm(),
    }
    return render(request, "editor/staff.html", context)


@require_POST
@login_required
def staff_allowance(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_only(request)
    user = get_object_or_404(get_user_model(), pk=pk)
    form = forms.AllowanceForm(request.POST)
    if form.is_valid():
        try:
            accounts.set_allowance(user, form.cleaned_data["monthly_credits"])
        except Refusal as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{user.get_username()}'s allowance is saved.")
    else:
        messages.error(request, "An allowance is a whole number of credits, 0 or more, or unlimited.")
    return redirect("staff")


@require_POST
@login_required
def staff_approve(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_only(request)
    user = get_object_or_404(get_user_model(), pk=pk)
    accounts.approve(user)
    messages.success(request, f"{user.get_username()} can log in now.")
    return redirect("staff")


@require_POST
@login_required
def staff_invite(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    form = forms.InviteForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    _, token = accounts.create_invite(request.user, note)
    url = absolute_url(request, reverse("signup") + f"?invite={token}")
    # The link is only ever shown now: only a hash of its token is kept.
    messages.success(request, f"Invitation link (copy it now, it is shown once; it works once, for 7 days): {url}")
    return redirect("staff")


@require_POST
@login_required
def staff_invite_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_only(request)
    accounts.revoke_invite(get_object_or_404(Invite, pk=pk))
    messages.success(request, "The invitation link no longer works.")
    return redirect("staff")
