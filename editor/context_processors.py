"""What every page's header shows: the unread notification count (counted only when a page shows it)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from editor.services import notifications


def unread_notifications(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": SimpleLazyObject(lambda: notifications.unread(user))}
