"""People edits through the studio: what was found is said on the version, the masks are cached per
input clip for the next edit, and the reaper sweeps a cache nobody used for a week."""

from __future__ import annotations

import os
import time

import pytest
from django.urls import reverse

from editor.models import Edit, Status
from editor.services import edits as edit_service
from tests.conftest import upload_of
from tests.fakes.studio import TaskQueue
from tests.media_factory import make_person_clip


@pytest.fixture
def person_project(owner, tmp_path):
    from editor.services.projects import create_project_from_upload

    clip = make_person_clip(tmp_path / "person.mp4", frames=20, size=(640, 360))
    return create_project_from_upload(owner, upload_of(clip), "Interview")


def _form(project, prompt):
    return {
        "prompt": prompt,
        "input_clip": project.original.pk,
        "ratio": "848:480",
        "seed": "3",
        "public_figure_threshold": "auto",
        "engine": "local",
    }


def test_a_people_edit_says_what_it_found_and_the_next_one_reuses_the_masks(owner_client, person_project, settings, django_capture_on_commit_callbacks):
    queue = TaskQueue()
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("edit_create", args=[person_project.pk]), _form(person_project, "blur the background"))
    edit = queue.run_edit_to_the_end(Edit.objects.get())
    assert edit.status == Status.SUCCEEDED, edit.error_message
    assert "People: 1 person, in 100% of frames." in edit.notes
    cache = settings.ALEPH_CACHE_DIR / f"people-{person_project.original.sha256}.npz"
    assert cache.is_file()
    os.utime(cache, (time.time() - 3600, time.time() - 3600))
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("edit_create", args=[person_project.pk]), _form(person_project, "black and white except the person"))
    second = queue.run_edit_to_the_end(Edit.objects.exclude(pk=edit.pk).get())
    assert second.status == Status.SUCCEEDED and "1 person" in " ".join(second.notes)
    # Read from the cache (which says it was used), not made again.
    assert list(settings.ALEPH_CACHE_DIR.iterdir()) == [cache] and cache.stat().st_mtime > time.time() - 60
    page = owner_client.get(reverse("project_detail", args=[person_project.pk])).content.decode()
    assert "People: 1 person, in 100% of frames." in page


def test_a_people_edit_on_a_clip_without_anyone_fails_with_what_was_found(owner_client, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("edit_create", args=[project.pk]), _form(project, "darken the background"))
    edit = TaskQueue().run_edit_to_the_end(Edit.objects.get())
    assert edit.status == Status.FAILED
    assert "found no person in this clip" in edit.error_message and not hasattr(edit, "result")


def test_the_reaper_sweeps_masks_unused_for_a_week(db, settings):
    settings.ALEPH_CACHE_DIR.mkdir(parents=True)
    old, fresh = settings.ALEPH_CACHE_DIR / "people-old.npz", settings.ALEPH_CACHE_DIR / "people-new.npz"
    for path in (old, fresh):
        path.write_bytes(b"x")
    week = time.time() - 8 * 24 * 3600
    os.utime(old, (week, week))
    edit_service.reap_stale_edits()
    assert not old.exists() and fresh.exists()


def test_preview_on_a_frame_answers_with_the_picture_or_the_refusal(owner_client, person_project):
    import base64

    import cv2
    import numpy as np

    url = reverse("edit_preview", args=[person_project.pk])
    data = {**_form(person_project, "black and white except the person"), "ratio": "848:480", "seconds": "0.2"}
    reply = owner_client.post(url, data)
    assert reply.status_code == 200, reply.content
    body = reply.json()
    assert body["summary"].startswith("colour pop") and (body["width"], body["height"]) == (848, 480)
    picture = cv2.imdecode(np.frombuffer(base64.b64decode(body["image"].split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (480, 848, 3)
    assert Edit.objects.count() == 0  # nothing queued, nothing stored
    refused = owner_client.post(url, {**data, "prompt": "frabjous plorb"})
    assert refused.status_code == 400 and len(refused.json()["suggestions"]) == 3
    page = owner_client.get(reverse("project_detail", args=[person_project.pk])).content.decode()
    assert "data-preview-button" in page
