"""The life of an edit: create and enqueue, claim and run, cancel, and reap stale runs.

Every state change is a compare-and-set: an UPDATE filtered on the status (and, for a run in
progress, on its run token) that must change exactly one row, so two workers never take the
same step and a run the reaper has given away can no longer write.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from editor import media
from editor.engines import local as local_engine
from editor.engines.base import EditCancelled, EditRequest, EngineError
from editor.models import TRANSITIONS, Clip, Edit, Engine, Project, Reference, Status, new_storage_name
from editor.services import remote_edits
from editor.services.projects import InputError, register_clip
from editor.storage import delete_quietly, local_copy, save_file

log = logging.getLogger(__name__)

# A run writes its progress (and heartbeat) at most this often.
PROGRESS_WRITE_INTERVAL = 0.5
# A run that kills its worker this many times is failed instead of re-queued again.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class EditSettings:
    prompt: str
    ratio: str
    seed: int
    public_figure_threshold: str = "auto"
    engine: str = Engine.LOCAL
    model: str = ""
    trim_start: float = 0.0
    keyframes: tuple = ()


def transition(edit_id: int, source: set[str] | str, target: str, *, token: str | None = None, **fields) -> bool:
    """Move an edit from one of `source` to `target` if it is still there; tell whether it moved."""
    sources = {source} if isinstance(source, str) else set(source)
    for s in sources:
        if target not in TRANSITIONS[s]:
            raise ValueError(f"{s} → {target} is not an allowed transition")
    rows = Edit.objects.filter(pk=edit_id, status__in=sources)
    if token is not None:
        rows = rows.filter(run_token=token)
    if target in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED):
        fields.setdefault("finished_at", timezone.now())
    return rows.update(status=target, **fields) == 1


def create_edit(
    project: Project,
    input_clip: Clip,
    edit_settings: EditSettings,
    references: list[Reference] = (),
    mask_png: bytes | None = None,
) -> Edit:
    """Record a new edit and enqueue its run once the transaction commits."""
    if input_clip.project_id != project.pk:
        raise InputError("The input clip belongs to another project.")
    if not input_clip.is_original and input_clip.source_edit.status != Status.SUCCEEDED:
        raise InputError("That result is not finished yet.")
    cost = None
    if edit_settings.engine in remote_edits.REMOTE_ENGINES:
        remote_edits.check_can_submit(edit_settings.engine)
        if edit_settings.model not in remote_edits.models_for(edit_settings.engine):
            raise InputError(f"Choose a model that {Engine(edit_settings.engine).label} offers.")
        cost = remote_edits.estimate(
            edit_settings.engine, edit_settings.model, input_clip.duration, edit_settings.trim_start
        )
        summary, plan = "", []
    else:
        try:
            summary, plan = local_engine.describe(
                edit_settings.prompt,
                ratio=edit_settings.ratio,
                seed=edit_settings.seed,
                has_reference=bool(references),
                has_mask=mask_png is not None,
            )
        except EngineError as exc:
            raise InputError(exc.message) from None
    mask_name = store_mask(mask_png) if mask_png is not None else ""
    try:
        with transaction.atomic():
            edit = _record_edit(project, input_clip, edit_settings, references, summary, plan, cost, mask_name)
    except BaseException:
        delete_quietly(mask_name)
        raise
    return edit


def _record_edit(project, input_clip, edit_settings, references, summary, plan, cost, mask_name) -> Edit:
    edit = Edit.objects.create(
        project=project,
        input_clip=input_clip,
        prompt=edit_settings.prompt,
        ratio=edit_settings.ratio,
        seed=edit_settings.seed,
        public_figure_threshold=edit_settings.public_figure_threshold,
        engine=edit_settings.engine,
        model=edit_settings.model,
        trim_start=edit_settings.trim_start,
        keyframes=list(edit_settings.keyframes),
        summary=summary[:500],
        plan=plan,
        cost_credits=cost.credits if cost else None,
        cost_usd=cost.usd if cost else None,
        mask=mask_name,
    )
    if references:
        edit.references.set(references)
    Project.objects.filter(pk=project.pk).update(updated_at=timezone.now())
    transaction.on_commit(lambda: enqueue_run(edit.pk))
    return edit


MAX_MASK_BYTES = 10 * 1024 * 1024


def store_mask(png: bytes) -> str:
    """Check a painted mask (PNG, white = remove) and store it; return its stored name."""
    import io

    from PIL import Image, UnidentifiedImageError

    if not png or len(png) > MAX_MASK_BYTES:
        raise InputError("The painted mask is empty or too large.")
    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.format != "PNG" or max(image.size) > 8192:
                raise InputError("The mask must be a PNG no larger than 8192 pixels a side.")
            grey = image.convert("L")
    except (UnidentifiedImageError, OSError):
        raise InputError("The painted mask could not be read.") from None
    if grey.getextrema()[1] < 128:
        raise InputError("The mask is empty: paint over what should be removed.")
    with tempfile.TemporaryDirectory(prefix="aleph-mask-") as tmp:
        local = Path(tmp) / "mask.png"
        grey.save(local, "PNG")
        return save_file(local, new_storage_name("masks", ".png"))


def rerun_edit(edit: Edit, *, new_seed: bool) -> Edit:
    """Ask for the same edit again, with the same seed or a new random one."""
    import secrets

    from editor.engines.base import SEED_MAX

    if "SAFETY" in edit.error_code:
        raise InputError("This edit was blocked by moderation; change the prompt or inputs before trying again.")

    return create_edit(
        edit.project,
        edit.input_clip,
        EditSettings(
            prompt=edit.prompt,
            ratio=edit.ratio,
            seed=secrets.randbelow(SEED_MAX + 1) if new_seed else edit.seed,
            public_figure_threshold=edit.public_figure_threshold,
            engine=edit.engine,
            model=edit.model,
            trim_start=edit.trim_start,
            keyframes=tuple(edit.keyframes),
        ),
        list(edit.references.all()),
        mask_png=_read_stored(edit.mask) if edit.mask else None,
    )


def _read_stored(name: str) -> bytes:
    from django.core.files.storage import default_storage

    with default_storage.open(name, "rb") as fh:
        return fh.read()


def delete_edit(edit: Edit) -> None:
    """Delete a finished edit and its result's files; refuse while other edits build on it."""
    if not edit.is_finished:
        raise InputError("Cancel the edit before deleting it.")
    result = Clip.objects.filter(source_edit=edit).first()
    if result:
        children = list(Edit.objects.filter(input_clip=result).values_list("pk", flat=True))
        if children:
            listed = ", ".join(f"#{pk}" for pk in children)
            raise InputError(f"Edits {listed} use this result as their input; delete them first.")
    names = ([result.file, result.poster] if result else []) + [edit.mask]
    with transaction.atomic():
        edit.delete()
        transaction.on_commit(lambda: delete_quietly(*names))


def enqueue_run(edit_id: int) -> None:
    """Put an edit's run on the task queue."""
    from editor.tasks import run_edit_task

    run_edit_task.enqueue(edit_id)


def cancel_edit(edit: Edit) -> bool:
    """Cancel an unfinished edit; a running worker notices at its next progress write."""
    if edit.engine in remote_edits.REMOTE_ENGINES:
        return remote_edits.cancel_remote_edit(edit)
    cancelled = transition(
        edit.pk, {Status.QUEUED, Status.RUNNING}, Status.CANCELLED, error_message="Cancelled by you."
    )
    return cancelled


def run_edit(edit_id: int) -> None:
    """Claim a queued edit and run it on its engine; do nothing if another run owns it."""
    token = uuid.uuid4().hex
    now = timezone.now()
    edit = Edit.objects.filter(pk=edit_id).first()
    if edit is None:
        return
    if edit.engine in remote_edits.REMOTE_ENGINES:
        if edit.engine not in remote_edits.configured_providers():
            transition(
                edit_id,
                Status.QUEUED,
                Status.FAILED,
                error_code="engine_unavailable",
                error_message=f"The {edit.get_engine_display()} engine is not configured on this server.",
            )
            return
        remote_edits.run_remote_edit(edit)
        return
    claimed = (
        Edit.objects.filter(pk=edit_id, status=Status.QUEUED).update(
            status=Status.RUNNING,
            run_token=token,
            started_at=now,
            heartbeat_at=now,
            progress=0,
            attempts=edit.attempts + 1,
        )
        == 1
    )
    if not claimed:
        log.info("edit %s: not queued any more, skipping", edit_id)
        return
    edit.refresh_from_db()
    _run_local(edit, token)


def _progress_writer(edit_id: int, token: str):
    """Return a progress callback that records progress and stops the run if it lost the edit."""
    last_write = 0.0

    def report(fraction: float) -> None:
        nonlocal last_write
        now = time.monotonic()
        if now - last_write < PROGRESS_WRITE_INTERVAL and fraction < 1:
            return
        last_write = now
        percent = max(0, min(99, int(fraction * 100)))
        still_ours = Edit.objects.filter(pk=edit_id, status=Status.RUNNING, run_token=token).update(
            progress=percent, heartbeat_at=timezone.now()
        )
        if not still_ours:
            raise EditCancelled()

    return report


def _run_local(edit: Edit, token: str) -> None:
    references = list(edit.references.all())
    stored: list[str] = []
    with tempfile.TemporaryDirectory(prefix=_scratch_prefix(edit.pk, token)) as tmp:
        output = Path(tmp) / "result.mp4"
        try:
            with local_copy(edit.input_clip.file) as source:
                ref_paths = _local_references(references, Path(tmp))
                mask_path = _local_mask(edit.mask, Path(tmp))
                request = EditRequest(
                    input_path=source,
                    output_path=output,
                    prompt=edit.prompt,
                    ratio=edit.ratio,
                    seed=edit.seed,
                    references=tuple(ref_paths),
                    mask_path=mask_path,
                    public_figure_threshold=edit.public_figure_threshold,
                    recipe=edit.recipe(),
                )
                result = local_engine.run(request, _progress_writer(edit.pk, token))
            info = media.probe(output)
            with transaction.atomic():
                clip = register_clip(edit.project, output, info, source_edit=edit, stored=stored)
                done = transition(
                    edit.pk,
                    Status.RUNNING,
                    Status.SUCCEEDED,
                    token=token,
                    progress=100,
                    summary=result.summary[:500],
                    plan=result.plan,
                    notes=result.notes,
                )
                if not done:
                    # Cancelled or reaped while we were finishing: keep nothing.
                    raise EditCancelled()
                Project.objects.filter(pk=edit.project_id).update(updated_at=timezone.now())
            log.info("edit %s: succeeded as clip %s", edit.pk, clip.pk)
        except EditCancelled:
            delete_quietly(*stored)
            log.info("edit %s: run stopped (cancelled or taken over)", edit.pk)
        except (EngineError, media.MediaError) as exc:
            delete_quietly(*stored)
            transition(
                edit.pk,
                Status.RUNNING,
                Status.FAILED,
                token=token,
                error_code=getattr(exc, "code", "media"),
                error_message=exc.message,
            )
        except Exception:
            delete_quietly(*stored)
            log.exception("edit %s: unexpected error", edit.pk)
            transition(
                edit.pk,
                Status.RUNNING,
                Status.FAILED,
                token=token,
                error_code="internal",
                error_message="Something went wrong on this server while editing. The details are in the server log.",
            )


def _scratch_prefix(edit_id: int, token: str) -> str:
    return f"aleph-edit-{edit_id}-{token}-"


def _remove_scratch(edit_id: int, token: str) -> None:
    """Remove the scratch folder a dead run left on this machine."""
    if not token:
        return
    for folder in Path(tempfile.gettempdir()).glob(_scratch_prefix(edit_id, token) + "*"):
        shutil.rmtree(folder, ignore_errors=True)


def _local_mask(name: str, tmp: Path) -> Path | None:
    if not name:
        return None
    target = tmp / "mask.png"
    with local_copy(name) as src:
        shutil.copyfile(src, target)
    return target


def _local_references(references: list[Reference], tmp: Path) -> list[Path]:
    paths = []
    for i, reference in enumerate(references):
        target = tmp / f"ref{i}{Path(reference.file).suffix}"
        with local_copy(reference.file) as src:
            target.write_bytes(Path(src).read_bytes())
        paths.append(target)
    return paths


def reap_stale_edits(now=None) -> list[int]:
    """Return edits whose run went silent to the queue and enqueue them again."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ALEPH_STALE_SECONDS)
    stale = Edit.objects.filter(status=Status.RUNNING, engine=Engine.LOCAL, heartbeat_at__lt=cutoff)
    requeued = []
    for edit in stale.only("pk", "run_token", "attempts"):
        if edit.attempts >= MAX_ATTEMPTS:
            transition(
                edit.pk,
                Status.RUNNING,
                Status.FAILED,
                token=edit.run_token,
                error_code="worker_lost",
                error_message=f"The worker stopped while running this edit {edit.attempts} times; it was not retried again.",
            )
            continue
        # The token in the filter makes this a no-op if the run woke up and moved on.
        with transaction.atomic():
            if transition(edit.pk, Status.RUNNING, Status.QUEUED, token=edit.run_token, run_token="", progress=0):
                requeued.append(edit.pk)
                _remove_scratch(edit.pk, edit.run_token)
                transaction.on_commit(lambda pk=edit.pk: enqueue_run(pk))
    if requeued:
        log.warning("reaper: re-queued stale edits %s", requeued)
    remote_edits.reap_remote(cutoff)
    return requeued
