"""The life of an edit: create and enqueue, claim and run, cancel, and reap stale runs.

Every state change is one of the model's verbs (editor.models.EditQuerySet), a compare-and-set that
changes one row or nothing, so two workers never take the same step and a run the reaper has given
away can no longer write. Remote engines' runs are dispatched to services.remote_edits.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from editor import media
from editor.constants import MAX_BATCH, SEED_MAX
from editor.engines import local as local_engine
from editor.engines.base import EditCancelled, EditRequest, EngineError
from editor.errors import InputError, Refusal
from editor.models import TIME_LIMITS, Batch, Clip, Edit, Engine, Project, Reference, Status, new_storage_name
# Services import one another as modules: see services/remote_edits.py.
from editor.services import credits, projects, providers, queue, remote_edits, sharing
from editor.storage import give_memory_back, local_copy, read_stored, remove_scratch, scratch, staged_files, sweep_cache, sweep_scratch

log = logging.getLogger(__name__)

# A run writes its progress (and heartbeat) at most this often.
PROGRESS_WRITE_INTERVAL = 0.5
# Set when this process is stopping and its running edit must go back to the queue (studio_worker).
HAND_BACK = threading.Event()


class HandedBack(Exception):
    """Raised by the progress callback when the process stops: the run gives its edit back."""


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
    # The remote model's other choices (see Edit.options).
    options: dict | None = None
    # Local engine: byte-identical output on every run (see Edit.exact).
    exact: bool = False


def create_edit(
    project: Project,
    input_clip: Clip,
    edit_settings: EditSettings,
    references: list[Reference] = (),
    mask_png: bytes | None = None,
) -> Edit:
    """Record a new edit and enqueue its run once the transaction commits."""
    plan = _plan(project, input_clip, edit_settings, references, mask_png)
    with staged_files() as staged:
        mask_name = store_mask(mask_png, staged) if mask_png is not None else ""
        with transaction.atomic():
            return _record(project, input_clip, edit_settings, references, mask_name, plan)


def create_batch(
    project: Project,
    input_clip: Clip,
    variants: list[EditSettings],
    references: list[Reference] = (),
    mask_png: bytes | None = None,
) -> Batch:
    """Record every edit of a batch in one transaction, or none: a variant that is refused (its
    engine, its plan, or the allowance, which holds the whole batch's estimate) refuses the batch."""
    if not 1 <= len(variants) <= MAX_BATCH:
        raise InputError(f"A batch has 1 to {MAX_BATCH} edits; this one would have {len(variants)}.")
    plans = [_plan(project, input_clip, variant, references, mask_png) for variant in variants]
    with staged_files() as staged:
        # Each edit keeps its own copy of the mask: deleting one edit deletes only its copy.
        masks = [store_mask(mask_png, staged) if mask_png is not None else "" for _ in variants]
        with transaction.atomic():
            batch = Batch.objects.create(project=project, title=batch_title(variants))
            for variant, plan, mask_name in zip(variants, plans, masks):
                _record(project, input_clip, variant, references, mask_name, plan, batch=batch)
    return batch


def batch_title(variants: list[EditSettings]) -> str:
    """Name a batch after its (first) prompt."""
    prompt = next((v.prompt for v in variants if v.prompt), "") or "Keyframes only"
    return prompt if len(prompt) <= 80 else prompt[:79].rstrip() + "…"


@dataclass(frozen=True)
class _Plan:
    cost: object
    summary: str
    plan: list


def _plan(project: Project, input_clip: Clip, edit_settings: EditSettings, references, mask_png) -> _Plan:
    """Check an edit before anything is recorded: its input, its engine, its price or its local plan."""
    if input_clip.project_id != project.pk:
        raise InputError("The input clip belongs to another project.")
    if not input_clip.is_original and input_clip.source_edit.status != Status.SUCCEEDED:
        raise InputError("That result is not finished yet.")
    if edit_settings.engine != Engine.LOCAL:
        providers.check_can_submit(edit_settings.engine)
        if not providers.offers(edit_settings.engine, edit_settings.model):
            raise InputError(f"Choose a model that {Engine(edit_settings.engine).label} offers.")
        cost = providers.estimate(
            edit_settings.engine,
            edit_settings.model,
            input_clip.duration,
            edit_settings.trim_start,
            output_format=(edit_settings.options or {}).get("output_format", "mp4"),
            clip_size=(input_clip.width, input_clip.height),
        )
        return _Plan(cost, "", [])
    try:
        summary, plan = local_engine.describe(
            edit_settings.prompt,
            ratio=edit_settings.ratio,
            seed=edit_settings.seed,
            has_reference=bool(references),
            has_mask=mask_png is not None,
        )
    except EngineError as exc:
        raise InputError(exc.message, suggestions=exc.suggestions) from None
    return _Plan(None, summary, plan)


def _record(project, input_clip, edit_settings: EditSettings, references, mask_name: str, plan: _Plan, batch=None) -> Edit:
    """Record a checked edit (inside the caller's transaction), hold its estimate, enqueue its run."""
    cost = plan.cost
    edit = Edit.objects.create(
        project=project,
        input_clip=input_clip,
        batch=batch,
        prompt=edit_settings.prompt,
        ratio=edit_settings.ratio,
        seed=edit_settings.seed,
        public_figure_threshold=edit_settings.public_figure_threshold,
        engine=edit_settings.engine,
        model=edit_settings.model,
        exact=edit_settings.exact and edit_settings.engine == Engine.LOCAL,
        trim_start=edit_settings.trim_start,
        keyframes=list(edit_settings.keyframes),
        options=dict(edit_settings.options or {}) if edit_settings.engine != Engine.LOCAL else {},
        summary=plan.summary[:500],
        plan=plan.plan,
        cost_credits=cost.credits if cost else None,
        cost_usd=cost.usd if cost else None,
        mask=mask_name,
        heartbeat_at=timezone.now(),
    )
    if cost is not None:
        # Refused here, nothing of the edit (or its batch) is kept: the transaction rolls back.
        credits.reserve(edit, project.owner, credits.needed(cost))
    if references:
        edit.references.set(references)
    projects.touch(project)
    queue.run_edit(edit.pk)
    return edit


def store_mask(png: bytes, staged) -> str:
    """Check a painted mask (PNG, white = remove) and store it; return its stored name."""
    try:
        grey = media.read_mask(png)
    except media.MediaError as exc:
        raise InputError(exc.message) from None
    with tempfile.TemporaryDirectory(prefix="aleph-mask-") as tmp:
        local = Path(tmp) / "mask.png"
        grey.save(local, "PNG")
        return staged.save(local, new_storage_name("masks", ".png"))


def rerun_edit(edit: Edit, *, new_seed: bool) -> Edit:
    """Ask for the same edit again, with the same seed or a new random one."""
    if edit.moderated:
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
            options=dict(edit.options or {}),
            exact=edit.exact,
        ),
        list(edit.references.all()),
        mask_png=read_stored(edit.mask) if edit.mask else None,
    )


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
    with transaction.atomic():
        sharing.leave_links(edit)
        # Its result clip goes with it; their files are deleted once that commits (editor.signals).
        edit.delete()


def cancel_edit(edit: Edit) -> bool:
    """Cancel an unfinished edit; a running worker notices at its next progress write."""
    if not edit.is_local:
        return remote_edits.cancel_remote_edit(edit)
    return Edit.objects.cancel(edit.pk, {Status.QUEUED, Status.RUNNING}, "Cancelled by you.")


def run_edit(edit_id: int) -> None:
    """Claim a queued edit and run it on its engine; do nothing if another run owns it."""
    edit = Edit.objects.filter(pk=edit_id).first()
    if edit is None:
        return
    if edit.batch_id and Batch.objects.filter(pk=edit.batch_id, paused=True).exists():
        # Its batch is paused: it stays queued, and the batch's resume enqueues it again.
        log.info("edit %s: its batch is paused, not starting it", edit_id)
        return
    if not edit.is_local:
        if edit.engine not in providers.configured_providers():
            message = f"The {edit.get_engine_display()} engine is not configured on this server."
            if Edit.objects.fail(edit_id, Status.QUEUED, "engine_unavailable", message):
                credits.release(edit_id)
            return
        try:
            remote_edits.run_remote_edit(edit)
        finally:
            give_memory_back()
        return
    token = Edit.objects.claim(edit_id, Status.RUNNING)
    if token is None:
        log.info("edit %s: not queued any more, skipping", edit_id)
        return
    edit.refresh_from_db()
    try:
        _run_local(edit, token)
    finally:
        give_memory_back()


def _progress_writer(edit_id: int, token: str):
    """Return a progress callback that records progress and stops the run if it lost the edit."""
    last_write = 0.0

    def report(fraction: float) -> None:
        nonlocal last_write
        if HAND_BACK.is_set():
            raise HandedBack()
        now = time.monotonic()
        if now - last_write < PROGRESS_WRITE_INTERVAL and fraction < 1:
            return
        last_write = now
        percent = max(0, min(99, int(fraction * 100)))
        if not Edit.objects.beat(edit_id, Status.RUNNING, token, progress=percent):
            raise EditCancelled()

    return report


def _run_local(edit: Edit, token: str) -> None:
    references = list(edit.references.all())
    with scratch("edit", edit.pk, token) as tmp:
        output = tmp / "result.mp4"
        try:
            with staged_files() as staged:
                with local_copy(edit.input_clip.file) as source:
                    request = EditRequest(
                        input_path=source,
                        output_path=output,
                        prompt=edit.prompt,
                        ratio=edit.ratio,
                        seed=edit.seed,
                        references=tuple(_local_references(references, tmp)),
                        mask_path=_local_mask(edit.mask, tmp),
                        recipe=edit.recipe(),
                        cache_dir=Path(settings.ALEPH_CACHE_DIR),
                        input_key=edit.input_clip.sha256,
                        exact=edit.exact,
                    )
                    result = local_engine.run(request, _progress_writer(edit.pk, token))
                info = media.probe(output)
                with transaction.atomic():
                    clip = projects.register_clip(edit.project, output, info, source_edit=edit, staged=staged)
                    done = Edit.objects.finish(
                        edit.pk,
                        Status.RUNNING,
                        token=token,
                        summary=result.summary[:500],
                        plan=result.plan,
                        notes=result.notes,
                    )
                    if not done:
                        # Cancelled or reaped while we were finishing: keep nothing.
                        raise EditCancelled()
                    projects.touch(edit.project)
                    queue.measure_change(edit.pk)
            log.info("edit %s: succeeded as clip %s", edit.pk, clip.pk)
        except EditCancelled:
            log.info("edit %s: run stopped (cancelled or taken over)", edit.pk)
        except HandedBack:
            with transaction.atomic():
                # A run given back on purpose is not a failed attempt.
                if Edit.objects.requeue(edit.pk, Status.RUNNING, token=token, attempts=F("attempts") - 1):
                    queue.run_edit(edit.pk)
            log.warning("edit %s: this worker is stopping; the edit went back to the queue", edit.pk)
        except Refusal as exc:
            Edit.objects.fail(edit.pk, Status.RUNNING, getattr(exc, "code", "media"), exc.message, token=token)
        except Exception:
            log.exception("edit %s: unexpected error", edit.pk)
            message = "Something went wrong on this server while editing. The details are in the server log."
            Edit.objects.fail(edit.pk, Status.RUNNING, "internal", message, token=token)


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
            shutil.copyfile(src, target)
        paths.append(target)
    return paths


def reap_stale_edits(now=None) -> list[int]:
    """Enqueue again the edits whose run went silent or whose run task was lost, within their time
    limits; return them. Remote edits' limits are reaped by services.remote_edits."""
    now = now or timezone.now()
    requeued = []
    for limit in TIME_LIMITS:
        if limit.remote:
            continue
        for edit in Edit.objects.overdue(limit, now).only("pk", "run_token", "attempts", "task_id", "heartbeat_at"):
            if limit.status == Status.QUEUED:
                # Still waiting for a worker is fine; a task that is gone (or never made it into the
                # queue) is enqueued again. Two runs of one edit run it once: the claim is a compare-and-set.
                if not queue.is_waiting(edit.task_id) and Edit.objects.take_over(edit, limit):
                    requeued.append(edit.pk)
                    queue.run_edit(edit.pk)
                continue
            if edit.attempts >= limit.max_attempts:
                message = f"The worker stopped while running this edit {edit.attempts} times; it was not retried again."
                Edit.objects.fail(edit.pk, limit.status, "worker_lost", message, token=edit.run_token)
                continue
            # The token in the filter makes this a no-op if the run woke up and moved on.
            with transaction.atomic():
                if Edit.objects.requeue(edit.pk, limit.status, token=edit.run_token):
                    requeued.append(edit.pk)
                    remove_scratch("edit", edit.pk, edit.run_token)
                    queue.run_edit(edit.pk)
    if requeued:
        log.warning("reaper: re-queued edits %s", requeued)
    remote_edits.reap_remote(now)
    projects.reap_imports(now)
    swept = sweep_scratch()
    if swept:
        log.warning("reaper: removed %d temporary folders older than a day", len(swept))
    sweep_cache(Path(settings.ALEPH_CACHE_DIR))
    return requeued
