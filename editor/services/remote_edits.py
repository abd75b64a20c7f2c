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
import uuid
from datetime import UTC, timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from editor import media
from editor.engines import prepare
from editor.engines.base import EngineError
from editor.engines.remote import (
    MODELS_BY_PROVIDER,
    Keyframe,
    RemoteClient,
    RemoteConfig,
    RemoteError,
    TaskStatus,
    build_body,
    describe_failure,
    poll_delay,
)
from editor.models import Edit, Engine, ProviderHealth, Status
from editor.services.projects import InputError, register_clip
from editor.storage import delete_quietly, local_copy

log = logging.getLogger(__name__)

REMOTE_ENGINES = (Engine.RUNWAY, Engine.COMETAPI)
# After this many provider failures in a row, new submissions to that provider pause for a while.
BREAKER_THRESHOLD = 5
BREAKER_COOL_DOWN = timedelta(minutes=10)
ORG_CACHE_SECONDS = 60
CREDITS_CACHE_KEY = "aleph:runway:credits"
# Cached in place of the balance when Runway could not say, so pages do not wait on it again for a minute.
_UNKNOWN = "unknown"
# A remote edit whose run dies this many times while preparing is failed instead of re-queued again.
MAX_PREPARE_ATTEMPTS = 3
# Polls refresh the heartbeat, but may be up to poll_delay()'s longest wait apart; the reaper gives a
# waiting edit this much more than the stale limit so it does not start a second chain of polls
# beside a live one.
POLL_STALE_MARGIN = timedelta(seconds=30)
# One output download may take this long; a downloading edit is not stale before it could have finished.
DOWNLOAD_LIMIT_SECONDS = 600
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


# ---------------------------------------------------------------- configuration


def configured_providers() -> list[str]:
    """Return the remote providers whose key is set on this server."""
    keys = {Engine.RUNWAY: settings.RUNWAYML_API_SECRET, Engine.COMETAPI: settings.COMETAPI_KEY}
    return [provider for provider, key in keys.items() if key]


def models_for(provider: str) -> tuple[str, ...]:
    return MODELS_BY_PROVIDER[provider]


def client_for(provider: str, **options) -> RemoteClient:
    """Build a client for a provider from settings (the key never leaves this function's result)."""
    key, base = {
        Engine.RUNWAY: (settings.RUNWAYML_API_SECRET, settings.RUNWAYML_BASE_URL),
        Engine.COMETAPI: (settings.COMETAPI_KEY, settings.COMETAPI_BASE_URL),
    }[provider]
    config = RemoteConfig(
        provider=provider,
        base_url=base,
        api_key=key,
        output_hosts=tuple(settings.ALEPH_OUTPUT_HOSTS),
        connect_timeout=settings.ALEPH_REMOTE_CONNECT_TIMEOUT,
        read_timeout=settings.ALEPH_REMOTE_READ_TIMEOUT,
        max_output_bytes=settings.ALEPH_MAX_UPLOAD_MB * 1024 * 1024,
        download_timeout=DOWNLOAD_LIMIT_SECONDS,
    )
    return RemoteClient(config, transport=_transport_override(), **{**_client_options(), **options})


def _transport_override():
    """Let tests route the client to a fake at the HTTP seam (None in production)."""
    return getattr(settings, "ALEPH_REMOTE_TRANSPORT", None)


def _client_options() -> dict:
    """Let tests give the client a fake sleep and clock, so retries take no real time (empty in production)."""
    return dict(getattr(settings, "ALEPH_REMOTE_CLIENT_OPTIONS", None) or {})


def _label(provider: str) -> str:
    return Engine(provider).label


# ---------------------------------------------------------------- circuit breaker


def breaker_paused_until(provider: str):
    """Return when new submissions to a provider may resume, or None when they are open."""
    health = ProviderHealth.objects.filter(provider=provider).first()
    if health and health.paused_until and health.paused_until > timezone.now():
        return health.paused_until
    return None


def record_provider_failure(provider: str) -> None:
    """Count a provider failure; the fifth in a row pauses new submissions for a cool-down."""
    with transaction.atomic():
        health, _ = ProviderHealth.objects.select_for_update().get_or_create(provider=provider)
        health.consecutive_failures += 1
        if health.consecutive_failures >= BREAKER_THRESHOLD:
            health.paused_until = timezone.now() + BREAKER_COOL_DOWN
        health.save(update_fields=["consecutive_failures", "paused_until"])


def record_provider_success(provider: str) -> None:
    ProviderHealth.objects.filter(provider=provider).update(consecutive_failures=0, paused_until=None)


# ---------------------------------------------------------------- before submitting


def check_can_submit(provider: str) -> None:
    """Refuse a new remote edit when the provider is not configured or paused."""
    if provider not in configured_providers():
        raise InputError(f"The {_label(provider)} engine is not configured on this server.")
    if not settings.ALEPH_OUTPUT_HOSTS:
        raise InputError(
            "Remote results cannot be saved: ALEPH_OUTPUT_HOSTS lists no hosts to download them from. "
            "Ask the administrator to set it before submitting a paid edit."
        )
    paused = breaker_paused_until(provider)
    if paused:
        raise InputError(
            f"{_label(provider)} failed {BREAKER_THRESHOLD} times in a row, so new edits are paused until "
            f"{paused.astimezone(UTC):%H:%M} UTC. Edits already sent keep running."
        )


def estimate(provider: str, model: str, clip_seconds: float, trim_start: float) -> prepare.Cost:
    """Estimate an edit's cost from the part of the clip the model will get."""
    try:
        seconds = prepare.model_window(model, clip_seconds, trim_start)
    except EngineError as exc:
        raise InputError(exc.message) from None
    return prepare.estimate_cost(provider, model, seconds)


def credit_balance(provider: str) -> int | None:
    """Return the Runway organisation's credit balance, cached for a minute; None when unknown."""
    if provider != Engine.RUNWAY or provider not in configured_providers():
        return None
    cached = cache.get(CREDITS_CACHE_KEY)
    if cached is not None:
        return None if cached == _UNKNOWN else cached
    try:
        # A page waits on this read: one attempt, no retries, and a failure is remembered for a minute.
        with client_for(provider, max_read_attempts=1) as client:
            balance = client.organization().credit_balance
    except RemoteError as exc:
        log.warning("could not read the Runway credit balance: %s", exc.kind)
        cache.set(CREDITS_CACHE_KEY, _UNKNOWN, ORG_CACHE_SECONDS)
        return None
    cache.set(CREDITS_CACHE_KEY, balance, ORG_CACHE_SECONDS)
    return balance


# ---------------------------------------------------------------- the run


def run_remote_edit(edit: Edit) -> None:
    """Claim a queued remote edit, prepare its input, submit it once and schedule the first poll."""
    token = uuid.uuid4().hex
    now = timezone.now()
    claimed = Edit.objects.filter(pk=edit.pk, status=Status.QUEUED).update(
        status=Status.PREPARING, run_token=token, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return
    edit.refresh_from_db()
    try:
        with tempfile.TemporaryDirectory(prefix="aleph-remote-") as tmp, client_for(edit.engine) as client:
            body = _prepared_body(edit, client, Path(tmp))
            # The point of no return: from here a dead run cannot know whether a task exists.
            now = timezone.now()
            if not _move(edit, Status.PREPARING, Status.SUBMITTING, token, remote_submitted_at=now, heartbeat_at=now):
                return
            _submit(edit, client, body, token)
    except RemoteError as exc:
        # Uploads and local checks fail before anything billable was sent.
        _fail(edit, {Status.PREPARING}, token, exc.code, exc.message)
    except (EngineError, media.MediaError) as exc:
        _fail(edit, {Status.PREPARING}, token, getattr(exc, "code", "media"), exc.message)
    except Exception:
        log.exception("edit %s: unexpected error in a remote run", edit.pk)
        _fail(edit, {Status.PREPARING}, token, "internal", INTERNAL_MESSAGE)
        # Had the create been sent, nobody knows whether a task exists: a person decides.
        _move(
            edit,
            Status.SUBMITTING,
            Status.NEEDS_ATTENTION,
            token,
            error_code="unknown_outcome",
            error_message=LOST_WORKER_MESSAGE.format(provider=_label(edit.engine)),
        )


def _submit(edit: Edit, client: RemoteClient, body: dict, token: str) -> None:
    """Send the create once, save the task id at once, and schedule the first poll."""
    try:
        task_id = client.create_video_to_video(body)
    except RemoteError as exc:
        _create_failed(edit, token, exc)
        return
    if _move(edit, Status.SUBMITTING, Status.WAITING, token, remote_task_id=task_id, heartbeat_at=timezone.now()):
        log.info("edit %s: submitted to %s as task %s", edit.pk, edit.engine, task_id)
        schedule_poll(edit.pk, 0)
        return
    # The reaper took the edit while the create was in flight: keep the id so the user can find the task.
    log.warning("edit %s: %s task %s was created after the run lost the edit", edit.pk, edit.engine, task_id)
    Edit.objects.filter(pk=edit.pk, status=Status.NEEDS_ATTENTION, remote_task_id="").update(
        remote_task_id=task_id,
        error_message=LATE_TASK_MESSAGE.format(provider=_label(edit.engine), task_id=task_id),
    )


def _prepared_body(edit: Edit, client: RemoteClient, tmp: Path) -> dict:
    with local_copy(edit.input_clip.file) as source:
        video = prepare.prepare_video(
            source, tmp, model=edit.model, ratio=edit.ratio, trim_start=edit.trim_start, provider=edit.engine
        )
    video_uri = _uri(video, client)
    reference_uris: list[str] = []
    keyframes: list[Keyframe] = []
    if edit.model == "gen4_aleph":
        # gen4_aleph takes one reference image.
        for n, reference in enumerate(edit.references.all()[:1]):
            reference_uris.append(_image_uri(reference, client, tmp, f"reference{n}"))
    else:
        # aleph2 takes keyframes: images pinned to a time in the clip that is sent.
        references = {r.pk: r for r in edit.references.all()}
        for n, pinned in enumerate(edit.keyframes):
            reference = references.get(pinned.get("reference"))
            if reference is None:
                raise EngineError("keyframe_missing", "A keyframe image of this edit was deleted; ask for the edit again.")
            # The sent clip can end a frame short of the window the time was checked against.
            seconds = min(float(pinned["seconds"]), video.duration or 0.0)
            keyframes.append(Keyframe(seconds, _image_uri(reference, client, tmp, f"keyframe{n}")))
    return build_body(
        edit.model,
        edit.prompt,
        video_uri,
        ratio=edit.ratio,
        seed=edit.seed,
        reference_uris=reference_uris,
        keyframes=keyframes,
        public_figure_threshold=edit.public_figure_threshold,
        video_seconds=video.duration,
    )


def _image_uri(reference, client: RemoteClient, tmp: Path, name: str) -> str:
    with local_copy(reference.file) as image_path:
        image = prepare.prepare_image(image_path, tmp, provider=client.config.provider, name=name)
    return _uri(image, client)


def _uri(prepared: prepare.PreparedInput, client: RemoteClient) -> str:
    """Return the data URI of a prepared file, or upload it (Runway) and return its runway:// URI."""
    if prepared.uri_kind == "data":
        return prepared.data_uri
    return client.upload_ephemeral(prepared.path, prepared.path.name, prepared.content_type)


def _create_failed(edit: Edit, token: str, exc: RemoteError) -> None:
    if exc.kind == "unknown_outcome":
        record_provider_failure(edit.engine)
        _move(
            edit,
            Status.SUBMITTING,
            Status.NEEDS_ATTENTION,
            token,
            error_code="unknown_outcome",
            error_message=exc.message + SUBMIT_AGAIN_NOTE,
        )
        return
    if exc.kind in ("connection", "unavailable") or (exc.status or 0) >= 500:
        record_provider_failure(edit.engine)
    _fail(edit, {Status.SUBMITTING}, token, exc.code, exc.message)


def schedule_poll(edit_id: int, polls: int) -> None:
    """Enqueue the next status read after a jittered delay (never sooner than 5 s)."""
    from editor.tasks import poll_remote_task

    delay = poll_delay(polls)
    poll_remote_task.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(edit_id)


def poll_remote_edit(edit_id: int) -> None:
    """Read the remote task once and move the edit along; schedule the next read if unfinished."""
    edit = Edit.objects.filter(pk=edit_id).select_related("project", "input_clip").first()
    if edit is None or edit.status not in (Status.WAITING, Status.RUNNING):
        return
    polls = Edit.objects.filter(pk=edit_id).update(remote_polls=F("remote_polls") + 1, heartbeat_at=timezone.now())
    if not polls:
        return
    try:
        with client_for(edit.engine) as client:
            task = client.get_task(edit.remote_task_id)
            if task.status == TaskStatus.SUCCEEDED:
                _store_output(edit, client, task)
                return
    except RemoteError as exc:
        if exc.retryable or exc.kind in ("unavailable", "connection", "rate_limited"):
            log.warning("edit %s: status read failed (%s); trying again later", edit.pk, exc.kind)
            schedule_poll(edit.pk, edit.remote_polls + 1)
            return
        if exc.kind == "auth":
            # The task exists and may still finish (and be billed): keep it for a read with a
            # working key instead of failing the edit and losing its result.
            _move(
                edit, {Status.WAITING, Status.RUNNING}, Status.NEEDS_ATTENTION, None,
                error_code=(exc.code or "auth")[:64],
                error_message=(
                    f"{exc.message} The task was created and is kept ({edit.remote_task_id}); it may still "
                    "finish and be billed. Fix the key, then press “Check again”: nothing new is sent."
                ),
            )
            return
        _fail(edit, {Status.WAITING, Status.RUNNING}, None, exc.code, exc.message)
        return
    if task.status in (TaskStatus.PENDING, TaskStatus.THROTTLED):
        Edit.objects.filter(pk=edit.pk, status__in=[Status.WAITING, Status.RUNNING]).update(status=Status.WAITING)
    elif task.status == TaskStatus.RUNNING:
        progress = int(round((task.progress or 0) * 100))
        Edit.objects.filter(pk=edit.pk, status__in=[Status.WAITING, Status.RUNNING]).update(
            status=Status.RUNNING, progress=max(0, min(99, progress))
        )
    elif task.status == TaskStatus.FAILED:
        info = describe_failure(task.failure_code, task.failure)
        if info.retryable:
            record_provider_failure(edit.engine)
        _fail(edit, {Status.WAITING, Status.RUNNING}, None, task.failure_code or "failed", info.message)
        return
    elif task.status == TaskStatus.CANCELLED:
        edit_moved = Edit.objects.filter(pk=edit.pk, status__in=[Status.WAITING, Status.RUNNING]).update(
            status=Status.CANCELLED,
            finished_at=timezone.now(),
            error_message=f"The task was cancelled on {_label(edit.engine)}'s side.",
        )
        if edit_moved:
            return
    schedule_poll(edit.pk, edit.remote_polls + 1)


def _store_output(edit: Edit, client: RemoteClient, task) -> None:
    """Download the output into storage, probe it, and only then mark the edit succeeded."""
    claimed = Edit.objects.filter(pk=edit.pk, status__in=[Status.WAITING, Status.RUNNING]).update(
        status=Status.DOWNLOADING, progress=99, heartbeat_at=timezone.now()
    )
    if not claimed:
        return
    if not task.outputs:
        _fail(edit, {Status.DOWNLOADING}, None, "empty_output", f"{client.label} reported success but sent no video.")
        return
    stored: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aleph-output-") as tmp:
        local = Path(tmp) / "result.mp4"
        try:
            try:
                client.download_output(task.outputs[0], local)
            except RemoteError as exc:
                if exc.kind != "output_expired":
                    raise
                # Signed URLs expire: a fresh read of the task gives fresh ones.
                fresh = client.get_task(task.id)
                if not fresh.outputs:
                    raise
                client.download_output(fresh.outputs[0], local)
            media.probe(local)
            # Every result carries its recipe: copy the provider's streams into an MP4 that says
            # how it was made (prompt, seed, engine, model, ratio, threshold, input's SHA-256).
            labelled = Path(tmp) / "labelled.mp4"
            media.remux_with_metadata(local, labelled, {"comment": edit.recipe_json()})
            info = media.probe(labelled)
            with transaction.atomic():
                register_clip(edit.project, labelled, info, source_edit=edit, stored=stored)
                if not Edit.objects.filter(pk=edit.pk, status=Status.DOWNLOADING).update(
                    status=Status.SUCCEEDED, progress=100, finished_at=timezone.now(), summary=_summary(edit)
                ):
                    raise _Abandoned()
            record_provider_success(edit.engine)
        except _Abandoned:
            delete_quietly(*stored)
        except (RemoteError, media.MediaError) as exc:
            delete_quietly(*stored)
            retry = isinstance(exc, RemoteError) and (exc.retryable or exc.kind in ("unavailable", "download_failed"))
            if retry:
                # Back to waiting: the next poll reads the task again and retries the download.
                Edit.objects.filter(pk=edit.pk, status=Status.DOWNLOADING).update(status=Status.WAITING)
                schedule_poll(edit.pk, edit.remote_polls + 1)
            else:
                _fail(edit, {Status.DOWNLOADING}, None, getattr(exc, "code", "media"), exc.message)
        except BaseException:
            delete_quietly(*stored)
            raise


class _Abandoned(Exception):
    pass


def _summary(edit: Edit) -> str:
    return f"{_label(edit.engine)} {edit.model} · {edit.ratio} · seed {edit.seed}"


# ---------------------------------------------------------------- cancel, retry, reaper


def cancel_remote_edit(edit: Edit) -> bool:
    """Stop following a remote edit; ask Runway (not CometAPI, which has no route) to cancel it."""
    provider = edit.engine
    if provider == Engine.COMETAPI:
        message = (
            "Cancelled here: polling stopped. CometAPI has no cancel route, so the task "
            f"({edit.remote_task_id or 'not yet sent'}) may still complete and be billed."
        )
    else:
        message = "Cancelled by you."
    with transaction.atomic():
        cancelled = Edit.objects.filter(
            pk=edit.pk, status__in=[Status.QUEUED, Status.PREPARING, Status.WAITING, Status.RUNNING]
        ).update(status=Status.CANCELLED, finished_at=timezone.now(), error_message=message)
        # The caller's copy may predate the create: the row says whether a task exists now.
        task_id = Edit.objects.filter(pk=edit.pk).values_list("remote_task_id", flat=True).first()
        if cancelled and provider == Engine.RUNWAY and task_id:
            from editor.tasks import cancel_remote_task

            transaction.on_commit(lambda: cancel_remote_task.enqueue(edit.pk))
    return bool(cancelled)


def send_remote_cancel(edit_id: int) -> None:
    """Ask Runway to cancel a task, unless it already succeeded (DELETE would destroy its output)."""
    edit = Edit.objects.filter(pk=edit_id).first()
    if edit is None or edit.engine != Engine.RUNWAY or not edit.remote_task_id:
        return
    try:
        with client_for(edit.engine) as client:
            task = client.get_task(edit.remote_task_id)
            if task.is_terminal:
                return
            client.cancel_task(edit.remote_task_id)
    except RemoteError as exc:
        log.warning("edit %s: Runway cancel failed (%s)", edit_id, exc.kind)


def submit_again(edit: Edit) -> bool:
    """Send an edit that needs attention back to the queue, at the user's explicit request."""
    from editor.services.edits import enqueue_run

    with transaction.atomic():
        moved = Edit.objects.filter(pk=edit.pk, status=Status.NEEDS_ATTENTION).update(
            status=Status.QUEUED,
            run_token="",
            attempts=0,
            remote_task_id="",
            remote_submitted_at=None,
            remote_polls=0,
            progress=0,
            error_code="",
            error_message="",
            finished_at=None,
        )
        if moved:
            transaction.on_commit(lambda: enqueue_run(edit.pk))
    return bool(moved)


def check_again(edit: Edit) -> bool:
    """Resume reading a task that was already created (no new task): for an edit that needs
    attention because the provider refused the key while it was being read."""
    with transaction.atomic():
        moved = Edit.objects.filter(pk=edit.pk, status=Status.NEEDS_ATTENTION).exclude(remote_task_id="").update(
            status=Status.WAITING, error_code="", error_message="", heartbeat_at=timezone.now()
        )
        if moved:
            polls = edit.remote_polls
            transaction.on_commit(lambda: schedule_poll(edit.pk, polls))
    return bool(moved)


def reap_remote(cutoff) -> None:
    """Recover remote edits whose worker died: resume polls, and never resend a create."""
    from editor.services.edits import enqueue_run

    stale = Edit.objects.filter(engine__in=REMOTE_ENGINES, heartbeat_at__lt=cutoff)
    for edit in stale.filter(status=Status.PREPARING):
        if edit.attempts >= MAX_PREPARE_ATTEMPTS:
            _fail(
                edit,
                {Status.PREPARING},
                edit.run_token,
                "worker_lost",
                f"The worker stopped while preparing this edit {edit.attempts} times; it was not retried again. "
                "Nothing was sent, so nothing was billed.",
            )
            continue
        # Nothing billable was sent yet: prepare again from the start.
        with transaction.atomic():
            if _move(edit, Status.PREPARING, Status.QUEUED, edit.run_token, run_token=""):
                transaction.on_commit(lambda pk=edit.pk: enqueue_run(pk))
    for edit in stale.filter(status=Status.SUBMITTING):
        _move(
            edit,
            Status.SUBMITTING,
            Status.NEEDS_ATTENTION,
            edit.run_token,
            error_code="unknown_outcome",
            error_message=LOST_WORKER_MESSAGE.format(provider=_label(edit.engine)),
        )
    polling = stale.filter(status__in=[Status.WAITING, Status.RUNNING], heartbeat_at__lt=cutoff - POLL_STALE_MARGIN)
    downloading = stale.filter(
        status=Status.DOWNLOADING, heartbeat_at__lt=cutoff - timedelta(seconds=DOWNLOAD_LIMIT_SECONDS)
    )
    for edit in [*polling, *downloading]:
        # Reads are safe to repeat; a download that died starts again from a fresh read. The
        # heartbeat in the filter keeps two reapers (or a poll that just ran) from doubling the chain.
        rows = Edit.objects.filter(pk=edit.pk, status=edit.status, heartbeat_at=edit.heartbeat_at)
        if edit.status == Status.DOWNLOADING:
            taken = rows.update(status=Status.WAITING, heartbeat_at=timezone.now())
        else:
            taken = rows.update(heartbeat_at=timezone.now())
        if taken:
            log.warning("edit %s: its %s polls stopped; reading the task again", edit.pk, edit.get_engine_display())
            schedule_poll(edit.pk, edit.remote_polls)


# ---------------------------------------------------------------- helpers


def _move(edit: Edit, source: str, target: str, token: str | None, **fields) -> bool:
    from editor.services.edits import transition

    return transition(edit.pk, source, target, token=token, **fields)


def _fail(edit: Edit, sources: set[str], token: str | None, code: str, message: str) -> None:
    from editor.services.edits import transition

    transition(edit.pk, sources, Status.FAILED, token=token, error_code=(code or "failed")[:64], error_message=message)
