"""The studio as a hostile user meets it: each attack is refused with a clear answer, never a 500,
and leaves nothing behind (no rows, no stored files, no temporary files)."""

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
