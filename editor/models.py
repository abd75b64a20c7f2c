"""Projects, their clips and reference images, and the edits that turn one clip into another."""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from editor.engines.base import RATIOS, SEED_MAX


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


# The state graph: every transition an edit may take. Services move edits only along these
# edges, each with a compare-and-set UPDATE so two workers never take the same step.
TRANSITIONS: dict[str, set[str]] = {
    Status.QUEUED: {Status.RUNNING, Status.PREPARING, Status.CANCELLED, Status.FAILED},
    Status.PREPARING: {Status.SUBMITTING, Status.QUEUED, Status.FAILED, Status.CANCELLED},
    Status.SUBMITTING: {Status.WAITING, Status.NEEDS_ATTENTION, Status.FAILED, Status.CANCELLED},
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
        Status.CANCELLED,
        Status.FAILED,
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
FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.NEEDS_ATTENTION})
CANCELLABLE = frozenset({Status.QUEUED, Status.PREPARING, Status.WAITING, Status.RUNNING})


class Engine(models.TextChoices):
    LOCAL = "local", "Local (this machine, offline)"
    RUNWAY = "runway", "Runway"
    COMETAPI = "cometapi", "CometAPI"


class Threshold(models.TextChoices):
    AUTO = "auto", "Auto"
    LOW = "low", "Low (less strict)"


Ratio = models.TextChoices("Ratio", [(r, r) for r in RATIOS])


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


class Edit(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="edits")
    input_clip = models.ForeignKey(Clip, on_delete=models.RESTRICT, related_name="edits_as_input")
    references = models.ManyToManyField(Reference, blank=True, related_name="edits")

    prompt = models.TextField(max_length=1000)
    ratio = models.CharField(max_length=16, choices=Ratio.choices)
    seed = models.BigIntegerField()
    public_figure_threshold = models.CharField(max_length=8, choices=Threshold.choices, default=Threshold.AUTO)
    engine = models.CharField(max_length=16, choices=Engine.choices, default=Engine.LOCAL)
    model = models.CharField(max_length=32, blank=True)
    trim_start = models.FloatField(default=0)
    # aleph2 keyframes: [{"reference": pk, "seconds": t}], t counted from trim_start.
    keyframes = models.JSONField(default=list, blank=True)
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
    # Estimated cost recorded when the edit is asked for (remote engines; local edits cost nothing).
    cost_credits = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Edit #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def is_cancellable(self) -> bool:
        return self.status in CANCELLABLE

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

    def recipe(self) -> dict[str, str]:
        """Return the settings that reproduce this edit; results carry it in their metadata."""
        return {
            "prompt": self.prompt,
            "seed": str(self.seed),
            "engine": self.engine,
            "model": self.model,
            "ratio": self.ratio,
            "public_figure_threshold": self.public_figure_threshold,
            "input_sha256": self.input_clip.sha256,
        }

    def recipe_json(self) -> str:
        return json.dumps(self.recipe(), ensure_ascii=False)


SEED_RANGE = (0, SEED_MAX)


class ShareLink(models.Model):
    """A public link to one finished edit. Only a hash of its token is stored."""

    edit = models.ForeignKey(Edit, on_delete=models.CASCADE, related_name="share_links")
    token_hash = models.CharField(max_length=64, unique=True)
    show_original = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    views = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class ProviderHealth(models.Model):
    """Consecutive failures per remote provider, for the circuit breaker that pauses new submissions."""

    provider = models.CharField(max_length=16, primary_key=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)
