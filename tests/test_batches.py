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
    assert f"9 edits</strong> · about {3 * 168 + 3 * 75} credits" in estimate
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
