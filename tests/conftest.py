"""Shared fixtures: users (an owner and an outsider), private media in a temporary folder, clips."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent


@pytest.fixture(autouse=True, scope="session")
def plain_http():
    """The test client and the live server speak plain http: no https redirect, no secure-only cookies.

    For the whole session, since the live server's middleware reads these once, when it starts."""
    from django.test.utils import override_settings

    plain = override_settings(
        SECURE_SSL_REDIRECT=False, SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False, SECURE_HSTS_SECONDS=0
    )
    plain.enable()
    yield
    plain.disable()


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Hash passwords the quick way: the rate-limit tests make hundreds of log-in attempts."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    """Give every test its own media folder."""
    data_dir = tmp_path / "data"
    media_root = data_dir / "media"
    media_root.mkdir(parents=True)
    settings.MEDIA_ROOT = media_root
    settings.ALEPH_CACHE_DIR = data_dir / "cache"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": media_root, "base_url": "/never-public/"},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return data_dir


class FrozenClock:
    """The rate limiter's clock, stopped in the middle of a minute; move it with `advance`."""

    def __init__(self) -> None:
        self.now = 1_800_000_030.0

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch, request):
    """No test depends on where a minute starts: the rate limiter reads this clock, and counts from zero."""
    import django_ratelimit.core

    clock = FrozenClock()
    monkeypatch.setattr(django_ratelimit.core, "time", clock)
    if "db" in request.fixturenames or "transactional_db" in request.fixturenames or request.node.get_closest_marker("django_db"):
        from django.core.cache import cache

        request.getfixturevalue("db" if "transactional_db" not in request.fixturenames else "transactional_db")
        cache.clear()
    return clock


def stored_files(media_root: Path) -> list[Path]:
    return sorted(p for p in media_root.rglob("*") if p.is_file())


@pytest.fixture
def owner(db):
    """A user whose allowance for paid engines is unlimited (the allowance tests make their own users)."""
    from editor.models import Member

    user = get_user_model().objects.create_user("owner", password="a-long-passphrase-1")
    Member.objects.filter(user=user).update(monthly_credits=None)
    return user


@pytest.fixture
def outsider(db):
    return get_user_model().objects.create_user("outsider", password="a-long-passphrase-2")


@pytest.fixture
def owner_client(owner):
    from django.test import Client

    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def outsider_client(outsider):
    from django.test import Client

    client = Client()
    client.force_login(outsider)
    return client


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory) -> Path:
    """A 1 s 320x240 25 fps clip with moving content and audio."""
    from tests.media_factory import make_clip

    return make_clip(tmp_path_factory.mktemp("clips") / "small.mp4", seconds=1.0, size=(320, 240), fps=25, audio=True)


@pytest.fixture(scope="session")
def bunny() -> Path:
    return DATA / "bigbuckbunny_720p_5s.mp4"


@pytest.fixture(scope="session")
def cat_png() -> Path:
    return DATA / "chelsea_cat.png"


def upload_of(path: Path, name: str | None = None, content_type: str = "video/mp4") -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type=content_type)


@pytest.fixture
def project(owner, small_clip):
    from editor.services.projects import create_project_from_upload

    return create_project_from_upload(owner, upload_of(small_clip), "Test project")


def database_url() -> str:
    """Return the URL of the database this test runs on (the test database), for other processes."""
    from urllib.parse import quote

    db = django_settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{quote(db['USER'] or '')}@{quote(db['HOST'] or '', safe='')}/{db['NAME']}"


def worker_env(data_dir: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a worker subprocess that shares this test's database and media folder."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aleph_studio.settings",
        "ALEPH_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }


def start_worker(
    data_dir: Path, *extra: str, worker_id: str = "test", extra_env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start `manage.py studio_worker` as a real process against the test database."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "studio_worker", "--interval", "0.1", "--no-startup-delay", "--worker-id", worker_id, *extra],
        cwd=REPO,
        env=worker_env(data_dir, extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required for the browser test in CI (make browser installs it)")
        pytest.skip("chromium is not installed (make browser installs it)")
    return path


def make_finished_edit(project, *, input_clip=None, prompt="black and white", engine="local", seed=1):
    """Create a succeeded edit whose result is a copy of its input, without running an engine."""
    from editor import media
    from editor.models import Edit, Status
    from editor.services.projects import register_clip
    from editor.storage import local_copy, staged_files

    clip = input_clip or project.clips.get(source_edit__isnull=True)
    edit = Edit.objects.create(
        project=project, input_clip=clip, prompt=prompt, ratio="1280:720", seed=seed, engine=engine
    )
    with local_copy(clip.file) as path, staged_files() as staged:
        register_clip(project, path, media.probe(path), source_edit=edit, staged=staged)
    Edit.objects.filter(pk=edit.pk).update(status=Status.SUCCEEDED)
    edit.refresh_from_db()
    return edit


@pytest.fixture
def finished_edit(project):
    return make_finished_edit(project)
