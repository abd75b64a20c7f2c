"""Prompt → EditPlan: what the local engine understood, as data a user can read and the pipeline runs.

Keyword rules handle the words editors use ("golden hour", "zoom in a lot", "light from the left",
"slow motion 4x"); amount words in the same clause ("slightly", "a lot") scale each operation.
When the rules find nothing, the MiniLM fallback (semantic.py) maps the prompt's meaning to the
closest operations. A prompt that still yields nothing is refused with the list of what the engine
can do, so an edit never returns its input unchanged.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from editor.engines.base import EngineError
from editor.engines.local import vocabulary as v

CAPABILITIES = (
    "Looks (with “slightly” or “a lot”): teal and orange, black and white, film noir, sepia, vintage film, "
    "cool winter, neon night, bleach bypass, pastel, matrix green, day for night, autumn, cross-processed, "
    "vivid, moody. "
    "Relight: brighter, darker, more or less contrast, warmer, cooler, more or less saturated; time of day "
    "(golden hour, blue hour, night, overcast); light from the left, right or top; vignette; spotlight on "
    "the subject. "
    "Match the reference image's colours. "
    "Camera: zoom in or out, push in, pull back, pan left or right, tilt up or down, dutch angle, handheld "
    "shake, mirror, close-up, wide shot, and a reframe to the chosen ratio that keeps the subject in frame. "
    "Time: slow motion (optical-flow frames), speed up, reverse, boomerang, freeze frame. "
    "Remove what you paint on the mask. "
    "People: blur the background, replace the background with the reference, black and white except the "
    "person, darken the background, relight the person, remove the person. "
    "Styles: painterly, oil painting, watercolour, pencil sketch, cartoon. "
    "Next shot: extend the clip by 1–5 s with a continued camera move, a hold or a boomerang. "
    "Finish: film grain, sharpen, soften. "
    "It is an effects engine: it does not generate new objects or people."
)

# Operation order in the plan and in the pipeline (documented in docs/local-engine.md).
ORDER = (
    "reverse", "boomerang", "freeze", "extend", "speed", "slow_motion",
    "remove",
    "people",
    "stylise",
    "zoom", "push", "pan", "tilt", "dutch", "shake", "mirror", "framing",
    "time_of_day", "light", "spotlight", "vignette",
    "match_reference", "look", "exposure", "contrast", "temperature", "saturation",
    "sharpen", "soften", "grain",
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
    # "subject" keeps the subject in frame when the ratio crops; "centre" is a plain centre crop.
    reframe: str = "subject"
    # Set when the plan came from the meaning of the prompt rather than its keywords.
    understood_as: list[str] = field(default_factory=list)

    def op(self, name: str) -> Op | None:
        return next((op for op in self.ops if op.name == name), None)

    def has(self, *names: str) -> bool:
        return any(op.name in names for op in self.ops)

    def reframe_label(self) -> str:
        how = "centre crop" if self.reframe == "centre" else "keeps the subject"
        return f"reframe {self.ratio} ({how})"

    def summary(self) -> str:
        parts = [op.label for op in self.ops]
        parts.append(self.reframe_label())
        text = " · ".join(parts)
        if self.understood_as:
            text += " — understood as “" + ", ".join(self.understood_as) + "”"
        return text

    def as_list(self) -> list[dict]:
        reframe = {"name": "reframe", "params": {"ratio": self.ratio, "mode": self.reframe}, "label": self.reframe_label()}
        return [op.as_dict() for op in self.ops] + [reframe]


def _normalise(prompt: str) -> str:
    text = prompt.lower().replace("’", "'").replace("×", "x").replace("–", "-")
    return " " + re.sub(r"\s+", " ", text) + " "


def _find(text: str, phrase: str) -> int:
    """Return where a phrase occurs as whole words (-1 when absent)."""
    if phrase.strip() not in text:
        return -1  # cheaper than compiling a pattern for each of the vocabulary's phrases
    match = re.search(r"(?<![a-z0-9])" + re.escape(phrase.strip()) + r"(?![a-z])", text)
    return match.start() if match else -1


def _first(text: str, phrases) -> int:
    hits = [h for h in (_find(text, p) for p in phrases) if h >= 0]
    return min(hits) if hits else -1


_JOINERS = r"[,;!]|\.(?!\d)| and | then | but | with | plus | while "


def _clause(text: str, at: int, joiners: str = _JOINERS) -> str:
    """Return the clause around a position: amounts, numbers and directions apply within their clause."""
    start, end = _clause_span(text, at, joiners)
    return text[start:end]


def _clause_span(text: str, at: int, joiners: str = _JOINERS) -> tuple[int, int]:
    marks = list(re.finditer(joiners, text))
    start = max([m.end() for m in marks if m.end() <= at], default=0)
    ends = [m for m in marks if m.start() > at]
    end = ends[0].start() if ends else len(text)
    # A trailing clause of amount words alone ("golden hour, slightly") belongs to this one.
    if ends:
        following = text[ends[0].end() : ends[1].start() if len(ends) > 1 else len(text)]
        leftover = following
        for words, _ in v.AMOUNTS:
            for word in words:
                leftover = re.sub(r"(?<![a-z])" + re.escape(word) + r"(?![a-z])", " ", leftover)
        if following.strip() and not re.sub(r"\b(just|only|please|but|not|too|so|it)\b", " ", leftover).strip():
            end = ends[1].start() if len(ends) > 1 else len(text)
    return start, end


def _scale(clause: str) -> float:
    for words, scale in v.AMOUNTS:
        if any(_find(clause, w) >= 0 for w in words):
            return scale
    return 1.0


def _number(clause: str, units: str) -> float | None:
    match = re.search(r"(\d+(?:\.\d+)?)\s*(?:" + units + r")(?![a-z])", clause)
    return float(match.group(1)) if match else None


def _direction(clause: str, choices: dict[str, tuple[str, ...]], default: str) -> str:
    found = [(at, key) for key, words in choices.items() if (at := _first(clause, words)) >= 0]
    return min(found)[1] if found else default


SECONDS = "s|sec|secs|second|seconds"


class _Builder:
    """Collects operations while using up the words that produced them."""

    def __init__(self, text: str, seed: int):
        self.text = text
        self.seed = seed
        self.ops: list[Op] = []

    def add(self, name: str, params: dict, label: str) -> None:
        if not self.has_op(name):
            self.ops.append(Op(name, params, label))

    def has_op(self, name: str) -> bool:
        return any(op.name == name for op in self.ops)

    def hit(self, words, joiners: str = _JOINERS) -> tuple[int, str]:
        """Find a group's first phrase; return its position and clause, and use the group's phrases up."""
        at = _first(self.text, words)
        if at < 0:
            return -1, ""
        clause = _clause(self.text, at, joiners)
        self.blank(words)
        return at, clause

    def blank(self, words) -> None:
        for phrase in sorted(words, key=len, reverse=True):
            pattern = r"(?<![a-z0-9])" + re.escape(phrase.strip()) + r"(?![a-z])"
            self.text = re.sub(pattern, lambda m: " " * len(m.group(0)), self.text)


def _percent(intensity: float) -> str:
    return "" if intensity == 1.0 else f" at {intensity:.0%}"


def _intensity(clause: str) -> float:
    """Return a look's intensity: a percentage in the clause, else 50% for "slightly", else full."""
    percent = _number(clause, "%|percent")
    if percent is not None:
        return round(max(0.0, min(100.0, percent)) / 100, 2)
    return round(min(1.0, _scale(clause)), 2)


def _factor(clause: str) -> float:
    factor = _number(clause, "x|times") or (4.0 if _scale(clause) > 1 else 1.5 if _scale(clause) < 1 else 2.0)
    return max(1.25, min(8.0, factor))


def _time(b: _Builder) -> None:
    at, clause = b.hit(v.EXTEND_WORDS, joiners=r"[,;!]|\.(?!\d)| and | then | but ")
    if at >= 0:
        seconds = _number(clause, SECONDS) or round(2.0 * _scale(clause), 1)
        seconds = max(1.0, min(5.0, seconds))
        mode = _direction(clause, v.EXTEND_MODES, "move")
        b.blank(v.EXTEND_MODES[mode]) if mode != "move" else None
        what = {"move": "continued camera move over the last frame", "hold": "hold on the last frame", "boomerang": "boomerang of the last frames"}[mode]
        b.add("extend", {"seconds": seconds, "mode": mode}, f"next shot: +{seconds:g} s, {what}")
    if b.hit(v.BOOMERANG_WORDS)[0] >= 0:
        b.add("boomerang", {}, "boomerang")
    if b.hit(v.REVERSE_WORDS)[0] >= 0 and not b.has_op("boomerang"):
        b.add("reverse", {}, "reverse")
    at, clause = b.hit(v.FREEZE_WORDS)
    if at >= 0:
        moment = re.search(r"\bat (\d+(?:\.\d+)?)\s*(?:" + SECONDS + r")\b", clause)
        length = re.search(r"\bfor (\d+(?:\.\d+)?)\s*(?:" + SECONDS + r")\b", clause)
        hold = float(length.group(1)) if length else 1.0 * _scale(clause)
        hold = round(max(0.5, min(5.0, hold)), 2)
        if moment:
            where, when, text = "at", float(moment.group(1)), f"at {float(moment.group(1)):g} s"
        elif _first(clause, ("end", "last frame", "final frame")) >= 0:
            where, when, text = "end", None, "at the end"
        elif _first(clause, ("start", "beginning", "first frame")) >= 0:
            where, when, text = "start", None, "at the start"
        else:
            where, when, text = "middle", None, "mid-clip"
        b.add("freeze", {"where": where, "at": when, "hold": hold}, f"freeze frame {hold:g} s {text}")
    at, clause = b.hit(v.SLOW_WORDS)
    if at >= 0:
        factor = _factor(clause)
        b.add("slow_motion", {"factor": factor}, f"slow motion {factor:g}x (optical-flow frames)")
    at, clause = b.hit(v.FAST_WORDS)
    if at >= 0 and not b.has_op("slow_motion"):
        factor = _factor(clause)
        b.add("speed", {"factor": factor}, f"speed up {factor:g}x")


def _light(b: _Builder) -> None:
    at, clause = b.hit(v.LIGHT_WORDS)
    if at >= 0:
        side = _direction(clause, v.LIGHT_SIDES, "top" if "top" in clause or "overhead" in clause else "left")
        strength = round(min(1.0, 0.5 * _scale(clause)), 2)
        b.add("light", {"side": side, "strength": strength}, f"light from the {side}" + ("" if strength == 0.5 else f" ({strength:.0%})"))
    at, clause = b.hit(v.SPOTLIGHT_WORDS)
    if at >= 0:
        strength = round(min(1.0, 0.6 * _scale(clause)), 2)
        b.add("spotlight", {"strength": strength}, "spotlight on the subject")
    at, clause = b.hit(v.VIGNETTE_WORDS)
    if at >= 0:
        strength = round(min(1.0, 0.45 * _scale(clause)), 2)
        b.add("vignette", {"strength": strength}, f"vignette {strength:.0%}")


def _camera(b: _Builder) -> None:
    at, clause = b.hit(v.PUSH_WORDS)
    if at >= 0:
        direction = _direction(clause, v.PUSH_DIRECTIONS, "in")
        amount = round(min(1.0, 0.3 * _scale(clause)), 2)
        b.add("push", {"direction": direction, "amount": amount}, "push in on the subject" if direction == "in" else "pull back from the subject")
    at, clause = b.hit(v.ZOOM_WORDS)
    if at >= 0 and not b.has_op("push"):
        direction = _direction(clause, v.ZOOM_DIRECTIONS, "in")
        amount = round(min(1.2, 0.35 * _scale(clause)), 2)
        b.add("zoom", {"direction": direction, "amount": amount}, f"zoom {direction} {1 + amount:.3g}x")
    at, clause = b.hit(v.PAN_WORDS)
    if at >= 0:
        direction = _direction(clause, v.PAN_DIRECTIONS, "right")
        for phrase, way in (("left to right", "right"), ("right to left", "left"), ("from the left", "right"), ("from left", "right"), ("from the right", "left"), ("from right", "left")):
            if phrase in clause:
                direction = way
                break
        amount = round(min(0.6, 0.25 * _scale(clause)), 2)
        b.add("pan", {"direction": direction, "amount": amount}, f"pan {direction}")
    at, clause = b.hit(v.DUTCH_WORDS)
    if at >= 0:
        angle = _number(clause, "°|deg|degrees|degree") or round(8 * _scale(clause), 1)
        angle = max(1.0, min(30.0, angle))
        b.add("dutch", {"angle": angle}, f"dutch angle {angle:g}°")
    at, clause = b.hit(v.TILT_WORDS)
    if at >= 0:
        direction = _direction(clause, v.TILT_DIRECTIONS, "up")
        if "bottom to top" in clause:
            direction = "up"
        elif "top to bottom" in clause:
            direction = "down"
        amount = round(min(0.6, 0.25 * _scale(clause)), 2)
        b.add("tilt", {"direction": direction, "amount": amount}, f"tilt {direction}")
    at, clause = b.hit(v.SHAKE_WORDS)
    if at >= 0:
        strength = round(min(2.0, _scale(clause) * (1.8 if "earthquake" in clause else 1.0)), 2)
        b.add("shake", {"strength": strength}, f"handheld shake (seed {b.seed})")
    at, clause = b.hit(v.MIRROR_WORDS)
    if at >= 0:
        axis = "vertical" if _first(clause, v.VERTICAL_FLIP_WORDS) >= 0 else "horizontal"
        b.add("mirror", {"axis": axis}, "mirror" if axis == "horizontal" else "flip upside down")
    at, clause = b.hit(v.CLOSE_UP_WORDS)
    if at >= 0:
        zoom = round(min(2.5, 1.7 + 0.5 * (_scale(clause) - 1)), 2)
        b.add("framing", {"shot": "close_up", "zoom": zoom}, f"close-up ({zoom:g}x on the subject)")
    at, _ = b.hit(v.WIDE_WORDS)
    if at >= 0:
        b.add("framing", {"shot": "wide"}, "wide shot (whole frame over a blurred fill)")


def _colour(b: _Builder) -> None:
    for key, (label, words) in v.LOOKS.items():
        at, clause = b.hit(words)
        if at >= 0:
            intensity = _intensity(clause)
            b.ops.append(Op("look", {"look": key, "intensity": intensity}, label + _percent(intensity)))
    if any(op.params.get("look") == "noir" for op in b.ops):
        b.ops = [op for op in b.ops if op.params.get("look") != "black_white"]
    for key, (label, words) in v.TIMES_OF_DAY.items():
        at, clause = b.hit(words)
        if at >= 0:
            b.add("time_of_day", {"when": key, "intensity": _intensity(clause)}, label + _percent(_intensity(clause)))
    for name, template, words, base in v.ADJUSTMENTS.values():
        at, clause = b.hit(words)
        if at >= 0:
            amount = round(base * _scale(clause), 2)
            b.add(name, {"amount": amount}, template.format(amount=amount))


def _people(b: _Builder, has_reference: bool) -> None:
    """People edits (one a prompt): the first phrase the prompt uses wins."""
    if b.has_op("people"):
        return
    hits = [(at, key, clause) for key, (_, words) in v.PEOPLE_EFFECTS.items() for at, clause in [_hit_at(b, words)] if at >= 0]
    if not hits:
        return
    at, key, clause = min(hits)
    for _, (_, words) in v.PEOPLE_EFFECTS.items():
        b.blank(words)
    if key == "replace_background":
        # "with the reference", "in the beach photo": the rest of the clause names the new background.
        start, end = _clause_span(b.text, at)
        b.text = b.text[:start] + " " * (end - start) + b.text[end:]
    label = v.PEOPLE_EFFECTS[key][0]
    amount = round(min(2.0, _scale(clause)), 2)
    if key == "replace_background" and not has_reference:
        raise EngineError(
            "reference_missing",
            "The prompt asks to replace the background: attach an image for the new background and tick it.",
        )
    if key == "blur_background":
        percent = _number(clause, "%|percent")
        amount = round(max(0.1, min(2.0, percent / 50)), 2) if percent is not None else amount
        label += "" if amount == 1.0 else (" a little" if amount < 1 else " a lot")
    b.add("people", {"effect": key, "amount": amount}, label)


def _style(b: _Builder, has_reference: bool) -> None:
    """A stylised look (one a prompt); a painter's name takes the reference's colours when one is ticked."""
    hits = [(at, key, clause) for key, (_, words) in v.STYLES.items() for at, clause in [_hit_at(b, words)] if at >= 0]
    if not hits:
        return
    at, key, clause = min(hits)
    painter = _first(b.text, v.PAINTER_WORDS) >= 0
    for _, (_, words) in v.STYLES.items():
        b.blank(words)
    strength = _intensity(clause)
    b.add("stylise", {"style": key, "strength": strength}, v.STYLES[key][0] + _percent(strength))
    if painter and has_reference:
        b.add("match_reference", {"strength": 1.0}, "colour match to reference")


def _hit_at(b: _Builder, words) -> tuple[int, str]:
    at = _first(b.text, words)
    return (at, _clause(b.text, at)) if at >= 0 else (-1, "")


def _finish(b: _Builder) -> None:
    at, clause = b.hit(v.SHARPEN_WORDS)
    if at >= 0:
        b.add("sharpen", {"amount": round(min(2.0, 0.8 * _scale(clause)), 2)}, "sharpen")
    at, clause = b.hit(v.SOFTEN_WORDS)
    if at >= 0 and not b.has_op("sharpen"):
        b.add("soften", {"amount": round(min(3.0, 1.5 * _scale(clause)), 2)}, "soften")
    at, clause = b.hit(v.GRAIN_WORDS)
    if at >= 0 or any(op.params.get("look") == "vintage" for op in b.ops):
        strength = round(0.06 * (_scale(clause) if at >= 0 else 0.8), 3)
        b.add("grain", {"strength": strength}, f"grain (seed {b.seed})")


def _keyword_ops(text: str, seed: int, *, has_reference: bool, has_mask: bool) -> list[Op]:
    b = _Builder(text, seed)
    removal_at = _first(b.text, v.REMOVE_WORDS)
    if removal_at >= 0:
        # "remove the sunset glare": the rest of a removal's clause names the object, not an edit.
        start, end = _clause_span(b.text, removal_at)
        if not has_mask and _first(b.text[start:end], v.PERSON_WORDS) >= 0:
            # "remove the person" with nothing painted: the people masks say what to remove.
            b.add("people", {"effect": "remove_person", "amount": 1.0}, v.PERSON_REMOVAL_LABEL)
            removal_at = -1
        b.text = b.text[:start] + " " * (end - start) + b.text[end:]
    _people(b, has_reference)
    _style(b, has_reference)
    _time(b)
    _light(b)
    _camera(b)
    _colour(b)
    _finish(b)
    if b.hit(v.REFERENCE_WORDS)[0] >= 0:
        if not has_reference:
            raise EngineError(
                "reference_missing",
                "The prompt asks to match a reference, but no reference image is ticked. Attach one and tick it.",
            )
        b.add("match_reference", {"strength": 1.0}, "colour match to reference")
    if removal_at >= 0 and not has_mask:
        raise EngineError(
            "mask_missing",
            "The prompt asks to remove something: paint over it on a frame (the mask) so the engine knows what to remove.",
        )
    if has_mask:
        # A painted mask only ever means "remove this".
        b.add("remove", {}, "remove the masked region")
    return b.ops


def make_plan(prompt: str, *, ratio: str, seed: int, has_reference: bool, has_mask: bool = False) -> EditPlan:
    """Turn a prompt into an EditPlan, or raise EngineError listing what the engine can do."""
    text = _normalise(prompt)
    ops = _keyword_ops(text, seed, has_reference=has_reference, has_mask=has_mask)
    understood: list[str] = []
    meaningful = [op for op in ops if op.name != "remove"]
    asked_reframe = _first(text, v.REFRAME_WORDS) >= 0
    # "remove the boom mic" with a painted mask is fully understood: no meaning search for more.
    removal_only = has_mask and _first(text, v.REMOVE_WORDS) >= 0
    if not meaningful and not asked_reframe and not removal_only and len(text.strip()) >= 3:
        from editor.engines.local import semantic

        for canonical, _score in semantic.closest(prompt):
            if canonical == "match the reference" and not has_reference:
                continue
            for op in _keyword_ops(_normalise(canonical), seed, has_reference=has_reference, has_mask=has_mask):
                if not any(o.name == op.name for o in ops):
                    ops.append(op)
                    if canonical not in understood:
                        understood.append(canonical)
    if not ops and not asked_reframe:
        from editor.engines.local import semantic

        suggestions = tuple(semantic.suggest(prompt, has_reference=has_reference))
        raise EngineError(
            "prompt_not_understood",
            "The local engine cannot do that; the closest things it can do are: " + ", ".join(f"“{s}”" for s in suggestions) + ".",
            suggestions=suggestions,
        )
    ops.sort(key=lambda op: ORDER.index(op.name))
    centre = _first(text, v.CENTRE_CROP_WORDS) >= 0
    return EditPlan(ops=ops, ratio=ratio, seed=seed, reframe="centre" if centre else "subject", understood_as=understood)
