"""Settings read from the environment: a bad value stops the start with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def check(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """Run `manage.py check` with extra environment variables (and a data folder of its own)."""
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env={**os.environ, "ALEPH_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "name, value",
    [
        ("RUNWAYML_BASE_URL", "http://api.example.com"),
        ("RUNWAYML_BASE_URL", "ftp://api.dev.runwayml.com"),
        ("COMETAPI_BASE_URL", "api.cometapi.com/runwayml"),
        ("COMETAPI_BASE_URL", "https://:99999"),
        ("ALEPH_OUTPUT_HOSTS", "cdn.example.com, https://bad.example"),
        ("ALEPH_OUTPUT_HOSTS", "cdn.example.com:http"),
    ],
)
def test_a_bad_remote_setting_stops_the_start_with_its_name(tmp_path, name, value):
    done = check(tmp_path, **{name: value})
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and name in done.stderr


def test_good_remote_settings_start_and_are_normalised(tmp_path):
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c",
         "from django.conf import settings; print(settings.RUNWAYML_BASE_URL, settings.COMETAPI_BASE_URL, settings.ALEPH_OUTPUT_HOSTS)"],
        cwd=REPO,
        env={
            **os.environ,
            "ALEPH_DATA_DIR": str(tmp_path),
            "RUNWAYML_BASE_URL": "https://api.dev-stage.runwayml.com/",
            "COMETAPI_BASE_URL": "http://127.0.0.1:9000/runwayml",
            "ALEPH_OUTPUT_HOSTS": " CDN.example.com , *.cloudfront.net,127.0.0.1:8123",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "https://api.dev-stage.runwayml.com",
        "http://127.0.0.1:9000/runwayml",
        "['cdn.example.com',",
        "'*.cloudfront.net',",
        "'127.0.0.1:8123']",
    ]


def _settings_of(tmp_path, code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=REPO, env={**os.environ, "ALEPH_DATA_DIR": str(tmp_path), **env}, capture_output=True, text=True, timeout=120,
    )


def test_the_public_url_gives_the_hosts_the_trusted_origin_and_the_scheme_behind_a_proxy(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.ALLOWED_HOSTS, s.CSRF_TRUSTED_ORIGINS, s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)"
    )
    done = _settings_of(tmp_path, code, DEBUG="0", SECRET_KEY="x" * 60, ALEPH_PUBLIC_URL="https://studio.example.com",
                        ALEPH_TRUSTED_PROXY_COUNT="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "['studio.example.com'] ['https://studio.example.com'] ('HTTP_X_FORWARDED_PROTO', 'https') True True True 31536000"
    )
    # Under make run (DEBUG on) none of the https-only settings are on; each can be turned off explicitly too.
    done = _settings_of(tmp_path, code, DEBUG="1")
    assert done.stdout.strip().endswith("None False False False 0")
    done = _settings_of(tmp_path, code, DEBUG="0", SECRET_KEY="x" * 60, SECURE_SSL_REDIRECT="0")
    assert " False True True 31536000" in done.stdout


def test_a_share_link_is_made_with_the_public_url(owner_client, finished_edit, settings):
    from django.urls import reverse

    settings.ALEPH_PUBLIC_URL = "https://studio.example.com"
    response = owner_client.post(reverse("share_create", args=[finished_edit.pk]), {"expiry": "7d"}, follow=True)
    assert "https://studio.example.com/s/" in response.content.decode()


@pytest.mark.parametrize(
    "name, value",
    [("CACHE_URL", "memcached://127.0.0.1:11211"), ("ALEPH_PUBLIC_URL", "studio.example.com"),
     ("ALEPH_PUBLIC_URL", "https://studio.example.com/studio"), ("ALEPH_SIGNUP", "everyone")],
)
def test_a_bad_deployment_setting_stops_the_start(tmp_path, name, value):
    done = check(tmp_path, **{name: value})
    assert done.returncode != 0 and name in done.stderr


def test_a_redis_cache_url_selects_djangos_redis_cache(tmp_path):
    done = _settings_of(tmp_path, "from django.conf import settings; print(settings.CACHES['default'])",
                        CACHE_URL="redis://127.0.0.1:6379/2")
    assert "django.core.cache.backends.redis.RedisCache" in done.stdout and "redis://127.0.0.1:6379/2" in done.stdout
