"""Share links that carry more than one version (review playlists), watermarked copies that only
their link serves, and guests who hear of replies by email."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from editor.models import Comment, Edit, Review, SharedVersion, ShareLink
from editor.services import edits as edit_service
from editor.services import sharing
from editor.storage import local_copy
from tests.conftest import make_finished_edit
from tests.fakes.studio import TaskQueue
from tests.media_factory import frame_at


def _link(edit, **options):
    return sharing.create_share_link(edit, expiry="7d", show_original=False, **options)


def _bytes(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _sha(name: str) -> str:
    with default_storage.open(name, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def versions(project):
    return [make_finished_edit(project, prompt=p, seed=n) for n, p in enumerate(["warm look", "cool look", "noir look"], 1)]


# ---------------------------------------------------------------- watermarks


def test_a_watermarked_link_serves_only_its_burned_copy(project, versions, django_capture_on_commit_callbacks, tmp_path):
    edit = versions[0]
    clean = _sha(edit.result.file)
    with django_capture_on_commit_callbacks(execute=True):
        link, token = _link(edit, watermark_text="DRAFT · Acme", watermark_position="top-left", watermark_opacity=90)
    _, plain = _link(edit)
    guest = Client()
    # Until its copy is made, the link serves nothing of the version, and says why.
    page = guest.get(reverse("share_page", args=[token])).content.decode()
    assert "being prepared" in page and 'http-equiv="refresh"' in page
    for kind in ("result", "poster", "download"):
        assert guest.get(reverse("share_media", args=[token, kind])).status_code == 404
    TaskQueue().run("watermark_copy_task")
    row = SharedVersion.objects.get(link=link)
    assert row.copy_state == SharedVersion.Copy.READY and row.copy_file and row.copy_poster
    served = guest.get(reverse("share_media", args=[token, "result"]))
    assert served.status_code == 200
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(_bytes(served))
    # The copy has the mark in its top-left corner; the result itself is untouched.
    assert _sha(edit.result.file) == clean
    with local_copy(edit.result.file) as original:
        before, after = frame_at(original, 5).astype(int), frame_at(copy, 5).astype(int)
    height, width = before.shape[:2]
    corner = np.abs(before - after)[: height // 4, : width // 2].mean()
    elsewhere = np.abs(before - after)[height // 2 :, :].mean()
    assert corner > 8 and elsewhere < 2.5
    # Its download is the copy, named as one; a plain link of the same version still gives the result.
    download = guest.get(reverse("share_media", args=[token, "download"]))
    assert download.status_code == 200 and "watermarked" in download["Content-Disposition"]
    assert hashlib.sha256(_bytes(download)).hexdigest() == _sha(row.copy_file)
    assert hashlib.sha256(_bytes(Client().get(reverse("share_media", args=[plain, "result"])))).hexdigest() == clean


def test_changing_the_watermark_makes_new_copies_and_deletes_the_old(project, versions, owner_client, django_capture_on_commit_callbacks):
    queue = TaskQueue()
    with django_capture_on_commit_callbacks(execute=True):
        link, token = _link(versions[0], also=versions[1:2], watermark_text="DRAFT")
    queue.run_all()
    old = [name for row in SharedVersion.objects.filter(link=link) for name in (row.copy_file, row.copy_poster)]
    assert len(old) == 4 and all(default_storage.exists(n) for n in old)
    settings_url = reverse("share_settings", args=[link.pk])
    same = {"allow_download": "on", "watermark_text": "DRAFT", "watermark_position": "bottom-right", "watermark_opacity": "50"}
    # Saving the same watermark keeps the copies that are made.
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(settings_url, same)
    assert queue.pending() == [] and all(default_storage.exists(n) for n in old)
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(settings_url, {**same, "watermark_text": "FINAL CUT", "watermark_position": "centre"})
    assert all(not default_storage.exists(n) for n in old)
    assert Client().get(reverse("share_media", args=[token, "result"])).status_code == 404
    assert queue.names() == ["watermark_copy_task", "watermark_copy_task"]
    queue.run_all()
    assert set(SharedVersion.objects.filter(link=link).values_list("copy_state", flat=True)) == {SharedVersion.Copy.READY}
    # Removing the watermark serves the result again and leaves no copy behind.
    kept = [name for row in SharedVersion.objects.filter(link=link) for name in (row.copy_file, row.copy_poster)]
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(settings_url, {**same, "watermark_text": ""})
    assert all(not default_storage.exists(n) for n in kept)
    served = Client().get(reverse("share_media", args=[token, "result"]))
    assert hashlib.sha256(_bytes(served)).hexdigest() == _sha(versions[0].result.file)


def test_a_copy_made_for_an_outdated_watermark_is_thrown_away(project, versions, monkeypatch, django_capture_on_commit_callbacks):
    from editor.engines import watermark

    with django_capture_on_commit_callbacks(execute=True):
        link, _ = _link(versions[0], watermark_text="FIRST")
    real_burn = watermark.burn

    def burn_while_the_owner_changes_it(*args, **kwargs):
        real_burn(*args, **kwargs)
        ShareLink.objects.filter(pk=link.pk).update(watermark_text="SECOND")

    monkeypatch.setattr(watermark, "burn", burn_while_the_owner_changes_it)
    files_before = set(_stored_files())
    row = sharing.make_watermarked_copy(SharedVersion.objects.get(link=link).pk)
    assert row.copy_state == SharedVersion.Copy.PENDING and not row.copy_file
    assert set(_stored_files()) == files_before


def _stored_files() -> list[str]:
    root = default_storage.location
    import os

    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"watermark_text": "x" * 61}, "at most 60"),
        ({"watermark_text": "DRAFT", "watermark_opacity": 0}, "between 5"),
        ({"watermark_text": "DRAFT", "watermark_position": "middle"}, "watermark sits"),
    ],
)
def test_a_bad_watermark_is_refused_and_no_link_is_made(versions, fields, message):
    with pytest.raises(Exception) as caught:
        _link(versions[0], **fields)
    assert message in str(caught.value)
    assert not ShareLink.objects.exists() and not SharedVersion.objects.exists()


# ---------------------------------------------------------------- playlists


def test_a_review_playlist_is_made_from_the_project_page_in_the_ticked_order(owner_client, project, versions):
    page = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "Share versions for review" in page and page.count('name="versions"') == 3
    response = owner_client.post(
        reverse("share_playlist", args=[project.pk]),
        {"versions": [versions[2].pk, versions[0].pk], "expiry": "7d", "allow_comments": "on", "allow_approval": "on"},
    )
    assert response.status_code == 302
    link = ShareLink.objects.get()
    assert link.edit == versions[2]
    assert list(link.versions.values_list("position", "edit")) == [(1, versions[2].pk), (2, versions[0].pk)]
    # A version of another project, or an unfinished one, is refused and makes nothing.
    other = make_finished_edit(_other_project(project), prompt="elsewhere")
    queued = Edit.objects.create(project=project, input_clip=versions[0].input_clip, prompt="later", ratio="1280:720", seed=1)
    for bad in (other.pk, queued.pk):
        owner_client.post(reverse("share_playlist", args=[project.pk]), {"versions": [versions[1].pk, bad], "expiry": "7d"})
    assert ShareLink.objects.count() == 1


def _other_project(project):
    from editor.services.projects import create_project_from_upload
    from tests.conftest import upload_of
    from editor.storage import local_copy as copy_of

    with copy_of(project.original.file) as path:
        return create_project_from_upload(project.owner, upload_of(path), "Other")


def test_a_guest_steps_through_the_playlist_comments_reviews_and_compares(owner, project, versions):
    link, token = _link(versions[0], also=versions[1:], allow_comments=True, allow_approval=True)
    guest = Client()
    first = guest.get(reverse("share_page", args=[token])).content.decode()
    assert "Version 1 of 3" in first and "warm look" in first
    assert reverse("share_version", args=[token, 2]) in first and "data-key-next" in first and "data-key-previous" not in first
    second = guest.get(reverse("share_version", args=[token, 2])).content.decode()
    assert "Version 2 of 3" in second and "<q>cool look</q>" in second
    assert reverse("share_version_media", args=[token, 2, "result"]) in second
    # Each version plays its own result.
    media = guest.get(reverse("share_version_media", args=[token, 3, "result"]))
    assert hashlib.sha256(_bytes(media)).hexdigest() == _sha(versions[2].result.file)
    # A comment and a review on version 2 belong to version 2 (and to this link).
    guest.post(reverse("share_comment", args=[token]), {"version": "2", "name": "Ivy", "body": "Cooler still", "seconds": "0.2"})
    guest.post(reverse("share_review", args=[token]), {"version": "2", "name": "Ivy", "state": "changes_requested"})
    comment = Comment.objects.get()
    assert (comment.edit_id, comment.link_id) == (versions[1].pk, link.pk)
    versions[1].refresh_from_db()
    versions[0].refresh_from_db()
    assert versions[1].review == Review.CHANGES_REQUESTED and not versions[0].review
    assert "Cooler still" in guest.get(reverse("share_version", args=[token, 2])).content.decode()
    assert "Cooler still" not in guest.get(reverse("share_version", args=[token, 1])).content.decode()
    # Each version's state shows in the playlist.
    assert "Changes requested" in guest.get(reverse("share_version", args=[token, 3])).content.decode()
    # Any two in the A/B compare.
    jump = guest.get(reverse("share_page", args=[token]), {"a": "1", "b": "3"})
    assert jump.status_code == 302 and jump["Location"] == reverse("share_compare", args=[token, 1, 3])
    compare = guest.get(jump["Location"]).content.decode()
    assert reverse("share_media", args=[token, "result"]) in compare
    assert reverse("share_version_media", args=[token, 3, "result"]) in compare
    assert "Version 1" in compare and "Version 3" in compare and 'data-role="wipe"' in compare


def test_deleting_a_version_keeps_the_rest_of_the_playlist(owner_client, project, versions):
    link, token = _link(versions[0], also=versions[1:])
    edit_service.delete_edit(versions[0])
    link.refresh_from_db()
    assert link.edit_id == versions[1].pk
    assert list(link.versions.values_list("position", "edit")) == [(1, versions[1].pk), (2, versions[2].pk)]
    assert "cool look" in Client().get(reverse("share_page", args=[token])).content.decode()
    # A link whose only version goes is gone with it.
    single, single_token = _link(versions[2])
    edit_service.delete_edit(versions[2])
    assert not ShareLink.objects.filter(pk=single.pk).exists()
    assert Client().get(reverse("share_page", args=[single_token])).status_code == 404


def test_the_playlist_isolation_sweep(project, versions):
    """A guest of a link reaches only its versions; other links, revoked links and other projects: 404."""
    outsider_version = make_finished_edit(project, prompt="not shared")
    link, token = _link(versions[0], also=versions[1:2], allow_comments=True, allow_approval=True)
    other, other_token = _link(versions[2], allow_comments=True)
    revoked, revoked_token = _link(versions[0], also=versions[1:2], allow_comments=True, allow_approval=True)
    sharing.revoke_share_link(revoked)
    guest = Client()
    urls = [
        reverse("share_version", args=[token, 3]),
        reverse("share_version", args=[token, 0]),
        reverse("share_version_media", args=[token, 3, "result"]),
        reverse("share_compare", args=[token, 1, 3]),
        reverse("share_version", args=[revoked_token, 2]),
        reverse("share_version_media", args=[revoked_token, 2, "result"]),
        reverse("share_compare", args=[revoked_token, 1, 2]),
        reverse("share_version", args=[other_token, 2]),
    ]
    for url in urls:
        assert guest.get(url).status_code == 404, url
    # Posting to a version the link does not carry changes nothing.
    for version in ("3", "0", "x", "99999"):
        assert guest.post(reverse("share_comment", args=[token]), {"version": version, "name": "M", "body": "b", "seconds": "0"}).status_code == 404
        assert guest.post(reverse("share_review", args=[token]), {"version": version, "name": "M", "state": "approved"}).status_code == 404
    assert guest.post(reverse("share_comment", args=[revoked_token]), {"version": "2", "name": "M", "body": "b", "seconds": "0"}).status_code == 404
    assert not Comment.objects.exists()
    assert not Edit.objects.exclude(review="").exists()
    # The owner-only URL for a playlist: another user and an anonymous visitor get nothing.
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("mallory", password="a-long-passphrase-9")
    mallory = Client()
    mallory.login(username="mallory", password="a-long-passphrase-9")
    url = reverse("share_playlist", args=[project.pk])
    data = {"versions": [versions[0].pk, outsider_version.pk], "expiry": "7d"}
    assert mallory.post(url, data).status_code == 404
    assert Client().post(url, data).status_code == 302
    assert ShareLink.objects.count() == 3


# ---------------------------------------------------------------- replies by email


def test_a_guest_who_left_an_address_hears_of_replies(owner, owner_client, project, versions):
    link, token = _link(versions[0], allow_comments=True)
    guest = Client()
    guest.post(reverse("share_comment", args=[token]), {"name": "Jo", "email": "jo@example.com", "body": "Sky too red", "seconds": "0.3"})
    quiet = Client()
    quiet.post(reverse("share_comment", args=[token]), {"name": "Kim", "body": "Fine by me", "seconds": "0.5"})
    root = Comment.objects.get(name="Jo (guest)")
    assert root.email == "jo@example.com"
    # The address never shows on the page.
    assert "jo@example.com" not in quiet.get(reverse("share_page", args=[token])).content.decode()
    mail.outbox.clear()
    owner_client.post(reverse("comment_add", args=[versions[0].pk]), {"body": "Toned it down in v2", "seconds": "0", "parent": root.pk})
    assert [m.to for m in mail.outbox] == [["jo@example.com"]]
    assert "Toned it down in v2" in mail.outbox[0].body and "owner replied" in mail.outbox[0].subject
    # A guest's own reply does not email them; another guest's does.
    mail.outbox.clear()
    guest.post(reverse("share_comment", args=[token]), {"name": "Jo", "email": "jo@example.com", "body": "Thanks", "seconds": "0", "parent": root.pk})
    assert [m.to for m in mail.outbox if m.to != [owner.email]] == []
    quiet.post(reverse("share_comment", args=[token]), {"name": "Kim", "body": "Agreed", "seconds": "0", "parent": root.pk})
    assert ["jo@example.com"] in [m.to for m in mail.outbox]
    # Once the link is revoked, nobody is emailed through it.
    sharing.revoke_share_link(link)
    mail.outbox.clear()
    owner_client.post(reverse("comment_add", args=[versions[0].pk]), {"body": "Last word", "seconds": "0", "parent": root.pk})
    assert mail.outbox == []


def test_a_bad_guest_address_is_refused_with_the_comment(versions):
    _, token = _link(versions[0], allow_comments=True)
    guest = Client()
    guest.post(reverse("share_comment", args=[token]), {"name": "Lu", "email": "not an address", "body": "hi", "seconds": "0"})
    assert not Comment.objects.exists()
    page = guest.get(reverse("share_page", args=[token])).content.decode()
    assert "valid email" in page
