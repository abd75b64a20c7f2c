"""New projects: uploads and link imports are checked, probed and stored, or refused leaving nothing behind."""

import io
from pathlib import Path

import pytest
from django.urls import reverse

from editor.models import Clip, Import, Project
from tests.conftest import stored_files, upload_of


def _post_upload(client, path: Path, name: str | None = None, **extra):
    with open(path, "rb") as fh:
        data = {"file": fh, "title": ""}
        if name:
            from django.core.files.uploadedfile import SimpleUploadedFile

            data["file"] = SimpleUploadedFile(name, path.read_bytes(), content_type="video/mp4")
        return client.post(reverse("project_new"), data, **extra)


def _assert_nothing_kept(private_media):
    assert Project.objects.count() == 0
    assert Clip.objects.count() == 0
    assert stored_files(private_media / "media") == []


def test_upload_creates_project_with_probed_clip_and_poster(owner_client, small_clip, private_media):
    response = _post_upload(owner_client, small_clip)
    project = Project.objects.get()
    assert response.status_code == 302
    assert response["Location"] == project.get_absolute_url()
    clip = project.clips.get()
    assert (clip.width, clip.height) == (320, 240)
    assert clip.duration == pytest.approx(1.0, abs=0.05)
    assert clip.fps == pytest.approx(25)
    assert clip.has_audio
    assert clip.original_name == "small.mp4"
    # Stored names are generated: the user's file name is not part of them.
    assert "small" not in clip.file and clip.file.endswith(".mp4")
    files = stored_files(private_media / "media")
    assert len(files) == 2
    poster = next(f for f in files if f.suffix == ".jpg")
    assert poster.read_bytes()[:2] == b"\xff\xd8"


def test_upload_of_real_clip_with_index_at_end(owner_client, bunny):
    _post_upload(owner_client, bunny)
    clip = Clip.objects.get()
    assert (clip.width, clip.height) == (1280, 720)
    assert clip.frame_count == 132
    assert clip.duration == pytest.approx(5.28, abs=0.05)
    assert clip.audio_codec == "aac"


def test_htmx_upload_redirects_the_client(owner_client, small_clip):
    response = _post_upload(owner_client, small_clip, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == Project.objects.get().get_absolute_url()


@pytest.mark.parametrize("container", ["mov", "webm", "mkv", "avi"])
def test_upload_accepts_other_containers(owner_client, tmp_path, container):
    from tests.media_factory import make_clip

    codec = {"webm": "libvpx", "avi": "mpeg4"}.get(container, "libx264")
    path = make_clip(tmp_path / f"clip.{container}", seconds=0.5, size=(160, 120), codec=codec, audio=False, container=container)
    response = _post_upload(owner_client, path)
    assert response.status_code == 302, response.content.decode()[:500]
    assert Clip.objects.get().width == 160


def test_text_renamed_mp4_is_refused_and_nothing_kept(owner_client, tmp_path, private_media):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 100)
    response = _post_upload(owner_client, fake)
    assert response.status_code == 400
    assert "not a video" in response.content.decode().lower() or "could not" in response.content.decode().lower()
    _assert_nothing_kept(private_media)


def test_truncated_mp4_is_refused(owner_client, bunny, tmp_path, private_media):
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(bunny.read_bytes()[: 300_000])
    response = _post_upload(owner_client, truncated)
    assert response.status_code == 400
    _assert_nothing_kept(private_media)


def test_empty_file_is_refused(owner_client, tmp_path, private_media):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    response = _post_upload(owner_client, empty)
    assert response.status_code == 400
    assert "empty" in response.content.decode().lower()
    _assert_nothing_kept(private_media)


def test_oversize_file_is_refused(owner_client, small_clip, settings, private_media):
    settings.ALEPH_MAX_UPLOAD_MB = 1
    big = small_clip.parent / "big.mp4"
    big.write_bytes(small_clip.read_bytes() + b"\0" * (1024 * 1024 + 10))
    response = _post_upload(owner_client, big)
    assert response.status_code == 400
    assert "1 MB limit" in response.content.decode()
    _assert_nothing_kept(private_media)


def test_too_long_clip_is_refused(owner_client, bunny, settings, private_media):
    settings.ALEPH_MAX_CLIP_SECONDS = 3
    response = _post_upload(owner_client, bunny)
    assert response.status_code == 400
    assert "3 s" in response.content.decode()
    _assert_nothing_kept(private_media)


def test_wrong_extension_is_refused(owner_client, small_clip, private_media):
    response = _post_upload(owner_client, small_clip, name="clip.exe")
    assert response.status_code == 400
    _assert_nothing_kept(private_media)


def test_upload_leaves_no_temp_files(owner_client, tmp_path, settings, private_media):
    temp = tmp_path / "uploads-temp"
    temp.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(temp)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00" * 5000)
    _post_upload(owner_client, fake)
    assert list(temp.iterdir()) == []
    import tempfile

    assert not list(Path(tempfile.gettempdir()).glob("aleph-upload-*"))


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/clip.mp4",
        "https://localhost/clip.mp4",
        "https://[::1]/clip.mp4",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/clip.mp4",
        "https://192.168.1.2/clip.mp4",
    ],
)
def test_import_refuses_local_and_private_addresses(owner_client, url, private_media):
    response = owner_client.post(reverse("project_import"), {"url": url})
    assert response.status_code == 400
    assert "private or local" in response.content.decode()
    _assert_nothing_kept(private_media)


def test_import_refuses_plain_http(owner_client, private_media):
    response = owner_client.post(reverse("project_import"), {"url": "http://example.com/clip.mp4"})
    assert response.status_code == 400
    assert "https" in response.content.decode()
    _assert_nothing_kept(private_media)


def _fake_link(monkeypatch, handler) -> None:
    """Route imports to a fake at the HTTP seam; the address check is tested above and in test_netguard."""
    import httpx

    from editor import netguard

    real_download = netguard.download
    monkeypatch.setattr(
        netguard, "download", lambda *a, **k: real_download(*a, **{**k, "transport": httpx.MockTransport(handler)})
    )


def _import(owner_client, url: str, django_capture_on_commit_callbacks):
    from tests.fakes.studio import TaskQueue

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("project_import"), {"url": url})
    # The download runs in a worker: the request only records the import and shows its page.
    assert response.status_code == 302
    entry = Import.objects.get()
    assert response["Location"] == entry.get_absolute_url()
    TaskQueue().run("import_clip_task")
    entry.refresh_from_db()
    return entry


def test_import_downloads_a_public_url(owner_client, small_clip, monkeypatch, private_media, django_capture_on_commit_callbacks):
    import httpx

    body = small_clip.read_bytes()

    def handler(request):
        if request.url.path == "/go":
            return httpx.Response(302, headers={"location": "https://cdn.example.com/real.mp4"})
        return httpx.Response(200, content=body, headers={"content-type": "video/mp4", "content-length": str(len(body))})

    _fake_link(monkeypatch, handler)
    entry = _import(owner_client, "https://example.com/go", django_capture_on_commit_callbacks)
    assert entry.is_succeeded and entry.received_bytes == len(body) == entry.total_bytes
    clip = Clip.objects.get()
    assert clip.original_name == "go"
    assert clip.width == 320
    assert entry.project == clip.project
    # The page's poll sends the browser on to the new project.
    response = owner_client.get(entry.get_absolute_url(), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == clip.project.get_absolute_url()


def test_an_import_that_fails_says_why_on_its_page_and_keeps_nothing(owner_client, monkeypatch, private_media, django_capture_on_commit_callbacks):
    import httpx

    _fake_link(monkeypatch, lambda request: httpx.Response(200, content=b"not a video at all", headers={"content-type": "video/mp4"}))
    entry = _import(owner_client, "https://example.com/clip.mp4", django_capture_on_commit_callbacks)
    assert entry.is_failed and "not a video" in entry.error_message
    body = owner_client.get(entry.get_absolute_url()).content.decode()
    assert "not a video" in body and 'hx-trigger="every' not in body
    _assert_nothing_kept(private_media)


def test_an_import_has_one_deadline_for_the_whole_download(owner_client, monkeypatch, settings, private_media, django_capture_on_commit_callbacks):
    """A server that sends a byte a second never lets a per-read timeout fire; the deadline does."""
    import time

    import httpx

    settings.ALEPH_IMPORT_TIMEOUT_SECONDS = 2

    class Trickle(httpx.SyncByteStream):
        def __iter__(self):
            for _ in range(30):
                time.sleep(0.25)
                yield b"\0"

    _fake_link(monkeypatch, lambda request: httpx.Response(200, stream=Trickle()))
    started = time.monotonic()
    entry = _import(owner_client, "https://example.com/slow.mp4", django_capture_on_commit_callbacks)
    assert time.monotonic() - started < 5
    assert entry.is_failed and "took too long" in entry.error_message
    _assert_nothing_kept(private_media)


def test_an_import_is_its_owners_alone(owner_client, outsider_client, monkeypatch, django_capture_on_commit_callbacks):
    import httpx

    _fake_link(monkeypatch, lambda request: httpx.Response(404))
    entry = _import(owner_client, "https://example.com/gone.mp4", django_capture_on_commit_callbacks)
    assert outsider_client.get(entry.get_absolute_url()).status_code == 404
    assert "answered 404" in owner_client.get(entry.get_absolute_url()).content.decode()


def test_reference_image_is_checked_by_pillow(owner_client, project, tmp_path, cat_png):
    url = reverse("reference_add", args=[project.pk])
    owner_client.post(url, {"image": upload_of(cat_png, content_type="image/png")})
    reference = project.references.get()
    assert (reference.width, reference.height, reference.format) == (451, 300, "png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    response = owner_client.post(url, {"image": upload_of(bad, content_type="image/png")}, follow=True)
    assert project.references.count() == 1
    assert "error" in response.content.decode()


def test_paused_frame_becomes_a_reference(owner_client, project):
    clip = project.clips.get()
    owner_client.post(reverse("reference_from_frame", args=[project.pk]), {"clip": clip.pk, "at": "0.5"})
    reference = project.references.get()
    assert (reference.width, reference.height) == (320, 240)
    assert reference.original_name.startswith("Frame at 0.50")


def test_an_upload_past_the_cap_is_not_received_in_full(db, settings, private_media, tmp_path):
    """A 40 MB body against a 1 MB limit: the handler stops reading well before its end."""
    from django.test import Client

    settings.ALEPH_MAX_UPLOAD_MB = 1
    body = io.BytesIO(b"\x00" * (40 * 1024 * 1024))
    body.name = "big.mp4"
    read = {"bytes": 0}
    from django.core.handlers import wsgi

    original = wsgi.LimitedStream.read

    def counting_read(self, size=-1):
        data = original(self, size)
        read["bytes"] += len(data)
        return data

    client = Client()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("big", password="a-long-passphrase-3"))
    import unittest.mock

    with unittest.mock.patch.object(wsgi.LimitedStream, "read", counting_read):
        response = client.post(reverse("project_new"), {"file": body})
    assert response.status_code == 400
    assert "larger than the 1 MB limit" in response.content.decode()
    assert read["bytes"] < 3 * 1024 * 1024, read
    assert Project.objects.count() == 0
    assert stored_files(private_media / "media") == []


def test_a_reference_past_its_cap_is_refused_with_the_limit(owner_client, project, settings, tmp_path):
    settings.ALEPH_MAX_REFERENCE_MB = 1
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"\x00" * (3 * 1024 * 1024))
    with open(big, "rb") as fh:
        response = owner_client.post(reverse("reference_add", args=[project.pk]), {"image": fh}, follow=True)
    assert "larger than the 1 MB limit" in response.content.decode()
    assert project.references.count() == 0
