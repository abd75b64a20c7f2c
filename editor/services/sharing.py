"""Share links: a public URL for one finished edit, revocable by its owner.

The token is shown once, in the URL; only its SHA-256 is stored, so a database leak does not
leak working links.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.db.models import F
from django.utils import timezone

from editor.errors import InputError
from editor.models import Edit, ShareLink, Status

EXPIRY_CHOICES = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30), "never": None}


def hash_token(token: str) -> str:
    """Return the stored form of a share token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_share_link(
    edit: Edit,
    *,
    expiry: str,
    show_original: bool,
    password: str = "",
    allow_download: bool = True,
    allow_comments: bool = False,
    allow_approval: bool = False,
) -> tuple[ShareLink, str]:
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
        password=_hashed(password),
        allow_download=allow_download,
        allow_comments=allow_comments,
        allow_approval=allow_approval,
    )
    return link, token


def _hashed(password: str) -> str:
    if not password:
        return ""
    if len(password) < 6:
        raise InputError("A link's password has at least 6 characters.")
    return make_password(password)


def update_share_link(link: ShareLink, *, password: str = "", remove_password: bool = False, **allowed: bool) -> None:
    """Change a link's controls; a new password replaces the old one, which unlocks nobody any more."""
    fields = {k: bool(v) for k, v in allowed.items() if k in ("allow_download", "allow_comments", "allow_approval")}
    if remove_password:
        fields["password"] = ""
    elif password:
        fields["password"] = _hashed(password)
    ShareLink.objects.filter(pk=link.pk).update(**fields)


def unlock_key(link: ShareLink) -> str:
    """The session key that says this browser gave the link's (current) password."""
    return f"share-unlocked-{link.pk}-{link.password[-12:]}"


def is_unlocked(link: ShareLink, session) -> bool:
    return not link.password or bool(session.get(unlock_key(link)))


def unlock(link: ShareLink, password: str, session) -> bool:
    """Check a guest's password; remember in their session that it was right."""
    if link.password and check_password(password, link.password):
        session[unlock_key(link)] = True
        return True
    return False


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
