"""Accounts: who may sign up (ALEPH_SIGNUP), one-time invitations, approvals and allowances.

The first account created on a server becomes its administrator (staff and superuser, unlimited)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from editor.errors import InputError
from editor.models import Invite, Ledger, Member
from editor.services import credits

INVITE_LIFETIME = timedelta(days=7)
MODES = {
    "open": "Anyone may sign up.",
    "approval": "Anyone may sign up; an administrator approves each new account before it can log in.",
    "invite": "Only people with an invitation link from an administrator may sign up.",
    "closed": "Nobody may sign up; administrators create accounts.",
}


def signup_mode() -> str:
    return settings.ALEPH_SIGNUP


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_invite(token: str | None) -> Invite | None:
    """Return the unused, unexpired invitation for a token, or None."""
    if not token or len(token) > 128:
        return None
    invite = Invite.objects.filter(token_hash=_hash(token)).first()
    return invite if invite is not None and invite.is_open else None


def may_sign_up(invite_token: str | None = None) -> tuple[bool, str]:
    """Tell whether a sign-up may happen now, and if not, why (in words for the page)."""
    first = not get_user_model().objects.exists()
    mode = signup_mode()
    if mode in ("open", "approval"):
        return True, ""
    if mode == "invite":
        if open_invite(invite_token) is not None:
            return True, ""
        if invite_token:
            return False, "This invitation link has been used or has expired. Ask the administrator for a new one."
        return False, "Sign-up on this server is by invitation: ask an administrator for a link."
    if first:
        return False, "Sign-up is closed. The operator creates the first account with “manage.py createsuperuser”."
    return False, "Sign-up is closed on this server: ask an administrator for an account."


def register(form, invite_token: str | None = None):
    """Create the account a valid sign-up form describes, as the sign-up mode says; return the user."""
    allowed, reason = may_sign_up(invite_token)
    if not allowed:
        raise InputError(reason)
    User = get_user_model()
    with transaction.atomic():
        # One first account: sign-ups are made one at a time under the ledger's lock.
        Ledger.objects.select_for_update().get_or_create(key=credits.LEDGER_KEY)
        first = not User.objects.exists()
        user = form.save(commit=False)
        user.is_superuser = user.is_staff = first
        user.is_active = first or signup_mode() != "approval"
        user.save()
        if signup_mode() == "invite" and not first:
            invite = open_invite(invite_token)
            used = Invite.objects.filter(pk=invite.pk, used_at__isnull=True).update(used_by=user, used_at=timezone.now())
            if not used:
                raise InputError("This invitation link has just been used. Ask the administrator for a new one.")
    return user


def create_invite(by, note: str = "") -> tuple[Invite, str]:
    """Make a one-time invitation link; return it and its token (shown once: only a hash is kept)."""
    token = secrets.token_urlsafe(32)
    invite = Invite.objects.create(
        token_hash=_hash(token), created_by=by, note=note.strip()[:200], expires_at=timezone.now() + INVITE_LIFETIME
    )
    return invite, token


def revoke_invite(invite: Invite) -> None:
    """Make an unused invitation link stop working."""
    Invite.objects.filter(pk=invite.pk, used_at__isnull=True).update(expires_at=timezone.now())


def approve(user) -> None:
    """Let an account waiting for approval log in."""
    get_user_model().objects.filter(pk=user.pk).update(is_active=True)


def set_allowance(user, monthly_credits: int | None) -> None:
    """Set a user's monthly allowance of provider credits (None: unlimited)."""
    if monthly_credits is not None and monthly_credits < 0:
        raise InputError("An allowance is a number of credits, 0 or more.")
    Member.objects.update_or_create(user=user, defaults={"monthly_credits": monthly_credits})


def members():
    """Return every account with its allowance and what it spent this month, for the staff page."""
    users = list(get_user_model().objects.order_by("-is_active", "username").select_related("member"))
    spent = credits.spent_by_user()
    rows = []
    for user in users:
        limit = getattr(getattr(user, "member", None), "monthly_credits", settings.ALEPH_DEFAULT_MONTHLY_CREDITS)
        rows.append({"user": user, "limit": limit, "spent": spent.get(user.pk, 0)})
    return rows
