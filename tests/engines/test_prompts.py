"""Prompts and the plans the local engine makes of them: keyword rules, amounts, directions, and the
MiniLM fallback for prompts that name no operation."""

from __future__ import annotations

import pytest

from editor.engines.base import EngineError
from editor.engines.local import describe
from editor.engines.local.plan import make_plan

# prompt → expected operations, in plan order, as "name key=value ..." (only the listed params are checked).
TABLE = [
    ("golden hour", ["time_of_day when=golden_hour intensity=1.0"]),
    ("make it golden hour, slightly", ["time_of_day when=golden_hour intensity=0.5"]),
    ("blue hour", ["time_of_day when=blue_hour"]),
    ("turn it into night", ["time_of_day when=night"]),
    ("overcast and gloomy", ["time_of_day when=overcast"]),
    ("teal and orange", ["look look=teal_orange intensity=1.0"]),
    ("70% teal and orange", ["look look=teal_orange intensity=0.7"]),
    ("make it black and white", ["look look=black_white"]),
    ("film noir", ["look look=noir"]),
    ("sepia", ["look look=sepia"]),
    ("vintage film", ["look look=vintage", "grain"]),
    ("cool winter look", ["look look=winter"]),
    ("neon night", ["look look=neon_night"]),
    ("bleach bypass", ["look look=bleach_bypass"]),
    ("pastel", ["look look=pastel"]),
    ("matrix green tint", ["look look=matrix"]),
    ("day for night", ["look look=day_for_night"]),
    ("autumn colours", ["look look=autumn"]),
    ("cross-processed", ["look look=cross_process"]),
    ("technicolor", ["look look=vivid"]),
    ("moody", ["look look=moody"]),
    ("much darker", ["exposure amount=-0.9"]),
    ("slightly brighter", ["exposure amount=0.25"]),
    ("more contrast", ["contrast amount=0.25"]),
    ("a little less contrast", ["contrast amount=-0.12"]),
    ("warmer", ["temperature amount=0.25"]),
    ("a lot cooler", ["temperature amount=-0.45"]),
    ("more saturated", ["saturation amount=0.3"]),
    ("desaturated", ["saturation amount=-0.3"]),
    ("light from the left", ["light side=left strength=0.5"]),
    ("lit from the right, strongly", ["light side=right strength=0.9"]),
    ("sunlight from above", ["light side=top"]),
    ("darken the edges", ["vignette"]),
    ("vignette", ["vignette strength=0.45"]),
    ("spotlight on the subject", ["spotlight"]),
    ("zoom in", ["zoom direction=in amount=0.35"]),
    ("zoom in a lot", ["zoom direction=in amount=0.63"]),
    ("slightly zoom out", ["zoom direction=out amount=0.17"]),
    ("push in on the cat", ["push direction=in"]),
    ("pull back", ["push direction=out"]),
    ("pan left", ["pan direction=left"]),
    ("pan from left to right", ["pan direction=right"]),
    ("tilt up", ["tilt direction=up"]),
    ("tilt down", ["tilt direction=down"]),
    ("dutch angle 12 degrees", ["dutch angle=12.0"]),
    ("handheld camera", ["shake strength=1.0"]),
    ("earthquake shake", ["shake strength=1.8"]),
    ("mirror it", ["mirror axis=horizontal"]),
    ("flip it upside down", ["mirror axis=vertical"]),
    ("close-up on the face", ["framing shot=close_up"]),
    ("wide shot", ["framing shot=wide"]),
    ("slow motion", ["slow_motion factor=2.0"]),
    ("slow motion 4x", ["slow_motion factor=4.0"]),
    ("super slow motion", ["slow_motion factor=4.0"]),
    ("speed up", ["speed factor=2.0"]),
    ("speed up 3x", ["speed factor=3.0"]),
    ("timelapse", ["speed"]),
    ("reverse", ["reverse"]),
    ("play it backwards", ["reverse"]),
    ("boomerang", ["boomerang"]),
    ("forwards and backwards", ["boomerang"]),
    ("freeze frame", ["freeze where=middle hold=1.0"]),
    ("freeze frame at 2 seconds for 1.5 seconds", ["freeze where=at at=2.0 hold=1.5"]),
    ("freeze at the end", ["freeze where=end"]),
    ("extend by 3 seconds", ["extend seconds=3.0 mode=move"]),
    ("extend with a hold", ["extend mode=hold"]),
    ("extend by 2 seconds with a boomerang", ["extend seconds=2.0 mode=boomerang"]),
    ("next shot: keep the camera moving for 4 seconds", ["extend seconds=4.0 mode=move"]),
    ("film grain", ["grain strength=0.06"]),
    ("a bit of grain", ["grain strength=0.03"]),
    ("sharpen", ["sharpen"]),
    ("soften", ["soften"]),
    ("match the reference", ["match_reference"]),
    ("remove the logo", ["remove"]),
    # What follows "remove" names the object: the night sky and the sunset are not edits here.
    ("erase the man in the night sky", ["remove"]),
    ("get rid of the sunset glare", ["remove"]),
    ("remove the boom mic and make it golden hour", ["remove", "time_of_day when=golden_hour"]),
    ("crop to square", []),
    ("golden hour, zoom in slowly, with grain", ["zoom direction=in", "time_of_day when=golden_hour", "grain"]),
    ("much darker and slightly warmer", ["exposure amount=-0.9", "temperature amount=0.12"]),
    ("black and white, pan right, slow motion", ["slow_motion", "pan direction=right", "look look=black_white"]),
    ("handheld, light from the left, teal and orange", ["shake", "light side=left", "look look=teal_orange"]),
    ("make it feel like a cold winter morning", ["look look=winter"]),
    # People edits: read before the looks, so a colour pop is not a black-and-white look.
    ("blur the background", ["people effect=blur_background amount=1.0"]),
    ("blur the background a little", ["people effect=blur_background amount=0.5"]),
    ("background blur 80%", ["people effect=blur_background amount=1.6"]),
    ("portrait mode bokeh, warmer", ["people effect=blur_background", "temperature"]),
    ("replace the background with the reference", ["people effect=replace_background"]),
    ("put the person in the reference and add grain", ["people effect=replace_background", "grain"]),
    ("black and white except the person", ["people effect=colour_pop"]),
    ("colour pop, golden hour", ["people effect=colour_pop", "time_of_day when=golden_hour"]),
    ("darken the background", ["people effect=darken_background"]),
    ("relight the person", ["people effect=light_person"]),
    ("brighten the person a lot, zoom in", ["people effect=light_person amount=1.8", "zoom direction=in"]),
    # Stylised looks.
    ("painterly", ["stylise style=painterly strength=1.0"]),
    ("oil painting, slightly", ["stylise style=oil strength=0.5"]),
    ("make it a watercolor", ["stylise style=watercolour"]),
    ("pencil sketch", ["stylise style=sketch"]),
    ("turn it into a cartoon, warmer", ["stylise style=cartoon", "temperature"]),
    ("make it look like a van gogh painting", ["stylise style=painterly", "match_reference"]),
    # No keyword in these: the MiniLM fallback finds them by meaning.
    ("it should feel like a frozen january morning", ["look look=winter"]),
    ("a detective story in the 1940s", ["look look=noir"]),
    ("like a memory from childhood", ["look look=vintage", "grain"]),
    ("play the video the other way round", ["reverse"]),
    ("a lonely walk in the rain", ["time_of_day when=overcast"]),
    ("the camera moves in towards her", ["push direction=in"]),
]


def _parse(spec: str) -> tuple[str, dict]:
    name, *pairs = spec.split()
    params = {}
    for pair in pairs:
        key, value = pair.split("=")
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = value
    return name, params


def test_the_table_is_large_enough():
    assert len(TABLE) >= 50


@pytest.mark.parametrize("prompt, expected", TABLE, ids=[p for p, _ in TABLE])
def test_prompt_becomes_the_expected_plan(prompt, expected):
    plan = make_plan(prompt, ratio="960:960", seed=7, has_reference=True, has_mask=any(w in prompt for w in ("remove", "erase", "get rid of")))
    assert [op.name for op in plan.ops] == [_parse(s)[0] for s in expected], plan.summary()
    for op, spec in zip(plan.ops, expected):
        _, params = _parse(spec)
        for key, value in params.items():
            assert op.params[key] == value, (prompt, op)


def test_fallback_plans_say_how_they_were_understood():
    plan = make_plan("it should feel like a frozen january morning", ratio="960:960", seed=1, has_reference=False)
    assert plan.understood_as == ["winter"]
    assert "understood as “winter”" in plan.summary()
    keyword = make_plan("winter", ratio="960:960", seed=1, has_reference=False)
    assert keyword.understood_as == []


def test_a_prompt_it_cannot_do_is_refused_with_the_three_closest_things_it_can():
    with pytest.raises(EngineError) as caught:
        make_plan("frabjous plorb", ratio="960:960", seed=1, has_reference=False)
    assert caught.value.code == "prompt_not_understood"
    assert len(caught.value.suggestions) == 3
    # One sentence naming the three, not the whole list of what the engine does.
    message = caught.value.message
    assert message.count(".") == 1 and all(f"“{s}”" in message for s in caught.value.suggestions)
    assert "slow motion" not in message or "slow motion" in caught.value.suggestions


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("add a dragon with a sunset glow behind it", "golden hour"),
        ("turn it into a frozen arctic tundra with a dragon", "winter"),
    ],
)
def test_suggestions_are_the_closest_in_meaning(prompt, expected):
    from editor.engines.local import semantic

    assert expected in semantic.suggest(prompt, has_reference=False)


def test_suggestions_leave_out_what_needs_a_reference_when_none_is_ticked():
    from editor.engines.local import semantic

    assert "match the reference" not in semantic.suggest("make it look like the reference picture", has_reference=False)
    assert "match the reference" in semantic.suggest("make it look like the reference picture", has_reference=True)


def test_replacing_the_background_needs_a_ticked_reference():
    with pytest.raises(EngineError) as caught:
        make_plan("replace the background", ratio="960:960", seed=1, has_reference=False)
    assert caught.value.code == "reference_missing" and "new background" in caught.value.message


def test_removal_without_a_mask_asks_for_one():
    with pytest.raises(EngineError) as caught:
        make_plan("remove the lamp post", ratio="960:960", seed=1, has_reference=False, has_mask=False)
    assert caught.value.code == "mask_missing"


def test_a_painted_mask_always_means_removal():
    plan = make_plan("golden hour", ratio="960:960", seed=1, has_reference=False, has_mask=True)
    assert [op.name for op in plan.ops] == ["remove", "time_of_day"]


def test_centre_crop_is_asked_for_by_name():
    assert make_plan("centre crop", ratio="720:1280", seed=1, has_reference=False).reframe == "centre"
    assert make_plan("warmer", ratio="720:1280", seed=1, has_reference=False).reframe == "subject"


def test_plan_order_is_fixed_whatever_the_word_order():
    a = make_plan("grain, golden hour, zoom in", ratio="960:960", seed=1, has_reference=False)
    b = make_plan("zoom in, golden hour, grain", ratio="960:960", seed=1, has_reference=False)
    assert [op.name for op in a.ops] == [op.name for op in b.ops] == ["zoom", "time_of_day", "grain"]


def test_describe_returns_the_summary_and_a_stored_plan():
    summary, plan = describe("slow motion, light from the left", ratio="720:1280", seed=3, has_reference=False)
    assert summary == "slow motion 2x (optical-flow frames) · light from the left · reframe 720:1280 (keeps the subject)"
    assert plan[-1] == {"name": "reframe", "params": {"ratio": "720:1280", "mode": "subject"}, "label": "reframe 720:1280 (keeps the subject)"}
