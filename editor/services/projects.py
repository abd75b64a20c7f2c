"""Creating projects from uploads or links, attaching reference images, registering clips."""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from editor import media, netguard
from editor.errors import InputError, Refusal
from editor.models import Clip, Edit, Import, ImportStatus, Project, Reference, new_storage_name
from editor.services import queue
from editor.storage import Staged, local_copy, staged_files

log = logging.getLogger(__name__)

# An import writes its progress at most this often.
PROGRESS_INTERVAL = 0.5
VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


def max_upload_bytes() -> int:
    return settings.ALEPH_MAX_UPLOAD_MB * 1024 * 1024


def upload_limits() -> dict:
    """Return the limits and accepted file types the upload and reference forms state."""
    return {
        "max_mb": settings.ALEPH_MAX_UPLOAD_MB,
        "max_reference_mb": settings.ALEPH_MAX_REFERENCE_MB,
        "video_kinds": _kinds(VIDEO_EXTENSIONS),
        "video_accept": ",".join(VIDEO_EXTENSIONS) + ",video/*",
        "image_kinds": _kinds(IMAGE_EXTENSIONS),
        "image_accept": ",".join(IMAGE_EXTENSIONS) + ",image/png,image/jpeg,image/webp",
    }


def _kinds(extensions: tuple[str, ...]) -> str:
    """Say which file types are accepted: "PNG, JPEG or WEBP" (".jpg" is JPEG's other name)."""
    names = [e.lstrip(".").upper() for e in extensions if e != ".jpg"]
    return ", ".join(names[:-1]) + " or " + names[-1]


def touch(project: Project) -> None:
    """Record activity on a project (it sorts first among recent projects)."""
    Project.objects.filter(pk=project.pk).update(updated_at=timezone.now())


def _title_from_name(name: str) -> str:
    stem = Path(name).stem.replace("_", " ").replace("-", " ").strip()
    return (stem or "Untitled clip")[:200]


def _check_extension(name: str) -> str:
    extension = Path(name).suffix.lower()
    if extension not in VIDEO_EXTENSIONS:
        allowed = ", ".join(sorted(e.lstrip(".") for e in VIDEO_EXTENSIONS))
        raise InputError(f"“{Path(name).name}” is not a video file we accept ({allowed}).")
    return extension


def _spool(uploaded, dest: Path) -> None:
    """Write an uploaded file to a local path, enforcing the size cap as it goes."""
    limit = max_upload_bytes()
    if uploaded.size is not None and uploaded.size > limit:
        raise InputError(f"The file is larger than the {settings.ALEPH_MAX_UPLOAD_MB} MB limit.")
    written = 0
    with open(dest, "wb") as fh:
        for chunk in uploaded.chunks():
            written += len(chunk)
            if written > limit:
                raise InputError(f"The file is larger than the {settings.ALEPH_MAX_UPLOAD_MB} MB limit.")
            fh.write(chunk)
    if written == 0:
        raise InputError("The file is empty.")


def create_project_from_upload(owner: AbstractBaseUser, uploaded, title: str = "") -> Project:
    """Check, probe and store an uploaded clip as a new project; store nothing if it is refused."""
    extension = _check_extension(uploaded.name)
    with tempfile.TemporaryDirectory(prefix="aleph-upload-") as tmp:
        local = Path(tmp) / f"upload{extension}"
        _spool(uploaded, local)
        return _create_project(owner, local, original_name=Path(uploaded.name).name, title=title)


def start_import(owner: AbstractBaseUser, url: str, title: str = "") -> Import:
    """Record an import by link and enqueue it; the link's form (and a literal address) is checked now."""
    url = netguard.check_url(url)
    with transaction.atomic():
        entry = Import.objects.create(owner=owner, url=url, title=title.strip()[:200], heartbeat_at=timezone.now())
        queue.run_import(entry.pk)
    return entry


def run_import(import_id: int) -> None:
    """Download an import's link (public addresses only, within the size cap and one total deadline)
    and make it a new project; do nothing if another run has it."""
    token = Import.objects.claim(import_id)
    if token is None:
        return
    entry = Import.objects.get(pk=import_id)
    name = Path(entry.url.split("?", 1)[0].rstrip("/")).name or "imported.mp4"
    extension = Path(name).suffix.lower()
    if extension not in VIDEO_EXTENSIONS:
        extension = ".mp4"
    last = 0.0

    def report(received: int, total: int | None) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_INTERVAL:
            last = time.monotonic()
            Import.objects.beat(import_id, token, received_bytes=received, total_bytes=total)

    try:
        with tempfile.TemporaryDirectory(prefix="aleph-import-") as tmp:
            local = Path(tmp) / f"import{extension}"
            netguard.download(
                entry.url, local, max_bytes=max_upload_bytes(), timeout=settings.ALEPH_IMPORT_TIMEOUT_SECONDS, progress=report
            )
            if local.stat().st_size == 0:
                raise InputError("The link returned an empty file.")
            Import.objects.beat(import_id, token, received_bytes=local.stat().st_size)
            project = _create_project(entry.owner, local, original_name=name, title=entry.title)
    except Refusal as exc:
        Import.objects.fail(import_id, ImportStatus.RUNNING, exc.message, token=token)
        return
    except Exception:
        log.exception("import %s: unexpected error", import_id)
        Import.objects.fail(import_id, ImportStatus.RUNNING, "Something went wrong on this server while importing.", token=token)
        return
    if not Import.objects.finish(import_id, token, project):
        # The reaper gave the import away meanwhile: the project stands, the import says nothing more.
        log.warning("import %s: finished after it was given up on", import_id)


def reap_imports(now) -> None:
    """Fail imports whose worker went silent, and enqueue again queued ones whose task was lost."""
    cutoff = now - timedelta(seconds=settings.ALEPH_STALE_SECONDS)
    for entry in Import.objects.filter(status=ImportStatus.RUNNING, heartbeat_at__lt=cutoff):
        message = "The worker stopped while downloading this link; import it again."
        Import.objects.fail(entry.pk, ImportStatus.RUNNING, message, token=entry.run_token)
    for entry in Import.objects.filter(status=ImportStatus.QUEUED, heartbeat_at__lt=cutoff):
        if not queue.is_waiting(entry.task_id):
            Import.objects.filter(pk=entry.pk, heartbeat_at=entry.heartbeat_at).update(heartbeat_at=now)
            queue.run_import(entry.pk)


def clip_limits() -> media.ClipLimits:
    """Return how large an uploaded or imported clip may be."""
    return media.ClipLimits(max_seconds=settings.ALEPH_MAX_CLIP_SECONDS, max_pixels=settings.ALEPH_MAX_PIXELS)


def _create_project(owner, local: Path, *, original_name: str, title: str) -> Project:
    with tempfile.TemporaryDirectory(prefix="aleph-poster-") as tmp:
        poster = Path(tmp) / "poster.jpg"
        # The user's file is read in a child process, bound in memory and time.
        info = media.probe_isolated(
            local, poster, clip_limits(), seconds=settings.ALEPH_PROBE_SECONDS, memory_mb=settings.ALEPH_PROBE_MEMORY_MB
        )
        with staged_files() as staged, transaction.atomic():
            project = Project.objects.create(owner=owner, title=(title.strip() or _title_from_name(original_name))[:200])
            register_clip(project, local, info, original_name=original_name, staged=staged, poster=poster)
            return project


def register_clip(
    project: Project,
    local: Path,
    info: media.ClipInfo,
    *,
    original_name: str = "",
    source_edit: Edit | None = None,
    staged: Staged,
    poster: Path | None = None,
    master: Path | None = None,
    master_info=None,
) -> Clip:
    """Store a probed local video and its poster (drawn here unless given), staged so they go if the
    change does not commit. A result delivered in a master format keeps that file too (`local` is
    then its proxy)."""
    with tempfile.TemporaryDirectory(prefix="aleph-poster-") as tmp:
        if poster is None:
            poster = Path(tmp) / "poster.jpg"
            media.extract_poster(local, poster)
        video_name = staged.save(local, new_storage_name("clips", local.suffix.lower() or ".mp4"))
        poster_name = staged.save(poster, new_storage_name("posters", ".jpg"))
        master_name = staged.save(master, new_storage_name("masters", master.suffix.lower())) if master else ""
    return Clip.objects.create(
        master=master_name,
        master_type=master_info.content_type if master else "",
        master_label=master_info.label[:100] if master else "",
        master_size=master.stat().st_size if master else None,
        project=project,
        source_edit=source_edit,
        file=video_name,
        poster=poster_name,
        original_name=original_name[:255],
        size_bytes=local.stat().st_size,
        sha256=media.file_sha256(local),
        container=info.container[:64],
        video_codec=info.video_codec[:32],
        width=info.width,
        height=info.height,
        duration=info.duration,
        fps=info.fps,
        frame_count=info.frame_count,
        has_audio=info.has_audio,
        audio_codec=(info.audio_codec or "")[:32],
    )


def add_reference(project: Project, uploaded) -> Reference:
    """Check an uploaded image with Pillow and attach it to the project."""
    extension = Path(uploaded.name).suffix.lower()
    if extension not in IMAGE_EXTENSIONS:
        raise InputError("Reference images must be PNG, JPEG or WebP.")
    limit_mb = settings.ALEPH_MAX_REFERENCE_MB
    if uploaded.size > limit_mb * 1024 * 1024:
        raise InputError(f"The image is larger than the {limit_mb} MB limit.")
    with tempfile.TemporaryDirectory(prefix="aleph-ref-") as tmp:
        local = Path(tmp) / f"ref{extension}"
        with open(local, "wb") as fh:
            for chunk in uploaded.chunks():
                fh.write(chunk)
        return _store_reference(project, local, original_name=Path(uploaded.name).name)


def add_reference_from_frame(project: Project, clip: Clip, at_seconds: float) -> Reference:
    """Grab the frame of a clip at a time and attach it to the project as a reference image."""
    at_seconds = min(max(0.0, at_seconds), max(0.0, clip.duration - 0.001))
    with tempfile.TemporaryDirectory(prefix="aleph-ref-") as tmp, local_copy(clip.file) as video:
        local = Path(tmp) / "frame.png"
        media.extract_frame_png(video, at_seconds, local)
        return _store_reference(project, local, original_name=f"Frame at {at_seconds:.2f} s.png")


def _store_reference(project: Project, local: Path, *, original_name: str) -> Reference:
    media.validate_image(
        local, max_bytes=settings.ALEPH_MAX_REFERENCE_MB * 1024 * 1024, max_pixels=settings.ALEPH_MAX_REFERENCE_PIXELS
    )
    with tempfile.TemporaryDirectory(prefix="aleph-ref-") as tmp:
        # Only the pixels are kept: no metadata, nothing appended after the image.
        clean, fmt, width, height = media.reencode_image(local, Path(tmp))
        extension = {"png": ".png", "jpeg": ".jpg"}[fmt]
        with staged_files() as staged, transaction.atomic():
            reference = Reference.objects.create(
                project=project,
                file=staged.save(clean, new_storage_name("references", extension)),
                original_name=original_name[:255],
                format=fmt,
                width=width,
                height=height,
                size_bytes=clean.stat().st_size,
            )
            touch(project)
            return reference


def rename_project(project: Project, title: str) -> None:
    """Give a project a new title."""
    title = title.strip()
    if not title:
        raise InputError("A project needs a title.")
    Project.objects.filter(pk=project.pk).update(title=title[:200], updated_at=timezone.now())


def set_starred(project: Project, starred: bool) -> None:
    """Star or unstar a project."""
    Project.objects.filter(pk=project.pk).update(starred=starred)


def delete_project(project: Project) -> None:
    """Delete a project, its edits and (once that commits) every file of it in storage."""
    project.delete()
