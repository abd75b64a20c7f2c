"""Remote engines in the browser's view: offered only with a key, priced before submitting, key never shown."""

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from editor.models import Edit, ProviderHealth, Status

KEY = "key_" + "0123456789abcdef" * 8


@pytest.fixture
def runway(settings):
    cache.clear()
    settings.RUNWAYML_API_SECRET = KEY
    settings.RUNWAYML_BASE_URL = "https://api.dev.runwayml.com"
    settings.ALEPH_OUTPUT_HOSTS = ["outputs.example.com"]
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/v1/organization":
            return httpx.Response(200, json={"creditBalance": 1234, "tier": {"maxMonthlyCreditSpend": 100000, "models": {}}, "usage": {"models": {}}})
        return httpx.Response(404, json={"error": "not found"})

    settings.ALEPH_REMOTE_TRANSPORT = httpx.MockTransport(handler)
    yield calls
    cache.clear()


def _form(project, **overrides):
    data = {
        "prompt": "relight this as golden hour",
        "input_clip": project.clips.get().pk,
        "ratio": "1280:720",
        "seed": "5",
        "public_figure_threshold": "auto",
        "engine": "runway",
        "model": "gen4_aleph",
        "trim_start": "0",
    }
    data.update(overrides)
    return data


def test_without_a_key_only_the_local_engine_is_offered(owner_client, project):
    form = owner_client.get(reverse("project_detail", args=[project.pk])).context["form"]
    assert [value for value, _ in form.fields["engine"].choices] == ["local"]
    response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project))
    assert response.status_code == 400
    assert Edit.objects.count() == 0


def test_with_a_key_runway_and_its_models_are_offered_and_the_key_is_never_shown(owner_client, project, runway):
    response = owner_client.get(reverse("project_detail", args=[project.pk]))
    form = response.context["form"]
    assert [value for value, _ in form.fields["engine"].choices] == ["local", "runway"]
    choices = dict(form.fields["model"].choices)
    assert list(choices) == ["aleph2", "gen4_aleph", "gemini_omni_flash", "seedance2", "seedance2_fast", "seedance2_mini", "seedance2_5", "hailuo3"]
    # aleph2 comes first; gen4_aleph says it may be gone from newer accounts.
    assert form.fields["model"].initial == "aleph2"
    assert "may be unavailable on newer Runway accounts" in choices["gen4_aleph"]
    body = response.content.decode()
    assert KEY not in body and KEY[:20] not in body


def test_the_form_shows_the_estimated_cost_and_the_credit_balance(owner_client, project, runway):
    url = reverse("edit_estimate", args=[project.pk])
    response = owner_client.get(url, _form(project), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    # The 1 s clip is under the 5 s window: 15 credits for one output second at $0.01 each.
    assert "$0.15" in body and "15 credits" in body
    assert "1234 credits" in body
    assert KEY not in body
    # The balance is cached for a minute: a second look does not call Runway again.
    owner_client.get(url, _form(project), HTTP_HX_REQUEST="true")
    assert [c.url.path for c in runway].count("/v1/organization") == 1
    assert all(c.headers["authorization"] == f"Bearer {KEY}" for c in runway)


def test_the_local_engine_estimate_says_free(owner_client, project):
    body = owner_client.get(
        reverse("edit_estimate", args=[project.pk]), _form(project, engine="local"), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "free" in body


def test_submitting_records_the_estimated_cost(owner_client, project, runway):
    response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project))
    assert response.status_code == 302
    edit = Edit.objects.get()
    assert (edit.engine, edit.model, edit.cost_credits, edit.cost_usd) == ("runway", "gen4_aleph", 15, Decimal("0.15"))
    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "est. $0.15 (15 credits)" in body


def test_a_trim_start_past_the_end_is_refused(owner_client, project, runway):
    response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project, trim_start="3"))
    assert response.status_code == 400
    assert "only 1.00 s long" in response.content.decode()
    assert Edit.objects.count() == 0


def test_remote_edits_need_output_hosts_before_billing(owner_client, project, runway, settings):
    settings.ALEPH_OUTPUT_HOSTS = []
    response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project))
    assert response.status_code == 400
    assert "ALEPH_OUTPUT_HOSTS" in response.content.decode()
    assert Edit.objects.count() == 0


def test_a_paused_provider_refuses_new_edits_with_a_banner(owner_client, project, runway):
    ProviderHealth.objects.create(provider="runway", consecutive_failures=5, paused_until=timezone.now() + timedelta(minutes=5))
    response = owner_client.post(reverse("edit_create", args=[project.pk]), _form(project))
    assert response.status_code == 400
    assert "paused" in response.content.decode()
    body = owner_client.get(reverse("edit_estimate", args=[project.pk]), _form(project), HTTP_HX_REQUEST="true").content.decode()
    assert "paused" in body


def test_needs_attention_offers_submit_again(owner_client, project, runway, django_capture_on_commit_callbacks):
    edit = Edit.objects.create(
        project=project, input_clip=project.clips.get(), prompt="x", ratio="1280:720", seed=1, engine="runway",
        model="gen4_aleph", status=Status.NEEDS_ATTENTION, error_message="We could not tell whether Runway received this edit.",
        remote_submitted_at=timezone.now(),
    )
    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "Submit again (new, billed task)" in body
    assert "could not tell" in body
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("edit_submit_again", args=[edit.pk]))
    edit.refresh_from_db()
    assert edit.status == Status.QUEUED and edit.remote_submitted_at is None


def test_submit_again_is_only_for_needs_attention(owner_client, project, runway):
    edit = Edit.objects.create(
        project=project, input_clip=project.clips.get(), prompt="x", ratio="1280:720", seed=1, engine="runway",
        model="gen4_aleph", status=Status.FAILED,
    )
    owner_client.post(reverse("edit_submit_again", args=[edit.pk]))
    edit.refresh_from_db()
    assert edit.status == Status.FAILED


def test_outsiders_cannot_submit_again_or_see_estimates(outsider_client, project, runway):
    edit = Edit.objects.create(
        project=project, input_clip=project.clips.get(), prompt="x", ratio="1280:720", seed=1, engine="runway",
        model="gen4_aleph", status=Status.NEEDS_ATTENTION,
    )
    assert outsider_client.post(reverse("edit_submit_again", args=[edit.pk])).status_code == 404
    assert outsider_client.get(reverse("edit_estimate", args=[project.pk])).status_code == 404
    edit.refresh_from_db()
    assert edit.status == Status.NEEDS_ATTENTION


def test_account_and_project_pages_total_the_estimated_cost(owner_client, project, runway):
    for _ in range(2):
        owner_client.post(reverse("edit_create", args=[project.pk]), _form(project))
    body = owner_client.get(reverse("account")).content.decode()
    assert "$0.30 (30 credits)" in body and "1234 credits" in body
    assert KEY not in body
    assert "Estimated spend on this project: $0.30" in owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()


def test_a_paused_provider_shows_a_banner_on_the_project_page(owner_client, project, runway):
    ProviderHealth.objects.create(provider="runway", consecutive_failures=5, paused_until=timezone.now() + timedelta(minutes=5))
    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "new Runway edits are paused" in body


@pytest.fixture
def two_references(project, cat_png):
    from editor.services.projects import add_reference
    from tests.conftest import upload_of

    return [add_reference(project, upload_of(cat_png, content_type="image/png")) for _ in range(2)]


def test_aleph2_pins_each_ticked_reference_to_a_time(owner_client, owner, bunny, cat_png, runway):
    from editor.services.projects import add_reference, create_project_from_upload
    from tests.conftest import upload_of

    project = create_project_from_upload(owner, upload_of(bunny), "Bunny")
    first, second = (add_reference(project, upload_of(cat_png, content_type="image/png")) for _ in range(2))
    data = _form(project, model="aleph2", references=[first.pk, second.pk])
    data[f"keyframe_at_{first.pk}"] = "0"
    data[f"keyframe_at_{second.pk}"] = "4.5"
    response = owner_client.post(reverse("edit_create", args=[project.pk]), data)
    import re
    assert response.status_code == 302, re.findall(r"role=\"alert\">([^<]*)<", response.content.decode())
    assert Edit.objects.get().keyframes == [{"reference": first.pk, "seconds": 0.0}, {"reference": second.pk, "seconds": 4.5}]


@pytest.mark.parametrize("seconds, message", [("", "Give the time"), ("5", "outside the part")])
def test_aleph2_keyframes_need_a_time_inside_the_clip(owner_client, project, runway, two_references, seconds, message):
    # (The 1 s clip is also too short for aleph2; the keyframe error is reported either way.)
    first = two_references[0]
    data = _form(project, model="aleph2", references=[first.pk])
    data[f"keyframe_at_{first.pk}"] = seconds
    response = owner_client.post(reverse("edit_create", args=[project.pk]), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Edit.objects.count() == 0


def test_gen4_aleph_takes_one_reference(owner_client, project, runway, two_references):
    data = _form(project, references=[r.pk for r in two_references])
    response = owner_client.post(reverse("edit_create", args=[project.pk]), data)
    assert response.status_code == 400
    assert "one reference image" in response.content.decode()


def test_moderation_failures_are_not_offered_an_unchanged_retry(owner_client, project, runway):
    edit = Edit.objects.create(
        project=project, input_clip=project.clips.get(), prompt="x", ratio="1280:720", seed=1, engine="runway",
        model="gen4_aleph", status=Status.FAILED, error_code="SAFETY.INPUT.TEXT", error_message="Blocked.",
        moderated=True,  # as the poll records a moderation failure
    )
    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "Blocked by moderation" in body and reverse("edit_rerun", args=[edit.pk]) not in body
    owner_client.post(reverse("edit_rerun", args=[edit.pk]), {"seed": "same"})
    assert Edit.objects.count() == 1


def test_a_cancelled_cometapi_edit_says_it_may_still_be_billed(owner_client, project, runway):
    Edit.objects.create(
        project=project, input_clip=project.clips.get(), prompt="x", ratio="1280:720", seed=1, engine="cometapi",
        model="gen4_aleph", status=Status.CANCELLED,
        error_message="Cancelled here: polling stopped. CometAPI has no cancel route, so the task (t1) may still complete and be billed.",
    )
    assert "may still complete and be billed" in owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()


def test_the_estimate_sends_only_what_the_price_depends_on_and_is_rendered_with_the_page(owner_client, project, runway):
    body = owner_client.get(
        reverse("project_detail", args=[project.pk]), {"engine": "runway", "model": "gen4_aleph"}
    ).content.decode()
    # The first price is on the page itself (no request needed, and none without JavaScript)...
    assert "Estimated cost: $0.15" in body and "hx-trigger=\"load" not in body
    # ...and a change asks for the price with the fields it depends on, never the prompt or the mask.
    assert 'hx-params="engine,model,input_clip,trim_start,output_format,seed_count,prompt_count,also"' in body
    assert "<noscript>" in body and "Runway gen4_aleph $0.15" in body


def test_copy_settings_carries_model_start_and_keyframes(owner_client, owner, bunny, cat_png, runway):
    from editor.services.projects import add_reference, create_project_from_upload
    from tests.conftest import upload_of

    project = create_project_from_upload(owner, upload_of(bunny), "Bunny")
    first, second = (add_reference(project, upload_of(cat_png, content_type="image/png")) for _ in range(2))
    data = _form(project, model="aleph2", trim_start="0.5", references=[first.pk, second.pk])
    data[f"keyframe_at_{first.pk}"] = "0.5"
    data[f"keyframe_at_{second.pk}"] = "3"
    assert owner_client.post(reverse("edit_create", args=[project.pk]), data).status_code == 302
    edit = Edit.objects.get()
    recipe = edit.recipe()
    assert recipe["model"] == "aleph2" and recipe["trim_start"] == "0.5"
    assert recipe["keyframes"] == [{"reference": first.pk, "seconds": 0.5}, {"reference": second.pk, "seconds": 3.0}]
    copied = owner_client.get(f"{reverse('project_detail', args=[project.pk])}?{edit.settings_query()}")
    form = copied.context["form"]
    assert (form.initial["engine"], form.initial["model"], form.initial["trim_start"]) == ("runway", "aleph2", 0.5)
    body = copied.content.decode()
    assert f'name="keyframe_at_{second.pk}" min="0" step="0.01" value="3"' in body
    assert f'name="references" value="{second.pk}" checked' in body
    # What the form would send again is the same edit.
    assert owner_client.post(reverse("edit_create", args=[project.pk]), data).status_code == 302
    again = Edit.objects.latest("pk")
    assert (again.model, again.trim_start, again.keyframes) == (edit.model, edit.trim_start, edit.keyframes)


def test_a_pasted_recipe_brings_its_keyframes(owner_client, project, runway, two_references):
    import json

    first = two_references[0]
    recipe = {"prompt": "snow", "seed": "9", "engine": "runway", "model": "aleph2", "ratio": "960:960",
              "trim_start": "0", "keyframes": [{"reference": first.pk, "seconds": 0.25}]}
    response = owner_client.get(reverse("project_detail", args=[project.pk]), {"recipe": json.dumps(recipe)})
    body = response.content.decode()
    assert f'name="keyframe_at_{first.pk}" min="0" step="0.01" value="0.25"' in body
    assert f'name="references" value="{first.pk}" checked' in body
    assert response.context["form"].initial["model"] == "aleph2"


def test_the_page_script_gets_the_model_catalogue(owner_client, project, runway):
    import json
    import re

    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    facts = json.loads(re.search(r'<script id="model-catalog" type="application/json">(.*?)</script>', body).group(1))
    assert facts["models"]["aleph2"]["keyframes"] == 5 and facts["models"]["gen4_aleph"]["references"] == 1
    assert facts["providers"]["cometapi"] == ["gen4_aleph"]


# ---------------------------------------------------------------- aleph2's choices on the form


@pytest.fixture
def bunny_project(owner, bunny):
    from editor.services.projects import create_project_from_upload
    from tests.conftest import upload_of

    return create_project_from_upload(owner, upload_of(bunny), "Bunny")


@pytest.fixture
def bunny_references(bunny_project, cat_png):
    from editor.services.projects import add_reference
    from tests.conftest import upload_of

    return [add_reference(bunny_project, upload_of(cat_png, content_type="image/png")) for _ in range(2)]


def _aleph2(project, references, **overrides):
    data = _form(project, model="aleph2", ratio="", prompt="turn the sky violet", references=[r.pk for r in references])
    data.update(overrides)
    return data


def test_keyframes_pinned_by_time_and_position_with_edit_windows(owner_client, bunny_project, runway, bunny_references):
    project = bunny_project
    first, second = bunny_references
    data = _aleph2(project, bunny_references, framing="outpaint", ratio="9:16", output_format="prores", prores_profile="422 HQ")
    data |= {f"keyframe_at_{first.pk}": "1.5", f"keyframe_from_{first.pk}": "1", f"keyframe_to_{first.pk}": "3"}
    data |= {f"keyframe_pin_{second.pk}": "at", f"keyframe_at_{second.pk}": "0.9", f"keyframe_from_{second.pk}": "3", f"keyframe_to_{second.pk}": "5"}
    response = owner_client.post(reverse("edit_create", args=[project.pk]), data)
    assert response.status_code == 302, response.context["form"].errors
    edit = Edit.objects.get()
    assert edit.keyframes == [
        {"reference": first.pk, "seconds": 1.5, "range": [1, 3]},
        {"reference": second.pk, "at": 0.9, "range": [3, 5]},
    ]
    assert (edit.ratio, edit.options) == ("9:16", {"framing": "outpaint", "output_format": "prores", "prores_profile": "422 HQ"})
    # The estimate carries ProRes's surcharge: 5.28 s (6 whole seconds) at 28 + 5 credits a second.
    assert edit.cost_credits == 198
    # "Copy settings" brings every one of them back.
    form = owner_client.get(f"{reverse('project_detail', args=[project.pk])}?{edit.settings_query()}").context["form"]
    assert (form.initial["framing"], form.initial["ratio"], form.initial["output_format"]) == ("outpaint", "9:16", "prores")
    assert form.initial["keyframe_times"][f"keyframe_pin_{second.pk}"] == "at"
    assert form.initial["keyframe_times"][f"keyframe_to_{first.pk}"] == "3"


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"keyframe_from_A": "1", "keyframe_to_A": "3", "keyframe_at_A": "2"}, "every keyframe an edit window, or none"),
        ({"keyframe_from_A": "0", "keyframe_to_A": "1", "keyframe_at_A": "2", "keyframe_from_B": "0", "keyframe_to_B": "2"}, "outside its edit window"),
        ({"keyframe_from_A": "2", "keyframe_to_A": "2", "keyframe_from_B": "0", "keyframe_to_B": "2"}, "its end after its start"),
        ({"keyframe_from_A": "0", "keyframe_to_A": "9", "keyframe_from_B": "0", "keyframe_to_B": "2"}, "whole seconds from 0 to 6"),
        ({"keyframe_from_A": "0.5", "keyframe_to_A": "2", "keyframe_from_B": "0", "keyframe_to_B": "2"}, "whole seconds"),
        ({"keyframe_pin_A": "at", "keyframe_at_A": "1.5"}, "between 0 and 1"),
        ({"keyframe_at_A": "40"}, "outside the part of the clip"),
    ],
)
def test_the_form_enforces_the_keyframe_rules(owner_client, bunny_project, runway, bunny_references, fields, words):
    project = bunny_project
    first, second = bunny_references
    data = _aleph2(project, bunny_references)
    data |= {f"keyframe_at_{first.pk}": "0", f"keyframe_at_{second.pk}": "1"}
    data |= {k.replace("_A", f"_{first.pk}").replace("_B", f"_{second.pk}"): v for k, v in fields.items()}
    response = owner_client.post(reverse("edit_create", args=[project.pk]), data)
    assert response.status_code == 400
    assert words in " ".join(response.context["form"].errors["references"])
    assert not Edit.objects.exists()


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"framing": "outpaint", "ratio": "1280:720"}, "ratio", "Choose one of the ratios aleph2 offers"),
        ({"model": "gen4_aleph", "framing": "outpaint", "ratio": "9:16"}, "framing", "cannot outpaint"),
        ({"model": "gen4_aleph", "output_format": "prores", "ratio": "1280:720"}, "output_format", "MP4 only"),
        ({"model": "hailuo3", "ratio": "9:16", "duration": "40"}, "duration", "5 to 15 s"),
        ({"model": "gemini_omni_flash", "prompt": ""}, "prompt", "needs a prompt"),
        ({"model": "aleph2", "prompt": ""}, "prompt", "a prompt or at least one keyframe"),
        ({"model": "aleph2", "prompt": "x" * 1001}, "prompt", "at most 1000 characters"),
        ({"engine": "local", "prompt": "x" * 1001}, "prompt", "at most 1000 characters"),
    ],
)
def test_the_form_offers_only_what_the_chosen_model_takes(owner_client, project, runway, overrides, field, words):
    data = _form(project, model="aleph2", ratio="")
    data.update(overrides)
    response = owner_client.post(reverse("edit_create", args=[project.pk]), data)
    assert response.status_code == 400
    assert words in " ".join(response.context["form"].errors[field])
    assert not Edit.objects.exists()


def test_a_long_prompt_goes_to_a_model_that_takes_it(owner_client, project, runway):
    data = _form(project, model="gemini_omni_flash", ratio="", prompt="make it rain " * 200)
    assert owner_client.post(reverse("edit_create", args=[project.pk]), data).status_code == 302
    edit = Edit.objects.get()
    assert len(edit.prompt) > 1000 and edit.options == {"framing": "keep"}


def test_the_page_carries_every_models_controls_for_the_script(owner_client, project, runway):
    import json

    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    facts = json.loads(body.split('id="model-catalog" type="application/json">', 1)[1].split("</script>", 1)[0])
    assert facts["models"]["aleph2"]["framings"] == ["keep", "crop", "outpaint"]
    assert facts["models"]["aleph2"]["ratios"]["outpaint"] == ["16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "21:9"]
    assert facts["models"]["hailuo3"]["seed"] is False and facts["models"]["hailuo3"]["resolutions"] == ["768P", "2K"]
    for control in ("formats", "prores", "modes", "durations", "resolutions", "audio", "reference_videos", "seed", "moderation", "framings"):
        assert f'data-model-control="{control}"' in body
    assert 'data-ratio="9:16"' in body and 'data-ratio="adaptive"' in body
