"""Fetching user-supplied URLs without reaching the machine's own network (SSRF guard).

The address check happens where the socket is opened, after DNS resolution, so a name that
resolves to a private address — or re-resolves to one between a check and the connect — is
refused. Redirects are followed by hand so every hop goes through the same check.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from editor.errors import Refusal


class FetchError(Refusal):
    """A URL could not be fetched; the message is meant for the user."""


# IPv6 ranges that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052) and the old
# IPv4-compatible form (::a.b.c.d).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64, compatible)."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _NAT64_LOCAL or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(address: str) -> bool:
    """Tell whether an IP address is globally routable (not loopback, private, link-local…); an IPv6
    address that carries an IPv4 one is judged by the IPv4 rules."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            ip = inner
    return ip.is_global and not ip.is_multicast


class _PublicOnlyBackend(httpcore.SyncBackend):
    """Resolve the host and connect only to public addresses."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"could not resolve {host}") from exc
        addresses = [info[4][0] for info in infos]
        if not addresses or not all(is_public_address(a) for a in addresses):
            raise _BlockedAddress(host)
        # Connect to the address we checked, not to the name (which could re-resolve).
        return super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)


class _BlockedAddress(httpcore.ConnectError):
    pass


class PublicOnlyTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__(trust_env=False)
        # httpx does not expose the network backend, so the pool is rebuilt with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(),
            network_backend=_PublicOnlyBackend(),
        )


@contextmanager
def _client(timeout: float, transport: httpx.BaseTransport | None) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=transport or PublicOnlyTransport(),
        timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "AlephStudio/1.0 (clip import)"},
    ) as client:
        yield client


PRIVATE_ADDRESS = "That link points at a private or local network address; only public addresses can be imported."


def check_url(url: str) -> str:
    """Return the URL if it is an https URL with a host name, else raise FetchError. A host written
    as an address (or named localhost) is judged here already; names are judged when they resolve."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https":
        raise FetchError("Only https:// links can be imported.")
    if not parts.hostname:
        raise FetchError("That link has no host name.")
    if parts.username or parts.password:
        raise FetchError("Links with a user name or password cannot be imported.")
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise FetchError(PRIVATE_ADDRESS)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not is_public_address(str(literal)):
        raise FetchError(PRIVATE_ADDRESS)
    return url.strip()


# A server that sends nothing for this long is given up on (the whole download has its own deadline).
SILENCE_SECONDS = 10.0


def download(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float,
    max_redirects: int = 5,
    transport: httpx.BaseTransport | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Download a public https URL to dest within size and time caps; return the final URL.

    `timeout` is the deadline of the whole download, redirects included, not of each read;
    `progress(received, total)` is called as bytes arrive (total None when the server did not say)."""
    url = check_url(url)
    deadline = clock() + timeout
    try:
        with _client(min(timeout, SILENCE_SECONDS), transport) as client:
            for _ in range(max_redirects + 1):
                if clock() > deadline:
                    raise FetchError(TOO_SLOW)
                with client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = check_url(urljoin(url, response.headers.get("location", "")))
                        continue
                    if response.status_code != 200:
                        raise FetchError(f"The server answered {response.status_code} for that link.")
                    declared = response.headers.get("content-length")
                    total = int(declared) if declared and declared.isdigit() else None
                    if total is not None and total > max_bytes:
                        raise FetchError(_too_big(max_bytes))
                    _stream_to(response, dest, max_bytes, deadline, clock, lambda n: progress and progress(n, total))
                    return url
            raise FetchError("That link redirects too many times.")
    except httpx.TimeoutException:
        dest.unlink(missing_ok=True)
        raise FetchError(TOO_SLOW) from None
    except httpx.HTTPError as exc:
        dest.unlink(missing_ok=True)
        # httpx wraps the transport's error; the original tells a refused address apart.
        if isinstance(exc.__cause__, _BlockedAddress):
            raise FetchError(
                "That link points at a private or local network address; only public addresses can be imported."
            ) from None
        raise FetchError(f"The link could not be downloaded ({exc.__class__.__name__}).") from None
    except FetchError:
        dest.unlink(missing_ok=True)
        raise


TOO_SLOW = "The download took too long and was stopped."


def _stream_to(response, dest: Path, max_bytes: int, deadline: float, clock, report) -> None:
    received = 0
    with open(dest, "wb") as fh:
        # Whatever arrives is looked at at once (no re-chunking), so a trickle meets the deadline too.
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > max_bytes:
                raise FetchError(_too_big(max_bytes))
            if clock() > deadline:
                raise FetchError(TOO_SLOW)
            fh.write(chunk)
            report(received)


def _too_big(max_bytes: int) -> str:
    return f"The file is larger than the {max_bytes // (1024 * 1024)} MB limit."
