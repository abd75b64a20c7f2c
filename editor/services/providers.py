"""The engines this server offers and the remote providers behind them: which are configured, their
clients, the circuit breaker, the cost estimate and the credit balance. Forms and views read engine
facts through here (or the catalogue), never from an engine module.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from editor.engines import local as local_engine
from editor.engines.base import EngineError
from editor.engines.remote import catalog, prepare
from editor.engines.remote.client import RemoteClient
from editor.engines.remote.config import RemoteConfig
from editor.engines.remote.errors import RemoteError
from editor.errors import InputError
from editor.models import DOWNLOAD_LIMIT, Engine, ProviderHealth

log = logging.getLogger(__name__)

# What the local engine understands, for the form's help.
LOCAL_CAPABILITIES = local_engine.CAPABILITIES
# After this many provider failures in a row, new submissions to that provider pause for a while.
BREAKER_THRESHOLD = 5
BREAKER_COOL_DOWN = timedelta(minutes=10)
ORG_CACHE_SECONDS = 60
CREDITS_CACHE_KEY = "aleph:{provider}:credits"
# Cached in place of the balance when the provider could not say, so pages do not wait on it again for a minute.
_UNKNOWN = "unknown"


# ---------------------------------------------------------------- what this server offers


@sensitive_variables()
def configured_providers() -> list[str]:
    """Return the remote providers whose key is set on this server."""
    return [name for name, spec in catalog.PROVIDERS.items() if getattr(settings, spec.key_setting, "")]


def engine_choices() -> list[tuple[str, str]]:
    """Return the engines this server can run (remote ones only when their key is set)."""
    return [(Engine.LOCAL.value, Engine.LOCAL.label)] + [(p, Engine(p).label) for p in configured_providers()]


def model_choices() -> list[tuple[str, str]]:
    """Return the remote models offered by the configured providers."""
    seen: list[str] = []
    for provider in configured_providers():
        seen += [m for m in catalog.PROVIDERS[provider].models if m not in seen]
    return [(m, f"{m} — {catalog.MODELS[m].note}" if catalog.MODELS[m].note else m) for m in seen]


def variant_choices() -> list[tuple[str, str]]:
    """Return the engines and models a batch can also run on: "local" and "provider:model"."""
    choices = [(Engine.LOCAL.value, "Local engine")]
    for provider in configured_providers():
        choices += [(f"{provider}:{m}", f"{label(provider)} {m}") for m in catalog.PROVIDERS[provider].models]
    return choices


def offers(provider: str, model: str) -> bool:
    return provider in catalog.PROVIDERS and model in catalog.PROVIDERS[provider].models


def label(provider: str) -> str:
    return catalog.PROVIDERS[provider].label


@sensitive_variables()
def client_for(provider: str, **options) -> RemoteClient:
    """Build a client for a provider from settings (the key never leaves this function's result)."""
    spec = catalog.PROVIDERS[provider]
    config = RemoteConfig(
        provider=provider,
        base_url=getattr(settings, spec.base_url_setting),
        api_key=getattr(settings, spec.key_setting),
        output_hosts=tuple(settings.ALEPH_OUTPUT_HOSTS),
        connect_timeout=settings.ALEPH_REMOTE_CONNECT_TIMEOUT,
        read_timeout=settings.ALEPH_REMOTE_READ_TIMEOUT,
        max_output_bytes=settings.ALEPH_MAX_RESULT_MB * 1024 * 1024,
        download_timeout=DOWNLOAD_LIMIT.total_seconds(),
    )
    # Tests route the client to a fake at the HTTP seam, with a fake sleep and clock (both unset in production).
    transport = getattr(settings, "ALEPH_REMOTE_TRANSPORT", None)
    test_options = dict(getattr(settings, "ALEPH_REMOTE_CLIENT_OPTIONS", None) or {})
    return RemoteClient(config, transport=transport, **{**test_options, **options})


# ---------------------------------------------------------------- circuit breaker


def breaker_paused_until(provider: str):
    """Return when new submissions to a provider may resume, or None when they are open."""
    health = ProviderHealth.objects.filter(provider=provider).first()
    if health and health.paused_until and health.paused_until > timezone.now():
        return health.paused_until
    return None


def paused_providers() -> list[tuple[str, object]]:
    """Return (label, until) for each configured provider whose new submissions are paused."""
    paused = [(p, breaker_paused_until(p)) for p in configured_providers()]
    return [(label(p), until) for p, until in paused if until]


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
        raise InputError(f"The {label(provider)} engine is not configured on this server.")
    if not settings.ALEPH_OUTPUT_HOSTS:
        raise InputError(
            "Remote results cannot be saved: ALEPH_OUTPUT_HOSTS lists no hosts to download them from. "
            "Ask the administrator to set it before submitting a paid edit."
        )
    paused = breaker_paused_until(provider)
    if paused:
        raise InputError(
            f"{label(provider)} failed {BREAKER_THRESHOLD} times in a row, so new edits are paused until "
            f"{paused.astimezone(UTC):%H:%M} UTC. Edits already sent keep running."
        )


def estimate(
    provider: str,
    model: str,
    clip_seconds: float,
    trim_start: float,
    *,
    output_format: str = "mp4",
    clip_size: tuple[int, int] = (0, 0),
) -> prepare.Cost:
    """Estimate an edit's cost from the part of the clip the model will get (and the output format's
    surcharge, which for 10-bit output depends on the size sent)."""
    width, height = clip_size
    scale = min(1.0, prepare.KEEP_MAX_SIDE / max(width, height, 1))
    pixels = int(width * scale) * int(height * scale)
    try:
        seconds = prepare.model_window(model, clip_seconds, trim_start)
        return prepare.estimate_cost(provider, model, seconds, output_format=output_format, pixels=pixels)
    except EngineError as exc:
        raise InputError(exc.message) from None


def credit_balance(provider: str) -> int | None:
    """Return the organisation's credit balance, cached for a minute; None when unknown."""
    if not catalog.PROVIDERS[provider].supports_balance or provider not in configured_providers():
        return None
    key = CREDITS_CACHE_KEY.format(provider=provider)
    cached = cache.get(key)
    if cached is not None:
        return None if cached == _UNKNOWN else cached
    try:
        # A page waits on this read: one attempt, no retries, and a failure is remembered for a minute.
        with client_for(provider, max_read_attempts=1) as client:
            balance = client.organization().credit_balance
    except RemoteError as exc:
        log.warning("could not read the %s credit balance: %s", label(provider), exc.kind)
        cache.set(key, _UNKNOWN, ORG_CACHE_SECONDS)
        return None
    cache.set(key, balance, ORG_CACHE_SECONDS)
    return balance
