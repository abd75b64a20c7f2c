"""Projects, their clips and reference images, and the edits that turn one clip into another."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from urllib.parse import urlencode

from django.conf import settings
from django.db import models
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from editor.recipe import build_recipe


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    PREPARING = "preparing", "Preparing"
    SUBMITTING = "submitting", "Submitting"
    WAITING = "waiting", "Waiting in the provider's queue"
    RUNNING = "running", "Running"
    DOWNLOADING = "downloading", "Downloading"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


# The state graph: every transition an edit may take. Each status change is one of EditQuerySet's
# verbs, a compare-and-set UPDATE along one of these edges, so two workers never take the same step.
# Staying in a state (a progress write) needs no edge.
TRANSITIONS: dict[str, set[str]] = {
    Status.QUEUED: {
        Status.RUNNING,  # a local run claims it
        Status.PREPARING,  # a remote run claims it
        Status.CANCELLED,
        Status.FAILED,  # its engine is not configured on this server
    },
    Status.PREPARING: {Status.SUBMITTING, Status.QUEUED, Status.FAILED, Status.CANCELLED},
    # Once the create is on the wire nobody may cancel: only its answer (or the reaper) moves on.
    Status.SUBMITTING: {Status.WAITING, Status.NEEDS_ATTENTION, Status.FAILED},
    Status.WAITING: {Status.RUNNING, Status.DOWNLOADING, Status.NEEDS_ATTENTION, Status.FAILED, Status.CANCELLED},
    Status.RUNNING: {
        Status.QUEUED,  # the reaper returns a stale local run to the queue
        Status.WAITING,  # a remote task can go back to the provider's queue
        Status.DOWNLOADING,
        Status.NEEDS_ATTENTION,  # the provider stopped accepting the key while the task ran
        Status.SUCCEEDED,
        Status.FAILED,
        Status.CANCELLED,
    },
    Status.DOWNLOADING: {Status.SUCCEEDED, Status.FAILED, Status.WAITING},
    Status.NEEDS_ATTENTION: {
        Status.QUEUED,  # submit again: a new, billed task
        Status.WAITING,  # check again: read the task that was already created
    },
    Status.SUCCEEDED: set(),
    Status.FAILED: set(),
    Status.CANCELLED: set(),
}

UNFINISHED = frozenset(
    {
        Status.QUEUED,
        Status.PREPARING,
        Status.SUBMITTING,
        Status.WAITING,
        Status.RUNNING,
        Status.DOWNLOADING,
    }
)
# Stopped, as far as the page is concerned: nothing more happens without the user.
FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.NEEDS_ATTENTION})
TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})
CANCELLABLE = frozenset(source for source, targets in TRANSITIONS.items() if Status.CANCELLED in targets)

# A scheduled poll holds its edit's lease this long past the time it is due to run.
POLL_GRACE = timedelta(seconds=30)
# One download of a remote result may take this long.
DOWNLOAD_LIMIT = timedelta(seconds=600)


@dataclass(frozen=True)
class TimeLimit:
    """How long an unfinished state may stay without news, and where the reaper moves it then.

    Most states are timed on the heartbeat their run writes; a remote edit that is being followed
    is timed on its lease, which the poll chain holds (a scheduled poll until it is due, a running
    poll for as long as a poll can take), so the reaper starts a chain only when none is alive."""

    status: str
    # Which engines' edits it applies to: remote ones, local ones, or (None) every edit.
    remote: bool | None
    then: str
    # Silence allowed beyond ALEPH_STALE_SECONDS (heartbeat-timed states).
    grace: timedelta = timedelta(0)
    # After this many claims the reaper fails the edit instead of moving it on (None: no such limit).
    max_attempts: int | None = None
    leased: bool = False

    @property
    def clock(self) -> str:
        """The field whose age ends the state."""
        return "lease_until" if self.leased else "heartbeat_at"

    def cutoff(self, now: datetime) -> datetime:
        """Return the time before which the clock of an edit in this state has run out."""
        if self.leased:
            return now
        return now - timedelta(seconds=settings.ALEPH_STALE_SECONDS) - self.grace


# The time limits that end a state; the reaper (services.edits.reap_stale_edits) reads them from here.
TIME_LIMITS = (
    # A queued edit whose run task is no longer pending (lost, or never enqueued) is enqueued again.
    TimeLimit(Status.QUEUED, remote=None, then=Status.QUEUED),
    # A local run whose worker died goes back to the queue; the third death fails it.
    TimeLimit(Status.RUNNING, remote=False, then=Status.QUEUED, max_attempts=3),
    # Nothing billable was sent while preparing, so it starts again; the third death fails it.
    TimeLimit(Status.PREPARING, remote=True, then=Status.QUEUED, max_attempts=3),
    # A create may have reached the provider: only the user may send it again.
    TimeLimit(Status.SUBMITTING, remote=True, then=Status.NEEDS_ATTENTION),
    # A poll chain whose lease ran out is started again (reads are safe to repeat).
    TimeLimit(Status.WAITING, remote=True, then=Status.WAITING, leased=True),
    TimeLimit(Status.RUNNING, remote=True, then=Status.RUNNING, leased=True),
    # A download that died starts again from a fresh read of the task.
    TimeLimit(Status.DOWNLOADING, remote=True, then=Status.WAITING, leased=True),
)


def time_limit(status: str, *, remote: bool | None) -> TimeLimit:
    """Return the time limit of a state for local or remote edits (None: for every edit)."""
    return next(limit for limit in TIME_LIMITS if limit.status == status and limit.remote == remote)


class Engine(models.TextChoices):
    LOCAL = "local", "Local (this machine, offline)"
    RUNWAY = "runway", "Runway"
    COMETAPI = "cometapi", "CometAPI"


class Review(models.TextChoices):
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"


class WatermarkPosition(models.TextChoices):
    TOP_LEFT = "top-left", "Top left"
    TOP_RIGHT = "top-right", "Top right"
    BOTTOM_LEFT = "bottom-left", "Bottom left"
    BOTTOM_RIGHT = "bottom-right", "Bottom right"
    CENTRE = "centre", "Centre"


class Threshold(models.TextChoices):
    AUTO = "auto", "Auto"
    LOW = "low", "Low (less strict)"


def new_storage_name(prefix: str, extension: str) -> str:
    """Return a generated storage name; the user's file name is never part of it."""
    return f"{prefix}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{extension}"


class Project(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects")
    title = models.CharField(max_length=200)
    starred = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("project_detail", args=[self.pk])

    @cached_property
    def original(self) -> Clip | None:
        """Return the clip the project was made from."""
        return self.clips.filter(source_edit__isnull=True).first()


class Clip(models.Model):
    """A video file in storage: a project's original or the result of an edit."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="clips")
    # Set on results: the edit that produced this clip.
    source_edit = models.OneToOneField(
        "Edit", null=True, blank=True, on_delete=models.CASCADE, related_name="result"
    )
    file = models.CharField(max_length=255)
    poster = models.CharField(max_length=255, blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    container = models.CharField(max_length=64)
    video_codec = models.CharField(max_length=32)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    duration = models.FloatField()
    fps = models.FloatField()
    frame_count = models.PositiveIntegerField()
    has_audio = models.BooleanField(default=False)
    audio_codec = models.CharField(max_length=32, blank=True)
    # A remote result delivered in a master format (ProRes, a PNG sequence, 10-bit HEVC) is kept here
    # exactly as delivered; `file` is then its browser-playable H.264 proxy.
    master = models.CharField(max_length=255, blank=True)
    master_type = models.CharField(max_length=64, blank=True)
    master_label = models.CharField(max_length=100, blank=True)
    master_size = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.label

    @property
    def is_original(self) -> bool:
        return self.source_edit_id is None

    @property
    def label(self) -> str:
        return "Original" if self.is_original else f"Result of edit #{self.source_edit_id}"


class Reference(models.Model):
    """A reference image attached to a project (uploaded, or grabbed from a frame of a clip)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="references")
    file = models.CharField(max_length=255)
    original_name = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=16)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.original_name or f"Reference {self.pk}"


class Batch(models.Model):
    """Edits asked for together from one form: several seeds, prompts or models of one input."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="batches")
    title = models.CharField(max_length=200)
    # Paused: its queued edits wait (nothing already running or sent is touched).
    paused = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class EditQuerySet(models.QuerySet):
    """The verbs of the state graph. Each is a compare-and-set on one edit: an UPDATE filtered on its
    status (and, for a run in progress, on its run token) that tells whether it changed the row."""

    def move(self, pk: int, source: str | Iterable[str], target: str, *, token: str | None = None, **fields) -> bool:
        """Move an edit from one of `source` to `target` if it is still there; tell whether it moved."""
        sources = {source} if isinstance(source, str) else set(source)
        for s in sources:
            if s != target and target not in TRANSITIONS[s]:
                raise ValueError(f"{s} → {target} is not an allowed transition")
        rows = self.filter(pk=pk, status__in=sources)
        if token is not None:
            rows = rows.filter(run_token=token)
        if target in TERMINAL:
            fields.setdefault("finished_at", timezone.now())
        return rows.update(status=target, **fields) == 1

    def claim(self, pk: int, target: str) -> str | None:
        """Give a queued edit to a new run; return the run's token, or None when another run has it."""
        token = uuid.uuid4().hex
        now = timezone.now()
        claimed = self.move(
            pk,
            Status.QUEUED,
            target,
            run_token=token,
            started_at=now,
            heartbeat_at=now,
            progress=0,
            attempts=F("attempts") + 1,
        )
        return token if claimed else None

    def beat(self, pk: int, status: str, token: str, **fields) -> bool:
        """Record that the run holding `token` is alive (with its progress); False when it lost the edit."""
        return self.move(pk, status, status, token=token, heartbeat_at=timezone.now(), **fields)

    def requeue(self, pk: int, source: str | Iterable[str], *, token: str | None = None, **fields) -> bool:
        """Send an edit back to the queue for a new run (its heartbeat says since when it waits)."""
        return self.move(
            pk, source, Status.QUEUED, token=token, run_token="", progress=0, heartbeat_at=timezone.now(), task_id="", **fields
        )

    def fail(self, pk: int, source: str | Iterable[str], code: str, message: str, *, token: str | None = None, **fields) -> bool:
        """End an edit as failed, with a code and a message the user reads."""
        return self.move(
            pk, source, Status.FAILED, token=token, error_code=(code or "failed")[:64], error_message=message, **fields
        )

    def finish(self, pk: int, source: str, *, token: str | None = None, **fields) -> bool:
        """End an edit as succeeded (its result clip is already registered)."""
        return self.move(pk, source, Status.SUCCEEDED, token=token, progress=100, **fields)

    def cancel(self, pk: int, source: str | Iterable[str], message: str) -> bool:
        """End an unfinished edit as cancelled."""
        return self.move(pk, source, Status.CANCELLED, error_message=message)

    def mark_unknown_outcome(self, pk: int, message: str, *, token: str | None = None) -> bool:
        """Stop an edit whose create may or may not have made a (billed) task: the user decides."""
        return self.move(
            pk, Status.SUBMITTING, Status.NEEDS_ATTENTION, token=token, error_code="unknown_outcome", error_message=message
        )

    def submit_again(self, pk: int) -> bool:
        """Queue an edit that needs attention for a fresh run that creates a new task."""
        return self.requeue(
            pk,
            Status.NEEDS_ATTENTION,
            attempts=0,
            remote_task_id="",
            remote_submitted_at=None,
            remote_polls=0,
            error_code="",
            error_message="",
            finished_at=None,
        )

    def check_again(self, pk: int) -> bool:
        """Follow again the task an edit that needs attention already created (nothing new is sent)."""
        return self.exclude(remote_task_id="").move(
            pk,
            Status.NEEDS_ATTENTION,
            Status.WAITING,
            error_code="",
            error_message="",
            heartbeat_at=timezone.now(),
            trouble_since=None,
        )

    def count_poll(self, pk: int, *, budget: timedelta) -> bool:
        """Count a status read of a followed remote task and hold its lease for as long as a read can
        take; False when the edit is no longer followed."""
        now = timezone.now()
        rows = self.filter(pk=pk, status__in=[Status.WAITING, Status.RUNNING])
        return rows.update(remote_polls=F("remote_polls") + 1, heartbeat_at=now, lease_until=now + budget) == 1

    def lease(self, pk: int, until: datetime, **task) -> None:
        """Hold a followed edit's lease until a time (its next poll, `task_id`, is due before then)."""
        self.filter(pk=pk).exclude(status__in=TERMINAL).update(lease_until=until, **task)

    def in_trouble(self, pk: int, since: datetime) -> datetime | None:
        """Record that following an edit failed (kept from the first failure of a streak); return since when."""
        self.filter(pk=pk, trouble_since__isnull=True).update(trouble_since=since)
        return self.filter(pk=pk).values_list("trouble_since", flat=True).first()

    def out_of_trouble(self, pk: int) -> None:
        """End a streak of failures to follow an edit."""
        self.filter(pk=pk).exclude(trouble_since=None).update(trouble_since=None)

    def record_cost(self, pk: int, *, estimate: int | None = None, charged: int | None = None) -> None:
        """Record what the provider said a task costs: its estimate while unfinished, its charge at the end."""
        if estimate is not None:
            self.filter(pk=pk).exclude(provider_estimate_credits=estimate).update(provider_estimate_credits=estimate)
        if charged is not None:
            self.filter(pk=pk).exclude(charged_credits=charged).update(charged_credits=charged)

    def enqueued(self, pk: int, task_id: str) -> None:
        """Remember the id of the task that will run a queued edit."""
        self.filter(pk=pk, status=Status.QUEUED).update(task_id=task_id)

    def keep_late_task(self, pk: int, task_id: str, message: str) -> bool:
        """Record the task a create made after the reaper had given up on it (the edit needs attention)."""
        rows = self.filter(pk=pk, status=Status.NEEDS_ATTENTION, remote_task_id="")
        return rows.update(remote_task_id=task_id, error_message=message) == 1

    def overdue(self, limit: TimeLimit, now: datetime) -> EditQuerySet:
        """Return the edits that have stayed in a state past its time limit."""
        late = models.Q(**{f"{limit.clock}__lt": limit.cutoff(now)})
        if limit.leased:
            # An edit followed before leases existed is timed on its heartbeat.
            stale = now - timedelta(seconds=settings.ALEPH_STALE_SECONDS) - POLL_GRACE
            late |= models.Q(lease_until__isnull=True, heartbeat_at__lt=stale)
        rows = self.filter(late, status=limit.status)
        if limit.status == Status.QUEUED:
            # The queued edits of a paused batch wait for its resume, which enqueues them again.
            rows = rows.exclude(batch__paused=True)
        if limit.remote is None:
            return rows
        return rows.exclude(engine=Engine.LOCAL) if limit.remote else rows.filter(engine=Engine.LOCAL)

    def take_over(self, edit: Edit, limit: TimeLimit) -> bool:
        """Claim an overdue edit for the reaper; one reaper wins, as the clock's old value is in the filter."""
        now = timezone.now()
        fields = {"heartbeat_at": now}
        if limit.leased:
            # Held until the poll the reaper schedules now takes the lease over.
            fields["lease_until"] = now + POLL_GRACE
        return self.filter(**{limit.clock: getattr(edit, limit.clock)}).move(edit.pk, limit.status, limit.then, **fields)


class Edit(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="edits")
    input_clip = models.ForeignKey(Clip, on_delete=models.RESTRICT, related_name="edits_as_input")
    references = models.ManyToManyField(Reference, blank=True, related_name="edits")
    # The batch it was asked for in, if any, and whether its owner starred it (on the contact sheet).
    batch = models.ForeignKey(Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="edits")
    starred = models.BooleanField(default=False)
    # The review of its result: blank until someone sets it, then who set it and when.
    review = models.CharField(max_length=24, choices=Review.choices, blank=True, db_index=True)
    review_by = models.CharField(max_length=100, blank=True)
    review_at = models.DateTimeField(null=True, blank=True)

    prompt = models.TextField(max_length=1000)
    # The output ratio: one of RATIOS for the local engine and for cropping, the model's own ratio,
    # an outpaint target such as "9:16", or blank when the input's shape is kept.
    ratio = models.CharField(max_length=16, blank=True)
    seed = models.BigIntegerField()
    public_figure_threshold = models.CharField(max_length=8, choices=Threshold.choices, default=Threshold.AUTO)
    engine = models.CharField(max_length=16, choices=Engine.choices, default=Engine.LOCAL)
    model = models.CharField(max_length=32, blank=True)
    # Local engine: the same bytes on every run (the encoder on one thread, slower); by default the
    # encoder uses every core and a rerun gives the same picture within encoding noise.
    exact = models.BooleanField(default=False)
    trim_start = models.FloatField(default=0)
    # aleph2 keyframes: [{"reference": pk, "seconds": t} or {"reference": pk, "at": 0..1}, with an
    # optional "range": [start, end) in whole seconds], times counted from trim_start.
    keyframes = models.JSONField(default=list, blank=True)
    # The remote model's other choices: framing, output_format, prores_profile, duration,
    # resolution, audio, mode, reference_clips (only those the model takes).
    options = models.JSONField(default=dict, blank=True)
    # Painted on the project page: white marks what to remove (stored PNG; blank when none).
    mask = models.CharField(max_length=255, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    # What the engine understood, e.g. "golden-hour look · reframe 960:960 · grain (seed 42)".
    summary = models.CharField(max_length=500, blank=True)
    plan = models.JSONField(default=list, blank=True)
    notes = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # The provider's moderation blocked it: it is never re-run unchanged (repeated hits can get the
    # account suspended).
    moderated = models.BooleanField(default=False)

    # Which run owns the edit: a fresh token each time it is claimed, so a stale worker that
    # wakes up after the reaper re-queued its edit cannot write a second result.
    run_token = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)

    remote_task_id = models.CharField(max_length=64, blank=True)
    # Set just before a remote create is sent: if a run dies after this and before a task id is
    # saved, nobody knows whether the provider made (and bills) a task, so a person decides.
    remote_submitted_at = models.DateTimeField(null=True, blank=True)
    remote_polls = models.PositiveIntegerField(default=0)
    # Held by the poll chain that follows a remote task: no second chain starts before it runs out.
    lease_until = models.DateTimeField(null=True, blank=True, db_index=True)
    # When the current streak of failures to read the task (or download its result) began.
    trouble_since = models.DateTimeField(null=True, blank=True)
    # The task due to act on the edit next (its run, or its next poll), so the reaper can tell a lost
    # one from one still waiting for a worker.
    task_id = models.CharField(max_length=64, blank=True)
    # Estimated cost recorded when the edit is asked for (remote engines; local edits cost nothing).
    cost_credits = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    # What the provider said: its estimate when the task was created, and its charge once it ended
    # (0 for a refunded task).
    provider_estimate_credits = models.PositiveIntegerField(null=True, blank=True)
    charged_credits = models.PositiveIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = EditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Edit #{self.pk}"

    # What templates and views ask of the status (never a string literal).
    is_queued = property(lambda self: self.status == Status.QUEUED)
    is_preparing = property(lambda self: self.status == Status.PREPARING)
    is_submitting = property(lambda self: self.status == Status.SUBMITTING)
    is_waiting = property(lambda self: self.status == Status.WAITING)
    is_running = property(lambda self: self.status == Status.RUNNING)
    is_downloading = property(lambda self: self.status == Status.DOWNLOADING)
    is_succeeded = property(lambda self: self.status == Status.SUCCEEDED)
    is_failed = property(lambda self: self.status == Status.FAILED)
    is_cancelled = property(lambda self: self.status == Status.CANCELLED)
    needs_attention = property(lambda self: self.status == Status.NEEDS_ATTENTION)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def is_cancellable(self) -> bool:
        return self.status in CANCELLABLE

    @property
    def is_local(self) -> bool:
        return self.engine == Engine.LOCAL

    @property
    def eta_seconds(self) -> int | None:
        """Estimate the seconds left from the pace so far."""
        if self.status != Status.RUNNING or not self.started_at or self.progress < 3:
            return None
        elapsed = (timezone.now() - self.started_at).total_seconds()
        return max(0, round(elapsed * (100 - self.progress) / self.progress))

    @property
    def took_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def get_absolute_url(self) -> str:
        return reverse("project_detail", args=[self.project_id]) + f"#edit-{self.pk}"

    @property
    def change(self):
        """Return the edit's change map, or None before it is measured."""
        return getattr(self, "change_map", None)

    @property
    def framing(self) -> str:
        return (self.options or {}).get("framing", "crop")

    @property
    def output_format(self) -> str:
        return (self.options or {}).get("output_format", "mp4")

    @property
    def shape_text(self) -> str:
        """Say how the output's shape was chosen: "1280:720", "outpaint 9:16", "input's shape"."""
        if self.is_local or self.framing == "crop":
            return self.ratio
        if self.framing == "outpaint":
            return f"outpaint {self.ratio}"
        if self.framing == "model" and self.ratio:
            return self.ratio
        return "input's shape"

    @property
    def charge_text(self) -> str:
        """Say what the provider estimated and charged, when it said."""
        parts = []
        if self.provider_estimate_credits is not None:
            parts.append(f"provider's estimate {self.provider_estimate_credits} credits")
        if self.charged_credits == 0:
            parts.append("charged 0 (refunded)")
        elif self.charged_credits is not None:
            parts.append(f"charged {self.charged_credits} credits")
        return " · ".join(parts)

    def recipe(self) -> dict:
        """Return the settings that reproduce this edit; results carry it in their metadata."""
        remote = not self.is_local
        return build_recipe(
            prompt=self.prompt,
            seed=self.seed,
            engine=self.engine,
            model=self.model,
            ratio=self.ratio,
            public_figure_threshold=self.public_figure_threshold,
            input_sha256=self.input_clip.sha256,
            exact=None if remote else self.exact,
            trim_start=self.trim_start if remote else None,
            keyframes=self.keyframes if remote else None,
            options=self.options if remote else None,
        )

    def recipe_json(self) -> str:
        return json.dumps(self.recipe(), ensure_ascii=False)

    def settings_query(self) -> str:
        """Return the query string that fills the edit form with every setting of this edit ("Copy settings")."""
        pairs = [("input", self.input_clip_id)]
        for name, value in self.recipe().items():
            if name == "keyframes":
                pairs += keyframe_query(value)
            elif name == "options":
                for key, option in value.items():
                    if key == "reference_clips":
                        pairs += [("reference_clips", pk) for pk in option]
                    elif option is not None and option != "":
                        pairs.append((key, str(option).lower() if isinstance(option, bool) else option))
            elif name != "input_sha256":
                pairs.append((name, value))
        # references.all() reads the page's prefetched references.
        pairs += [("references", reference.pk) for reference in self.references.all()]
        return urlencode(pairs)


def keyframe_query(keyframes: Iterable[dict]) -> list[tuple[str, object]]:
    """Return the edit form's fields for stored keyframes (pin, time or position, edit window)."""
    pairs: list[tuple[str, object]] = []
    for k in keyframes:
        pk = k["reference"]
        if "at" in k:
            pairs += [(f"keyframe_pin_{pk}", "at"), (f"keyframe_at_{pk}", f"{k['at']:g}")]
        else:
            pairs.append((f"keyframe_at_{pk}", f"{k['seconds']:g}"))
        if k.get("range"):
            pairs += [(f"keyframe_from_{pk}", k["range"][0]), (f"keyframe_to_{pk}", k["range"][1])]
    return pairs


class ChangeMap(models.Model):
    """How a succeeded edit's result differs from its input (see editor.engines.changemap)."""

    class State(models.TextChoices):
        MEASURING = "measuring", "Measuring"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    edit = models.OneToOneField(Edit, on_delete=models.CASCADE, related_name="change_map")
    state = models.CharField(max_length=16, choices=State.choices, default=State.MEASURING)
    aligned = models.BooleanField(default=False)
    # Why no share is given (the pictures do not line up), or why measuring failed.
    reason = models.TextField(blank=True)
    changed_share = models.FloatField(null=True, blank=True)
    peak_share = models.FloatField(null=True, blank=True)
    outside_share = models.FloatField(null=True, blank=True)
    # The heatmap video, one frame per result frame (stored name; blank until measured).
    heatmap = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Change map of edit #{self.edit_id}"

    @property
    def is_done(self) -> bool:
        return self.state == self.State.DONE

    @property
    def is_measuring(self) -> bool:
        return self.state == self.State.MEASURING

    @property
    def changed_percent(self) -> int | None:
        return None if self.changed_share is None else round(self.changed_share * 100)

    @property
    def outside_percent(self) -> int | None:
        return None if self.outside_share is None else round(self.outside_share * 100)


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Downloading"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"


IMPORT_TRANSITIONS: dict[str, set[str]] = {
    ImportStatus.QUEUED: {ImportStatus.RUNNING, ImportStatus.FAILED},
    ImportStatus.RUNNING: {ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.QUEUED},
    ImportStatus.SUCCEEDED: set(),
    ImportStatus.FAILED: set(),
}


class ImportQuerySet(models.QuerySet):
    """The verbs of an import by link, each a compare-and-set like an edit's."""

    def move(self, pk: int, source: str, target: str, *, token: str | None = None, **fields) -> bool:
        """Move an import from `source` to `target` if it is still there; tell whether it moved."""
        if source != target and target not in IMPORT_TRANSITIONS[source]:
            raise ValueError(f"{source} → {target} is not an allowed transition")
        rows = self.filter(pk=pk, status=source)
        if token is not None:
            rows = rows.filter(run_token=token)
        if target in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
            fields.setdefault("finished_at", timezone.now())
        return rows.update(status=target, **fields) == 1

    def claim(self, pk: int) -> str | None:
        """Give a queued import to a run; return the run's token, or None when another run has it."""
        token = uuid.uuid4().hex
        now = timezone.now()
        claimed = self.move(pk, ImportStatus.QUEUED, ImportStatus.RUNNING, run_token=token, started_at=now, heartbeat_at=now)
        return token if claimed else None

    def beat(self, pk: int, token: str, **fields) -> bool:
        """Record a running import's progress; False when it lost the import."""
        return self.move(pk, ImportStatus.RUNNING, ImportStatus.RUNNING, token=token, heartbeat_at=timezone.now(), **fields)

    def finish(self, pk: int, token: str, project: Project) -> bool:
        return self.move(pk, ImportStatus.RUNNING, ImportStatus.SUCCEEDED, token=token, project=project)

    def fail(self, pk: int, source: str, message: str, *, token: str | None = None) -> bool:
        return self.move(pk, source, ImportStatus.FAILED, token=token, error_message=message)

    def requeue(self, pk: int, token: str) -> bool:
        return self.move(pk, ImportStatus.RUNNING, ImportStatus.QUEUED, token=token, run_token="", received_bytes=0)

    def record_cost(self, pk: int, *, estimate: int | None = None, charged: int | None = None) -> None:
        """Record what the provider said a task costs: its estimate while unfinished, its charge at the end."""
        if estimate is not None:
            self.filter(pk=pk).exclude(provider_estimate_credits=estimate).update(provider_estimate_credits=estimate)
        if charged is not None:
            self.filter(pk=pk).exclude(charged_credits=charged).update(charged_credits=charged)

    def enqueued(self, pk: int, task_id: str) -> None:
        self.filter(pk=pk, status=ImportStatus.QUEUED).update(task_id=task_id)


class Import(models.Model):
    """A clip imported from a link: downloaded by a worker, then a new project."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="imports")
    url = models.URLField(max_length=2000)
    title = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    received_bytes = models.BigIntegerField(default=0)
    # What the server said the file's size is (None when it did not say).
    total_bytes = models.BigIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    run_token = models.CharField(max_length=32, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ImportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    is_queued = property(lambda self: self.status == ImportStatus.QUEUED)
    is_running = property(lambda self: self.status == ImportStatus.RUNNING)
    is_succeeded = property(lambda self: self.status == ImportStatus.SUCCEEDED)
    is_failed = property(lambda self: self.status == ImportStatus.FAILED)

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED)

    @property
    def percent(self) -> int | None:
        if not self.total_bytes:
            return None
        return min(100, int(self.received_bytes * 100 / self.total_bytes))

    def get_absolute_url(self) -> str:
        return reverse("import_detail", args=[self.pk])


class ShareLink(models.Model):
    """A public link to finished versions of a project: `edit` is the first, and `versions` the whole
    playlist in order (one version for a plain link). Only a hash of its token is stored."""

    edit = models.ForeignKey(Edit, on_delete=models.CASCADE, related_name="share_links")
    token_hash = models.CharField(max_length=64, unique=True)
    show_original = models.BooleanField(default=False)
    # A password (Django's hasher; blank: none), and what a guest of the link may do.
    password = models.CharField(max_length=128, blank=True)
    allow_download = models.BooleanField(default=True)
    allow_comments = models.BooleanField(default=False)
    allow_approval = models.BooleanField(default=False)
    # A watermark burned into a copy of each version that only this link serves (blank: none).
    watermark_text = models.CharField(max_length=60, blank=True)
    watermark_position = models.CharField(max_length=16, choices=WatermarkPosition.choices, default=WatermarkPosition.BOTTOM_RIGHT)
    watermark_opacity = models.PositiveSmallIntegerField(default=50)  # percent
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    views = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def watermark(self) -> str:
        """How the watermark reads in the owner's list of links, or "" without one."""
        if not self.watermark_text:
            return ""
        return f"watermark “{self.watermark_text}” {self.get_watermark_position_display().lower()}, {self.watermark_opacity} %"


class SharedVersion(models.Model):
    """One version a share link carries, at its place in the link's playlist, with the watermarked
    copy (and its poster) that only this link serves when the link has a watermark."""

    class Copy(models.TextChoices):
        NONE = "", "No watermark"
        PENDING = "pending", "Being made"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="versions")
    edit = models.ForeignKey(Edit, on_delete=models.CASCADE, related_name="shared_in")
    position = models.PositiveSmallIntegerField()
    copy_state = models.CharField(max_length=10, choices=Copy.choices, default=Copy.NONE, blank=True)
    copy_file = models.CharField(max_length=255, blank=True)
    copy_poster = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["link", "position"], name="shared_version_position"),
            models.UniqueConstraint(fields=["link", "edit"], name="shared_version_once"),
        ]

    def __str__(self) -> str:
        return f"Version {self.position} (edit #{self.edit_id}) of link #{self.link_id}"


class Comment(models.Model):
    """A comment pinned to a time (and its frame) of a version; a reply has a parent."""

    BODY_MAX = 2000

    edit = models.ForeignKey(Edit, on_delete=models.CASCADE, related_name="comments")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # The name shown: the author's user name, or the name a guest gave.
    name = models.CharField(max_length=100)
    # A guest's comment came through this share link (and goes when it is revoked or deleted).
    link = models.ForeignKey("ShareLink", null=True, blank=True, on_delete=models.CASCADE, related_name="comments")
    # A guest may leave an address to be told of replies; it is never shown on a share page.
    email = models.EmailField(blank=True)
    body = models.TextField(max_length=BODY_MAX)
    seconds = models.FloatField(default=0)
    frame = models.PositiveIntegerField(default=0)
    # A JPEG of the frame it is pinned to (stored name), for the printable export.
    thumbnail = models.CharField(max_length=255, blank=True)
    # Shapes drawn on that frame: [{"tool": "pen" | "arrow" | "box", "color": "#rrggbb",
    # "points": [[x, y], ...]}], coordinates 0–1 of the picture so they scale with the player.
    drawing = models.JSONField(default=list, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["seconds", "created_at", "pk"]

    def __str__(self) -> str:
        return f"Comment #{self.pk} on edit #{self.edit_id}"

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None

    @property
    def drawing_json(self) -> str:
        return json.dumps(self.drawing or [])

    @property
    def timecode(self) -> str:
        """Say where it is pinned: "00:02.04 · frame 51"."""
        minutes, seconds = divmod(self.seconds, 60)
        return f"{int(minutes):02d}:{seconds:05.2f} · frame {self.frame}"


class Notification(models.Model):
    """Something an owner should know: a guest commented on or reviewed one of their versions."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    edit = models.ForeignKey(Edit, on_delete=models.CASCADE, related_name="notifications")
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.text


class Member(models.Model):
    """What the studio knows of a user beyond Django's account: their monthly allowance of provider credits."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member")
    # Credits a month for the paid engines; None: unlimited (the administrators, unless set).
    monthly_credits = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Member {self.user_id}"


class Invite(models.Model):
    """A one-time link to create an account. Only a hash of its token is stored."""

    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invites_made")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_by = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="invited_by"
    )
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_open(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class Spend(models.Model):
    """Provider credits one remote edit holds against its owner's allowance: reserved when it is asked
    for, settled on what the provider reports (0 when nothing was billed). Kept when the edit is deleted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="spends")
    # An edit sent again ("Submit again") holds a second reservation.
    edit = models.ForeignKey("Edit", null=True, blank=True, on_delete=models.SET_NULL, related_name="spends")
    provider = models.CharField(max_length=16)
    reserved_credits = models.PositiveIntegerField()
    # None until settled.
    charged_credits = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class Ledger(models.Model):
    """A row to lock: reservations of credits are made one at a time, so none can overrun a limit."""

    key = models.CharField(max_length=32, primary_key=True)


class ProviderHealth(models.Model):
    """Consecutive failures per remote provider, for the circuit breaker that pauses new submissions."""

    provider = models.CharField(max_length=16, primary_key=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)
