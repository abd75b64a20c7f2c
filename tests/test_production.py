"""The studio past one machine, on real servers on loopback (tests/servers.py starts them): gunicorn,
the shared cache in Redis or the database, S3-compatible storage, nginx in front, and the deployment
settings that `check --deploy` judges."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import servers
from tests.conftest import DATA, REPO

pytestmark = pytest.mark.servers


def production_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a production web process, on plain http (the tests' proxy terminates nothing)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aleph_studio.settings",
        "DEBUG": "0",
        "ALEPH_DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-" + "k" * 60,
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "ALEPH_SIGNUP": "open",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=env, check=True)


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *args: str) -> Iterator[str]:
    """Run the studio under gunicorn on a loopback port (with deploy/gunicorn.conf.py); yield its URL."""
    port = servers.free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", *args,
         "aleph_studio.wsgi"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        servers.wait_until(lambda: httpx.get(url + "/accounts/login/", timeout=1).status_code == 200, what="gunicorn")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _csrf(client: httpx.Client, url: str) -> str:
    page = client.get(url)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


# ---------------------------------------------------------------- the shared cache


def _start_inside_one_window(key: str, needed: float = 30.0) -> None:
    """Wait, if need be, until the limiter's one-minute window for `key` has `needed` seconds left, so
    the attempts of one test are counted in one window (the servers' clocks cannot be frozen)."""
    import time
    import zlib

    # django-ratelimit's window for a key ends at crc32(key) seconds into each minute (the real clock:
    # this process's limiter clock is frozen by conftest, the servers' is not).
    now = time.time()
    end = now - now % 60 + zlib.crc32(key.encode()) % 60
    left = (end if end >= now else end + 60) - now
    if left < needed:
        time.sleep(max(0.0, left) + 1)


@pytest.mark.parametrize("cache", ["redis", "database"])
def test_a_log_in_limit_holds_across_two_web_processes(tmp_path, cache):
    with contextlib.ExitStack() as stack:
        extra = {"CACHE_URL": stack.enter_context(servers.redis())} if cache == "redis" else {}
        env = production_env(tmp_path, **extra)
        migrate(env)
        first = stack.enter_context(gunicorn(env))
        second = stack.enter_context(gunicorn(env))
        client = stack.enter_context(httpx.Client(timeout=10))
        _start_inside_one_window("127.0.0.1|carol")
        codes = []
        for n in range(21):
            url = (first if n % 2 else second) + "/accounts/login/"
            token = _csrf(client, url)
            response = client.post(url, data={"csrfmiddlewaretoken": token, "username": "carol", "password": "guess"},
                                   headers={"Referer": url})
            codes.append(response.status_code)
    # Twenty failures, counted together whichever process took them; the next is refused by either.
    assert codes[:20] == [200] * 20 and codes[20] == 429, codes


# ---------------------------------------------------------------- object storage, no shared disk


@pytest.fixture
def bucket(settings):
    with servers.s3() as server:
        settings.STORAGES = server.storages(settings.STORAGES)
        yield server


def _fetch_presigned(client, url: str, **headers) -> httpx.Response:
    """Follow the studio's redirect to the S3 server, the way a browser would."""
    response = client.get(url, **headers)
    assert response.status_code == 302, (url, response.status_code)
    location = response["Location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
    return httpx.get(location, headers={"Range": headers["HTTP_RANGE"]} if "HTTP_RANGE" in headers else {})


@pytest.mark.django_db(transaction=True)
def test_s3_holds_every_file_and_a_worker_on_another_disk_finishes_an_edit(
    bucket, client, owner, private_media, tmp_path, cat_png, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from editor.models import Clip, Edit, Reference, Status
    from editor.services import sharing
    from tests.conftest import start_worker, stored_files, upload_of

    client.force_login(owner)
    with open(DATA / "bigbuckbunny_720p_5s.mp4", "rb") as fh:
        assert client.post(reverse("project_new"), {"file": fh}).status_code == 302
    project = owner.projects.get()
    original = project.original
    client.post(reverse("reference_add", args=[project.pk]), {"image": upload_of(cat_png, content_type="image/png")})
    reference = Reference.objects.get()
    assert set(bucket.keys()) == {original.file, original.poster, reference.file}
    assert stored_files(private_media / "media") == []

    # Range through the short-lived presigned redirect.
    ranged = _fetch_presigned(client, reverse("clip_media", args=[original.pk, "video"]), HTTP_RANGE="bytes=100-199")
    assert ranged.status_code == 206 and ranged.content == (DATA / "bigbuckbunny_720p_5s.mp4").read_bytes()[100:200]
    assert _fetch_presigned(client, reverse("reference_media", args=[reference.pk])).status_code == 200

    # A worker with its own data folder (no disk shared with this web process) runs a local edit.
    data = {"prompt": "black and white", "input_clip": original.pk, "ratio": "640:480", "seed": "3",
            "public_figure_threshold": "auto", "engine": "local"}
    assert client.post(reverse("edit_create", args=[project.pk]), data).status_code == 302
    elsewhere = tmp_path / "worker-machine"
    worker = start_worker(elsewhere, "--batch", worker_id="s3", extra_env=bucket.env())
    output, _ = worker.communicate(timeout=300)
    edit = Edit.objects.get()
    assert edit.status == Status.SUCCEEDED, (edit.error_message, output)
    result = edit.result
    assert {result.file, result.poster} <= set(bucket.keys())
    assert not list((elsewhere / "media").rglob("*.mp4")) if (elsewhere / "media").exists() else True
    played = _fetch_presigned(client, reverse("clip_media", args=[result.pk, "video"]))
    assert played.status_code == 200 and played.content[4:8] == b"ftyp"

    # A share link serves the result from S3 until it is revoked.
    link, token = sharing.create_share_link(edit, expiry="7d", show_original=True)
    anonymous = type(client)()
    assert _fetch_presigned(anonymous, reverse("share_media", args=[token, "result"])).status_code == 200
    sharing.revoke_share_link(link)
    assert anonymous.get(reverse("share_media", args=[token, "result"])).status_code == 404

    # Deleting the project removes its objects.
    client.post(reverse("project_delete", args=[project.pk]))
    assert bucket.keys() == []
    assert Clip.objects.count() == 0


def test_s3_stores_a_remote_result(bucket, project, settings):
    from django.test import TestCase

    from editor.models import Status
    from editor.services import edits as edit_service
    from tests.fakes import FakeProvider, TaskPlan
    from tests.fakes.studio import RUNWAY_TEST_KEY, TaskQueue, use_fake

    with FakeProvider("runway", api_key=RUNWAY_TEST_KEY) as fake:
        use_fake(settings, fake)
        fake.next_plans.append(TaskPlan(steps=()))
        with TestCase.captureOnCommitCallbacks(execute=True):
            edit = edit_service.create_edit(
                project, project.original,
                edit_service.EditSettings(prompt="snow", ratio="640:480", seed=1, engine="runway", model="gen4_aleph"),
            )
        queue = TaskQueue()
        queue.run("run_edit_task")
        queue.run("poll_remote_task")
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED, edit.error_message
    assert {edit.result.file, edit.result.poster} <= set(bucket.keys())


# ---------------------------------------------------------------- nginx in front


def _nginx_config(media_root: Path, web_port: int, port: int, body_size: str) -> str:
    """The test server: deploy/nginx-locations.conf as shipped, on plain http, saying https to the studio
    as TLS termination would, with this test's media folder, upstream and body cap."""
    locations = (REPO / "deploy" / "nginx-locations.conf").read_text()
    locations = locations.replace("/srv/aleph/var/media/", f"{media_root}/")
    locations = locations.replace("client_max_body_size 520m;", f"client_max_body_size {body_size};")
    locations = locations.replace("X-Forwarded-Proto $scheme;", "X-Forwarded-Proto https;")
    temp = "\n".join(f"  {kind}_temp_path {{prefix}}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # The test's folders are private to whoever runs the tests; nginx's workers read them as that user.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
error_log {{prefix}}/logs/error.log;
pid {{prefix}}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  include /etc/nginx/mime.types;
  access_log off;
{temp}
  upstream aleph_web {{ server 127.0.0.1:{web_port}; }}
  server {{
    listen 127.0.0.1:{port};
{locations}
  }}
}}
"""


def test_nginx_in_front_hands_off_private_media_and_keeps_the_share_headers(tmp_path, small_clip):
    env = production_env(
        tmp_path, ALEPH_MEDIA_DELIVERY="x-accel", ALEPH_TRUSTED_PROXY_COUNT="1", ALEPH_MAX_UPLOAD_MB="1",
        ALEPH_PUBLIC_URL="", ALLOWED_HOSTS="127.0.0.1",
    )
    migrate(env)
    media_root = tmp_path / "media"
    media_root.mkdir(exist_ok=True)
    port = servers.free_port()
    with contextlib.ExitStack() as stack:
        web = stack.enter_context(gunicorn(env))
        web_port = int(web.rsplit(":", 1)[1])
        stack.enter_context(servers.nginx(_nginx_config(media_root, web_port, port, "1200k")))
        site = f"http://127.0.0.1:{port}"
        client = stack.enter_context(httpx.Client(base_url=site, timeout=30))

        def post(path: str, data: dict, files=None) -> httpx.Response:
            token = client.cookies.get("csrftoken") or _csrf(client, path if not files else "/projects/new/")
            return client.post(path, data={"csrfmiddlewaretoken": token, **data}, files=files,
                               headers={"Referer": site.replace("http://", "https://") + path})

        _csrf(client, "/accounts/signup/")
        assert post("/accounts/signup/", {"username": "ops", "password1": "a-long-passphrase-4",
                                          "password2": "a-long-passphrase-4"}).status_code == 302
        # An upload through nginx, and one past the body cap refused by nginx itself.
        _csrf(client, "/projects/new/")
        response = post("/projects/new/", {}, files={"file": ("small.mp4", small_clip.read_bytes(), "video/mp4")})
        assert response.status_code == 302, response.text[-500:]
        project_url = response.headers["location"]
        big = post("/projects/new/", {}, files={"file": ("big.mp4", b"\0" * 2_000_000, "video/mp4")})
        assert big.status_code == 413

        # The owner's media: the studio checks, nginx serves the Range from the file.
        page = client.get(project_url).text
        video = re.search(r'src="(/media/clips/\d+/video/)"', page).group(1)
        ranged = client.get(video, headers={"Range": "bytes=10-109"})
        assert ranged.status_code == 206 and ranged.content == small_clip.read_bytes()[10:110]
        assert ranged.headers["content-range"] == f"bytes 10-109/{small_clip.stat().st_size}"
        assert "private" in ranged.headers["cache-control"] and ranged.headers["x-content-type-options"] == "nosniff"
        assert "max-age=31536000" in ranged.headers["strict-transport-security"]
        assert client.get("/protected-media/" + "x.mp4").status_code == 404  # internal only

        # A finished edit (a worker runs it), shared: its media keeps the share headers through X-Accel.
        clip_id = re.search(r'name="input_clip"[^>]*>\s*<option value="(\d+)"', page).group(1)
        project_id = project_url.rstrip("/").rsplit("/", 1)[1]
        post(f"/projects/{project_id}/edits/", {"prompt": "black and white", "input_clip": clip_id, "ratio": "640:480",
                                               "seed": "1", "public_figure_threshold": "auto", "engine": "local"})
        worker = subprocess.run(
            [sys.executable, "manage.py", "studio_worker", "--batch", "--no-startup-delay", "--interval", "0.1"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )
        assert worker.returncode == 0, worker.stdout[-2000:]
        page = client.get(project_url).text
        edit_id = re.search(r'id="edit-(\d+)"', page).group(1)
        shared = post(f"/edits/{edit_id}/share/", {"expiry": "7d"})
        message = client.get(project_url).text
        token = re.search(r"/s/([A-Za-z0-9_-]{20,})/", message).group(1)
        anonymous = stack.enter_context(httpx.Client(base_url=site, timeout=30))
        media = anonymous.get(f"/s/{token}/result/", headers={"Range": "bytes=0-99"})
        assert shared.status_code == 302 and media.status_code == 206 and len(media.content) == 100
        assert media.headers["x-robots-tag"] == "noindex, nofollow"
        assert media.headers["referrer-policy"] == "same-origin"
        assert "no-store" in media.headers["cache-control"]
        # Revoked: the next request for the media is refused at once.
        link_id = re.search(r'action="/share-links/(\d+)/revoke/"', client.get(project_url).text).group(1)
        assert post(f"/share-links/{link_id}/revoke/", {}).status_code == 302
        assert anonymous.get(f"/s/{token}/result/").status_code == 404
