"""Private media: Range requests, headers, and no public media URL."""

import re

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor.serving import parse_range


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


def test_an_invalid_range_is_ignored_and_the_whole_file_served(owner_client, project, video_url):
    size = project.clips.get().size_bytes
    # RFC 9110: a range whose last byte comes before its first cannot be read, so it is ignored.
    response = owner_client.get(video_url, HTTP_RANGE="bytes=5-2")
    assert response.status_code == 200 and len(_body(response)) == size


def test_a_range_with_a_huge_number_never_fails(owner_client, project, video_url):
    size = project.clips.get().size_bytes
    huge = "9" * 4400
    assert owner_client.get(video_url, HTTP_RANGE=f"bytes={huge}-").status_code == 416
    response = owner_client.get(video_url, HTTP_RANGE=f"bytes=0-{huge}")
    assert response.status_code == 206 and response["Content-Range"] == f"bytes 0-{size - 1}/{size}"
    response = owner_client.get(video_url, HTTP_RANGE=f"bytes=-{huge}")
    assert response.status_code == 206 and len(_body(response)) == size


def test_head_answers_like_get_without_a_body(owner_client, project, video_url):
    size = project.clips.get().size_bytes
    response = owner_client.head(video_url)
    assert response.status_code == 200 and response["Content-Length"] == str(size) and response.content == b""
    response = owner_client.head(video_url, HTTP_RANGE="bytes=10-19")
    assert response.status_code == 206 and response["Content-Length"] == "10" and response.content == b""
    assert response["Content-Range"] == f"bytes 10-19/{size}"


def test_media_is_sandboxed_when_opened_on_its_own(owner_client, video_url):
    assert "sandbox" in owner_client.get(video_url)["Content-Security-Policy"]


_RANGES = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda a, b: f"bytes={a}-{b}",
        st.one_of(st.just(""), st.integers(0, 10**6).map(str), st.text("0123456789", min_size=15, max_size=60)),
        st.one_of(st.just(""), st.integers(0, 10**6).map(str), st.text("0123456789", min_size=15, max_size=60)),
    ),
    st.builds(lambda a, b: f"bytes={a}-{b}", st.integers(-5, 10**6), st.integers(-5, 10**6)),
    st.just("bytes=0-1,5-6"),
)


@pytest.fixture
def media_urls(project, finished_edit):
    from editor.services import sharing

    _, token = sharing.create_share_link(finished_edit, expiry="7d", show_original=True)
    original = project.original
    return {
        "owner": (reverse("clip_media", args=[original.pk, "video"]), original),
        "share": (reverse("share_media", args=[token, "original"]), original),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=_RANGES, which=st.sampled_from(["owner", "share"]), method=st.sampled_from(["get", "head"]))
def test_any_range_header_gets_a_correct_answer(owner_client, client, media_urls, header, which, method):
    from django.core.files.storage import default_storage

    url, clip = media_urls[which]
    asker = owner_client if which == "owner" else client
    with default_storage.open(clip.file) as fh:
        data = fh.read()
    size = len(data)
    response = getattr(asker, method)(url, HTTP_RANGE=header)
    body = _body(response)
    assert response.status_code in (200, 206, 416), (header, response.status_code)
    if method == "head":
        assert body == b""
    if response.status_code == 200:
        assert response["Content-Length"] == str(size) and (method == "head" or body == data)
    elif response.status_code == 206:
        first, last, total = map(int, re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", response["Content-Range"]).groups())
        assert total == size and 0 <= first <= last < size
        assert response["Content-Length"] == str(last - first + 1)
        assert method == "head" or body == data[first : last + 1]
    else:
        assert response["Content-Range"] == f"bytes */{size}"
    expected = parse_range(header, size) if header else None
    assert response.status_code == {None: 200, False: 416}.get(expected if expected in (None, False) else "", 206)
