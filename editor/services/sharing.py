"""Share links: a public URL for one finished edit, revocable by its owner.

The token is shown once, in the URL; only its SHA-256 is stored, so a database leak does not
leak working links.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from editor.errors import InputError
from editor.models import Edit, ShareLink, Status

EXPIRY_CHOICES = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30), "never": None}


def hash_token(token: str) -> str:
    """Return the stored form of a share token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_share_link(edit: Edit, *, expiry: str, show_original: bool) -> tuple[ShareLink, str]:
    """Create a share link for a finished edit; return it and its token (shown once)."""
    if edit.status != Status.SUCCEEDED:
        raise InputError("Only a finished edit can be shared.")
    if expiry not in EXPIRY_CHOICES:
        raise InputError("Choose when the link expires.")
    token = secrets.token_urlsafe(32)
    lifetime = EXPIRY_CHOICES[expiry]
    link = ShareLink.objects.create(
        edit=edit,
        token_hash=hash_token(token),
        show_original=show_original,
        expires_at=timezone.now() + lifetime if lifetime else None,
    )
    return link, token


def revoke_share_link(link: ShareLink) -> None:
    """Revoke a link at once: its page and its media stop answering."""
    ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def active_link(token: str) -> ShareLink | None:
    """Return the live link for a token, or None when it is unknown, revoked or expired."""
    if not token or len(token) > 128:
        return None
    now = timezone.now()
    return (
        ShareLink.objects.select_related("edit", "edit__result", "edit__input_clip", "edit__project")
        .filter(token_hash=hash_token(token), revoked_at__isnull=True, edit__status=Status.SUCCEEDED)
        .exclude(expires_at__lte=now)
        .first()
    )


def count_view(link: ShareLink) -> None:
    """Count one view of a shared page."""
    ShareLink.objects.filter(pk=link.pk).update(views=F("views") + 1)
