"""Runway's current API through the studio: aleph2's outpainting, keyframe windows and master formats,
the whole video-to-video family, real costs, and the provider's field-level refusals.

The fake provider validates every create against its model's schema from Runway's published
OpenAPI document and answers as the spec says (estimatedCost, cost, 204/404 on DELETE), so a body
the spec refuses fails these tests on the wire.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from editor import media
from editor.models import Edit, Spend, Status
from editor.services import edits as edit_service
from editor.storage import local_copy
from tests.fakes import CURRENT_MODELS, TaskPlan
from tests.test_remote_edits import long_project, original, queue, runway, three_second_clip  # noqa: F401 (fixtures)

QUICK = TaskPlan(steps=(("RUNNING", 0.5),))


def ask(project, references=(), **overrides) -> Edit:
    from django.test import TestCase

    settings = {
        "prompt": "turn the meadow into a snowy field at dusk",
        "ratio": "",
        "seed": 77,
        "public_figure_threshold": "auto",
        "engine": "runway",
        "model": "aleph2",
        "trim_start": 0.0,
        **overrides,
    }
    with TestCase.captureOnCommitCallbacks(execute=True):
        return edit_service.create_edit(project, original(project), edit_service.EditSettings(**settings), list(references))


def run_to_the_end(queue, edit) -> Edit:
    return queue.run_edit_to_the_end(edit)


@pytest.mark.parametrize(
    "output_format, extension, content_type, codec",
    [
        ("prores", ".mov", "video/quicktime", "prores"),
        ("png_sequence", ".zip", "application/zip", "png"),
        ("sdr_rec709_10bit", ".mp4", "video/mp4", "hevc"),
    ],
)
def test_a_master_is_kept_as_delivered_and_plays_as_an_h264_proxy(
    owner_client, long_project, runway, queue, output_format, extension, content_type, codec
):
    runway.next_plans.append(QUICK)
    options = {"framing": "keep", "output_format": output_format}
    if output_format == "prores":
        options["prores_profile"] = "422 HQ"
    edit = run_to_the_end(queue, ask(long_project, options=options))
    assert edit.status == Status.SUCCEEDED, edit.error_message
    [create] = runway.creates
    assert create.json["outputFormat"] == output_format
    assert create.json.get("proresProfile") == options.get("prores_profile")
    clip = edit.result
    # The master exactly as delivered: same bytes, its real extension and type.
    assert clip.master.endswith(extension) and clip.master_type == content_type
    with local_copy(clip.master) as master:
        assert master.read_bytes() == runway.master_bytes(output_format)
    assert clip.master_size == len(runway.master_bytes(output_format))
    # The players get an H.264 proxy, probed like any result, with a poster and the recipe.
    assert (clip.video_codec, clip.container.startswith("mov")) == ("h264", True)
    with local_copy(clip.file) as proxy:
        with __import__("av").open(str(proxy)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.pix_fmt == "yuv420p"
            assert "aleph2" in container.metadata.get("comment", "")
        assert media.probe(proxy).frame_count == clip.frame_count > 10
    assert clip.poster
    # Download gives the master with its real name and type; the proxy has its own download.
    download = owner_client.get(reverse("clip_media", args=[clip.pk, "download"]))
    assert download.status_code == 200 and download["Content-Type"] == content_type
    assert f'filename="edit-{edit.pk}{extension}"' in download["Content-Disposition"]
    assert b"".join(download.streaming_content) == runway.master_bytes(output_format)
    proxy = owner_client.get(reverse("clip_media", args=[clip.pk, "proxy"]))
    assert proxy.status_code == 200 and proxy["Content-Type"] == "video/mp4"
    page = owner_client.get(reverse("project_detail", args=[long_project.pk])).content.decode()
    assert f"Download {clip.master_label}" in page and "Download MP4 proxy" in page
    # Deleting the edit removes the master too.
    from django.core.files.storage import default_storage
    from django.test import TestCase

    name = clip.master
    with TestCase.captureOnCommitCallbacks(execute=True):
        edit_service.delete_edit(edit)
    assert not default_storage.exists(name)


def test_an_mp4_result_has_no_separate_master(long_project, runway, queue):
    edit = run_to_the_end(queue, ask(long_project, options={"framing": "keep"}))
    assert edit.status == Status.SUCCEEDED, edit.error_message
    assert edit.result.master == "" and edit.result.video_codec == "h264"


def test_aleph2_outpaints_with_two_keyframes_one_in_an_edit_window(long_project, runway, queue, cat_png):
    from editor.services.projects import add_reference
    from tests.conftest import upload_of

    first, second = (add_reference(long_project, upload_of(cat_png, content_type="image/png")) for _ in range(2))
    keyframes = ({"reference": first.pk, "seconds": 0.5, "range": [0, 2]}, {"reference": second.pk, "at": 0.8, "range": [2, 3]})
    edit = ask(long_project, [first, second], ratio="9:16", keyframes=keyframes, options={"framing": "outpaint"})
    edit = run_to_the_end(queue, edit)
    assert edit.status == Status.SUCCEEDED, edit.error_message
    body = runway.creates[0].json
    assert body["targetAspectRatio"] == "9:16" and "ratio" not in body
    assert [k.get("range") for k in body["keyframes"]] == [{"start_seconds": 0, "end_seconds": 2}, {"start_seconds": 2, "end_seconds": 3}]
    assert (body["keyframes"][0]["seconds"], body["keyframes"][1]["at"]) == (0.5, 0.8)
    # The input keeps its own shape for outpainting (320×240 here), not cropped to 9:16.
    import base64
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        sent = Path(tmp) / "sent.mp4"
        sent.write_bytes(base64.b64decode(body["videoUri"].split(",", 1)[1]))
        info = media.probe(sent)
    assert (info.width, info.height) == (320, 240)
    assert "outpaint 9:16" in edit.summary


@pytest.mark.parametrize("model", [m for m in CURRENT_MODELS if m != "aleph2"])
def test_every_model_of_the_family_runs_to_a_stored_result(owner_client, long_project, runway, queue, model):
    from editor.engines.remote import catalog

    spec = catalog.MODELS[model]
    ratio = spec.model_ratios[0] if spec.model_ratios else ""
    options = {"framing": spec.framings[0]}
    if spec.modes:
        options["mode"] = "edit"
    if spec.takes_audio:
        options["audio"] = False
    if spec.resolutions:
        options["resolution"] = spec.resolutions[0]
    runway.next_plans.append(TaskPlan(steps=(("RUNNING", 0.5),), estimate=90, cost=60))
    edit = run_to_the_end(queue, ask(long_project, model=model, ratio=ratio, options=options))
    assert edit.status == Status.SUCCEEDED, edit.error_message
    [create] = runway.creates
    body = create.json
    assert body["model"] == model and spec.video_field in body
    assert ("seed" in body) == spec.takes_seed and "contentModeration" not in body
    # No published price: the studio estimated nothing, the provider's estimate and charge are recorded.
    assert (edit.cost_credits, edit.cost_usd) == (None, None)
    assert (edit.provider_estimate_credits, edit.charged_credits) == (90, 60)
    assert Spend.objects.get(edit=edit).charged_credits == 60
    card = owner_client.get(reverse("project_detail", args=[long_project.pk])).content.decode()
    assert "provider&#x27;s estimate 90 credits · charged 60 credits" in card
    assert "price shown after the run" in card


def test_aleph2_costs_are_recorded_and_shown_side_by_side(owner_client, long_project, runway, queue):
    runway.next_plans.append(TaskPlan(steps=(("RUNNING", 0.5),), estimate=84, cost=84))
    edit = run_to_the_end(queue, ask(long_project, options={"framing": "keep"}))
    assert edit.status == Status.SUCCEEDED
    # The studio's estimate from the catalogue: 3 s at 28 credits a second, 56 at least.
    assert (edit.cost_credits, edit.provider_estimate_credits, edit.charged_credits) == (84, 84, 84)
    page = owner_client.get(reverse("project_detail", args=[long_project.pk])).content.decode()
    assert "est. $0.84 (84 credits)" in page and "charged 84 credits" in page
    account = owner_client.get(reverse("account")).content.decode()
    assert "data-paid-edits" in account and "84 credits" in account


def test_a_refunded_task_shows_a_charge_of_zero(owner_client, long_project, runway, queue):
    runway.next_plans.append(TaskPlan(steps=(), outcome="FAILED", failure_code="INTERNAL", cost=0))
    edit = run_to_the_end(queue, ask(long_project, options={"framing": "keep"}))
    assert edit.status == Status.FAILED and edit.charged_credits == 0
    assert Spend.objects.get(edit=edit).charged_credits == 0
    page = owner_client.get(reverse("project_detail", args=[long_project.pk])).content.decode()
    assert "charged 0 (refunded)" in page
    assert "0 (refunded)" in owner_client.get(reverse("account")).content.decode()


def test_an_account_without_gen4_aleph_is_told_to_pick_aleph2(long_project, runway, queue):
    runway.legacy_models = False
    edit = run_to_the_end(queue, ask(long_project, model="gen4_aleph", ratio="1280:720"))
    assert edit.status == Status.FAILED and edit.error_code == "unknown_model"
    assert "Choose aleph2" in edit.error_message and "Nothing was created or billed" in edit.error_message
    assert Spend.objects.get(edit=edit).charged_credits == 0


def test_the_providers_field_issues_reach_the_user_one_by_one(owner_client, long_project, runway, queue):
    from tests.fakes import Fault

    runway.inject(
        "POST",
        "/v1/video_to_video",
        Fault.respond(
            400,
            {
                "error": "Validation of body failed",
                "issues": [
                    {"code": "too_big", "path": ["keyframes", 0, "range", "end_seconds"], "message": "Number must be less than or equal to 3"},
                    {"code": "invalid_enum_value", "path": ["outputFormat"], "message": "Invalid enum value"},
                ],
            },
        ),
    )
    edit = run_to_the_end(queue, ask(long_project, options={"framing": "keep"}))
    assert edit.status == Status.FAILED
    assert "refused 2 settings of this edit" in edit.error_message
    assert edit.notes == ["Keyframe 1, edit window, end: Number must be less than or equal to 3", "Output format: Invalid enum value"]
    page = owner_client.get(reverse("project_detail", args=[long_project.pk])).content.decode()
    assert "Keyframe 1, edit window, end: Number must be less than or equal to 3" in page


def test_a_model_without_a_price_is_refused_to_a_limited_allowance(long_project, runway, queue):
    from editor.errors import InputError
    from editor.models import Member

    Member.objects.filter(user=long_project.owner).update(monthly_credits=1000)
    with pytest.raises(InputError, match="no published price"):
        ask(long_project, model="gemini_omni_flash")
    assert not Edit.objects.exists() and not runway.creates


def test_cancelling_twice_counts_the_providers_404_as_done(long_project, runway, queue):
    from editor.services import providers

    runway.next_plans.append(TaskPlan(steps=(("PENDING", None),) * 5))
    edit = ask(long_project, options={"framing": "keep"})
    queue.run("run_edit_task")
    edit.refresh_from_db()
    with providers.client_for("runway") as client:
        client.cancel_task(edit.remote_task_id)
        # Already cancelled: the spec's 404, which is a success for a cancel.
        client.cancel_task(edit.remote_task_id)
    statuses = [r for r in runway.requests if r.method == "DELETE"]
    assert len(statuses) == 2


def test_other_clips_of_the_project_go_as_reference_videos_within_the_models_length(long_project, runway, queue):
    from tests.conftest import make_finished_edit

    result = make_finished_edit(long_project).result
    options = {"framing": "model", "reference_clips": [result.pk], "audio": True}
    edit = run_to_the_end(queue, ask(long_project, model="seedance2_fast", ratio="1280:720", options=options))
    assert edit.status == Status.SUCCEEDED, edit.error_message
    body = runway.creates[0].json
    [reference] = body["referenceVideos"]
    assert reference["type"] == "video" and reference["uri"].startswith("data:video/mp4;base64,")
    assert (body["ratio"], body["audio"]) == ("1280:720", True)
    # 3 s of input and 3 s of reference fit seedance's 15 s; a 30 s model limit is not the rule here.
    from editor.engines.remote import catalog

    assert catalog.MODELS["seedance2_fast"].reference_video_seconds == 15.0


def test_reference_videos_past_the_combined_length_fail_before_anything_is_sent(long_project, runway, queue, monkeypatch):
    from dataclasses import replace

    from editor.engines.remote import catalog
    from tests.conftest import make_finished_edit

    result = make_finished_edit(long_project).result
    # A model whose combined length the 3 s input already fills.
    monkeypatch.setitem(catalog.MODELS, "seedance2_fast", replace(catalog.MODELS["seedance2_fast"], reference_video_seconds=3.5))
    options = {"framing": "model", "reference_clips": [result.pk]}
    edit = run_to_the_end(queue, ask(long_project, model="seedance2_fast", ratio="1280:720", options=options))
    assert edit.status == Status.FAILED and edit.error_code == "references_too_long"
    assert not runway.creates
    assert Spend.objects.get(edit=edit).charged_credits == 0
