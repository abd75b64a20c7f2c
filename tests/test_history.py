"""Projects list, versions, history, deleting and re-running."""

import pytest
from django.urls import reverse

from editor.models import Edit, Project, Status
from editor.services.projects import create_project_from_upload
from tests.conftest import make_finished_edit, stored_files, upload_of


@pytest.fixture
def second_project(owner, small_clip):
    return create_project_from_upload(owner, upload_of(small_clip), "Beach sunset")


def _titles(response) -> list[str]:
    return [p.title for p in response.context["page"].object_list]


def test_projects_list_searches_titles_and_prompts(owner_client, project, second_project):
    make_finished_edit(project, prompt="relight as golden hour")
    assert _titles(owner_client.get(reverse("home"), {"q": "sunset"})) == ["Beach sunset"]
    assert _titles(owner_client.get(reverse("home"), {"q": "golden"})) == ["Test project"]


def test_projects_list_filters_by_status_and_engine(owner_client, project, second_project):
    make_finished_edit(project, engine="local")
    assert _titles(owner_client.get(reverse("home"), {"status": "succeeded"})) == ["Test project"]
    assert _titles(owner_client.get(reverse("home"), {"engine": "local"})) == ["Test project"]
    assert _titles(owner_client.get(reverse("home"), {"engine": "runway"})) == []


def test_projects_list_sorts_and_stars(owner_client, project, second_project):
    assert _titles(owner_client.get(reverse("home"), {"sort": "title"})) == ["Beach sunset", "Test project"]
    owner_client.post(reverse("project_star", args=[project.pk]))
    project.refresh_from_db()
    assert project.starred
    # Starred projects come first in the default order.
    assert _titles(owner_client.get(reverse("home")))[0] == "Test project"
    assert _titles(owner_client.get(reverse("home"), {"starred": "on"})) == ["Test project"]


def test_projects_list_paginates(owner_client, owner, project):
    Project.objects.bulk_create([Project(owner=owner, title=f"P{n:02}") for n in range(30)])
    first = owner_client.get(reverse("home"))
    assert len(first.context["page"].object_list) == 24
    second = owner_client.get(reverse("home"), {"page": 2})
    assert len(second.context["page"].object_list) == 7


def test_htmx_star_returns_the_button_alone(owner_client, project):
    response = owner_client.post(reverse("project_star", args=[project.pk]), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "★" in body and "<html" not in body


def test_rename_project(owner_client, project):
    owner_client.post(reverse("project_rename", args=[project.pk]), {"title": "  New name "})
    project.refresh_from_db()
    assert project.title == "New name"
    owner_client.post(reverse("project_rename", args=[project.pk]), {"title": "  "})
    project.refresh_from_db()
    assert project.title == "New name"


@pytest.mark.django_db(transaction=True)
def test_delete_project_removes_its_files(owner, small_clip, cat_png, private_media):
    from django.test import Client

    from editor.services.projects import add_reference

    project = create_project_from_upload(owner, upload_of(small_clip), "Doomed")
    add_reference(project, upload_of(cat_png, content_type="image/png"))
    first = make_finished_edit(project)
    make_finished_edit(project, input_clip=first.result)
    keep = create_project_from_upload(owner, upload_of(small_clip), "Kept")
    kept_files = {keep.clips.get().file, keep.clips.get().poster}
    client = Client()
    client.force_login(owner)
    response = client.post(reverse("project_delete", args=[project.pk]))
    assert response.status_code == 302
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Edit.objects.filter(project_id=project.pk).exists()
    remaining = {str(p.relative_to(private_media / "media")) for p in stored_files(private_media / "media")}
    assert remaining == kept_files


def test_version_tree_nests_edits_under_their_input(owner_client, project):
    first = make_finished_edit(project, prompt="warmer")
    child = make_finished_edit(project, input_clip=first.result, prompt="add grain")
    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    # The child's card comes inside the branch that follows its parent's card.
    parent_at = body.index(f'id="edit-{first.pk}"')
    branch_at = body.index('class="branch"', parent_at)
    assert body.index(f'id="edit-{child.pk}"') > branch_at
    assert f"result of #{first.pk}" in body


@pytest.mark.django_db(transaction=True)
def test_delete_edit_removes_result_files_after_commit(owner, small_clip, private_media):
    from django.test import Client

    project = create_project_from_upload(owner, upload_of(small_clip), "P")
    edit = make_finished_edit(project)
    result_files = {edit.result.file, edit.result.poster}
    client = Client()
    client.force_login(owner)
    client.post(reverse("edit_delete", args=[edit.pk]))
    remaining = {str(p.relative_to(private_media / "media")) for p in stored_files(private_media / "media")}
    assert result_files.isdisjoint(remaining)
    assert len(remaining) == 2  # the original and its poster


def test_delete_edit_refuses_while_another_builds_on_it(owner_client, project):
    first = make_finished_edit(project)
    child = make_finished_edit(project, input_clip=first.result)
    response = owner_client.post(reverse("edit_delete", args=[first.pk]), follow=True)
    assert Edit.objects.filter(pk=first.pk).exists()
    assert f"#{child.pk}" in response.content.decode()


def test_delete_refuses_an_unfinished_edit(owner_client, project):
    edit = Edit.objects.create(
        project=project, input_clip=project.clips.get(), prompt="warmer", ratio="1280:720", seed=1
    )
    owner_client.post(reverse("edit_delete", args=[edit.pk]))
    assert Edit.objects.filter(pk=edit.pk).exists()


def test_rerun_with_same_and_new_seed(owner_client, project):
    edit = make_finished_edit(project, prompt="warmer", seed=1234)
    owner_client.post(reverse("edit_rerun", args=[edit.pk]), {"seed": "same"})
    owner_client.post(reverse("edit_rerun", args=[edit.pk]), {"seed": "new"})
    same, new = Edit.objects.exclude(pk=edit.pk).order_by("pk")
    assert (same.prompt, same.seed, same.input_clip_id, same.status) == ("warmer", 1234, edit.input_clip_id, Status.QUEUED)
    assert new.prompt == "warmer" and new.seed != 1234


def test_copy_settings_prefills_the_form(owner_client, project):
    response = owner_client.get(
        reverse("project_detail", args=[project.pk]), {"prompt": "cooler", "ratio": "960:960", "seed": "77"}
    )
    form = response.context["form"]
    assert form.initial["prompt"] == "cooler" and form.initial["seed"] == 77 and form.initial["ratio"] == "960:960"
    body = response.content.decode()
    assert 'value="960:960" checked' in body and "cooler</textarea>" in body


def test_history_lists_edits_across_projects_with_filters(owner_client, project, second_project, outsider):
    make_finished_edit(project, prompt="golden hour")
    make_finished_edit(second_project, prompt="noir black and white")
    other = create_project_from_upload(outsider, upload_of(_clip_path(project)), "Theirs")
    make_finished_edit(other, prompt="golden secret")
    prompts = lambda r: [e.prompt for e in r.context["page"].object_list]  # noqa: E731
    assert sorted(prompts(owner_client.get(reverse("history")))) == ["golden hour", "noir black and white"]
    assert prompts(owner_client.get(reverse("history"), {"q": "golden"})) == ["golden hour"]
    assert prompts(owner_client.get(reverse("history"), {"q": "beach"})) == ["noir black and white"]
    assert prompts(owner_client.get(reverse("history"), {"status": "failed"})) == []


def _clip_path(project):
    from django.core.files.storage import default_storage
    from pathlib import Path

    return Path(default_storage.path(project.clips.first().file))


def _fill(project, count):
    previous = None
    for n in range(count):
        previous = make_finished_edit(project, prompt=f"edit {n}", input_clip=previous.result if previous and n % 2 else None)


@pytest.mark.parametrize(
    "url_name, args",
    [("home", []), ("history", []), ("project_detail", ["pk"])],
)
def test_pages_run_a_constant_number_of_queries(owner_client, owner, project, url_name, args):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse(url_name, args=[project.pk] if args else [])
    _fill(project, 1)
    with CaptureQueriesContext(connection) as one:
        assert owner_client.get(url).status_code == 200
    _fill(project, 12)
    second = create_project_from_upload(owner, upload_of(_clip_path(project)), "Another")
    make_finished_edit(second)
    with CaptureQueriesContext(connection) as many:
        assert owner_client.get(url).status_code == 200
    assert len(many.captured_queries) == len(one.captured_queries), [q["sql"] for q in many.captured_queries]


def test_star_follows_only_a_safe_next(owner_client, project):
    response = owner_client.post(reverse("project_star", args=[project.pk]), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("home")
    response = owner_client.post(reverse("project_star", args=[project.pk]), {"next": "//evil.example/x"})
    assert response["Location"] == reverse("home")
    response = owner_client.post(reverse("project_star", args=[project.pk]), {"next": "/history/?q=x"})
    assert response["Location"] == "/history/?q=x"


def test_filters_and_pages_keep_the_query(owner_client, owner, project):
    for n in range(30):
        create_project_from_upload(owner, upload_of(_clip_path(project)), f"Clip {n}")
    body = owner_client.get(reverse("home"), {"q": "Clip", "sort": "title"}).content.decode()
    # The next page link keeps the search and the sort ({% querystring %}).
    assert 'href="?q=Clip&amp;sort=title&amp;page=2"' in body
    body = owner_client.get(reverse("home"), {"q": "Clip", "sort": "title", "page": "2"}).content.decode()
    assert 'href="?q=Clip&amp;sort=title&amp;page=1"' in body
    # Both list pages use the one filter bar, each with its own fields.
    assert 'name="starred"' in body and 'placeholder="Search titles and prompts"' in body
    history = owner_client.get(reverse("history")).content.decode()
    assert 'name="starred"' not in history and 'placeholder="Search prompts and projects"' in history


def test_limits_shown_on_the_pages_come_from_the_settings(owner_client, project, settings):
    settings.ALEPH_MAX_UPLOAD_MB = 123
    settings.ALEPH_MAX_REFERENCE_MB = 7
    assert "up to 123 MB" in owner_client.get(reverse("project_new")).content.decode()
    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "up to 7 MB" in body and "16 MB" not in body
    assert 'accept=".png,.jpg,.jpeg,.webp' in body


def test_the_version_tree_shows_the_newest_and_loads_older_ones_on_demand(owner_client, outsider_client, project):
    from editor.services import versions

    made = [make_finished_edit(project, prompt=f"take {n}") for n in range(versions.PAGE + 5)]
    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    shown = [e for e in made if f'id="edit-{e.pk}"' in body]
    # The newest ten are on the page; a link (which works without JavaScript) brings the other five.
    assert shown == made[-versions.PAGE:]
    url = reverse("project_versions", args=[project.pk]) + f"?input={project.original.pk}&amp;offset={versions.PAGE}"
    assert f'href="{url}"' in body and f'hx-get="{url}"' in body and "Show 5 older versions" in body
    older = owner_client.get(url.replace("&amp;", "&"), HTTP_HX_REQUEST="true").content.decode()
    assert [e for e in made if f'id="edit-{e.pk}"' in older] == made[:5]
    assert "older version" not in older and "<html" not in older
    page = owner_client.get(url.replace("&amp;", "&")).content.decode()
    assert "<html" in page and all(f'id="edit-{e.pk}"' in page for e in made[:5])
    assert outsider_client.get(url.replace("&amp;", "&")).status_code == 404


def test_a_deep_tree_renders_within_its_budget(owner_client, project):
    from editor.services import versions

    previous = None
    for n in range(versions.BUDGET + 10):
        previous = make_finished_edit(project, prompt=f"step {n}", input_clip=previous.result if previous else None)
    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert body.count('class="card edit-card"') == versions.BUDGET
    assert "Show 1 older version" in body
