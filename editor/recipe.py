"""The recipe of an edit: the settings that reproduce it, as results carry them in their metadata.

Pure: the studio's edits and the command line build it the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

# What "Copy recipe" puts on the clipboard and "Paste a recipe" reads back, besides the input's hash.
FIELDS = ("prompt", "seed", "engine", "model", "ratio", "public_figure_threshold", "exact", "trim_start", "keyframes", "options")


def build_recipe(
    *,
    prompt: str,
    seed: int,
    engine: str,
    model: str,
    ratio: str,
    public_figure_threshold: str,
    input_sha256: str,
    trim_start: float | None = None,
    keyframes: Sequence[dict] | None = None,
    options: dict | None = None,
    exact: bool | None = None,
) -> dict:
    """Return an edit's recipe; the part sent and its keyframes are there only for engines that take
    them, and whether the output is byte-identical on every run ("exact") only for the local engine."""
    recipe = {
        "prompt": prompt,
        "seed": str(seed),
        "engine": engine,
        "model": model,
        "ratio": ratio,
        "public_figure_threshold": public_figure_threshold,
        "input_sha256": input_sha256,
    }
    if exact is not None:
        recipe["exact"] = "true" if exact else "false"
    if trim_start is not None:
        recipe["trim_start"] = f"{trim_start:g}"
    if keyframes is not None:
        recipe["keyframes"] = [dict(k) for k in keyframes]
    if options:
        recipe["options"] = dict(options)
    return recipe
