"""Batches from one form: seeds × prompts × engines or models, counted and priced before sending,
recorded in one transaction or not at all."""

from __future__ import annotations

import pytest
from django.urls import reverse

from editor.models import Batch, Edit, Member, Spend, Status
from tests.test_remote_ui import bunny_project, runway  # noqa: F401 (fixtures)


def _form(project, **overrides):
    data = {
        "prompt": "make it black and white",
        "input_clip": project.clips.get().pk,
        "ratio": "1280:720",
        "seed": "",
        "public_figure_threshold": "auto",
        "engine": "local",
        "model": "",
        "trim_start": "0",
    }
    data.update(overrides)
    return data


def test_seeds_and_prompts_make_one_batch_of_every_combination(owner_client, project):
    data = _form(project, prompt="make it black and white\n\nrelight this as golden hour\n", prompt_per_line="on", seed="100", seed_step="5", seed_count="4")
    response = owner_client.post(reverse("edit_create", args=[project.pk]), data)
    assert response.status_code == 302, response.context["form"].errors
    batch = Batch.objects.get()
    edits = list(batch.edits.order_by("pk"))
    assert len(edits) == 8 and batch.title == "make it black and white"
    assert sorted({e.prompt for e in edits}) == ["make it black and white", "relight this as golden hour"]
    assert sorted(e.seed for e in edits if e.prompt.startswith("make")) == [100, 105, 110, 115]
    assert all(e.status == Status.QUEUED and e.engine == "local" for e in edits)
    page = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert f'data-batch="{batch.pk}"' in page and "8 edits · 0 done · 8 to go" in page
    history = owner_client.get(reverse("history"), {"batch": batch.pk}).content.decode()
    assert history.count("batch: make it black and white") == 8


def test_random_seeds_when_no_start_seed_is_given(owner_client, project):
    response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project, seed_count="6"))
    assert response.status_code == 302
    seeds = list(Edit.objects.values_list("seed", flat=True))
    assert len(seeds) == 6 and len(set(seeds)) == 6


def test_a_batch_over_the_limit_is_refused_before_anything_is_recorded(owner_client, project):
    prompts = "\n".join(f"variant {i}" for i in range(5))
    response = owner_client.post(
        reverse("edit_create", args=[project.pk]), _form(project, prompt=prompts, prompt_per_line="on", seed_count="16")
    )
    assert response.status_code == 400
    assert "80 edits; a batch has at most 64" in " ".join(response.context["form"].errors["seed_count"])
    assert not Edit.objects.exists() and not Batch.objects.exists()


def test_one_bad_prompt_refuses_the_whole_batch(owner_client, project):
    response = owner_client.post(
        reverse("edit_create", args=[project.pk]),
        _form(project, prompt="make it black and white\nplease write me a poem", prompt_per_line="on"),
    )
    assert response.status_code == 400
    assert not Edit.objects.exists() and not Batch.objects.exists()


def test_models_side_by_side_and_the_estimate_counts_the_whole_batch(owner_client, bunny_project, runway):
    project = bunny_project
    data = _form(project, engine="runway", model="aleph2", ratio="", seed_count="3", also=["runway:gen4_aleph", "local"])
    estimate = owner_client.get(
        reverse("edit_estimate", args=[project.pk]),
        {k: v for k, v in data.items() if k in ("engine", "model", "input_clip", "trim_start", "seed_count", "also")},
    ).content.decode()
    # 3 seeds on aleph2 (5.28 s: 6 seconds at 28), on gen4_aleph (5 s at 15) and on the local engine.
    assert f"9 edits</strong> · about {3 * 168 + 3 * 75:,} credits" in estimate
    assert "about 729 credits" in estimate
    response = owner_client.post(reverse("edit_create", args=[project.pk]), data)
    assert response.status_code == 302, response.context["form"].errors
    edits = Edit.objects.all()
    assert sorted({(e.engine, e.model) for e in edits}) == [("local", ""), ("runway", "aleph2"), ("runway", "gen4_aleph")]
    # Each model got only what it takes: gen4_aleph crops to the ratio, the local engine its own ratio.
    gen4_edit = edits.filter(model="gen4_aleph").first()
    assert (gen4_edit.options, gen4_edit.ratio) == ({"framing": "crop"}, "1280:720")
    assert edits.filter(engine="local").first().ratio == "1280:720"
    assert Spend.objects.count() == 6


def test_a_batch_that_does_not_fit_the_allowance_is_refused_whole(owner_client, owner, bunny_project, runway):
    project = bunny_project
    # Three aleph2 edits of 168 credits do not fit in 400; two do.
    Member.objects.filter(user=owner).update(monthly_credits=400)
    data = _form(project, engine="runway", model="aleph2", ratio="", seed_count="3")
    response = owner_client.post(reverse("edit_create", args=[project.pk]), data)
    assert response.status_code == 400
    assert "allowance has" in " ".join(response.context["form"].errors["prompt"])
    assert not Edit.objects.exists() and not Batch.objects.exists() and not Spend.objects.exists()
    # Two of them fit.
    response = owner_client.post(reverse("edit_create", args=[project.pk]), {**data, "seed_count": "2"})
    assert response.status_code == 302
    assert Edit.objects.count() == 2


# ---------------------------------------------------------------- the contact sheet


def _finished_batch(project, count: int, *, prompts=("make it black and white",)) -> Batch:
    from tests.conftest import make_finished_edit

    batch = Batch.objects.create(project=project, title=prompts[0])
    for n in range(count):
        edit = make_finished_edit(project, prompt=prompts[n % len(prompts)], seed=100 + n)
        Edit.objects.filter(pk=edit.pk).update(batch=batch)
    return batch


def test_the_sheet_plays_the_input_and_every_result_labelled_with_what_differs(owner_client, project):
    batch = _finished_batch(project, 4, prompts=("make it black and white", "relight this as golden hour"))
    failed = Edit.objects.create(project=project, input_clip=project.clips.get(source_edit__isnull=True), prompt="x",
                                 ratio="1280:720", seed=7, batch=batch, status=Status.FAILED, error_message="The worker stopped.")
    body = owner_client.get(reverse("batch_sheet", args=[batch.pk])).content.decode()
    assert body.count("data-sheet-video") == 5  # the input and four results
    assert "data-master" in body
    assert "seed 101 · “relight this as golden hour”" in body and "seed 100 · “make it black and white”" in body
    # A failed cell says why.
    assert f'id="cell-{failed.pk}"' in body and "The worker stopped." in body
    assert 'data-number="1"' in body and 'data-number="5"' in body


def test_the_sheet_takes_as_many_queries_for_sixteen_results_as_for_four(owner_client, project, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small = _finished_batch(project, 4)
    with CaptureQueriesContext(connection) as four:
        assert owner_client.get(reverse("batch_sheet", args=[small.pk])).status_code == 200
    large = _finished_batch(project, 16)
    with CaptureQueriesContext(connection) as sixteen:
        assert owner_client.get(reverse("batch_sheet", args=[large.pk])).status_code == 200
    assert len(sixteen) == len(four)


def test_an_unfinished_cell_polls_until_its_edit_finishes(owner_client, project):
    batch = _finished_batch(project, 1)
    waiting = Edit.objects.create(project=project, input_clip=project.clips.get(source_edit__isnull=True), prompt="x",
                                  ratio="1280:720", seed=3, batch=batch)
    url = reverse("batch_cell", args=[waiting.pk])
    response = owner_client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'hx-trigger="every 2s"' in response.content.decode()
    Edit.objects.filter(pk=waiting.pk).update(status=Status.CANCELLED)
    response = owner_client.get(url, HTTP_HX_REQUEST="true")
    # 286: htmx stops polling; the cell comes without its poll.
    assert response.status_code == 286 and "every 2s" not in response.content.decode()


def test_star_and_an_ab_compare_of_two_results(owner_client, project):
    batch = _finished_batch(project, 2)
    first, second = batch.edits.order_by("pk")
    assert owner_client.post(reverse("edit_star", args=[second.pk]), HTTP_HX_REQUEST="true").content.decode() == "★"
    second.refresh_from_db()
    assert second.starred
    page = owner_client.get(reverse("compare", args=[second.pk]), {"against": first.pk}).content.decode()
    assert f"edit #{first.pk}" in page
    assert reverse("clip_media", args=[first.result.pk, "video"]) in page
    assert reverse("clip_media", args=[second.result.pk, "video"]) in page


def test_another_user_reaches_nothing_of_a_batch(client, project, django_user_model):
    batch = _finished_batch(project, 1)
    edit = batch.edits.get()
    django_user_model.objects.create_user("mallory", password="a-long-passphrase-9")
    client.login(username="mallory", password="a-long-passphrase-9")
    assert client.get(reverse("batch_sheet", args=[batch.pk])).status_code == 404
    assert client.get(reverse("batch_cell", args=[edit.pk]), HTTP_HX_REQUEST="true").status_code == 404
    assert client.post(reverse("edit_star", args=[edit.pk])).status_code == 404
    for name in ("batch_pause", "batch_resume", "batch_cancel"):
        assert client.post(reverse(name, args=[batch.pk])).status_code == 404
    assert client.post(reverse("edit_move", args=[edit.pk]), {"where": "first"}).status_code == 404
    assert client.get(reverse("compare", args=[edit.pk]), {"against": edit.pk}).status_code == 404
    edit.refresh_from_db()
    batch.refresh_from_db()
    assert not edit.starred and not batch.paused


# ---------------------------------------------------------------- queue control


def _queued_batch(owner_client, project, count: int = 3) -> Batch:
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project, seed_count=str(count), seed="1"))
    assert response.status_code == 302
    return Batch.objects.get()


def test_a_paused_batch_waits_and_its_resume_runs_it(owner_client, project):
    from django.utils import timezone

    from editor.services import edits as edit_service
    from tests.fakes.studio import TaskQueue

    queue = TaskQueue()
    batch = _queued_batch(owner_client, project)
    assert owner_client.post(reverse("batch_pause", args=[batch.pk])).status_code == 302
    # A worker that picks up one of its runs leaves it queued...
    queue.run("run_edit_task")
    assert set(batch.edits.values_list("status", flat=True)) == {Status.QUEUED}
    # ...and the reaper does not put it back in the queue while the batch is paused.
    later = timezone.now() + timezone.timedelta(hours=1)
    assert edit_service.reap_stale_edits(later) == []
    sheet = owner_client.get(reverse("batch_sheet", args=[batch.pk])).content.decode()
    assert "paused" in sheet and "Resume the batch" in sheet
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        assert owner_client.post(reverse("batch_resume", args=[batch.pk])).status_code == 302
    batch.refresh_from_db()
    assert not batch.paused
    queue.run("run_edit_task")
    assert batch.edits.exclude(status=Status.QUEUED).exists()


def test_cancel_every_unfinished_edit_of_a_batch_in_one_action(owner_client, project):
    batch = _queued_batch(owner_client, project)
    assert owner_client.post(reverse("batch_cancel", args=[batch.pk])).status_code == 302
    assert set(batch.edits.values_list("status", flat=True)) == {Status.CANCELLED}


def test_a_queued_edit_can_run_next_or_last(owner_client, project):
    from django_tasks_db.models import DBTaskResult

    batch = _queued_batch(owner_client, project)
    first, second, third = batch.edits.order_by("pk")
    assert owner_client.post(reverse("edit_move", args=[third.pk]), {"where": "first"}).status_code == 302
    ready = list(DBTaskResult.objects.filter(status="READY"))
    # The worker's order: priority first.
    assert ready[0].id == __import__("uuid").UUID(Edit.objects.get(pk=third.pk).task_id)
    assert owner_client.post(reverse("edit_move", args=[third.pk]), {"where": "last"}).status_code == 302
    ready = list(DBTaskResult.objects.filter(status="READY"))
    assert str(ready[-1].id) == Edit.objects.get(pk=third.pk).task_id
