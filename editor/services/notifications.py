"""Telling an owner what guests did: a notification in the studio (an unread count in the header)
and an email through Django's email backend (the console in development, SMTP in production)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from editor.models import Notification, Review

log = logging.getLogger(__name__)


def guest_commented(comment) -> None:
    edit = comment.edit
    _tell(edit, f"{comment.name} commented on edit #{edit.pk} at {comment.timecode}: “{comment.body[:120]}”")


def guest_reviewed(edit, state: str, name: str) -> None:
    _tell(edit, f"{name} (guest) set edit #{edit.pk} to {Review(state).label.lower()}.")


def replied(reply) -> None:
    """Tell the guests who left an address on a thread that someone answered it (not whoever wrote
    the reply), one email each so no one sees another's address. Only while their link still opens."""
    root = reply.parent
    if root is None or root.link_id is None or not root.link.is_active:
        return
    thread = [root, *root.replies.exclude(pk=reply.pk)]
    addresses = sorted({c.email.lower() for c in thread if c.email} - {reply.email.lower()})
    text = (
        f"{reply.name} replied to the comment at {root.timecode} on “{reply.edit.prompt[:80]}”:\n\n{reply.body}\n\n"
        "Open the review link you were sent to see the conversation and answer.\n"
    )
    for address in addresses:
        try:
            send_mail(f"Aleph Studio: {reply.name} replied", text, None, [address])
        except OSError as exc:
            log.warning("could not email a guest of link %s about a reply: %s", root.link_id, exc.__class__.__name__)


def _tell(edit, text: str) -> None:
    owner = edit.project.owner
    Notification.objects.create(user=owner, edit=edit, text=text[:300])
    if not owner.email:
        return
    url = f"{settings.ALEPH_PUBLIC_URL}{reverse('compare', args=[edit.pk])}" if settings.ALEPH_PUBLIC_URL else reverse("compare", args=[edit.pk])
    try:
        send_mail(f"Aleph Studio: {text[:70]}", f"{text}\n\nOpen the version: {url}\n", None, [owner.email])
    except OSError as exc:
        # Mail trouble never loses the comment: the notification in the studio is there.
        log.warning("could not email %s about edit %s: %s", owner.pk, edit.pk, exc.__class__.__name__)


def unread(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def read_all(user) -> None:
    Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
