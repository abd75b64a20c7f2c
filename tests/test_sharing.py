"""Share links: hashed tokens, expiry, revocation that stops playback, headers, previews and rate limits."""

import hashlib
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from editor.models import ShareLink
from editor.services import sharing
from tests.conftest import make_finished_edit


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shared(finished_edit):
    link, token = sharing.create_share_link(finished_edit, expiry="7d", show_original=False)
    return link, token


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_create_link_shows_the_url_once_and_stores_only_its_hash(owner_client, finished_edit):
    response = owner_client.post(reverse("share_create", args=[finished_edit.pk]), {"expiry": "1d"}, follow=True)
    link = ShareLink.objects.get()
    text = response.content.decode()
    token = text.split("/s/")[1].split("/")[0]
    assert len(token) >= 43
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in link.token_hash
    assert link.expires_at - timezone.now() == pytest.approx(timedelta(days=1), abs=timedelta(seconds=30))


def test_only_finished_edits_can_be_shared(owner_client, project):
    from editor.models import Edit

    edit = Edit.objects.create(project=project, input_clip=project.clips.get(), prompt="x", ratio="1280:720", seed=1)
    owner_client.post(reverse("share_create", args=[edit.pk]), {"expiry": "1d"})
    assert not ShareLink.objects.exists()


def test_public_page_plays_the_result_with_preview_tags_and_private_headers(shared):
    link, token = shared
    response = Client().get(reverse("share_page", args=[token]))
    assert response.status_code == 200
    body = response.content.decode()
    for tag in ('property="og:title"', 'property="og:image"', 'property="og:video"'):
        assert tag in body
    assert f"/s/{token}/result/" in body
    assert f"/s/{token}/original/" not in body
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    link.refresh_from_db()
    assert link.views == 1


def test_shared_media_honours_range_and_headers(shared):
    link, token = shared
    response = Client().get(reverse("share_media", args=[token, "result"]), HTTP_RANGE="bytes=0-99")
    assert response.status_code == 206
    assert len(_body(response)) == 100
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "no-store" in response["Cache-Control"]


def test_original_is_shared_only_when_chosen(finished_edit):
    _, hidden = sharing.create_share_link(finished_edit, expiry="never", show_original=False)
    _, shown = sharing.create_share_link(finished_edit, expiry="never", show_original=True)
    client = Client()
    assert client.get(reverse("share_media", args=[hidden, "original"])).status_code == 404
    assert client.get(reverse("share_media", args=[shown, "original"])).status_code == 200
    assert "/original/" in client.get(reverse("share_page", args=[shown])).content.decode()


def test_unknown_revoked_and_expired_tokens_get_the_same_404(owner_client, finished_edit):
    _, revoked = sharing.create_share_link(finished_edit, expiry="7d", show_original=False)
    owner_client.post(reverse("share_revoke", args=[ShareLink.objects.get().pk]))
    expired_link, expired = sharing.create_share_link(finished_edit, expiry="1d", show_original=False)
    ShareLink.objects.filter(pk=expired_link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = Client()
    answers = [client.get(reverse("share_page", args=[t])) for t in ("nope-" * 9, revoked, expired)]
    assert [r.status_code for r in answers] == [404, 404, 404]
    assert len({r.content for r in answers}) == 1
    assert all(r["X-Robots-Tag"] == "noindex, nofollow" for r in answers)


def test_revoking_stops_playback_at_once(owner_client, shared):
    link, token = shared
    media_url = reverse("share_media", args=[token, "result"])
    client = Client()
    assert client.get(media_url, HTTP_RANGE="bytes=0-9").status_code == 206
    owner_client.post(reverse("share_revoke", args=[link.pk]))
    assert client.get(media_url, HTTP_RANGE="bytes=10-19").status_code == 404


def test_owner_sees_views_and_revoke_button(owner_client, shared, finished_edit):
    link, token = shared
    Client().get(reverse("share_page", args=[token]))
    Client().get(reverse("share_page", args=[token]))
    body = owner_client.get(reverse("project_detail", args=[finished_edit.project_id])).content.decode()
    assert "2 views" in body
    assert reverse("share_revoke", args=[link.pk]) in body


def test_public_share_page_is_rate_limited(shared):
    _, token = shared
    client = Client()
    codes = [client.get(reverse("share_page", args=[token])).status_code for _ in range(70)]
    assert codes[0] == 200
    assert 429 in codes
    assert codes.index(429) == 60


def test_login_is_rate_limited(db):
    client = Client()
    codes = [
        client.post(reverse("login"), {"username": "x", "password": "wrong"}).status_code for _ in range(25)
    ]
    assert codes[:20] == [200] * 20
    assert codes[20:] == [429] * 5


def test_share_page_shows_compare_player_with_original(finished_edit):
    _, token = sharing.create_share_link(finished_edit, expiry="30d", show_original=True)
    body = Client().get(reverse("share_page", args=[token])).content.decode()
    assert "data-compare" in body


def test_deleting_the_edit_kills_its_links(owner_client, project):
    edit = make_finished_edit(project)
    _, token = sharing.create_share_link(edit, expiry="never", show_original=False)
    owner_client.post(reverse("edit_delete", args=[edit.pk]))
    assert Client().get(reverse("share_page", args=[token])).status_code == 404
