"""Stored files go with their rows: whatever deletes a clip, a reference or an edit (the studio, the
admin, a user's account being deleted), its files are deleted from storage once that commits. And
every new account, however it is made (sign-up, the admin, createsuperuser), gets its allowance."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from editor.models import ChangeMap, Clip, Comment, Edit, Member, Reference, SharedVersion
from editor.storage import delete_quietly


def _after_commit(*names: str) -> None:
    names = tuple(n for n in names if n)
    if names:
        transaction.on_commit(lambda: delete_quietly(*names))


@receiver(post_delete, sender=Clip)
def clip_deleted(sender, instance: Clip, **kwargs) -> None:
    _after_commit(instance.file, instance.poster, instance.master)


@receiver(post_delete, sender=Reference)
def reference_deleted(sender, instance: Reference, **kwargs) -> None:
    _after_commit(instance.file)


@receiver(post_delete, sender=Comment)
def comment_deleted(sender, instance: Comment, **kwargs) -> None:
    _after_commit(instance.thumbnail)


@receiver(post_delete, sender=ChangeMap)
def change_map_deleted(sender, instance: ChangeMap, **kwargs) -> None:
    _after_commit(instance.heatmap)


@receiver(post_delete, sender=SharedVersion)
def shared_version_deleted(sender, instance: SharedVersion, **kwargs) -> None:
    _after_commit(instance.copy_file, instance.copy_poster)


@receiver(post_delete, sender=Edit)
def edit_deleted(sender, instance: Edit, **kwargs) -> None:
    _after_commit(instance.mask)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def account_created(sender, instance, created: bool, **kwargs) -> None:
    if created:
        # Administrators are unlimited unless an allowance is set for them.
        credits = None if instance.is_superuser else settings.ALEPH_DEFAULT_MONTHLY_CREDITS
        Member.objects.get_or_create(user=instance, defaults={"monthly_credits": credits})
