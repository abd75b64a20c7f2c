"""Change maps of real local edits, measured by their task after the edit succeeds."""

from __future__ import annotations

import av
import pytest
from django.core.files.storage import default_storage
from django.test import TestCase
from django.urls import reverse

from editor.models import ChangeMap, Edit, Status
from editor.services import edits as edit_service
from editor.storage import local_copy
from tests.fakes.studio import TaskQueue
from tests.test_edits import _mask_png


def _run(project, prompt: str, *, ratio: str = "1280:720", mask: bytes | None = None) -> Edit:
    with TestCase.captureOnCommitCallbacks(execute=True):
        edit = edit_service.create_edit(
            project,
            project.clips.get(source_edit__isnull=True),
            edit_service.EditSettings(prompt=prompt, ratio=ratio, seed=3),
            mask_png=mask,
        )
    queue = TaskQueue()
    queue.run("run_edit_task")
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED, edit.error_message
    queue.run("measure_change_task")
    return Edit.objects.select_related("change_map", "result").get(pk=edit.pk)


def test_a_finished_edit_gets_its_change_map_and_heatmap(owner_client, project):
    edit = _run(project, "make it black and white", ratio="640:480")
    change = edit.change
    assert change.is_done and change.aligned
    assert 0.05 < change.changed_share <= 1.0 and change.outside_share is None
    with local_copy(change.heatmap) as heat, av.open(str(heat)) as container:
        assert sum(1 for _ in container.decode(video=0)) == edit.result.frame_count
    response = owner_client.get(reverse("clip_media", args=[edit.result.pk, "heatmap"]))
    assert response.status_code == 200 and response["Content-Type"] == "video/mp4"
    compare = owner_client.get(reverse("compare", args=[edit.pk])).content.decode()
    assert 'data-role="heat"' in compare and 'data-role="heat-toggle"' in compare
    assert f"changed {change.changed_percent} % of the picture" in compare
    card = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert f"changed {change.changed_percent} % of the picture" in card
    # The heatmap goes with its edit.
    name = change.heatmap
    with TestCase.captureOnCommitCallbacks(execute=True):
        edit_service.delete_edit(edit)
    assert not default_storage.exists(name)


def test_a_removal_touched_little_outside_its_mask(project):
    edit = _run(project, "remove the painted region", ratio="640:480", mask=_mask_png())
    change = edit.change
    assert change.is_done and change.aligned
    assert change.outside_share is not None and change.outside_share < 0.05
    assert change.changed_share < 0.2


def test_an_edit_finished_before_change_maps_is_measured_when_first_looked_at(owner_client, project):
    from tests.conftest import make_finished_edit

    edit = make_finished_edit(project)
    url = reverse("edit_change", args=[edit.pk])
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = owner_client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "measuring what changed" in response.content.decode()
    TaskQueue().run("measure_change_task")
    response = owner_client.get(url, HTTP_HX_REQUEST="true")
    # Its result is a copy of its input: nothing changed; 286 ends the poll.
    assert response.status_code == 286
    assert "changed 0 % of the picture" in response.content.decode()
    assert ChangeMap.objects.get(edit=edit).changed_share < 0.01


def test_nobody_else_reaches_a_change_map(client, project, django_user_model):
    from tests.conftest import make_finished_edit

    edit = make_finished_edit(project)
    django_user_model.objects.create_user("mallory", password="a-long-passphrase-9")
    client.login(username="mallory", password="a-long-passphrase-9")
    assert client.get(reverse("edit_change", args=[edit.pk]), HTTP_HX_REQUEST="true").status_code == 404
    assert client.get(reverse("clip_media", args=[edit.result.pk, "heatmap"])).status_code == 404
    assert not ChangeMap.objects.exists()
