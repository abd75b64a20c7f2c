"""Facts every layer shares, importing nothing: the output ratios, the seed range, the prompt limit."""

from __future__ import annotations

import math

# Output ratios the form offers (Runway's gen4_aleph list; the local engine renders them all).
RATIOS = (
    "1280:720",
    "720:1280",
    "1104:832",
    "960:960",
    "832:1104",
    "1584:672",
    "848:480",
    "640:480",
)

SEED_MAX = 4_294_967_295

# The longest prompt any engine takes, in characters.
PROMPT_MAX_CHARS = 1000


def ratio_size(ratio: str) -> tuple[int, int]:
    """Return (width, height) for a ratio string such as "1280:720"."""
    w, h = ratio.split(":")
    return int(w), int(h)

# The most edits one batch (seeds × prompts × engines or models) may ask for.
MAX_BATCH = 64


def closest_ratio(width: int, height: int) -> str:
    """Return the output ratio whose shape is closest to a width and height (compared on a log scale)."""
    shape = math.log(width / height)
    return min(RATIOS, key=lambda r: abs(math.log(ratio_size(r)[0] / ratio_size(r)[1]) - shape))
