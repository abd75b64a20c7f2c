"""Review with clients through share links: passwords, what a guest may do, guest comments and
approvals, the owner's notifications, and an isolation sweep of every new URL."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from editor.models import Comment, Notification, Review
from editor.services import sharing
from tests.conftest import make_finished_edit


@pytest.fixture
def edit(project):
    return make_finished_edit(project)


def _link(edit, **options):
    return sharing.create_share_link(edit, expiry="7d", show_original=False, **options)


def test_a_password_guards_the_page_and_its_media_and_wrong_tries_are_limited(edit):
    link, token = _link(edit, password="open sesame")
    assert link.password.startswith(("pbkdf2", "md5")) and "sesame" not in link.password
    guest = Client()
    page = guest.get(reverse("share_page", args=[token]))
    assert page.status_code == 200 and "This link has a password" in page.content.decode()
    assert guest.get(reverse("share_media", args=[token, "result"])).status_code == 404
    assert guest.post(reverse("share_unlock", args=[token]), {"password": "nope"}).status_code == 403
    assert guest.post(reverse("share_unlock", args=[token]), {"password": "open sesame"}).status_code == 302
    assert guest.get(reverse("share_media", args=[token, "result"])).status_code == 200
    # Another browser has not given it: nothing plays there.
    assert Client().get(reverse("share_media", args=[token, "result"])).status_code == 404
    # Ten tries a minute per link and address, then none, even the right one.
    other = Client()
    for _ in range(10):
        other.post(reverse("share_unlock", args=[token]), {"password": "guess"})
    assert other.post(reverse("share_unlock", args=[token]), {"password": "open sesame"}).status_code == 429
    # A new password locks out the sessions of the old one.
    sharing.update_share_link(link, password="second secret")
    assert guest.get(reverse("share_media", args=[token, "result"])).status_code == 404


def test_download_only_where_the_owner_allows_it(edit):
    _, allowed = _link(edit)
    _, refused = _link(edit, allow_download=False)
    assert Client().get(reverse("share_media", args=[allowed, "download"])).status_code == 200
    body = Client().get(reverse("share_page", args=[refused])).content.decode()
    assert "/download/" not in body
    assert Client().get(reverse("share_media", args=[refused, "download"])).status_code == 404


def test_a_guest_comments_and_approves_and_the_owner_is_told(owner, owner_client, edit):
    owner.email = "owner@example.com"
    owner.save()
    link, token = _link(edit, allow_comments=True, allow_approval=True)
    guest = Client()
    response = guest.post(reverse("share_comment", args=[token]), {"name": "Dana", "body": "Logo <b>too big</b>", "seconds": "0.4"})
    assert response.status_code == 302
    comment = Comment.objects.get()
    assert (comment.name, comment.link_id, comment.author_id) == ("Dana (guest)", link.pk, None)
    page = guest.get(reverse("share_page", args=[token])).content.decode()
    assert "Logo &lt;b&gt;too big&lt;/b&gt;" in page and "<b>too big" not in page
    assert guest.post(reverse("share_review", args=[token]), {"name": "Dana", "state": "approved"}).status_code == 302
    edit.refresh_from_db()
    assert (edit.review, edit.review_by) == (Review.APPROVED, "Dana (guest)")
    # The owner: a count in the header, a list, and two emails.
    assert Notification.objects.filter(user=owner, read_at__isnull=True).count() == 2
    header = owner_client.get(reverse("home")).content.decode()
    assert 'class="badge unread">2<' in header
    listing = owner_client.get(reverse("notifications")).content.decode()
    assert "Dana (guest) commented on edit" in listing and "set edit" in listing
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert [m.to for m in mail.outbox] == [["owner@example.com"], ["owner@example.com"]]
    assert "Logo" in mail.outbox[0].body
    # The owner's compare view has the guest's comment, and the owner's reply shows to the guest.
    owner_client.post(reverse("comment_add", args=[edit.pk]), {"body": "Will shrink it", "seconds": "0", "parent": comment.pk})
    assert "Will shrink it" in guest.get(reverse("share_page", args=[token])).content.decode()


def test_what_the_link_does_not_allow_is_not_there(edit):
    _, token = _link(edit)
    guest = Client()
    assert guest.post(reverse("share_comment", args=[token]), {"name": "Eve", "body": "hi", "seconds": "0"}).status_code == 404
    assert guest.post(reverse("share_review", args=[token]), {"name": "Eve", "state": "approved"}).status_code == 404
    assert not Comment.objects.exists()
    edit.refresh_from_db()
    assert not edit.review


def test_guest_posting_is_limited_per_client(edit):
    _, token = _link(edit, allow_comments=True)
    guest = Client()
    for n in range(12):
        guest.post(reverse("share_comment", args=[token]), {"name": "Flo", "body": f"note {n}", "seconds": "0"})
    assert Comment.objects.count() == 10


def test_isolation_sweep_of_the_review_urls(owner_client, project, edit, django_user_model):
    other_edit = make_finished_edit(project, prompt="sepia")
    link, token = _link(edit, allow_comments=True, allow_approval=True)
    other_link, other_token = _link(other_edit, allow_comments=True)
    revoked, revoked_token = _link(edit, allow_comments=True, allow_approval=True)
    mine = Comment.objects.create(edit=edit, name="owner", body="owner's own note", seconds=0.1)
    guest = Client()
    guest.post(reverse("share_comment", args=[token]), {"name": "Gil", "body": "first", "seconds": "0"})
    Client().post(reverse("share_comment", args=[other_token]), {"name": "Hal", "body": "on the other link", "seconds": "0"})
    theirs = Comment.objects.get(link=other_link)
    # A guest sees only their link's comments: not the owner's own notes, not another link's.
    page = guest.get(reverse("share_page", args=[token])).content.decode()
    assert "first" in page and "owner's own note" not in page and "on the other link" not in page
    # A reply only to a comment of the same link.
    guest.post(reverse("share_comment", args=[token]), {"name": "Gil", "body": "sneaky", "seconds": "0", "parent": theirs.pk})
    assert not Comment.objects.filter(body="sneaky").exists()
    # A revoked link: nothing at all, at once.
    sharing.revoke_share_link(revoked)
    for response in (
        guest.get(reverse("share_page", args=[revoked_token])),
        guest.get(reverse("share_media", args=[revoked_token, "result"])),
        guest.post(reverse("share_comment", args=[revoked_token]), {"name": "Gil", "body": "late", "seconds": "0"}),
        guest.post(reverse("share_review", args=[revoked_token]), {"name": "Gil", "state": "approved"}),
    ):
        assert response.status_code == 404
    # Owner-only URLs: another user and an anonymous visitor get nothing.
    django_user_model.objects.create_user("mallory", password="a-long-passphrase-9")
    mallory = Client()
    mallory.login(username="mallory", password="a-long-passphrase-9")
    owner_urls = [
        ("post", reverse("comment_add", args=[edit.pk]), {"body": "x", "seconds": "0"}),
        ("post", reverse("comment_resolve", args=[mine.pk]), {"resolved": "1"}),
        ("post", reverse("review_set", args=[edit.pk]), {"state": "approved"}),
        ("post", reverse("share_settings", args=[link.pk]), {"allow_download": ""}),
        ("get", reverse("comments_csv", args=[edit.pk]), {}),
        ("get", reverse("comments_print", args=[edit.pk]), {}),
    ]
    for method, url, data in owner_urls:
        assert getattr(mallory, method)(url, data).status_code == 404, url
        assert getattr(Client(), method)(url, data).status_code == 302, url  # to the log-in page
    assert mallory.get(reverse("notifications")).content.decode().count("data-notification>") == 0
    link.refresh_from_db()
    assert link.allow_download and Comment.objects.filter(body="x").count() == 0
