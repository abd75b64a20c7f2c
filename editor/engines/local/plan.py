"""Prompt → EditPlan: what the local engine understood, as data a user can read and the pipeline runs.

Keyword rules handle the words editors use ("golden hour", "a bit warmer", "much darker"); the
amount words ("slightly", "a lot") scale each adjustment. A prompt that yields no operation is
refused with the list of what the engine can do, so an edit never returns its input unchanged.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from editor.engines.base import EngineError

# Named looks: the keywords that pick them and how the summary names them.
LOOKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "golden_hour": ("golden-hour look", ("golden hour", "golden-hour", "sunset", "sunrise", "magic hour")),
    "teal_orange": ("teal-and-orange look", ("teal and orange", "teal & orange", "teal/orange", "blockbuster", "cinematic")),
    "black_white": ("black-and-white look", ("black and white", "black & white", "black-and-white", "b&w", "monochrome", "greyscale", "grayscale")),
    "noir": ("film-noir look", ("noir",)),
    "sepia": ("sepia look", ("sepia",)),
    "vintage": ("vintage-film look", ("vintage", "retro", "old film", "70s", "faded film", "kodachrome")),
    "winter": ("cool-winter look", ("winter", "wintry", "icy", "frosty", "snowy")),
    "neon_night": ("neon-night look", ("neon", "cyberpunk", "night club", "nightclub")),
    "bleach_bypass": ("bleach-bypass look", ("bleach bypass", "bleach-bypass", "gritty", "desaturated contrast")),
    "pastel": ("pastel look", ("pastel", "soft colours", "soft colors", "dreamy")),
    "matrix": ("green-matrix look", ("matrix", "green tint", "sickly green")),
    "day_for_night": ("day-for-night look", ("day for night", "moonlight", "moonlit", "night time", "nighttime", "at night")),
}

AMOUNTS = (
    (("slightly", "a little", "a bit", "a touch", "subtle", "subtly", "somewhat", "gently"), 0.5),
    (("a lot", "much", "very", "strongly", "heavily", "way ", "really", "extremely", "dramatically"), 1.8),
)

ADJUSTMENTS: dict[str, tuple[str, str, tuple[str, ...], float]] = {
    # key: (operation, summary template, keywords, signed base amount)
    "brighter": ("exposure", "exposure {amount:+.2g} stop", ("brighter", "brighten", "lighter", "lighten", "more exposure", "overexpose"), 0.5),
    "darker": ("exposure", "exposure {amount:+.2g} stop", ("darker", "darken", "dimmer", "underexpose", "moodier"), -0.5),
    "more_contrast": ("contrast", "contrast {amount:+.0%}", ("more contrast", "higher contrast", "punchier", "punchy", "increase contrast"), 0.25),
    "less_contrast": ("contrast", "contrast {amount:+.0%}", ("less contrast", "lower contrast", "flatter", "softer contrast", "reduce contrast", "washed out"), -0.25),
    "warmer": ("temperature", "warmth {amount:+.0%}", ("warmer", "warm it", "warm up", "warm tones", "warm", "hotter"), 0.25),
    "cooler": ("temperature", "warmth {amount:+.0%}", ("cooler", "colder", "cool it", "cool tones", "cold", "bluer", "blue tint"), -0.25),
    "more_saturation": ("saturation", "saturation {amount:+.0%}", ("more saturated", "saturate", "vivid", "vibrant", "more colour", "more color", "colourful", "colorful"), 0.3),
    "less_saturation": ("saturation", "saturation {amount:+.0%}", ("less saturated", "desaturate", "desaturated", "muted", "less colour", "less color"), -0.3),
}

GRAIN_WORDS = ("grain", "grainy", "film grain", "noise", "16mm", "super 8", "super8")
REFERENCE_WORDS = ("match the reference", "match reference", "like the reference", "reference", "match the image", "colour match", "color match", "match the look", "match its colours", "match its colors")
REFRAME_WORDS = ("reframe", "crop", "vertical", "portrait", "square", "widescreen", "letterbox", "aspect")

CAPABILITIES = (
    "Looks: golden hour, teal and orange, black and white, film noir, sepia, vintage film, cool winter, "
    "neon night, bleach bypass, pastel, matrix green, day for night. "
    "Adjustments: brighter, darker, more or less contrast, warmer, cooler, more or less saturated "
    "(with “slightly” or “a lot”). "
    "Match the reference image's colours (“match the reference”), film grain (seeded), "
    "and reframing to the chosen output ratio (“reframe”, “crop to square”)."
)


@dataclass
class Op:
    name: str
    params: dict = field(default_factory=dict)
    label: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class EditPlan:
    ops: list[Op]
    ratio: str
    seed: int

    def op(self, name: str) -> Op | None:
        return next((op for op in self.ops if op.name == name), None)

    def summary(self) -> str:
        parts = [op.label for op in self.ops if op.name != "reframe"]
        parts.append(f"reframe {self.ratio}")
        return " · ".join(parts)

    def as_list(self) -> list[dict]:
        return [op.as_dict() for op in self.ops] + [{"name": "reframe", "params": {"ratio": self.ratio}, "label": f"reframe {self.ratio}"}]


def _normalise(prompt: str) -> str:
    return " " + re.sub(r"\s+", " ", prompt.lower().replace("’", "'")) + " "


def _contains(text: str, phrase: str) -> int:
    """Return where a phrase occurs as whole words (-1 when absent)."""
    match = re.search(r"(?<![a-z])" + re.escape(phrase.strip()) + r"(?![a-z])", text)
    return match.start() if match else -1


def _first(text: str, phrases) -> int:
    """Return where the earliest of some phrases occurs (-1 when none does)."""
    hits = [h for h in (_contains(text, p) for p in phrases) if h >= 0]
    return min(hits) if hits else -1


def _amount_near(text: str, at: int) -> float:
    """Scale from amount words in the few words before a keyword."""
    window = text[max(0, at - 24) : at]
    for words, scale in AMOUNTS:
        if any(w.strip() in window for w in words):
            return scale
    return 1.0


def make_plan(prompt: str, *, ratio: str, seed: int, has_reference: bool) -> EditPlan:
    """Turn a prompt into an EditPlan, or raise EngineError listing what the engine can do."""
    text = _normalise(prompt)
    ops: list[Op] = []
    # Longer, more specific phrases win over their substrings ("bleach bypass" over nothing else).
    for key, (label, words) in LOOKS.items():
        at = _first(text, words)
        if at >= 0:
            intensity = min(1.0, _amount_near(text, at))
            suffix = "" if intensity == 1.0 else f" at {intensity:.0%}"
            ops.append(Op("look", {"look": key, "intensity": intensity}, label + suffix))
    if any(op.params.get("look") == "noir" for op in ops):
        ops = [op for op in ops if op.params.get("look") != "black_white"]
    for name, template, words, base in ADJUSTMENTS.values():
        at = _first(text, words)
        if at < 0 or any(op.name == name for op in ops):
            continue
        amount = round(base * _amount_near(text, at), 2)
        ops.append(Op(name, {"amount": amount}, template.format(amount=amount)))
    wants_reference = any(_contains(text, w) >= 0 for w in REFERENCE_WORDS)
    if wants_reference:
        if not has_reference:
            raise EngineError(
                "reference_missing",
                "The prompt asks to match a reference, but no reference image is ticked. Attach one and tick it.",
            )
        ops.append(Op("match_reference", {"strength": 1.0}, "colour match to reference"))
    grain_at = _first(text, GRAIN_WORDS)
    if grain_at >= 0 or any(op.params.get("look") in ("vintage",) for op in ops):
        strength = round(0.06 * (_amount_near(text, grain_at) if grain_at >= 0 else 0.8), 3)
        ops.append(Op("grain", {"strength": strength}, f"grain (seed {seed})"))
    asked_reframe = any(_contains(text, w) >= 0 for w in REFRAME_WORDS)
    if not ops and not asked_reframe:
        raise EngineError(
            "prompt_not_understood",
            "The local engine did not find anything it can do in this prompt. " + CAPABILITIES,
        )
    return EditPlan(ops=ops, ratio=ratio, seed=seed)
