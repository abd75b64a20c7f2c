"""The spec is the test: every create body the studio can build is held to Runway's published schema.

tests/data/runway-openapi-subset.json holds the schemas, unchanged. Every model, every framing and
ratio, output format and profile, keyframe pin and window, length, resolution, sound, mode, seed and
reference count the form allows builds a body here, and the body must validate against its model's
closed schema (gen4_aleph against its last published one). Hypothesis draws the combinations; each
choice is also enumerated on its own.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor.constants import SEED_MAX
from editor.engines.remote import catalog
from editor.engines.remote.body import Keyframe, Options, build_body
from editor.engines.remote.errors import RemoteError
from tests.fakes import CURRENT_MODELS, REQUEST_SCHEMAS, SPEC, response_schema, schema_errors

VIDEO = "data:video/mp4;base64,AAAAIGZ0eXBpc29t"
IMAGE = "data:image/png;base64,iVBORw0KGgo="
UPLOADED = "runway://uploads/0f3c/input.mp4"
HTTPS = "https://media.example.com/input.mp4"


def assert_valid(body: dict) -> None:
    errors = schema_errors(REQUEST_SCHEMAS[body["model"]], body)
    assert not errors, f"{body['model']}: " + "; ".join(f"{list(e.absolute_path)}: {e.message[:120]}" for e in errors)


def test_the_catalogue_offers_exactly_the_spec_models_and_gen4_aleph():
    assert set(CURRENT_MODELS) | {"gen4_aleph"} == set(catalog.MODELS)
    assert "gen4_aleph" not in CURRENT_MODELS
    assert catalog.DEFAULT_MODEL == "aleph2"
    assert catalog.PROVIDERS["cometapi"].models == ("gen4_aleph",)


@pytest.mark.parametrize("name", list(catalog.MODELS))
def test_the_catalogue_matches_each_models_schema(name):
    spec = catalog.MODELS[name]
    schema = REQUEST_SCHEMAS[name]["properties"]
    assert spec.video_field in schema and spec.video_field in REQUEST_SCHEMAS[name]["required"]
    assert schema["promptText"]["maxLength"] == spec.prompt_max
    assert ("promptText" in REQUEST_SCHEMAS[name]["required"]) == spec.prompt_required
    assert ("seed" in schema) == spec.takes_seed
    assert ("contentModeration" in schema) == spec.takes_moderation
    assert schema.get("references", {}).get("maxItems", 1 if "references" in schema else 0) == spec.max_references
    assert schema.get("keyframes", {}).get("maxItems", 0) == spec.max_keyframes
    assert schema.get("referenceVideos", {}).get("maxItems", 0) == spec.max_reference_videos
    assert tuple(schema.get("outputFormat", {}).get("enum", ())) == spec.output_formats
    assert set(schema.get("resolution", {}).get("enum", ())) == set(spec.resolutions)
    assert set(schema.get("mode", {}).get("enum", ())) == set(spec.modes)
    assert ("audio" in schema) == spec.takes_audio
    if "model" in spec.framings:
        assert set(spec.model_ratios) == set(schema["ratio"]["enum"])
    if "outpaint" in spec.framings:
        assert set(catalog.ASPECT_RATIOS) == set(schema["targetAspectRatio"]["enum"])
    if spec.output_formats:
        assert set(catalog.PRORES_PROFILES) == set(schema["proresProfile"]["enum"])
    # The longest data URI the catalogue lets through is the one the schema allows.
    limits = {a["maxLength"] for a in schema[spec.video_field]["anyOf"] if a["pattern"].startswith("^data:")}
    assert limits == {spec.video_data_uri_limit}


def _durations(spec: catalog.Model) -> list:
    if spec.durations is None:
        return [None]
    low, high = spec.durations
    return [None, low, high, *(["auto"] if spec.duration_auto else [])]


def _keyframe_sets(spec: catalog.Model) -> list[list[Keyframe]]:
    if not spec.max_keyframes:
        return [[]]
    return [
        [],
        [Keyframe(IMAGE, seconds=0.0)],
        [Keyframe(IMAGE, at=1.0)],
        [Keyframe(IMAGE, seconds=1.5, window=(1, 3)), Keyframe(IMAGE, at=0.9, window=(3, 5))],
        [Keyframe(IMAGE, seconds=float(i)) for i in range(spec.max_keyframes)],
    ]


@pytest.mark.parametrize("name", list(catalog.MODELS))
def test_every_choice_on_its_own_builds_a_body_the_spec_accepts(name):
    spec = catalog.MODELS[name]
    count = 0
    for framing in spec.framings:
        for ratio in spec.ratios_for(framing) or (None,):
            assert_valid(build_body(name, "make it snow", VIDEO, ratio=ratio, seed=1, options=Options(framing=framing)))
            count += 1
    for output_format in spec.output_formats:
        for profile in catalog.PRORES_PROFILES if output_format == "prores" else ("",):
            options = Options(output_format=output_format, prores_profile=profile)
            assert_valid(build_body(name, "x", UPLOADED, ratio=None, seed=None, options=options))
            count += 1
    for duration, mode, resolution, audio in itertools.product(
        _durations(spec), spec.modes or ("",), ("", *spec.resolutions), (None, True, False)
    ):
        options = Options(duration=duration, mode=mode, resolution=resolution, audio=audio)
        ratio = spec.model_ratios[0] if spec.model_ratios else None
        assert_valid(build_body(name, "x", HTTPS, ratio=ratio, seed=SEED_MAX, options=options))
        count += 1
    for keyframes in _keyframe_sets(spec):
        assert_valid(build_body(name, "x", VIDEO, ratio=None, seed=0, keyframes=keyframes, video_seconds=5.0))
    for references in range(spec.max_references + 1):
        assert_valid(build_body(name, "x", VIDEO, ratio=None, seed=None, reference_uris=[IMAGE] * references))
    for videos in range(spec.max_reference_videos + 1):
        assert_valid(build_body(name, "x", VIDEO, ratio=None, seed=None, reference_video_uris=[VIDEO] * videos))
    for threshold in ("auto", "low"):
        assert_valid(build_body(name, "x", VIDEO, ratio=None, seed=None, public_figure_threshold=threshold))
    assert count > 0


@st.composite
def edits(draw):
    """Draw a model and a combination of choices the edit form allows for it."""
    name = draw(st.sampled_from(list(catalog.MODELS)))
    spec = catalog.MODELS[name]
    framing = draw(st.sampled_from(spec.framings))
    ratios = spec.ratios_for(framing)
    ratio = draw(st.sampled_from(ratios)) if ratios else None
    output_format = draw(st.sampled_from(spec.output_formats or ("mp4",)))
    profile = draw(st.sampled_from(catalog.PRORES_PROFILES)) if output_format == "prores" else ""
    mode = draw(st.sampled_from(spec.modes)) if spec.modes else ""
    prompt_needed = spec.prompt_required or mode in ("edit", "extend")
    prompt = draw(st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1 if prompt_needed else 0, max_size=60))
    if prompt_needed and not prompt.strip():
        prompt = "snow"
    seconds = draw(st.floats(min_value=spec.window[0] or 0.5, max_value=spec.window[1]))
    keyframes = []
    if spec.max_keyframes:
        windowed = draw(st.booleans())
        for _ in range(draw(st.integers(0, spec.max_keyframes))):
            if draw(st.booleans()):
                frame = Keyframe(IMAGE, seconds=draw(st.floats(0, seconds)))
            else:
                frame = Keyframe(IMAGE, at=draw(st.floats(0, 1)))
            if windowed:
                time = frame.time_in(seconds)
                start = int(time)
                frame = Keyframe(frame.uri, frame.seconds, frame.at, (start, start + draw(st.integers(1, 3))))
            keyframes.append(frame)
    if not prompt.strip() and not keyframes:
        prompt = "snow"
    return name, dict(
        ratio=ratio,
        seed=draw(st.none() | st.integers(0, SEED_MAX)),
        reference_uris=[IMAGE] * draw(st.integers(0, spec.max_references)),
        reference_video_uris=[UPLOADED] * draw(st.integers(0, spec.max_reference_videos)),
        keyframes=keyframes,
        public_figure_threshold=draw(st.sampled_from(("auto", "low"))),
        video_seconds=seconds,
        options=Options(
            framing=framing,
            output_format=output_format,
            prores_profile=profile,
            duration=draw(st.sampled_from(_durations(spec))),
            resolution=draw(st.sampled_from(("", *spec.resolutions))),
            audio=draw(st.none() | st.booleans()),
            mode=mode,
        ),
        prompt=prompt,
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits())
def test_any_combination_the_form_allows_builds_a_body_the_spec_accepts(drawn):
    name, arguments = drawn
    prompt = arguments.pop("prompt")
    try:
        body = build_body(name, prompt, VIDEO, **arguments)
    except RemoteError as exc:
        # The only local refusal a drawn combination may meet: an edit window past the model's 30 s.
        assert "edit window" in exc.message, exc.message
        return
    assert_valid(body)


@pytest.mark.parametrize("name", list(catalog.MODELS))
def test_the_data_uri_limit_is_the_specs_to_the_character(name):
    spec = catalog.MODELS[name]
    head = "data:video/mp4;base64,"
    longest = head + "A" * (spec.video_data_uri_limit - len(head))
    assert_valid(build_body(name, "x", longest, ratio=None, seed=None))
    with pytest.raises(RemoteError, match="characters the model takes"):
        build_body(name, "x", longest + "A", ratio=None, seed=None)
    # … and the spec refuses that one too.
    assert schema_errors(REQUEST_SCHEMAS[name], {"model": name, spec.video_field: longest + "A", "promptText": "x"})


def test_the_specs_own_examples_are_read_as_they_are_meant():
    from editor.engines.remote.parse import task_from_json

    examples = SPEC["task_response_examples"]
    for example in examples.values():
        assert not schema_errors(response_schema("task"), example)
    assert task_from_json("x", examples["running"]).estimated_credits == 25
    assert task_from_json("x", examples["succeeded"]).cost_credits == 25
    assert task_from_json("x", examples["failed"]).cost_credits == 0


def test_the_replies_the_client_tests_mock_are_the_specs():
    from tests.engines.test_remote_client import SPEC_REPLIES

    for schema, replies in SPEC_REPLIES.items():
        for reply in replies:
            assert not schema_errors(response_schema(schema), reply), reply
