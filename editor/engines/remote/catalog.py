"""The one catalogue of remote providers and models: every fact the studio knows about them.

The form, the request body, the cost estimate, help texts and the page's script all read these
tables, so adding a model is one entry in MODELS (and its name in a provider's `models`), and adding
a provider is one entry in PROVIDERS. Prefer a capability flag here to an `if provider == …` anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from editor.constants import PROMPT_MAX_CHARS, RATIOS

CREDIT_USD = Decimal("0.01")
# The longest data URI (the whole encoded string) for a video and for an image, unless a model says otherwise.
VIDEO_DATA_URI_LIMIT = 16_000_000
IMAGE_DATA_URI_LIMIT = 5_000_000


@dataclass(frozen=True)
class Model:
    name: str
    # Seconds of input the model takes: (shortest, longest) from the chosen start.
    window: tuple[float, float]
    prompt_required: bool
    # Reference images (not pinned to a time) and keyframe images (pinned to a time in the clip).
    max_references: int
    max_keyframes: int
    # The price per output second, in credits (1 credit = USD 0.01), and where it comes from.
    credits_per_second: Decimal
    price_basis: str
    min_credits: int = 0
    ratios: tuple[str, ...] = RATIOS
    # The longest prompt, counted in UTF-16 code units as the API counts it.
    prompt_max: int = PROMPT_MAX_CHARS
    # The name of the request field that carries the input video.
    video_field: str = "videoUri"
    # Longest data URI (the whole encoded string) for the video and for each image; bigger files go
    # through an upload where the provider has one.
    video_data_uri_limit: int = VIDEO_DATA_URI_LIMIT
    image_data_uri_limit: int = IMAGE_DATA_URI_LIMIT

    @property
    def window_text(self) -> str:
        """Say how much of the clip the model takes: "5 s" or "2–30 s"."""
        shortest, longest = self.window
        return f"{longest:g} s" if shortest == 0 else f"{shortest:g}–{longest:g} s"

    def credits_for(self, seconds: float) -> Decimal:
        """Return the credits for an output of `seconds` (whole seconds, rounded up, never below the minimum)."""
        whole = max(1, math.ceil(seconds - 1e-6))
        return max(Decimal(self.min_credits), self.credits_per_second * whole)


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    default_base_url: str
    models: tuple[str, ...]
    # The settings (environment variables) that hold its key and its base URL.
    key_setting: str
    base_url_setting: str
    # DELETE /v1/tasks/{id} stops a task.
    supports_cancel: bool
    # Ephemeral uploads (runway:// URIs) carry files too large for a data URI.
    supports_upload: bool
    # GET /v1/organization reports the credit balance.
    supports_balance: bool
    # A task created a moment ago may be unknown to a status read for a few seconds.
    new_task_grace: bool = False
    # A provider that charges per call, whatever the length (None: the model's price per second).
    usd_per_call: Decimal | None = None
    call_price_basis: str = ""


MODELS: dict[str, Model] = {
    "gen4_aleph": Model(
        name="gen4_aleph",
        window=(0.0, 5.0),
        prompt_required=True,
        max_references=1,
        max_keyframes=0,
        credits_per_second=Decimal(15),
        price_basis="Runway: 15 credits per output second at $0.01 a credit",
    ),
    "aleph2": Model(
        name="aleph2",
        window=(2.0, 30.0),
        prompt_required=False,
        max_references=0,
        max_keyframes=5,
        # Runway publishes no aleph2 price in the contract we follow; ComfyUI's listing of USD 0.4004
        # per second (a reseller's price) is the best public figure.
        credits_per_second=Decimal("40.04"),
        price_basis="estimate: a reseller's listed aleph2 price of $0.4004 per second; Runway's own price may differ",
    ),
}

# The model the form offers first.
DEFAULT_MODEL = "gen4_aleph"

PROVIDERS: dict[str, Provider] = {
    "runway": Provider(
        name="runway",
        label="Runway",
        default_base_url="https://api.dev.runwayml.com",
        models=("gen4_aleph", "aleph2"),
        key_setting="RUNWAYML_API_SECRET",
        base_url_setting="RUNWAYML_BASE_URL",
        supports_cancel=True,
        supports_upload=True,
        supports_balance=True,
    ),
    # aleph2 is only offered through Runway directly; CometAPI documents gen4_aleph on its passthrough.
    "cometapi": Provider(
        name="cometapi",
        label="CometAPI",
        default_base_url="https://api.cometapi.com/runwayml",
        models=("gen4_aleph",),
        key_setting="COMETAPI_KEY",
        base_url_setting="COMETAPI_BASE_URL",
        supports_cancel=False,
        supports_upload=False,
        supports_balance=False,
        new_task_grace=True,
        usd_per_call=Decimal("0.96"),
        call_price_basis="CometAPI's listed price per video-to-video call",
    ),
}


def provider(name: str) -> Provider:
    """Return a provider's entry; KeyError for a name the catalogue does not have."""
    return PROVIDERS[name]


def model(name: str) -> Model:
    """Return a model's entry; KeyError for a name the catalogue does not have."""
    return MODELS[name]


def windows_text() -> str:
    """Say how much of the clip each model takes, for help texts: "gen4_aleph 5 s, aleph2 2–30 s"."""
    return ", ".join(f"{m.name} {m.window_text}" for m in MODELS.values())


def page_facts() -> dict:
    """Return what the edit form's script needs to know of each model and provider (for json_script)."""
    return {
        "models": {
            m.name: {"references": m.max_references, "keyframes": m.max_keyframes, "window": list(m.window)}
            for m in MODELS.values()
        },
        "providers": {p.name: list(p.models) for p in PROVIDERS.values()},
    }
