"""The link importer's address guard: checked after DNS resolution, at connect time."""

import socket

import pytest

from editor import netguard


@pytest.mark.parametrize(
    "address, public",
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        # IPv6 forms that carry an IPv4 address are judged by the IPv4 they carry.
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::c0a8:1", False),  # local-use NAT64 of 192.168.0.1
        ("64:ff9b::5db8:d822", True),  # NAT64 of 93.184.216.34
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("::a00:1", False),  # IPv4-compatible 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo, client 192.0.2.45
    ],
)
def test_is_public_address(address, public):
    assert netguard.is_public_address(address) is public


def test_a_public_name_that_resolves_to_loopback_is_refused(monkeypatch, tmp_path):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(netguard.FetchError, match="private or local"):
        netguard.download("https://innocent.example.com/a.mp4", tmp_path / "a.mp4", max_bytes=1000, timeout=5)
    assert not (tmp_path / "a.mp4").exists()


def test_a_redirect_to_plain_http_is_refused(tmp_path):
    import httpx

    transport = httpx.MockTransport(lambda r: httpx.Response(302, headers={"location": "http://example.com/x.mp4"}))
    with pytest.raises(netguard.FetchError, match="https"):
        netguard.download("https://example.com/a.mp4", tmp_path / "a.mp4", max_bytes=1000, timeout=5, transport=transport)


def test_size_cap_stops_the_download_and_removes_the_partial_file(tmp_path):
    import httpx

    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=b"x" * 5000))
    with pytest.raises(netguard.FetchError, match="larger"):
        netguard.download("https://example.com/a.mp4", tmp_path / "a.mp4", max_bytes=1000, timeout=5, transport=transport)
    assert not (tmp_path / "a.mp4").exists()


def test_endless_redirects_are_refused(tmp_path):
    import httpx

    transport = httpx.MockTransport(lambda r: httpx.Response(302, headers={"location": "https://example.com/again"}))
    with pytest.raises(netguard.FetchError, match="redirects"):
        netguard.download("https://example.com/a.mp4", tmp_path / "a.mp4", max_bytes=1000, timeout=5, transport=transport)
