"""The one catalogue of remote providers and models: every fact the studio knows about them.

The form, the request body, the cost estimate, help texts and the page's script all read these
tables, so adding a model is one entry in MODELS (and its name in a provider's `models`), and adding
a provider is one entry in PROVIDERS. Prefer a capability flag here to an `if provider == …` anywhere.

The facts follow Runway's published OpenAPI document (its schemas for this product are in
tests/data/runway-openapi-subset.json, which the tests hold every request body to).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from editor.constants import PROMPT_MAX_CHARS, RATIOS

CREDIT_USD = Decimal("0.01")
# The longest data URI (the whole encoded string) the current spec allows for any video or image.
DATA_URI_LIMIT = 5_242_880
# gen4_aleph's last published schema allowed a longer one for its video.
GEN4_VIDEO_DATA_URI_LIMIT = 16_777_216
IMAGE_DATA_URI_LIMIT = DATA_URI_LIMIT
VIDEO_DATA_URI_LIMIT = DATA_URI_LIMIT

# The aspect ratios aleph2 can outpaint to (targetAspectRatio).
ASPECT_RATIOS = ("16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "21:9")

# How the output's shape is chosen:
#   crop     the studio crops and scales the input to one of RATIOS before sending it;
#   keep     the input is sent with its own shape and the output follows it;
#   outpaint the input is sent with its own shape and the model fills out to an ASPECT_RATIOS ratio;
#   model    the input is sent with its own shape and the model renders at one of its own ratios.
FRAMINGS = {
    "keep": "Keep the input's shape",
    "crop": "Crop to the ratio",
    "outpaint": "Outpaint to the ratio",
    "model": "The model's output ratio",
}

# aleph2's output formats: (label, extension of the delivered file, surcharge in credits per output second).
OUTPUT_FORMATS = {
    "mp4": ("MP4 (H.264)", ".mp4", 0),
    "prores": ("ProRes (.mov)", ".mov", 5),
    "png_sequence": ("PNG sequence (.zip)", ".zip", 5),
    "sdr_rec709_10bit": ("10-bit HEVC, Rec. 709 (.mp4)", ".mp4", 20),
}
# 10-bit output above four megapixels costs twice the surcharge.
HIGH_RES_PIXELS = 4_000_000
PRORES_PROFILES = ("4444", "422 HQ", "422", "422 LT", "422 Proxy", "4444 XQ")

SEEDANCE_RATIOS = (
    "1280:720", "720:1280", "960:960", "1112:834", "834:1112", "1470:630",
    "992:432", "864:496", "752:560", "640:640", "560:752", "496:864",
)
SEEDANCE_HIRES_RATIOS = (
    "1920:1080", "1080:1920", "1440:1440", "1664:1248", "1248:1664", "2206:946",
    "3840:2160", "2160:3840", "3840:3840", "3840:2880", "2880:3840", "3840:1646",
)
SEEDANCE2_5_RATIOS = (
    "1280:720", "720:1280", "960:960", "1112:834", "834:1112", "1470:630", "992:432",
    "854:480", "480:854", "752:560", "560:752", "640:640",
    "1920:1080", "1080:1920", "1440:1440", "1664:1248", "1248:1664", "2206:946",
)
NO_PRICE = "no published price: Runway's estimate is shown once the task is created, the charge after the run"

HAILUO_RATIOS = ("adaptive", "16:9", "9:16", "1:1", "4:3", "3:4", "21:9")


@dataclass(frozen=True)
class Model:
    name: str
    label: str
    # Seconds of input the model takes: (shortest, longest) from the chosen start.
    window: tuple[float, float]
    prompt_required: bool
    # Reference images (not pinned to a time) and keyframe images (pinned to a time in the clip).
    max_references: int
    max_keyframes: int
    # The price per output second, in credits (1 credit = USD 0.01), and where it comes from;
    # None when no price is published: the provider's own estimate is shown once the task is created.
    credits_per_second: Decimal | None
    price_basis: str
    min_credits: int = 0
    # The longest prompt, counted in UTF-16 code units as the API counts it.
    prompt_max: int = PROMPT_MAX_CHARS
    # The name of the request field that carries the input video.
    video_field: str = "videoUri"
    # Longest data URI (the whole encoded string) for the video and for each image; bigger files go
    # through an upload where the provider has one.
    video_data_uri_limit: int = VIDEO_DATA_URI_LIMIT
    image_data_uri_limit: int = IMAGE_DATA_URI_LIMIT
    # How the output's shape can be chosen (the first is the default), and the model's own ratios
    # (sent as `ratio`) for the "model" framing.
    framings: tuple[str, ...] = ("crop",)
    model_ratios: tuple[str, ...] = ()
    # gen4_aleph still takes its (deprecated, ignored) `ratio` next to the cropped input.
    sends_crop_ratio: bool = False
    takes_seed: bool = True
    takes_moderation: bool = False
    # References as {"type": "image", "uri"} (gen4_aleph) or {"uri"} (the newer models).
    typed_references: bool = False
    # Output formats (empty: the model delivers MP4 and takes no such field).
    output_formats: tuple[str, ...] = ()
    # Output length in whole seconds the user may ask for ((shortest, longest); None: it follows the input),
    # and whether "auto" (the model chooses) is allowed.
    durations: tuple[int, int] | None = None
    duration_auto: bool = False
    resolutions: tuple[str, ...] = ()
    # Whether the model can be asked not to generate sound.
    takes_audio: bool = False
    modes: tuple[str, ...] = ()
    # Other clips of the project sent as reference videos, and their combined length limit.
    max_reference_videos: int = 0
    reference_video_seconds: float = 0.0
    # Shown beside the model's name in the form.
    note: str = ""

    @property
    def window_text(self) -> str:
        """Say how much of the clip the model takes: "5 s" or "2–30 s"."""
        shortest, longest = self.window
        return f"{longest:g} s" if shortest == 0 else f"{shortest:g}–{longest:g} s"

    @property
    def choice_label(self) -> str:
        return f"{self.label} — {self.note}" if self.note else self.label

    def ratios_for(self, framing: str) -> tuple[str, ...]:
        """Return the ratios the ratio control offers under a framing (empty: none is chosen)."""
        if framing == "crop":
            return RATIOS
        if framing == "outpaint":
            return ASPECT_RATIOS
        if framing == "model":
            return self.model_ratios
        return ()

    @property
    def has_price(self) -> bool:
        return self.credits_per_second is not None

    def surcharge_per_second(self, output_format: str, pixels: int = 0) -> int:
        """Return the extra credits per output second an output format costs."""
        extra = OUTPUT_FORMATS.get(output_format or "mp4", OUTPUT_FORMATS["mp4"])[2]
        if output_format == "sdr_rec709_10bit" and pixels > HIGH_RES_PIXELS:
            extra *= 2
        return extra

    def credits_for(self, seconds: float, *, output_format: str = "mp4", pixels: int = 0) -> Decimal | None:
        """Return the credits for an output of `seconds` (whole seconds, rounded up, never below the
        minimum), surcharge included; None when the model has no published price."""
        if self.credits_per_second is None:
            return None
        whole = max(1, math.ceil(seconds - 1e-6))
        rate = self.credits_per_second + self.surcharge_per_second(output_format, pixels)
        return max(Decimal(self.min_credits), rate * whole)


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


_SEEDANCE = dict(
    window=(2.0, 15.0),
    prompt_required=False,
    max_references=9,
    max_keyframes=0,
    credits_per_second=None,
    price_basis=NO_PRICE,
    prompt_max=3500,
    video_field="promptVideo",
    framings=("model",),
    durations=(4, 15),
    duration_auto=True,
    takes_audio=True,
    max_reference_videos=3,
    reference_video_seconds=15.0,
)

MODELS: dict[str, Model] = {
    "aleph2": Model(
        name="aleph2",
        label="Aleph 2",
        window=(2.0, 30.0),
        prompt_required=False,
        max_references=0,
        max_keyframes=5,
        credits_per_second=Decimal(28),
        min_credits=56,
        price_basis="Runway's list price of 28 credits per output second, 56 at least, at $0.01 a credit",
        framings=("keep", "crop", "outpaint"),
        takes_moderation=True,
        output_formats=tuple(OUTPUT_FORMATS),
    ),
    "gen4_aleph": Model(
        name="gen4_aleph",
        label="Gen-4 Aleph",
        window=(0.0, 5.0),
        prompt_required=True,
        max_references=1,
        max_keyframes=0,
        credits_per_second=Decimal(15),
        price_basis="Runway's price of 15 credits per output second at $0.01 a credit",
        video_data_uri_limit=GEN4_VIDEO_DATA_URI_LIMIT,
        framings=("crop",),
        sends_crop_ratio=True,
        takes_moderation=True,
        typed_references=True,
        note="older; may be unavailable on newer Runway accounts",
    ),
    "gemini_omni_flash": Model(
        name="gemini_omni_flash",
        label="Gemini Omni Flash",
        window=(0.0, 10.0),
        prompt_required=True,
        max_references=5,
        max_keyframes=0,
        credits_per_second=None,
        price_basis=NO_PRICE,
        prompt_max=4000,
        framings=("keep",),
        takes_seed=False,
    ),
    "seedance2": Model(name="seedance2", label="Seedance 2", model_ratios=SEEDANCE_RATIOS + SEEDANCE_HIRES_RATIOS, **_SEEDANCE),
    "seedance2_fast": Model(name="seedance2_fast", label="Seedance 2 Fast", model_ratios=SEEDANCE_RATIOS, **_SEEDANCE),
    "seedance2_mini": Model(name="seedance2_mini", label="Seedance 2 Mini", model_ratios=SEEDANCE_RATIOS, **_SEEDANCE),
    "seedance2_5": Model(
        name="seedance2_5",
        label="Seedance 2.5",
        **{
            **_SEEDANCE,
            "window": (2.0, 30.0),
            "prompt_max": 15000,
            "durations": (4, 30),
            "max_references": 30,
            "max_reference_videos": 9,
            "reference_video_seconds": 30.0,
        },
        model_ratios=SEEDANCE2_5_RATIOS,
        modes=("edit", "reference", "extend"),
    ),
    "hailuo3": Model(
        name="hailuo3",
        label="Hailuo 3",
        window=(2.0, 15.0),
        prompt_required=True,
        max_references=9,
        max_keyframes=0,
        credits_per_second=None,
        price_basis=NO_PRICE,
        prompt_max=6000,
        video_field="promptVideo",
        framings=("model",),
        model_ratios=HAILUO_RATIOS,
        takes_seed=False,
        durations=(5, 15),
        resolutions=("768P", "2K"),
        max_reference_videos=2,
        reference_video_seconds=15.0,
    ),
}

# The model the form offers first.
DEFAULT_MODEL = "aleph2"

PROVIDERS: dict[str, Provider] = {
    "runway": Provider(
        name="runway",
        label="Runway",
        default_base_url="https://api.dev.runwayml.com",
        models=tuple(MODELS),
        key_setting="RUNWAYML_API_SECRET",
        base_url_setting="RUNWAYML_BASE_URL",
        supports_cancel=True,
        supports_upload=True,
        supports_balance=True,
    ),
    # CometAPI documents only gen4_aleph on its Runway passthrough.
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


def all_ratios() -> tuple[str, ...]:
    """Every ratio any model or the local engine may be given, in the form's order."""
    seen: list[str] = list(RATIOS)
    for spec in MODELS.values():
        for framing in spec.framings:
            seen += [r for r in spec.ratios_for(framing) if r not in seen]
    return tuple(seen)


def windows_text() -> str:
    """Say how much of the clip each model takes, for help texts: "aleph2 2–30 s, gen4_aleph 5 s"."""
    return ", ".join(f"{m.name} {m.window_text}" for m in MODELS.values())


def page_facts() -> dict:
    """Return what the edit form's script needs to know of each model and provider (for json_script)."""
    return {
        "models": {
            m.name: {
                "references": m.max_references,
                "keyframes": m.max_keyframes,
                "window": list(m.window),
                "framings": list(m.framings),
                "ratios": {f: list(m.ratios_for(f)) for f in m.framings},
                "seed": m.takes_seed,
                "moderation": m.takes_moderation,
                "formats": list(m.output_formats),
                "durations": list(m.durations) if m.durations else None,
                "auto": m.duration_auto,
                "resolutions": list(m.resolutions),
                "audio": m.takes_audio,
                "modes": list(m.modes),
                "reference_videos": m.max_reference_videos,
                "prompt_max": m.prompt_max,
                "prompt_required": m.prompt_required,
            }
            for m in MODELS.values()
        },
        "providers": {p.name: list(p.models) for p in PROVIDERS.values()},
        "local_ratios": list(RATIOS),
    }
