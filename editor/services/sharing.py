"""Share links: a public URL for finished versions of a project (one, or a review playlist of
several in order), revocable by its owner.

The token is shown once, in the URL; only its SHA-256 is stored, so a database leak does not
leak working links. A link with a watermark serves, for each of its versions, a copy with the
watermark burned in by a task (editor.engines.watermark); until that copy is made the version is
not served at all, and the result itself is never changed.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from editor import media
from editor.engines import watermark as watermarks
from editor.engines.base import EngineError
from editor.errors import InputError
from editor.models import Edit, SharedVersion, ShareLink, Status, WatermarkPosition, new_storage_name
# Services import one another as modules: see services/remote_edits.py.
from editor.services import queue
from editor.storage import delete_quietly, give_memory_back, local_copy, staged_files

log = logging.getLogger(__name__)

EXPIRY_CHOICES = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30), "never": None}


def hash_token(token: str) -> str:
    """Return the stored form of a share token."""
    return hashlib.sha256(token.encode()).hexdigest()


# The most versions one link carries.
PLAYLIST_MAX = 24


def create_share_link(
    edit: Edit,
    *,
    expiry: str,
    show_original: bool,
    password: str = "",
    allow_download: bool = True,
    allow_comments: bool = False,
    allow_approval: bool = False,
    also: tuple[Edit, ...] | list[Edit] = (),
    watermark_text: str = "",
    watermark_position: str = WatermarkPosition.BOTTOM_RIGHT,
    watermark_opacity: int = 50,
) -> tuple[ShareLink, str]:
    """Create a share link for a finished edit (and, in order after it, the other finished versions
    of its project in `also`: a review playlist); return it and its token (shown once)."""
    if edit.status != Status.SUCCEEDED:
        raise InputError("Only a finished edit can be shared.")
    if expiry not in EXPIRY_CHOICES:
        raise InputError("Choose when the link expires.")
    versions = _playlist(edit, also)
    mark = _watermark(watermark_text, watermark_position, watermark_opacity)
    token = secrets.token_urlsafe(32)
    lifetime = EXPIRY_CHOICES[expiry]
    with transaction.atomic():
        link = ShareLink.objects.create(
            edit=edit,
            token_hash=hash_token(token),
            show_original=show_original,
            expires_at=timezone.now() + lifetime if lifetime else None,
            password=_hashed(password),
            allow_download=allow_download,
            allow_comments=allow_comments,
            allow_approval=allow_approval,
            **mark,
        )
        state = SharedVersion.Copy.PENDING if mark["watermark_text"] else SharedVersion.Copy.NONE
        SharedVersion.objects.bulk_create(
            SharedVersion(link=link, edit=version, position=n, copy_state=state) for n, version in enumerate(versions, 1)
        )
        if state:
            for pk in SharedVersion.objects.filter(link=link).values_list("pk", flat=True):
                queue.make_watermarked_copy(pk)
    return link, token


def _playlist(edit: Edit, also) -> list[Edit]:
    """The link's versions in order: the edit, then the others, each once; all finished, all of its project."""
    versions = [edit]
    for other in also:
        if other.pk in {v.pk for v in versions}:
            continue
        if other.project_id != edit.project_id:
            raise InputError("A review playlist holds versions of one project.")
        if other.status != Status.SUCCEEDED:
            raise InputError(f"Edit #{other.pk} has no result to share yet.")
        versions.append(other)
    if len(versions) > PLAYLIST_MAX:
        raise InputError(f"A link carries at most {PLAYLIST_MAX} versions.")
    return versions


def _watermark(text: str, position: str, opacity: int) -> dict:
    """Check a watermark's settings; return them as the link's fields (blank text: no watermark)."""
    text = " ".join((text or "").split())
    if position not in WatermarkPosition.values:
        raise InputError("Choose where the watermark sits.")
    if not 5 <= int(opacity) <= 100:
        raise InputError("A watermark's opacity is between 5 % and 100 %.")
    if len(text) > watermarks.MAX_TEXT:
        raise InputError(f"A watermark is at most {watermarks.MAX_TEXT} characters.")
    return {"watermark_text": text, "watermark_position": position, "watermark_opacity": int(opacity)}


def _hashed(password: str) -> str:
    if not password:
        return ""
    if len(password) < 6:
        raise InputError("A link's password has at least 6 characters.")
    return make_password(password)


def update_share_link(
    link: ShareLink,
    *,
    password: str = "",
    remove_password: bool = False,
    watermark_text: str | None = None,
    watermark_position: str = WatermarkPosition.BOTTOM_RIGHT,
    watermark_opacity: int = 50,
    **allowed: bool,
) -> None:
    """Change a link's controls; a new password replaces the old one, which unlocks nobody any more.
    A changed watermark makes the copies again (the old ones stop being served at once); saving the
    same watermark makes again only the copies that are missing or failed."""
    fields = {k: bool(v) for k, v in allowed.items() if k in ("allow_download", "allow_comments", "allow_approval")}
    if remove_password:
        fields["password"] = ""
    elif password:
        fields["password"] = _hashed(password)
    with transaction.atomic():
        link = ShareLink.objects.select_for_update().get(pk=link.pk)
        if watermark_text is not None:
            mark = _watermark(watermark_text, watermark_position, watermark_opacity)
            fields.update(mark)
            changed = any(getattr(link, k) != v for k, v in mark.items())
            _renew_copies(link, bool(mark["watermark_text"]), everything=changed)
        ShareLink.objects.filter(pk=link.pk).update(**fields)


def _renew_copies(link: ShareLink, marked: bool, *, everything: bool) -> None:
    """Drop the link's watermarked copies (all of them, or only those not made) and ask for new ones."""
    versions = SharedVersion.objects.filter(link=link)
    if marked and not everything:
        versions = versions.exclude(copy_state=SharedVersion.Copy.READY)
    rows = list(versions)
    old = [name for row in rows for name in (row.copy_file, row.copy_poster)]
    state = SharedVersion.Copy.PENDING if marked else SharedVersion.Copy.NONE
    SharedVersion.objects.filter(pk__in=[row.pk for row in rows]).update(copy_state=state, copy_file="", copy_poster="")
    transaction.on_commit(lambda: delete_quietly(*old))
    if marked:
        for row in rows:
            queue.make_watermarked_copy(row.pk)


def make_watermarked_copy(version_id: int) -> SharedVersion | None:
    """Burn a link's watermark into a copy of one of its versions (run by a task). A copy made for
    settings that changed meanwhile is thrown away: the change asked for a new one."""
    row = SharedVersion.objects.select_related("link", "edit__result").filter(pk=version_id).first()
    if row is None or row.copy_state != SharedVersion.Copy.PENDING or not row.link.watermark_text:
        return row
    link, result = row.link, getattr(row.edit, "result", None)
    if result is None:
        SharedVersion.objects.filter(pk=row.pk).update(copy_state=SharedVersion.Copy.FAILED)
        return row
    asked = {k: getattr(link, k) for k in ("watermark_text", "watermark_position", "watermark_opacity")}
    mark = watermarks.Watermark(link.watermark_text, link.watermark_position, link.watermark_opacity / 100)
    with tempfile.TemporaryDirectory(prefix="aleph-watermark-") as tmp:
        video, poster = Path(tmp) / "marked.mp4", Path(tmp) / "poster.jpg"
        try:
            with staged_files() as staged:
                with local_copy(result.file) as source:
                    watermarks.burn(source, video, mark, metadata={"comment": "Aleph Studio share copy"})
                media.extract_poster(video, poster)
                names = staged.save(video, new_storage_name("shares", ".mp4")), staged.save(poster, new_storage_name("shares", ".jpg"))
                with transaction.atomic():
                    current = ShareLink.objects.select_for_update().filter(pk=link.pk, **asked).exists()
                    kept = current and SharedVersion.objects.filter(pk=row.pk, copy_state=SharedVersion.Copy.PENDING).update(
                        copy_state=SharedVersion.Copy.READY, copy_file=names[0], copy_poster=names[1]
                    )
                    if not kept:
                        raise _Outdated()
        except _Outdated:
            pass
        except (EngineError, media.MediaError) as exc:
            log.warning("share link %s: watermarked copy of edit %s failed: %s", link.pk, row.edit_id, exc.message)
            SharedVersion.objects.filter(pk=row.pk, copy_state=SharedVersion.Copy.PENDING).update(copy_state=SharedVersion.Copy.FAILED)
    give_memory_back()
    row.refresh_from_db()
    return row


class _Outdated(Exception):
    """The link's watermark changed (or the version left it) while its copy was being made."""


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


def leave_links(edit: Edit) -> None:
    """Take a version that is being deleted off every review playlist: the versions after it move up
    one place, and a link it led is led by the next one. A link with no other version goes with it."""
    for row in SharedVersion.objects.filter(edit=edit).select_related("link"):
        others = list(SharedVersion.objects.filter(link_id=row.link_id).exclude(pk=row.pk).order_by("position"))
        if not others:
            continue
        if row.link.edit_id == edit.pk:
            ShareLink.objects.filter(pk=row.link_id).update(edit=others[0].edit_id)
        row.delete()
        for place, other in enumerate(others, 1):
            if other.position != place:
                SharedVersion.objects.filter(pk=other.pk).update(position=place)


def playlist(link: ShareLink) -> list[SharedVersion]:
    """A link's versions in order, each with its edit and result."""
    return list(link.versions.select_related("edit", "edit__result"))


def version_at(link: ShareLink, position: int) -> SharedVersion | None:
    """The link's version at a place of its playlist (1 is the first), or None: a guest reaches no other."""
    return link.versions.select_related("edit", "edit__result").filter(position=position, edit__status=Status.SUCCEEDED).first()


def count_view(link: ShareLink) -> None:
    """Count one view of a shared page."""
    ShareLink.objects.filter(pk=link.pk).update(views=F("views") + 1)
