"""Rate limits as they hold in production: per client address (through trusted proxies) and user name,
in the cache all processes share, with the admin's log-in limited too. The clock is frozen (conftest)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(db):
    return get_user_model().objects.create_user("carol", password="a-long-passphrase-7")


def _login(client: Client, username: str, password: str, **headers) -> int:
    return client.post(reverse("login"), {"username": username, "password": password}, **headers).status_code


def test_one_clients_failures_never_lock_another_user_out(carol):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    codes = [_login(attacker, "carol", "guess") for _ in range(22)]
    assert codes[:20] == [200] * 20 and codes[20:] == [429, 429]
    # The same address may still try another name, and carol logs in from her own address.
    assert _login(attacker, "dave", "guess") == 200
    assert _login(Client(REMOTE_ADDR="198.51.100.2"), "carol", "a-long-passphrase-7") == 302


def test_behind_a_proxy_the_forwarded_address_is_the_client(carol, settings):
    settings.ALEPH_TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    attacker = Client(**proxy)
    for _ in range(20):
        _login(attacker, "carol", "guess", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert _login(attacker, "carol", "guess", HTTP_X_FORWARDED_FOR="203.0.113.7") == 429
    # Another client behind the same proxy logs in (this used to be a 429 for everyone).
    assert _login(Client(**proxy), "carol", "a-long-passphrase-7", HTTP_X_FORWARDED_FOR="198.51.100.2") == 302


def test_without_trusted_proxies_a_forged_forwarded_address_changes_nothing(carol):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(20):
        _login(attacker, "carol", "guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert _login(attacker, "carol", "guess", HTTP_X_FORWARDED_FOR="192.0.2.200") == 429


def test_an_address_spraying_many_names_is_limited(carol):
    sprayer = Client(REMOTE_ADDR="203.0.113.9")
    codes = [_login(sprayer, f"user{n}", "guess") for n in range(101)]
    assert codes[:100] == [200] * 100 and codes[100] == 429


def test_successful_log_ins_do_not_count(carol):
    client = Client(REMOTE_ADDR="198.51.100.2")
    assert {_login(client, "carol", "a-long-passphrase-7") for _ in range(30)} == {302}


def test_the_limit_ends_with_its_window(carol, frozen_clock):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(20):
        _login(attacker, "carol", "guess")
    assert _login(attacker, "carol", "guess") == 429
    frozen_clock.advance(61)
    assert _login(attacker, "carol", "guess") == 200


def test_the_admin_log_in_is_limited_too(carol):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    url = reverse("admin:login")
    codes = [attacker.post(url, {"username": "carol", "password": "guess"}).status_code for _ in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429


def test_the_counts_live_in_the_database_cache_every_process_shares(carol, settings):
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    _login(Client(REMOTE_ADDR="203.0.113.7"), "carol", "guess")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM aleph_cache")
        assert cursor.fetchone()[0] >= 2  # the per-name and the per-address counter


def test_sign_ups_are_limited_per_address(settings):
    settings.ALEPH_SIGNUP = "open"
    client = Client(REMOTE_ADDR="203.0.113.8")
    codes = [client.post(reverse("signup"), {"username": f"u{n}", "password1": "x", "password2": "y"}).status_code for n in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429
