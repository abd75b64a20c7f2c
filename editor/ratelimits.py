"""Rate limits that hold in production: the client's address as seen through the trusted proxies, and
log-in failures counted per address and user name in the cache all processes share."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage

# Failed log-ins allowed per (address, user name), and per address over all user names, per minute.
FAILURES_PER_NAME = "20/m"
FAILURES_PER_ADDRESS = "100/m"
# Sign-ups allowed per address.
SIGNUPS = "20/m"


def client_ip(request: HttpRequest) -> str:
    """Return the client's address: the socket's, or with ALEPH_TRUSTED_PROXY_COUNT proxies in front,
    the one the farthest trusted proxy saw (X-Forwarded-For is read only then)."""
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"
    trusted = settings.ALEPH_TRUSTED_PROXY_COUNT
    if not trusted:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    candidate = hops[-trusted] if len(hops) >= trusted else (hops[0] if hops else remote)
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def _name(request: HttpRequest) -> str:
    return str(request.POST.get("username", ""))[:150].strip().lower()


def _by_name(group: str, request: HttpRequest) -> str:
    return f"{client_ip(request)}|{_name(request)}"


def _by_address(group: str, request: HttpRequest) -> str:
    return client_ip(request)


def _usage(request: HttpRequest, *, increment: bool) -> list[dict]:
    return [
        get_usage(request, group="login-name", key=_by_name, rate=FAILURES_PER_NAME, method="POST", increment=increment),
        get_usage(request, group="login-address", key=_by_address, rate=FAILURES_PER_ADDRESS, method="POST", increment=increment),
    ]


def limit_logins(view: Callable) -> Callable:
    """Answer 429 to a log-in from an address (and for a user name) that failed too often; count failures."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST" or not settings.RATELIMIT_ENABLE:
            return view(request, *args, **kwargs)
        # Looked at without counting: this attempt is refused once the failures so far reach the limit.
        if any(usage and usage["count"] >= usage["limit"] for usage in _usage(request, increment=False)):
            return too_many(request)
        response = view(request, *args, **kwargs)
        # A log-in that succeeds redirects; a form shown again is a failure.
        if response.status_code == 200:
            _usage(request, increment=True)
        return response

    return wrapper


def too_many(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Answer a request over its rate limit."""
    response = HttpResponse("Too many requests. Wait a minute and try again.\n", status=429, content_type="text/plain")
    response["Retry-After"] = "60"
    return response
