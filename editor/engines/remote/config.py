"""Where and how to reach one provider, and the checks of its addresses (also run by the settings at start-up)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from editor.engines.remote import catalog

RUNWAY_VERSION = "2024-11-06"
_LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class RemoteConfig:
    """Where and how to reach one provider. An empty base_url means the provider's default."""

    provider: str
    base_url: str
    api_key: str = field(repr=False)
    version: str = RUNWAY_VERSION
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Hosts ("host", "host:port" or "*.domain") that output URLs may point at.
    output_hosts: tuple[str, ...] = ()
    max_output_bytes: int = 500 * 1000 * 1000
    # Wall-clock limit for one output download (the read timeout only bounds each wait for data).
    download_timeout: float = 600.0

    def __post_init__(self) -> None:
        if self.provider not in catalog.PROVIDERS:
            raise ValueError(f"provider must be one of {tuple(catalog.PROVIDERS)}, got {self.provider!r}")
        if not self.api_key:
            raise ValueError(f"an API key is required for {self.provider}")
        try:
            base = check_base_url(self.base_url or self.spec.default_base_url)
        except ValueError as exc:
            raise ValueError(f"{self.provider} base URL {exc}") from None
        object.__setattr__(self, "base_url", base)
        object.__setattr__(self, "output_hosts", parse_output_hosts(self.output_hosts))

    def __repr__(self) -> str:
        return (
            f"RemoteConfig(provider={self.provider!r}, base_url={self.base_url!r}, api_key='[redacted]', "
            f"version={self.version!r}, output_hosts={self.output_hosts!r})"
        )

    @property
    def spec(self) -> catalog.Provider:
        return catalog.PROVIDERS[self.provider]

    @property
    def label(self) -> str:
        return self.spec.label


def check_base_url(url: str) -> str:
    """Return an API base URL without its trailing slash; ValueError unless it is https (http only on loopback)."""
    base = url.strip().rstrip("/")
    try:
        parts = urlsplit(base)
        host = parts.hostname
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        host = None
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))):
        raise ValueError(f"must be an https URL (plain http only for loopback), got {url!r}")
    return base


def parse_output_hosts(value: str | Iterable[str]) -> tuple[str, ...]:
    """Normalise an allowlist of output hosts ("a.com, 127.0.0.1:8000, *.b.net"); raise ValueError on junk."""
    items = value.split(",") if isinstance(value, str) else list(value)
    hosts = []
    for item in items:
        entry = item.strip().lower()
        if not entry:
            continue
        host, port = split_host_port(entry)
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"bad port in output host {item!r}")
        if not re.fullmatch(r"(\*\.)?[a-z0-9.\-]+|[0-9a-f:]+", host):
            raise ValueError(f"not a host name: {item!r}")
        hosts.append(entry)
    return tuple(hosts)


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:
        host, port = entry, ""
    if port and not port.isdigit():
        raise ValueError(f"bad port in output host {entry!r}")
    return host, int(port) if port else None
