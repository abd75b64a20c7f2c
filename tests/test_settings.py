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
