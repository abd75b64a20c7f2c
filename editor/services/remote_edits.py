"""Remote edits (Runway, CometAPI): prepare → submit once → poll with deferred tasks → download → done.

The rule that shapes everything here: a user never pays twice for one click. The edit is saved as
submitting (with `remote_submitted_at`) before the create is sent, and the task id is saved right
after it. A create whose outcome is unknown — or a run that died between those two writes — ends in
needs_attention, and only the user can send it again. Polls are idempotent reads, so they can be
repeated after any crash; the output is stored before the edit is marked succeeded, and a
succeeded task is never deleted.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from editor import media
from editor.engines.base import EditCancelled, EngineError
from editor.engines.remote import catalog, prepare
from editor.engines.remote import masters
from editor.engines.remote.body import Keyframe, Options, build_body
from editor.engines.remote.client import BACKOFF_CAP, MAX_RETRY_AFTER, NEW_TASK_GRACE, READ_ATTEMPTS, RemoteClient
from editor.engines.remote.errors import ErrorKind, RemoteError
from editor.engines.remote.failures import describe_failure
from editor.engines.remote.parse import TaskStatus
from editor.errors import Refusal
from editor.models import DOWNLOAD_LIMIT, POLL_GRACE, TIME_LIMITS, Clip, Edit, Status
# Services import one another as modules (names are looked up when called): the tasks that call
# the services are imported by the queue the services use, so the modules load in a circle.
from editor.services import credits, projects, providers, queue
from editor.storage import local_copy, remove_scratch, scratch, staged_files

log = logging.getLogger(__name__)

FOLLOWED = (Status.WAITING, Status.RUNNING)
SUBMIT_AGAIN_NOTE = " “Submit again” sends a new, billed task."
LOST_WORKER_MESSAGE = (
    "The worker stopped while sending this edit to {provider}, so we do not know whether {provider} "
    "created (and bills) a task. Check your {provider} dashboard;" + SUBMIT_AGAIN_NOTE
)
LATE_TASK_MESSAGE = (
    "{provider} did create task {task_id} for this edit, but only after this studio had given up waiting "
    "for its answer. It is billed and may still finish on {provider}'s side: “Check again” follows it here "
    "(nothing new is sent)."
)
INTERNAL_MESSAGE = "Something went wrong on this server while preparing the edit. The details are in the server log."


# ---------------------------------------------------------------- the run


def run_remote_edit(edit: Edit) -> None:
    """Claim a queued remote edit, prepare its input, submit it once and schedule the first poll."""
    token = Edit.objects.claim(edit.pk, Status.PREPARING)
    if token is None:
        return
    edit.refresh_from_db()
    try:
        with scratch("remote", edit.pk, token) as tmp, providers.client_for(edit.engine) as client:
            body = _prepared_body(edit, client, tmp)
            # The point of no return: from here a dead run cannot know whether a task exists.
            now = timezone.now()
            if not Edit.objects.move(
                edit.pk, Status.PREPARING, Status.SUBMITTING, token=token, remote_submitted_at=now, heartbeat_at=now
            ):
                return
            _submit(edit, client, body, token)
    except Refusal as exc:
        # Uploads and local checks fail before anything billable was sent.
        if Edit.objects.fail(edit.pk, Status.PREPARING, getattr(exc, "code", "media"), exc.message, token=token):
            credits.release(edit.pk)
    except Exception:
        log.exception("edit %s: unexpected error in a remote run", edit.pk)
        if Edit.objects.fail(edit.pk, Status.PREPARING, "internal", INTERNAL_MESSAGE, token=token):
            credits.release(edit.pk)
        # Had the create been sent, nobody knows whether a task exists: a person decides.
        Edit.objects.mark_unknown_outcome(edit.pk, LOST_WORKER_MESSAGE.format(provider=providers.label(edit.engine)), token=token)


def _submit(edit: Edit, client: RemoteClient, body: dict, token: str) -> None:
    """Send the create once, save the task id at once, and schedule the first poll."""
    try:
        created = client.create_video_to_video(body)
    except RemoteError as exc:
        _create_failed(edit, token, exc)
        return
    task_id = created.id
    if Edit.objects.move(
        edit.pk,
        Status.SUBMITTING,
        Status.WAITING,
        token=token,
        remote_task_id=task_id,
        provider_estimate_credits=created.estimated_credits,
        heartbeat_at=timezone.now(),
    ):
        if created.estimated_credits is not None:
            credits.hold(edit.pk, created.estimated_credits)
        log.info("edit %s: submitted to %s as task %s", edit.pk, edit.engine, task_id)
        queue.poll_remote(edit.pk, 0)
        return
    # The reaper took the edit while the create was in flight: keep the id so the user can find the task.
    log.warning("edit %s: %s task %s was created after the run lost the edit", edit.pk, edit.engine, task_id)
    Edit.objects.keep_late_task(edit.pk, task_id, LATE_TASK_MESSAGE.format(provider=providers.label(edit.engine), task_id=task_id))


def _prepared_body(edit: Edit, client: RemoteClient, tmp: Path) -> dict:
    spec = catalog.MODELS[edit.model]
    options = edit.options or {}
    framing = options.get("framing") or spec.framings[0]
    with local_copy(edit.input_clip.file) as source:
        video = prepare.prepare_video(
            source, tmp, model=edit.model, ratio=edit.ratio, trim_start=edit.trim_start, provider=edit.engine, framing=framing
        )
    video_uri = _uri(video, client)
    references = list(edit.references.all())
    # References are images the model looks at; keyframes are images pinned to a time in the clip sent.
    reference_uris = [
        _image_uri(reference, client, tmp, f"reference{n}", spec)
        for n, reference in enumerate(references[: spec.max_references])
    ]
    by_pk = {r.pk: r for r in references}
    keyframes: list[Keyframe] = []
    for n, pinned in enumerate(edit.keyframes if spec.max_keyframes else []):
        reference = by_pk.get(pinned.get("reference"))
        if reference is None:
            raise EngineError("keyframe_missing", "A keyframe image of this edit was deleted; ask for the edit again.")
        uri = _image_uri(reference, client, tmp, f"keyframe{n}", spec)
        window = tuple(pinned["range"]) if pinned.get("range") else None
        if "at" in pinned:
            keyframes.append(Keyframe(uri, at=float(pinned["at"]), window=window))
        else:
            # The sent clip can end a frame short of the window the time was checked against.
            seconds = min(float(pinned["seconds"]), video.duration or 0.0)
            keyframes.append(Keyframe(uri, seconds=seconds, window=window))
    return build_body(
        edit.model,
        edit.prompt,
        video_uri,
        ratio=edit.ratio,
        seed=edit.seed,
        reference_uris=reference_uris,
        reference_video_uris=_reference_videos(edit, spec, client, tmp, video.duration or 0.0),
        keyframes=keyframes,
        public_figure_threshold=edit.public_figure_threshold,
        video_seconds=video.duration,
        options=Options(
            framing=framing,
            output_format=options.get("output_format") or "mp4",
            prores_profile=options.get("prores_profile") or "",
            duration=options.get("duration"),
            resolution=options.get("resolution") or "",
            audio=options.get("audio"),
            mode=options.get("mode") or "",
        ),
    )


def _reference_videos(edit: Edit, spec: catalog.Model, client: RemoteClient, tmp: Path, input_seconds: float) -> list[str]:
    """Prepare the project's other clips the edit sends as reference videos, within the model's
    combined length (the input counts towards it)."""
    wanted = (edit.options or {}).get("reference_clips") or []
    clips = {c.pk: c for c in Clip.objects.filter(project_id=edit.project_id, pk__in=wanted)}
    budget = spec.reference_video_seconds - input_seconds
    uris = []
    for n, pk in enumerate(wanted):
        clip = clips.get(pk)
        if clip is None:
            raise EngineError("reference_missing", "A reference video of this edit was deleted; ask for the edit again.")
        seconds = min(clip.duration, budget)
        if seconds < 1:
            raise EngineError(
                "references_too_long",
                f"{spec.name} takes {spec.reference_video_seconds:g} s of video in all, the input included; "
                "untick a reference video or send a shorter part.",
            )
        with local_copy(clip.file) as source:
            prepared = prepare.prepare_video(
                source, tmp, model=edit.model, ratio="", provider=edit.engine, framing="keep", duration=seconds, name=f"refvideo{n}"
            )
        budget -= prepared.duration or seconds
        uris.append(_uri(prepared, client))
    return uris


def _image_uri(reference, client: RemoteClient, tmp: Path, name: str, spec: catalog.Model) -> str:
    with local_copy(reference.file) as image_path:
        image = prepare.prepare_image(
            image_path, tmp, provider=client.config.provider, name=name, data_uri_limit=spec.image_data_uri_limit
        )
    return _uri(image, client)


def _uri(prepared: prepare.PreparedInput, client: RemoteClient) -> str:
    """Return the data URI of a prepared file, or upload it and return its runway:// URI."""
    if prepared.uri_kind == "data":
        return prepared.data_uri
    return client.upload_ephemeral(prepared.path, prepared.path.name, prepared.content_type)


def _create_failed(edit: Edit, token: str, exc: RemoteError) -> None:
    if exc.kind == ErrorKind.UNKNOWN_OUTCOME:
        providers.record_provider_failure(edit.engine)
        Edit.objects.mark_unknown_outcome(edit.pk, exc.message + SUBMIT_AGAIN_NOTE, token=token)
        return
    if exc.kind in (ErrorKind.CONNECTION, ErrorKind.UNAVAILABLE) or (exc.status or 0) >= 500:
        providers.record_provider_failure(edit.engine)
    # A refused create made no task: nothing is billed. The provider's objections are listed one by one.
    message, notes = exc.message, []
    if exc.issues:
        count = len(exc.issues)
        message = (
            f"{providers.label(edit.engine)} refused {count} setting{'s' if count > 1 else ''} of this edit, listed below. "
            "Nothing was created or billed: change them and submit again."
        )
        notes = list(exc.issues)
    if Edit.objects.fail(edit.pk, Status.SUBMITTING, exc.code, message, token=token, notes=notes):
        credits.release(edit.pk)


# ---------------------------------------------------------------- following the task


def poll_remote_edit(edit_id: int) -> None:
    """Read the remote task once and move the edit along; schedule the next read if unfinished."""
    edit = Edit.objects.filter(pk=edit_id).select_related("project", "input_clip").first()
    if edit is None or edit.status not in FOLLOWED or not Edit.objects.count_poll(edit_id, budget=poll_budget()):
        return
    next_poll = edit.remote_polls + 1
    try:
        with providers.client_for(edit.engine) as client:
            task = client.get_task(edit.remote_task_id)
            Edit.objects.record_cost(edit.pk, estimate=task.estimated_credits, charged=task.cost_credits)
            if task.status == TaskStatus.SUCCEEDED:
                if task.cost_credits is not None:
                    credits.settle(edit.pk, task.cost_credits)
                _store_output(edit, client, task, next_poll)
                return
    except RemoteError as exc:
        if exc.retryable or exc.kind.passing:
            log.warning("edit %s: status read failed (%s); trying again later", edit.pk, exc.kind)
            _try_later(edit, next_poll, f"{providers.label(edit.engine)} has not answered a status read of this task")
        elif exc.kind == ErrorKind.AUTH:
            # The task exists and may still finish (and be billed): keep it for a read with a
            # working key instead of failing the edit and losing its result.
            Edit.objects.move(
                edit.pk,
                FOLLOWED,
                Status.NEEDS_ATTENTION,
                error_code=(exc.code or "auth")[:64],
                error_message=(
                    f"{exc.message} The task was created and is kept ({edit.remote_task_id}); it may still "
                    "finish and be billed. Fix the key, then press “Check again”: nothing new is sent."
                ),
            )
        else:
            Edit.objects.fail(edit.pk, FOLLOWED, exc.code, exc.message)
        return
    Edit.objects.out_of_trouble(edit.pk)
    if task.is_terminal and task.cost_credits is not None:
        credits.settle(edit.pk, task.cost_credits)
    if task.status in (TaskStatus.PENDING, TaskStatus.THROTTLED):
        Edit.objects.move(edit.pk, FOLLOWED, Status.WAITING)
    elif task.status == TaskStatus.RUNNING:
        progress = int(round((task.progress or 0) * 100))
        Edit.objects.move(edit.pk, FOLLOWED, Status.RUNNING, progress=max(0, min(99, progress)))
    elif task.status == TaskStatus.FAILED:
        info = describe_failure(task.failure_code, task.failure)
        if info.retryable:
            providers.record_provider_failure(edit.engine)
        Edit.objects.fail(
            edit.pk, FOLLOWED, task.failure_code or "failed", info.message, moderated=info.suspension_warning
        )
        return
    elif task.status == TaskStatus.CANCELLED:
        message = f"The task was cancelled on {providers.label(edit.engine)}'s side."
        if Edit.objects.cancel(edit.pk, FOLLOWED, message):
            return
    queue.poll_remote(edit.pk, next_poll)


def _try_later(edit: Edit, next_poll: int, what: str) -> None:
    """Schedule another try, unless this has gone wrong for longer than ALEPH_REMOTE_GIVE_UP_SECONDS:
    then the edit stops and waits for the user's "Check again" (which reads the same task)."""
    now = timezone.now()
    since = Edit.objects.in_trouble(edit.pk, now)
    give_up = timedelta(seconds=settings.ALEPH_REMOTE_GIVE_UP_SECONDS)
    if since is not None and now - since >= give_up:
        hours = give_up.total_seconds() / 3600
        message = (
            f"For {hours:g} hours {what} ({edit.remote_task_id}), so this studio stopped asking. The task "
            f"may still finish on {providers.label(edit.engine)}'s side and be billed: “Check again” reads it again "
            "(nothing new is sent)."
        )
        if Edit.objects.move(edit.pk, FOLLOWED, Status.NEEDS_ATTENTION, error_code="gave_up", error_message=message):
            log.warning("edit %s: gave up following task %s after %s", edit.pk, edit.remote_task_id, give_up)
            return
    queue.poll_remote(edit.pk, next_poll)


def poll_budget() -> timedelta:
    """Return the longest one status read can take, retries and backoff included (a poll's lease)."""
    per_read = settings.ALEPH_REMOTE_CONNECT_TIMEOUT + settings.ALEPH_REMOTE_READ_TIMEOUT
    wait = max(BACKOFF_CAP, MAX_RETRY_AFTER)
    return timedelta(seconds=READ_ATTEMPTS * (per_read + wait) + NEW_TASK_GRACE) + POLL_GRACE


def _store_output(edit: Edit, client: RemoteClient, task, next_poll: int) -> None:
    """Download the output into storage, probe it, and only then mark the edit succeeded."""
    now = timezone.now()
    lease = now + DOWNLOAD_LIMIT + poll_budget()
    if not Edit.objects.move(edit.pk, FOLLOWED, Status.DOWNLOADING, progress=99, heartbeat_at=now, lease_until=lease):
        return
    if not task.outputs:
        message = f"{client.label} reported success but sent no video."
        Edit.objects.fail(edit.pk, Status.DOWNLOADING, "empty_output", message)
        return
    with tempfile.TemporaryDirectory(prefix="aleph-output-") as tmp:
        delivered = Path(tmp) / "delivered"
        try:
            with staged_files() as staged:
                _download(client, task, delivered)
                master = masters.inspect_master(delivered)
                labelled = Path(tmp) / "labelled.mp4"
                # Every result carries its recipe (prompt, seed, engine, model, ratio, threshold, input's
                # SHA-256). An H.264 MP4 is kept as it came with that label; a master format is kept
                # byte for byte and the players get an H.264 proxy made from it.
                recipe = {"comment": edit.recipe_json()}
                kept = None
                if master.kind == "mp4":
                    media.remux_with_metadata(delivered, labelled, recipe)
                else:
                    kept = delivered.rename(Path(tmp) / f"master{master.extension}")
                    masters.make_proxy(kept, master, labelled, fps=_sent_fps(edit), metadata=recipe)
                info = media.probe(labelled)
                with transaction.atomic():
                    projects.register_clip(
                        edit.project, labelled, info, source_edit=edit, staged=staged, master=kept, master_info=master
                    )
                    if not Edit.objects.finish(edit.pk, Status.DOWNLOADING, summary=_summary(edit)):
                        # Cancelled while downloading: keep nothing.
                        raise EditCancelled()
                    # Without a reported cost, the estimate is what the edit cost.
                    credits.keep(edit.pk)
                    queue.measure_change(edit.pk)
            providers.record_provider_success(edit.engine)
        except EditCancelled:
            pass
        except (RemoteError, media.MediaError, EngineError) as exc:
            if isinstance(exc, RemoteError) and (exc.retryable or exc.kind.passing):
                # Back to waiting: the next poll reads the task again and retries the download.
                Edit.objects.move(edit.pk, Status.DOWNLOADING, Status.WAITING)
                _try_later(edit, next_poll, f"the result of this task could not be downloaded from {providers.label(edit.engine)}")
            else:
                Edit.objects.fail(edit.pk, Status.DOWNLOADING, getattr(exc, "code", "media"), exc.message)


def _sent_fps(edit: Edit) -> float:
    """Return the frame rate of the clip that was sent (a PNG sequence carries none of its own)."""
    return min(float(edit.input_clip.fps or 25), float(prepare.MAX_FPS))


def _download(client: RemoteClient, task, local: Path) -> None:
    try:
        client.download_output(task.outputs[0], local)
    except RemoteError as exc:
        if exc.kind != ErrorKind.OUTPUT_EXPIRED:
            raise
        # Signed URLs expire: a fresh read of the task gives fresh ones.
        fresh = client.get_task(task.id)
        if not fresh.outputs:
            raise
        client.download_output(fresh.outputs[0], local)


def _summary(edit: Edit) -> str:
    parts = [f"{providers.label(edit.engine)} {edit.model}", edit.shape_text]
    if catalog.MODELS[edit.model].takes_seed:
        parts.append(f"seed {edit.seed}")
    if edit.output_format != "mp4":
        parts.append(catalog.OUTPUT_FORMATS[edit.output_format][0])
    return " · ".join(parts)


# ---------------------------------------------------------------- cancel, retry, reaper


def cancel_remote_edit(edit: Edit) -> bool:
    """Stop following a remote edit; ask the provider to cancel it where it can."""
    spec = catalog.PROVIDERS[edit.engine]
    if spec.supports_cancel:
        message = "Cancelled by you."
    else:
        message = (
            f"Cancelled here: polling stopped. {spec.label} has no cancel route, so the task "
            f"({edit.remote_task_id or 'not yet sent'}) may still complete and be billed."
        )
    with transaction.atomic():
        cancelled = Edit.objects.cancel(edit.pk, {Status.QUEUED, Status.PREPARING, *FOLLOWED}, message)
        # The caller's copy may predate the create: the row says whether a task exists now.
        task_id = Edit.objects.filter(pk=edit.pk).values_list("remote_task_id", flat=True).first()
        if cancelled and not task_id:
            # Cancelled before anything billable was sent.
            credits.release(edit.pk)
        if cancelled and spec.supports_cancel and task_id:
            queue.cancel_remote(edit.pk)
    return cancelled


def send_remote_cancel(edit_id: int) -> None:
    """Ask the provider to cancel a task, unless it already succeeded (DELETE would destroy its output)."""
    edit = Edit.objects.filter(pk=edit_id).first()
    if edit is None or edit.is_local or not catalog.PROVIDERS[edit.engine].supports_cancel or not edit.remote_task_id:
        return
    try:
        with providers.client_for(edit.engine) as client:
            task = client.get_task(edit.remote_task_id)
            if task.is_terminal:
                return
            client.cancel_task(edit.remote_task_id)
    except RemoteError as exc:
        log.warning("edit %s: %s cancel failed (%s)", edit_id, providers.label(edit.engine), exc.kind)


def submit_again(edit: Edit) -> bool:
    """Send an edit that needs attention back to the queue, at the user's explicit request: a new,
    billed task, so its estimate is reserved again (and refused when it no longer fits)."""
    with transaction.atomic():
        moved = Edit.objects.submit_again(edit.pk)
        if moved:
            if edit.cost_credits is not None or edit.cost_usd is not None:
                cost = prepare.Cost(edit.cost_credits, edit.cost_usd or 0, "")
                credits.reserve(edit, edit.project.owner, credits.needed(cost))
            queue.run_edit(edit.pk)
    return moved


def check_again(edit: Edit) -> bool:
    """Resume reading a task that was already created (no new task): for an edit that needs
    attention because the provider refused the key while it was being read."""
    with transaction.atomic():
        moved = Edit.objects.check_again(edit.pk)
        if moved:
            queue.poll_remote(edit.pk, edit.remote_polls)
    return moved


def reap_remote(now: datetime) -> None:
    """Recover remote edits whose worker died: resume polls, and never resend a create."""
    for limit in TIME_LIMITS:
        if not limit.remote:
            continue
        for edit in Edit.objects.overdue(limit, now):
            _reap(edit, limit)


def _reap(edit: Edit, limit) -> None:
    if limit.status in (Status.PREPARING, Status.SUBMITTING):
        # The dead run's prepared input is of no use to anyone now.
        remove_scratch("remote", edit.pk, edit.run_token)
    if limit.then == Status.QUEUED:
        if edit.attempts >= limit.max_attempts:
            message = (
                f"The worker stopped while preparing this edit {edit.attempts} times; it was not retried again. "
                "Nothing was sent, so nothing was billed."
            )
            if Edit.objects.fail(edit.pk, limit.status, "worker_lost", message, token=edit.run_token):
                credits.release(edit.pk)
            return
        # Nothing billable was sent yet: prepare again from the start.
        with transaction.atomic():
            if Edit.objects.requeue(edit.pk, limit.status, token=edit.run_token):
                queue.run_edit(edit.pk)
    elif limit.then == Status.NEEDS_ATTENTION:
        message = LOST_WORKER_MESSAGE.format(provider=providers.label(edit.engine))
        Edit.objects.mark_unknown_outcome(edit.pk, message, token=edit.run_token)
    elif not queue.is_waiting(edit.task_id) and Edit.objects.take_over(edit, limit):
        # Reads are safe to repeat; a download that died starts again from a fresh read. The
        # heartbeat in the take-over keeps two reapers (or a poll that just ran) from doubling the chain.
        log.warning("edit %s: its %s polls stopped; reading the task again", edit.pk, edit.get_engine_display())
        queue.poll_remote(edit.pk, edit.remote_polls)
