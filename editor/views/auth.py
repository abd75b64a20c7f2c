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
from editor.ratelimits import SIGNUPS, limit_logins


@require_http_methods(["GET", "POST"])
@ratelimit(key="ip", rate=SIGNUPS, method="POST", group="signup")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = forms.SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@method_decorator(limit_logins, name="dispatch")
class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True
