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


def guest_commented(link) -> None:
    edit = link.edit
    latest = link.comments.order_by("-created_at", "-pk").first()
    who = latest.name if latest else "A guest"
    _tell(edit, f"{who} commented on edit #{edit.pk} at {latest.timecode if latest else ''}: “{(latest.body if latest else '')[:120]}”")


def guest_reviewed(link, state: str, name: str) -> None:
    edit = link.edit
    _tell(edit, f"{name} (guest) set edit #{edit.pk} to {Review(state).label.lower()}.")


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
