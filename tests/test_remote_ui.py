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
    assert [value for value, _ in form.fields["model"].choices] == ["gen4_aleph", "aleph2"]
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
    # ...and a change asks for the price with the four fields it depends on, never the prompt or the mask.
    assert 'hx-params="engine,model,input_clip,trim_start"' in body
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
    assert f'name="keyframe_at_{second.pk}" min="0" step="0.1" value="3"' in body
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
    assert f'name="keyframe_at_{first.pk}" min="0" step="0.1" value="0.25"' in body
    assert f'name="references" value="{first.pk}" checked' in body
    assert response.context["form"].initial["model"] == "aleph2"


def test_the_page_script_gets_the_model_catalogue(owner_client, project, runway):
    import json
    import re

    body = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    facts = json.loads(re.search(r'<script id="model-catalog" type="application/json">(.*?)</script>', body).group(1))
    assert facts["models"]["aleph2"]["keyframes"] == 5 and facts["models"]["gen4_aleph"]["references"] == 1
    assert facts["providers"]["cometapi"] == ["gen4_aleph"]
