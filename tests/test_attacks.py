"""The studio as a hostile user meets it: each attack is refused with a clear answer, never a 500,
and leaves nothing behind (no rows, no stored files, no temporary files).

The attacks that need more machinery are also reproduced in depth where that machinery lives:
sign-up and spending (test_accounts.py), every Range header (test_serving.py), rate limits behind a
proxy (test_ratelimits.py), poll chains, unreadable tasks and lost queues (test_remote_edits.py,
test_edits.py), dying and stopping workers (test_run_studio.py, test_edits.py), the import deadline
and the capped upload handler (test_upload.py), and IPv6 forms of private addresses (test_netguard.py).
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from editor.models import Clip, Project, Reference
from tests.conftest import stored_files
from tests.media_factory import jpeg_claiming, make_image_clip, png_claiming


def _temp_leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("aleph-*")}


def _upload(client, path: Path, name: str | None = None):
    with open(path, "rb") as fh:
        data = io.BytesIO(fh.read())
    data.name = name or path.name
    return client.post(reverse("project_new"), {"file": data})


def _assert_nothing_kept(private_media, before_temp: set[str]) -> None:
    assert Project.objects.count() == 0 and Clip.objects.count() == 0
    assert stored_files(private_media / "media") == []
    assert _temp_leftovers() <= before_temp


# ---------------------------------------------------------------- hostile media


def test_a_mov_of_huge_png_frames_is_refused_from_its_headers(owner_client, tmp_path, private_media):
    hostile = make_image_clip(tmp_path / "frames.mov", "png", png_claiming(16000, 16000), (16000, 16000))
    assert hostile.stat().st_size < 100_000
    before = _temp_leftovers()
    started = time.monotonic()
    response = _upload(owner_client, hostile)
    assert response.status_code == 400
    assert "png, which is not a video codec we accept" in response.content.decode()
    assert time.monotonic() - started < 10
    _assert_nothing_kept(private_media, before)


def test_a_clip_over_the_pixel_limit_is_refused_before_decoding(owner_client, tmp_path, private_media, settings):
    hostile = make_image_clip(tmp_path / "frames.mov", "mjpeg", jpeg_claiming(16000, 16000), (16000, 16000))
    before = _temp_leftovers()
    response = _upload(owner_client, hostile)
    assert response.status_code == 400
    assert "16000×16000; the limit is 8.3 megapixels" in response.content.decode()
    _assert_nothing_kept(private_media, before)
    # The limit is the operator's: ALEPH_MAX_PIXELS.
    settings.ALEPH_MAX_PIXELS = 640 * 480
    response = _upload(owner_client, Path(__file__).parent / "data" / "bigbuckbunny_720p_5s.mp4")
    assert response.status_code == 400 and "1280×720" in response.content.decode()


def test_a_clip_that_needs_too_much_memory_costs_the_web_process_nothing(owner_client, tmp_path, private_media, settings):
    import resource

    buffer = io.BytesIO()
    Image.new("L", (8000, 8000), 128).save(buffer, "JPEG")
    heavy = make_image_clip(tmp_path / "heavy.mov", "mjpeg", buffer.getvalue(), (8000, 8000), frames=3)
    del buffer
    # Past the header check, the 64-megapixel frames are decoded in the child, which has 256 MB.
    settings.ALEPH_MAX_PIXELS = 10**9
    settings.ALEPH_PROBE_MEMORY_MB = 256
    before_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before = _temp_leftovers()
    response = _upload(owner_client, heavy)
    assert response.status_code == 400
    assert "needed more memory than this server allows" in response.content.decode()
    # The web process's peak memory did not grow by a decoded frame (64 MB, 192 MB as RGB).
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_rss < 32 * 1024
    _assert_nothing_kept(private_media, before)


def test_a_check_past_its_time_limit_is_stopped(tmp_path):
    from editor import media

    # The real clip needs longer than 50 ms to check (the child alone takes longer to start): the
    # child is killed at the limit and the clip refused with a plain message.
    started = time.monotonic()
    bunny = Path(__file__).parent / "data" / "bigbuckbunny_720p_5s.mp4"
    with pytest.raises(media.MediaError, match="took longer than 0.05 s"):
        media.probe_isolated(bunny, tmp_path / "poster.jpg", media.ClipLimits(), seconds=0.05, memory_mb=512)
    assert time.monotonic() - started < 5
    assert not (tmp_path / "poster.jpg").exists()


def test_a_png_renamed_mp4_never_becomes_a_video(owner_client, tmp_path, private_media):
    fake = tmp_path / "holiday.mp4"
    Image.new("RGB", (640, 360), (20, 120, 200)).save(fake, "PNG")
    before = _temp_leftovers()
    response = _upload(owner_client, fake)
    assert response.status_code == 400
    _assert_nothing_kept(private_media, before)


def test_a_reference_image_of_too_many_pixels_is_refused_before_decoding(owner_client, project, tmp_path, private_media):
    before_files = stored_files(private_media / "media")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(12000, 12000))
    with open(bomb, "rb") as fh:
        response = owner_client.post(reverse("reference_add", args=[project.pk]), {"image": fh}, follow=True)
    assert "the limit of 50 megapixels" in response.content.decode()
    assert Reference.objects.count() == 0
    assert stored_files(private_media / "media") == before_files
    # Below Pillow's own guard (twice the limit), the studio's check reads the size from the header.
    bomb.write_bytes(png_claiming(8000, 8000))
    with open(bomb, "rb") as fh:
        response = owner_client.post(reverse("reference_add", args=[project.pk]), {"image": fh}, follow=True)
    assert "8000×8000; the limit is 50 megapixels" in response.content.decode()
    assert Reference.objects.count() == 0


def test_a_reference_with_html_appended_is_stored_as_pixels_only(owner_client, project, tmp_path):
    from django.core.files.storage import default_storage

    image = tmp_path / "cat.png"
    Image.new("RGB", (64, 48), (200, 100, 50)).save(image, "PNG", pnginfo=_text_chunk("Comment", "secret location"))
    payload = b"<html><script>alert(document.cookie)</script></html>"
    image.write_bytes(image.read_bytes() + payload)
    with open(image, "rb") as fh:
        owner_client.post(reverse("reference_add", args=[project.pk]), {"image": fh})
    reference = Reference.objects.get()
    with default_storage.open(reference.file) as fh:
        stored = fh.read()
    assert payload not in stored and b"secret location" not in stored
    with Image.open(io.BytesIO(stored)) as kept:
        assert kept.size == (64, 48) and kept.getpixel((10, 10)) == (200, 100, 50)
    served = owner_client.get(reverse("reference_media", args=[reference.pk]))
    assert served["Content-Type"] == "image/png" and served["X-Content-Type-Options"] == "nosniff"


def _text_chunk(key: str, value: str):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return info


# ---------------------------------------------------------------- headers


def test_a_range_of_thousands_of_digits_on_share_media_is_no_500(client, finished_edit):
    from editor.services import sharing

    _, token = sharing.create_share_link(finished_edit, expiry="7d", show_original=False)
    response = client.get(reverse("share_media", args=[token, "result"]), HTTP_RANGE="bytes=" + "9" * 4400 + "-")
    assert response.status_code == 416


# ---------------------------------------------------------------- nothing left behind, nothing leaked


def test_deleting_a_user_deletes_their_files_and_only_theirs(
    owner, outsider, small_clip, cat_png, private_media, django_capture_on_commit_callbacks
):
    from editor.services.projects import add_reference, create_project_from_upload
    from tests.conftest import make_finished_edit, upload_of

    mine = create_project_from_upload(owner, upload_of(small_clip), "Mine")
    add_reference(mine, upload_of(cat_png, content_type="image/png"))
    make_finished_edit(mine)
    theirs = create_project_from_upload(outsider, upload_of(small_clip), "Theirs")
    kept = {theirs.original.file, theirs.original.poster}
    assert len(stored_files(private_media / "media")) == 7  # 2 + 1 + 2 of mine, 2 of theirs
    with django_capture_on_commit_callbacks(execute=True):
        owner.delete()
    remaining = {p.relative_to(private_media / "media").as_posix() for p in stored_files(private_media / "media")}
    assert remaining == kept


def test_the_reaper_removes_what_a_killed_remote_run_left_in_temp(project, settings, django_capture_on_commit_callbacks):
    import os
    from datetime import timedelta

    from django.utils import timezone

    from editor.models import Edit, Status
    from editor.services import edits as edit_service

    edit = Edit.objects.create(
        project=project, input_clip=project.original, prompt="x", ratio="1280:720", seed=1, engine="runway",
        model="gen4_aleph", status=Status.PREPARING, run_token="deadbeef", attempts=1,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    left = Path(tempfile.mkdtemp(prefix=f"aleph-remote-{edit.pk}-deadbeef-"))
    (left / "engine_input.mp4").write_bytes(b"\0" * 1000)
    old = Path(tempfile.mkdtemp(prefix="aleph-upload-"))
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    fresh = Path(tempfile.mkdtemp(prefix="aleph-upload-"))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            edit_service.reap_stale_edits()
        assert not left.exists() and not old.exists()
        assert fresh.exists()
    finally:
        for folder in (left, old, fresh):
            if folder.exists():
                folder.rmdir() if not any(folder.iterdir()) else None


def test_a_providers_failure_note_is_scrubbed_before_it_is_stored(project, settings):
    from django.test import TestCase

    from editor.models import Edit, Status
    from editor.services import edits as edit_service
    from tests.fakes import FakeProvider, TaskPlan
    from tests.fakes.studio import RUNWAY_TEST_KEY, TaskQueue, use_fake

    with FakeProvider("runway", api_key=RUNWAY_TEST_KEY) as fake:
        use_fake(settings, fake)
        other_key = "key_" + "9f" * 64
        fake.next_plans.append(
            TaskPlan(steps=(), outcome="FAILED", failure_code="ASSET.INVALID", failure=f"decode failed for {RUNWAY_TEST_KEY} and {other_key}")
        )
        with TestCase.captureOnCommitCallbacks(execute=True):
            edit = edit_service.create_edit(
                project, project.original,
                edit_service.EditSettings(prompt="snow", ratio="640:480", seed=1, engine="runway", model="gen4_aleph"),
            )
        queue = TaskQueue()
        queue.run("run_edit_task")
        queue.run("poll_remote_task")
    edit = Edit.objects.get(pk=edit.pk)
    assert edit.status == Status.FAILED and "decode failed for" in edit.error_message
    assert RUNWAY_TEST_KEY not in edit.error_message and other_key not in edit.error_message


def test_the_debug_error_page_shows_no_key_and_no_connection_url(owner, project, settings):
    from django.test import Client

    settings.DEBUG = True
    key = "key_" + "ab" * 64
    settings.RUNWAYML_API_SECRET = key
    settings.ALEPH_OUTPUT_HOSTS = ["cdn.example"]
    # A base URL broken after start-up (the settings refuse it at start): building the client fails.
    settings.RUNWAYML_BASE_URL = "ftp://api.example"
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    response = client.get(
        reverse("edit_estimate", args=[project.pk]),
        {"engine": "runway", "model": "gen4_aleph", "input_clip": project.original.pk},
        DATABASE_URL="postgres://studio:hunter2-hunter2@db.internal/aleph",
    )
    assert response.status_code == 500
    body = response.content.decode()
    assert "Traceback" in body or "Exception" in body
    assert key not in body and key[:24] not in body
    assert "hunter2" not in body


def test_the_generated_secret_key_is_private(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["ALEPH_DATA_DIR"] = str(tmp_path)
    subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=env, check=True, capture_output=True)
    key_file = tmp_path / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(key_file.read_text().strip()) > 40
    assert list(tmp_path.glob(".secret_key.*")) == []


def test_redirects_after_actions_stay_on_this_site(owner_client, project):
    for target in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        response = owner_client.post(reverse("project_star", args=[project.pk]), {"next": target})
        assert response["Location"] == reverse("home")
    response = owner_client.post(reverse("login") + "?next=https://evil.example/", {})
    assert "evil.example" not in response.get("Location", "")


# ---------------------------------------------------------------- CSRF


def _route_urls(project, edit, link_pk: int) -> list[tuple[str, str]]:
    """Every route of the studio with real arguments: (name, url)."""
    from django.urls import URLPattern, get_resolver

    samples = {"pk": None, "kind": "video", "token": "x" * 43, "n": 2, "a": 1, "b": 2}
    ids = {"project": project.pk, "edit": edit.pk, "share-links": link_pk, "media": edit.result.pk}
    found = []
    for pattern in get_resolver().url_patterns:
        if getattr(pattern, "namespace", None):
            continue  # Django's admin, which has its own tests
        entries = pattern.url_patterns if hasattr(pattern, "url_patterns") else [pattern]
        for entry in entries:
            if not isinstance(entry, URLPattern) or not entry.name:
                continue
            route = str(entry.pattern)
            kwargs = {}
            for name in entry.pattern.regex.groupindex:
                if name == "pk":
                    area = route.split("/")[0]
                    kwargs[name] = ids.get(area.rstrip("s"), ids.get(area, project.pk))
                else:
                    kwargs[name] = samples[name]
            found.append((entry.name, reverse(entry.name, kwargs=kwargs)))
    return found


def test_every_post_route_refuses_a_request_without_a_csrf_token(owner, project, finished_edit):
    from django.test import Client

    from editor.models import ShareLink

    link = ShareLink.objects.create(edit=finished_edit, token_hash="y" * 64)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    post_only = []
    for name, url in _route_urls(project, finished_edit, link.pk):
        if client.get(url).status_code == 405:
            post_only.append(name)
            assert client.post(url, {}).status_code == 403, (name, url)
    # Every action that changes something is a POST-only route.
    assert {"edit_create", "edit_delete", "project_delete", "share_create", "share_revoke", "edit_cancel", "logout"} <= set(post_only)
    assert len(post_only) >= 15, post_only


# ---------------------------------------------------------------- the short versions of the rest


def test_a_stranger_cannot_sign_up_and_spend_the_operators_key(db, client, settings):
    from django.contrib.auth import get_user_model

    settings.RUNWAYML_API_SECRET = "key_" + "ab" * 64
    settings.ALEPH_OUTPUT_HOSTS = ["cdn.example"]
    get_user_model().objects.create_superuser("root", password="a-long-passphrase-1")
    # Off make run, sign-up is by invitation; with it open, a new account gets no allowance.
    data = {"username": "stranger", "password1": "a-long-passphrase-2", "password2": "a-long-passphrase-2"}
    assert client.post(reverse("signup"), data).status_code == 403
    settings.ALEPH_SIGNUP = "open"
    assert client.post(reverse("signup"), data).status_code == 302
    project = Project.objects.create(owner=get_user_model().objects.get(username="stranger"), title="x")
    from editor.services import credits

    assert credits.allowance(project.owner).left == 0


def test_ipv6_forms_of_private_addresses_are_refused_at_once(owner_client):
    for url in ("https://[64:ff9b::7f00:1]/clip.mp4", "https://[::ffff:10.0.0.1]/clip.mp4", "https://[2002:c0a8:101::1]/x.mp4"):
        response = owner_client.post(reverse("project_import"), {"url": url})
        assert response.status_code == 400 and "private or local" in response.content.decode()
