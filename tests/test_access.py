"""Ownership: every URL of a project answers 404 to another user and sends anonymous users to log in."""

import pytest
from django.urls import reverse

from editor.models import Edit


@pytest.fixture
def reference(project, cat_png):
    from tests.conftest import upload_of
    from editor.services.projects import add_reference

    return add_reference(project, upload_of(cat_png, content_type="image/png"))


def project_urls(project, edit, reference):
    from editor.models import ShareLink

    result = edit.result
    original = project.clips.get(source_edit__isnull=True)
    link = ShareLink.objects.create(edit=edit, token_hash="x" * 64)
    return [
        ("post", reverse("project_rename", args=[project.pk])),
        ("post", reverse("project_star", args=[project.pk])),
        ("post", reverse("edit_rerun", args=[edit.pk])),
        ("post", reverse("share_create", args=[edit.pk])),
        ("post", reverse("share_revoke", args=[link.pk])),
        ("post", reverse("edit_delete", args=[edit.pk])),
        ("post", reverse("project_delete", args=[project.pk])),
        ("get", reverse("project_detail", args=[project.pk])),
        ("get", reverse("project_versions", args=[project.pk]) + f"?input={original.pk}"),
        ("post", reverse("edit_create", args=[project.pk])),
        ("post", reverse("reference_add", args=[project.pk])),
        ("post", reverse("reference_from_frame", args=[project.pk])),
        ("get", reverse("edit_status", args=[edit.pk])),
        ("get", reverse("edit_estimate", args=[project.pk])),
        ("post", reverse("edit_cancel", args=[edit.pk])),
        ("post", reverse("edit_submit_again", args=[edit.pk])),
        ("post", reverse("edit_check_again", args=[edit.pk])),
        ("get", reverse("compare", args=[edit.pk])),
        ("get", reverse("clip_media", args=[original.pk, "video"])),
        ("get", reverse("clip_media", args=[original.pk, "poster"])),
        ("get", reverse("clip_media", args=[result.pk, "download"])),
        ("get", reverse("reference_media", args=[reference.pk])),
    ]


def test_it_checks_ownership_on_every_url(outsider_client, project, finished_edit, reference):
    for method, url in project_urls(project, finished_edit, reference):
        response = getattr(outsider_client, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)
        response = getattr(outsider_client, method)(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 404, ("htmx", method, url, response.status_code)


def test_owner_reaches_every_page(owner_client, project, finished_edit, reference):
    for method, url in project_urls(project, finished_edit, reference):
        if method == "get":
            # The status partial answers plain GETs with a redirect to the card on the project page.
            expected = 302 if "/status/" in url or "/card/" in url else 200
            assert owner_client.get(url).status_code == expected, url


def test_outsider_actions_change_nothing(outsider_client, project, finished_edit, reference):
    for method, url in project_urls(project, finished_edit, reference):
        getattr(outsider_client, method)(url)
    project.refresh_from_db()
    finished_edit.refresh_from_db()
    assert project.title == "Test project" and not project.starred
    assert Edit.objects.filter(project=project).count() == 1
    assert not finished_edit.share_links.exclude(token_hash="x" * 64).exists()


def test_anonymous_users_are_sent_to_log_in(client, project, finished_edit, reference):
    urls = project_urls(project, finished_edit, reference) + [
        ("get", reverse("home")),
        ("get", reverse("history")),
        ("get", reverse("account")),
        ("get", reverse("project_new")),
        ("post", reverse("project_import")),
    ]
    for method, url in urls:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_home_lists_only_my_projects(owner_client, outsider_client, project):
    response = outsider_client.get(reverse("home"))
    assert project.title not in response.content.decode()


def test_signup_logs_in_and_enforces_password_validators(client, db, settings):
    settings.ALEPH_SIGNUP = "open"
    response = client.post(reverse("signup"), {"username": "newbie", "password1": "123", "password2": "123"})
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    response = client.post(
        reverse("signup"), {"username": "newbie", "password1": "a-good-long-phrase", "password2": "a-good-long-phrase"}
    )
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_unknown_media_kind_is_404(owner_client, project):
    clip = project.clips.get()
    assert owner_client.get(f"/media/clips/{clip.pk}/file/").status_code == 404
