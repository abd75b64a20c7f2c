"""Request bodies built to the contract, and task failures turned into plain language."""

from __future__ import annotations

import pytest

from editor.constants import SEED_MAX
from editor.engines.remote.body import Keyframe, Options, build_body
from editor.engines.remote.errors import RemoteError
from editor.engines.remote.failures import describe_failure

VIDEO = "data:video/mp4;base64,AAAA"
IMAGE = "data:image/png;base64,iVBO"


def test_gen4_aleph_body_matches_the_contract_field_by_field():
    body = build_body(
        "gen4_aleph",
        "  make it snow  ",
        VIDEO,
        ratio="960:960",
        seed=SEED_MAX,
        reference_uris=[IMAGE],
        public_figure_threshold="low",
    )
    assert body == {
        "model": "gen4_aleph",
        "promptText": "make it snow",
        "videoUri": VIDEO,
        "references": [{"type": "image", "uri": IMAGE}],
        "ratio": "960:960",
        "seed": SEED_MAX,
        "contentModeration": {"publicFigureThreshold": "low"},
    }


def test_aleph2_body_carries_keyframes_and_an_optional_prompt():
    body = build_body(
        "aleph2",
        "",
        "runway://uploads/abc/in.mp4",
        ratio="1280:720",
        seed=0,
        keyframes=[Keyframe(IMAGE, seconds=0.0), Keyframe("https://img.example/k.jpg", at=0.25)],
        video_seconds=10.0,
        options=Options(framing="crop"),
    )
    # Cropped by the studio: aleph2's deprecated `ratio` is not sent.
    assert body == {
        "model": "aleph2",
        "videoUri": "runway://uploads/abc/in.mp4",
        "keyframes": [{"seconds": 0.0, "uri": IMAGE}, {"at": 0.25, "uri": "https://img.example/k.jpg"}],
        "seed": 0,
        "contentModeration": {"publicFigureThreshold": "auto"},
        "outputFormat": "mp4",
    }


def test_aleph2_edit_windows_outpainting_and_prores():
    body = build_body(
        "aleph2",
        "turn the sky violet",
        VIDEO,
        ratio="9:16",
        seed=7,
        keyframes=[Keyframe(IMAGE, seconds=1.5, window=(1, 3)), Keyframe(IMAGE, at=0.8, window=(3, 5))],
        video_seconds=5.0,
        options=Options(framing="outpaint", output_format="prores", prores_profile="422 HQ"),
    )
    assert body["targetAspectRatio"] == "9:16" and "ratio" not in body
    assert body["keyframes"] == [
        {"uri": IMAGE, "seconds": 1.5, "range": {"start_seconds": 1, "end_seconds": 3}},
        {"uri": IMAGE, "at": 0.8, "range": {"start_seconds": 3, "end_seconds": 5}},
    ]
    assert (body["outputFormat"], body["proresProfile"]) == ("prores", "422 HQ")


@pytest.mark.parametrize(
    "keyframes, words",
    [
        ([Keyframe(IMAGE, seconds=1.0, window=(0, 2)), Keyframe(IMAGE, seconds=3.0)], "every keyframe has an edit window or none"),
        ([Keyframe(IMAGE, seconds=3.0, window=(0, 3))], "outside its edit window"),
        ([Keyframe(IMAGE, at=0.9, window=(0, 2))], "outside its edit window"),
        ([Keyframe(IMAGE, seconds=1.0, window=(2, 2))], "end after its start"),
        ([Keyframe(IMAGE, seconds=1.0, window=(0, 31))], "end after its start"),
        ([Keyframe(IMAGE, seconds=1.0, at=0.5)], "either by time"),
        ([Keyframe(IMAGE, at=1.5)], "between 0 and 1"),
    ],
)
def test_aleph2_keyframe_rules_are_checked_before_sending(keyframes, words):
    with pytest.raises(RemoteError) as info:
        build_body("aleph2", "x", VIDEO, ratio=None, seed=None, keyframes=keyframes, video_seconds=5.0)
    assert words in info.value.message


def test_only_the_fields_a_model_takes_are_written():
    gemini = build_body("gemini_omni_flash", "make it night", VIDEO, ratio=None, seed=5, reference_uris=[IMAGE])
    # No seed, no moderation, references without a type: its schema is closed.
    assert gemini == {"model": "gemini_omni_flash", "videoUri": VIDEO, "promptText": "make it night", "references": [{"uri": IMAGE}]}
    seedance = build_body(
        "seedance2_5", "make it night", VIDEO, ratio="1280:720", seed=5, options=Options(mode="reference", duration=8, audio=False)
    )
    assert seedance == {
        "model": "seedance2_5",
        "promptVideo": VIDEO,
        "promptText": "make it night",
        "ratio": "1280:720",
        "seed": 5,
        "duration": 8,
        "audio": False,
        "mode": "reference",
    }
    edit = build_body("seedance2_5", "make it night", VIDEO, ratio="1280:720", seed=None, options=Options(mode="edit"))
    assert edit["duration"] == "auto" and "ratio" not in edit
    hailuo = build_body("hailuo3", "x", VIDEO, ratio="9:16", seed=3, options=Options(resolution="2K", duration=6))
    assert "seed" not in hailuo and hailuo["resolution"] == "2K" and hailuo["promptVideo"] == VIDEO


def test_ratio_and_seed_are_left_out_when_not_given():
    body = build_body("gen4_aleph", "x", VIDEO, ratio=None, seed=None)
    assert "ratio" not in body and "seed" not in body and "references" not in body


def test_prompt_length_counts_utf16_code_units():
    # Each of these emoji is two UTF-16 code units.
    assert build_body("gen4_aleph", "🎬" * 500, VIDEO, ratio=None, seed=None)["promptText"] == "🎬" * 500
    with pytest.raises(RemoteError) as info:
        build_body("gen4_aleph", "🎬" * 501, VIDEO, ratio=None, seed=None)
    assert "at most 1000 characters" in info.value.message


@pytest.mark.parametrize(
    "model, prompt, video, options, words",
    [
        ("gen4_aleph", "", VIDEO, {}, "needs a prompt"),
        ("gen5", "x", VIDEO, {}, "Unknown model"),
        ("gen4_aleph", "x", VIDEO, {"reference_uris": [IMAGE, IMAGE]}, "at most 1 reference image."),
        ("aleph2", "x", VIDEO, {"reference_uris": [IMAGE]}, "does not take a reference image"),
        ("gen4_aleph", "x", VIDEO, {"keyframes": [Keyframe(IMAGE, seconds=1.0)]}, "does not take a keyframe image"),
        ("aleph2", "x", VIDEO, {"keyframes": [Keyframe(IMAGE, seconds=float(i)) for i in range(6)]}, "at most 5 keyframe images"),
        ("aleph2", "x", VIDEO, {"keyframes": [Keyframe(IMAGE, seconds=12.0)], "video_seconds": 10.0}, "outside the clip"),
        ("aleph2", "x", VIDEO, {"keyframes": [Keyframe(IMAGE, seconds=-1.0)]}, "outside the clip"),
        ("aleph2", "x", "data:video/mp4;base64," + "A" * 5_242_880, {}, "5,242,880 characters"),
        ("aleph2", "x", VIDEO, {"ratio": "9:16", "options": Options(framing="outpaint", output_format="mov")}, "cannot deliver"),
        ("aleph2", "x", VIDEO, {"ratio": "5:4", "options": Options(framing="outpaint")}, "Unsupported ratio"),
        ("gen4_aleph", "x", VIDEO, {"options": Options(output_format="prores")}, "MP4 only"),
        ("gemini_omni_flash", "", VIDEO, {}, "needs a prompt"),
        ("hailuo3", "x", VIDEO, {"options": Options(duration=20)}, "5 to 15 s"),
        ("hailuo3", "x", VIDEO, {"options": Options(duration="auto")}, "needs an output length"),
        ("aleph2", "", VIDEO, {}, "a prompt or at least one keyframe"),
        ("gen4_aleph", "x", VIDEO, {"ratio": "1920:1080"}, "Unsupported ratio"),
        ("gen4_aleph", "x", VIDEO, {"seed": -1}, "seed"),
        ("gen4_aleph", "x", VIDEO, {"seed": SEED_MAX + 1}, "seed"),
        ("gen4_aleph", "x", VIDEO, {"seed": True}, "seed"),
        ("gen4_aleph", "x", VIDEO, {"seed": 1.5}, "seed"),
        ("gen4_aleph", "x", VIDEO, {"public_figure_threshold": "high"}, "public-figure"),
        ("gen4_aleph", "x", "http://in.example/a.mp4", {}, "https URL"),
        ("gen4_aleph", "x", IMAGE, {}, "data:video/"),
        ("gen4_aleph", "x", VIDEO, {"reference_uris": [VIDEO]}, "data:image/"),
        ("gen4_aleph", "x", "https://in.example/" + "a" * 2048, {}, "2048"),
    ],
)
def test_build_body_refuses_contract_violations_locally(model, prompt, video, options, words):
    arguments = {"ratio": None, "seed": None, **options}
    with pytest.raises(RemoteError) as info:
        build_body(model, prompt, video, **arguments)
    assert info.value.kind == "bad_request"
    assert words in info.value.message


# ---------------------------------------------------------------- failure codes


@pytest.mark.parametrize(
    "code, words",
    [
        ("SAFETY.INPUT.TEXT", "the prompt"),
        ("SAFETY.INPUT.IMAGE", "the reference image"),
        ("SAFETY.INPUT.VIDEO", "the input video"),
        ("SAFETY.INPUT", "one of the inputs"),
        ("SAFETY.OUTPUT.VIDEO", "the generated video"),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", "rejected the prompt"),
    ],
)
def test_moderation_failures_are_never_retried_and_warn_about_suspension(code, words):
    info = describe_failure(code, "Content moderation: flagged as [internal label]")
    assert words in info.message
    assert "suspended" in info.message and "not refunded" in info.message
    assert (info.retryable, info.billed_retry, info.suspension_warning, info.code) == (False, False, True, code)
    # Runway's own failure text is not meant for users; it is not shown for moderation.
    assert "internal label" not in info.message


def test_invalid_asset_says_what_to_fix():
    info = describe_failure("ASSET.INVALID", "Video duration exceeds limit")
    assert "H.264 MP4" in info.message and "PNG or JPEG" in info.message
    assert "Video duration exceeds limit" in info.message
    assert not info.retryable and not info.suspension_warning


@pytest.mark.parametrize(
    "code, words",
    [
        ("INTERNAL", "internal error"),
        ("INTERNAL.TIMEOUT", "internal error"),
        ("INTERNAL.BAD_OUTPUT.CODE01", "overlaid"),
        ("THIRD_PARTY.UNAVAILABLE", "depends on"),
        ("INPUT_PREPROCESSING.INTERNAL", "moderation step failed"),
        (None, "unspecified"),
        ("", "unspecified"),
    ],
)
def test_provider_side_failures_offer_a_billed_retry(code, words):
    info = describe_failure(code, None)
    assert words in info.message
    assert "new task, billed again" in info.message
    assert info.retryable and info.billed_retry and not info.suspension_warning


def test_unknown_codes_are_kept_and_shown_next_to_a_generic_message():
    info = describe_failure("NEWTHING.SOMETHING", "a note")
    assert info.code == "NEWTHING.SOMETHING"
    assert "(code NEWTHING.SOMETHING)" in info.message and "does not recognise" in info.message
    assert not info.retryable and not info.billed_retry
