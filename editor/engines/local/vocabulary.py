"""The words the local engine understands, grouped by operation (used by plan.py).

Within a group the longest phrase wins at a position; once a group has matched, its phrases are
used up, so "darken the edges" is a vignette and not also "darker", and "forwards and backwards"
is a boomerang and not also a reverse.
"""

from __future__ import annotations

AMOUNTS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("slightly", "a little", "a bit", "a touch", "subtle", "subtly", "somewhat", "gently", "gentle", "lightly", "mild", "mildly", "faintly"), 0.5),
    (("a lot", "much", "very", "strongly", "strong", "heavily", "heavy", "way", "really", "extremely", "extreme", "dramatically", "dramatic", "super", "massively", "hugely", "intense", "intensely"), 1.8),
)

# Named looks: key → (summary label, keywords).
LOOKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "teal_orange": ("teal-and-orange look", ("teal and orange", "teal & orange", "teal/orange", "orange and teal", "blockbuster", "cinematic", "hollywood")),
    "black_white": ("black-and-white look", ("black and white", "black & white", "black-and-white", "b&w", "monochrome", "greyscale", "grayscale", "no colour", "no color")),
    "noir": ("film-noir look", ("film noir", "noir")),
    "sepia": ("sepia look", ("sepia", "old west", "antique")),
    "vintage": ("vintage-film look", ("vintage", "retro", "old film", "70s", "1970s", "faded film", "kodachrome", "old movie")),
    "winter": ("cool-winter look", ("winter", "wintry", "wintery", "icy", "frosty", "snowy")),
    "neon_night": ("neon-night look", ("neon night", "neon", "cyberpunk", "night club", "nightclub", "synthwave", "vaporwave")),
    "bleach_bypass": ("bleach-bypass look", ("bleach bypass", "bleach-bypass", "gritty", "desaturated contrast", "war film")),
    "pastel": ("pastel look", ("pastel", "pastels", "soft colours", "soft colors", "dreamy", "candy colours", "candy colors")),
    "matrix": ("green-matrix look", ("matrix", "green tint", "sickly green", "hacker green")),
    "day_for_night": ("day-for-night look", ("day for night", "day-for-night")),
    "autumn": ("autumn look", ("autumn", "autumnal", "fall colours", "fall colors", "fall foliage")),
    "cross_process": ("cross-processed look", ("cross process", "cross-process", "cross processed", "cross-processed", "xpro", "lomo")),
    "vivid": ("vivid look", ("technicolor", "technicolour", "vivid look", "pop art", "lush")),
    "moody": ("moody look", ("moody", "melancholic", "melancholy", "sombre", "somber", "bleak")),
}

TIMES_OF_DAY: dict[str, tuple[str, tuple[str, ...]]] = {
    "golden_hour": ("golden-hour light", ("golden hour", "golden-hour", "sunset", "sunrise", "magic hour", "golden light", "late afternoon sun")),
    "blue_hour": ("blue-hour light", ("blue hour", "blue-hour", "dusk", "twilight", "dawn", "early morning")),
    "night": ("night light", ("at night", "night time", "nighttime", "night-time", "by night", "moonlight", "moonlit", "midnight", "night scene", "night")),
    "overcast": ("overcast light", ("overcast", "cloudy", "grey day", "gray day", "gloomy", "rainy day", "flat light")),
}

ADJUSTMENTS: dict[str, tuple[str, str, tuple[str, ...], float]] = {
    # key: (operation, summary template, keywords, signed base amount)
    "brighter": ("exposure", "exposure {amount:+.2g} stop", ("brighter", "brighten", "lighter", "lighten", "more exposure", "overexpose", "overexposed", "more light"), 0.5),
    "darker": ("exposure", "exposure {amount:+.2g} stop", ("darker", "darken", "dimmer", "dim", "underexpose", "underexposed", "less light"), -0.5),
    "more_contrast": ("contrast", "contrast {amount:+.0%}", ("more contrast", "higher contrast", "high contrast", "punchier", "punchy", "increase contrast", "add contrast", "boost contrast"), 0.25),
    "less_contrast": ("contrast", "contrast {amount:+.0%}", ("less contrast", "lower contrast", "low contrast", "flatter", "softer contrast", "reduce contrast", "washed out", "flat"), -0.25),
    "warmer": ("temperature", "warmth {amount:+.0%}", ("warmer", "warm it", "warm up", "warm tones", "warm", "hotter"), 0.25),
    "cooler": ("temperature", "warmth {amount:+.0%}", ("cooler", "colder", "cool it", "cool down", "cool tones", "cold tones", "bluer", "blue tint"), -0.25),
    "more_saturation": ("saturation", "saturation {amount:+.0%}", ("more saturated", "saturate", "saturated", "vivid", "vibrant", "more colour", "more color", "colourful", "colorful", "boost colours", "boost colors"), 0.3),
    "less_saturation": ("saturation", "saturation {amount:+.0%}", ("less saturated", "desaturate", "desaturated", "muted", "less colour", "less color", "washed colours", "washed colors"), -0.3),
}

LIGHT_WORDS = ("light from", "lit from", "lighting from", "light coming from", "sunlight from", "sun from", "side light", "sidelight", "side-lit", "key light", "window light", "top light", "overhead light", "top-lit", "light it from")
LIGHT_SIDES = {"left": ("left",), "right": ("right",), "top": ("top", "above", "overhead")}
SPOTLIGHT_WORDS = ("spotlight", "spot light", "spot-light", "light on the subject", "light the subject", "highlight the subject", "stage light", "follow spot")
VIGNETTE_WORDS = ("vignette", "vignetting", "darken the edges", "dark edges", "darker edges", "darken the corners", "dark corners")

PUSH_WORDS = ("push in", "push-in", "push into", "dolly in", "dolly out", "dolly back", "pull back", "pull-back", "pull out", "track in", "move closer", "move in closer", "dolly")
PUSH_DIRECTIONS = {"in": ("push", "in", "into", "closer"), "out": ("pull", "back", "out", "away")}
ZOOM_WORDS = ("zoom", "zooms", "zooming", "punch in", "magnify", "ken burns")
ZOOM_DIRECTIONS = {"in": ("in", "into", "closer", "punch"), "out": ("out", "away", "back")}
PAN_WORDS = ("pan", "pans", "panning", "whip pan", "truck")
PAN_DIRECTIONS = {"left": ("left",), "right": ("right",)}
TILT_WORDS = ("tilt", "tilts", "tilting", "pedestal")
TILT_DIRECTIONS = {"up": ("up", "upward", "upwards", "sky"), "down": ("down", "downward", "downwards", "ground", "floor")}
DUTCH_WORDS = ("dutch angle", "dutch tilt", "dutch", "canted", "canted angle", "tilted", "crooked", "slanted", "oblique angle", "rotate", "rotated")
SHAKE_WORDS = ("handheld", "hand-held", "hand held", "camera shake", "shake", "shaky", "shaking", "wobble", "wobbly", "jitter", "jittery", "earthquake", "unsteady")
MIRROR_WORDS = ("mirror", "mirrored", "flip", "flipped", "upside down", "upside-down")
VERTICAL_FLIP_WORDS = ("upside down", "upside-down", "vertically", "vertical")
CLOSE_UP_WORDS = ("close-up", "close up", "closeup", "tight shot", "tighter shot", "frame tighter", "tighter framing")
WIDE_WORDS = ("wide shot", "wider shot", "wide angle", "wide-angle", "whole frame", "show everything", "no crop", "don't crop", "uncropped", "letterbox", "pillarbox", "wide")

REVERSE_WORDS = ("in reverse", "reverse", "reversed", "backwards", "backward", "rewind", "rewound")
BOOMERANG_WORDS = ("boomerang", "ping-pong", "ping pong", "back and forth", "forwards and backwards", "forward and backward", "forward then backward")
FREEZE_WORDS = ("freeze frame", "freeze-frame", "freezeframe", "freeze", "still frame")
SLOW_WORDS = ("slow motion", "slow-motion", "slow mo", "slow-mo", "slowmo", "slow down", "slowed down", "slow it down", "half speed", "slower", "super slow", "slo-mo", "slomo")
FAST_WORDS = ("speed up", "sped up", "speed it up", "faster", "fast forward", "fast-forward", "fast motion", "timelapse", "time-lapse", "time lapse", "hyperlapse", "double speed", "quicker")
EXTEND_WORDS = ("extend", "extended", "next shot", "continue the shot", "continue the clip", "continue", "continuation", "make it longer", "longer", "lengthen", "add a few seconds", "what happens next", "hold the last frame", "hold on the last frame", "hold at the end", "seconds more")
EXTEND_MODES = {"hold": ("hold", "still", "freeze", "pause"), "boomerang": ("boomerang", "bounce", "back and forth"), "move": ("move", "moving", "camera", "push", "drift")}

REMOVE_WORDS = ("remove", "erase", "delete", "get rid of", "take out", "paint out", "clean up", "clean plate", "removal", "rid of")
REFERENCE_WORDS = ("match the reference", "match reference", "like the reference", "reference", "match the image", "colour match", "color match", "match the look", "match its colours", "match its colors")
REFRAME_WORDS = ("reframe", "crop", "vertical", "portrait", "square", "widescreen", "aspect", "ratio")
CENTRE_CROP_WORDS = ("centre crop", "center crop", "crop the centre", "crop the center", "centred crop", "centered crop", "crop to the centre", "crop to the center")

GRAIN_WORDS = ("film grain", "grain", "grainy", "noise", "noisy", "16mm", "super 8", "super8", "8mm")
SHARPEN_WORDS = ("sharpen", "sharper", "sharp", "crisp", "crisper", "more detail", "more detailed", "clarity", "crispy")
SOFTEN_WORDS = ("soften", "softer", "soft focus", "soft-focus", "blur", "blurry", "blurred", "diffusion", "hazy", "haze", "glow", "dreamy glow")

# People edits: each needs a person the segmentation model finds (people.py). They are read before
# the looks, so "black and white except the person" is a colour pop, not a black-and-white look.
PEOPLE_EFFECTS = {
    "colour_pop": (
        "colour pop: the person in colour, the rest black and white",
        ("black and white except the person", "black and white except the people", "black and white except for the person",
         "black and white background", "keep the person in colour", "keep the person in color", "keep them in colour",
         "keep them in color", "colour pop", "color pop", "colour splash", "color splash", "selective colour", "selective color",
         "desaturate the background", "grey background", "gray background"),
    ),
    "replace_background": (
        "background replaced by the reference",
        ("replace the background", "replace background", "change the background", "swap the background", "new background",
         "background with the reference", "background from the reference", "put the person in", "put them in", "background swap",
         "background replacement", "replace the backdrop", "green screen"),
    ),
    "blur_background": (
        "background blurred",
        ("blur the background", "blurred background", "blurry background", "background blur", "blur background", "bokeh",
         "portrait mode", "defocus the background", "defocused background", "shallow depth of field", "shallow focus",
         "soft background", "soften the background", "out of focus background"),
    ),
    "darken_background": (
        "background darkened",
        ("darken the background", "darker background", "dim the background", "darken the surroundings", "background darker",
         "darken everything but the person", "darken behind"),
    ),
    "light_person": (
        "person relit",
        ("relight the person", "relight the people", "relight the subject", "light the person", "light up the person",
         "brighten the person", "brighten the people", "brighten the subject", "brighten their face", "lift the person",
         "light the face", "brighten the face", "more light on the person"),
    ),
}

# What a removal clause names when it means the people in the shot ("remove the person", "erase the
# man on the left"): without a painted mask, the people masks say what to remove.
PERSON_WORDS = (
    "person", "people", "persons", "man", "woman", "men", "women", "guy", "girl", "boy", "kid", "child", "children",
    "him", "her", "them", "someone", "somebody", "everyone", "everybody", "actor", "actress", "passer-by", "passerby",
    "passers-by", "pedestrian", "pedestrians", "bystander", "bystanders", "crowd", "figure", "subject", "human", "humans",
    "photobomber", "tourist", "tourists", "extra", "extras",
)
PERSON_REMOVAL_LABEL = "person removed"

# Stylised looks from classical filters (stylise.py). "Like a van gogh" is painterly, and takes the
# colours of a ticked reference image too.
STYLES = {
    "oil": ("oil painting", ("oil painting", "oil paint", "oil-painted", "impasto")),
    "watercolour": ("watercolour", ("watercolour", "watercolor", "water colour", "water color", "aquarelle")),
    "sketch": ("pencil sketch", ("pencil sketch", "pencil drawing", "sketch", "sketched", "charcoal drawing", "drawn in pencil", "line drawing")),
    "cartoon": ("cartoon", ("cartoon", "cartoonish", "comic book", "comic", "cel shaded", "cel-shaded", "animated", "toon", "anime")),
    "painterly": ("painterly", ("painterly", "painting", "painted", "van gogh", "impressionist", "impressionism", "like a painting", "artistic")),
}
PAINTER_WORDS = ("van gogh", "monet", "impressionist", "impressionism")
