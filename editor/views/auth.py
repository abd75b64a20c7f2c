"""Signing up and logging in (rate limited per address)."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_http_methods
from django_ratelimit.decorators import ratelimit

from editor import forms

# A burst of log-in or sign-up attempts from one address is answered with 429.
AUTH_RATE = "20/m"


@require_http_methods(["GET", "POST"])
@ratelimit(key="ip", rate=AUTH_RATE, method="POST", group="auth")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = forms.SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@method_decorator(ratelimit(key="ip", rate=AUTH_RATE, method="POST", group="auth"), name="dispatch")
class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True
