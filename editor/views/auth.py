"""Signing up and logging in (rate limited: see editor.ratelimits)."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_http_methods
from django_ratelimit.decorators import ratelimit

from editor import forms
from editor.auth import LoginForm
from editor.errors import Refusal
from editor.ratelimits import SIGNUPS, limit_logins
from editor.services import accounts


@require_http_methods(["GET", "POST"])
@ratelimit(key="ip", rate=SIGNUPS, method="POST", group="signup")
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account as ALEPH_SIGNUP allows: open, by approval, by invitation, or not at all."""
    if request.user.is_authenticated:
        return redirect("home")
    invite = request.GET.get("invite") or request.POST.get("invite") or ""
    allowed, reason = accounts.may_sign_up(invite)
    form = forms.SignupForm(request.POST or None)
    if allowed and request.method == "POST" and form.is_valid():
        try:
            user = accounts.register(form, invite)
        except Refusal as exc:
            allowed, reason = False, exc.message
        else:
            if not user.is_active:
                return render(request, "registration/signup_waiting.html", {"username": user.get_username()})
            login(request, user, backend="editor.auth.StudioBackend")
            return redirect("home")
    context = {"form": form, "allowed": allowed, "reason": reason, "invite": invite, "mode": accounts.signup_mode()}
    return render(request, "registration/signup.html", context, status=200 if allowed else 403)


@method_decorator(limit_logins, name="dispatch")
class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True
    authentication_form = LoginForm
