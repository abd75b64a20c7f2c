"""Private media: Range requests, headers, and no public media URL."""

import pytest
from django.urls import reverse


@pytest.fixture
def video_url(project):
    return reverse("clip_media", args=[project.clips.get().pk, "video"])


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_full_response_advertises_ranges(owner_client, project, video_url):
    response = owner_client.get(video_url)
    clip = project.clips.get()
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "video/mp4"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "private" in response["Cache-Control"]
    assert len(_body(response)) == clip.size_bytes


def test_range_returns_206_with_content_range(owner_client, project, video_url):
    clip = project.clips.get()
    response = owner_client.get(video_url, HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-199/{clip.size_bytes}"
    assert response["Content-Length"] == "100"
    from django.core.files.storage import default_storage

    with default_storage.open(clip.file) as fh:
        expected = fh.read()[100:200]
    assert _body(response) == expected


def test_open_ended_and_suffix_ranges(owner_client, project, video_url):
    size = project.clips.get().size_bytes
    response = owner_client.get(video_url, HTTP_RANGE=f"bytes={size - 10}-")
    assert response.status_code == 206 and len(_body(response)) == 10
    response = owner_client.get(video_url, HTTP_RANGE="bytes=-20")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {size - 20}-{size - 1}/{size}"


def test_unsatisfiable_range_is_416(owner_client, project, video_url):
    size = project.clips.get().size_bytes
    response = owner_client.get(video_url, HTTP_RANGE=f"bytes={size}-{size + 10}")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"


def test_download_is_an_attachment(owner_client, project):
    response = owner_client.get(reverse("clip_media", args=[project.clips.get().pk, "download"]))
    assert response["Content-Disposition"] == 'attachment; filename="original.mp4"'


def test_media_url_is_not_public(owner_client, project):
    clip = project.clips.get()
    assert owner_client.get("/never-public/" + clip.file).status_code == 404
    assert owner_client.get("/media/" + clip.file).status_code == 404


def test_x_accel_hands_off_to_the_proxy(owner_client, project, video_url, settings):
    settings.ALEPH_MEDIA_DELIVERY = "x-accel"
    response = owner_client.get(video_url)
    assert response["X-Accel-Redirect"] == "/protected-media/" + project.clips.get().file
    assert response.content == b""
