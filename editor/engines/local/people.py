"""People in the picture: a person mask for every source frame, held steady over time and refined at
the working resolution, and faces to tell a person from a person-shaped thing.

The models are the small TFLite files MediaPipe ships in its wheel (Apache-2.0; see
docs/local-engine.md): selfie segmentation (landscape, 256 × 144 RGB in 0–1, a person probability
out) and BlazeFace (short range, 128 × 128 RGB in −1–1, 896 anchors out). OpenCV's dnn module runs
them; MediaPipe itself is never imported. The input blob is NCHW.

- `analyse()` reads the clip once at the model's size, segments every frame, and smooths the masks
  over time: the previous mask is carried along the optical flow and blended with the new one, so
  edges do not flicker while the person moves. Masks are kept as 8-bit 256 × 144 arrays (about
  37 KB a frame) and cached by the caller's key, so several edits of one clip segment it once.
- `People.mask()` refines a frame's mask at the working size with a guided filter (the frame's
  luma as the guide), so the edge follows hair and shoulders instead of the model's coarse grid.
- `People.found` says what was seen: how many people, in what share of the frames.
"""

from __future__ import annotations

import importlib.util
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from editor.engines.base import EngineError
from editor.engines.local.flow import global_shift
from editor.engines.local.remove import inpaint

MODEL_W, MODEL_H = 256, 144
FACE_SIZE = 128
# A frame shows a person when this share of it is person; a person is a connected part this large.
PRESENT_SHARE = 0.01
PERSON_SHARE = 0.015
# How much of the new mask is taken each frame; the rest is the previous mask carried by the flow.
NEW_WEIGHT = 0.6
FACE_SCORE = 0.6
FACE_SAMPLES = 12
CACHE_VERSION = 1


def model_file(name: str) -> Path:
    """Path of a model file inside the installed mediapipe wheel, found without importing it."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("people_unavailable", "The people models are not installed on this server (the mediapipe wheel).")
    path = Path(list(spec.submodule_search_locations)[0]) / "modules" / name
    if not path.is_file():
        raise EngineError("people_unavailable", f"The people model {name} is missing from this installation.")
    return path


# A cv2.dnn.Net holds its input and its layers' buffers: two threads running one net at once (two
# edits in one worker, previews in a threaded web server) would read each other's results. Each
# thread loads its own (a few ms, a few hundred KB).
_NETS = threading.local()


def _net(name: str):
    net = getattr(_NETS, name, None)
    if net is None:
        path = {"segmenter": "selfie_segmentation/selfie_segmentation_landscape.tflite", "faces": "face_detection/face_detection_short_range.tflite"}[name]
        net = cv2.dnn.readNetFromTFLite(str(model_file(path)))
        setattr(_NETS, name, net)
    return net


def _segmenter():
    return _net("segmenter")


def _face_net():
    return _net("faces")


def segment(rgb_small: np.ndarray) -> np.ndarray:
    """Person probability (MODEL_H × MODEL_W float32, 0–1) of an RGB frame already at the model's size."""
    net = _segmenter()
    net.setInput((rgb_small.astype(np.float32) * (1 / 255)).transpose(2, 0, 1)[None])
    return np.clip(net.forward()[0, 0], 0.0, 1.0)


@lru_cache(maxsize=1)
def _anchors() -> np.ndarray:
    """BlazeFace's 896 anchor centres (x, y in 0–1): 2 a cell on a 16 × 16 grid, 6 a cell on 8 × 8."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                centres.extend([((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell)
    return np.array(centres, dtype=np.float32)


def faces(rgb: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """Faces in an RGB frame: (x, y, w, h) in 0–1 of the frame, and a score; overlapping boxes merged."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    # Letterboxed into a square so faces keep their shape.
    square = np.zeros((side, side, 3), np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = rgb
    small = cv2.resize(square, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1
    net = _face_net()
    net.setInput(small.transpose(2, 0, 1)[None])
    scores, boxes = net.forward(["classificators", "regressors"])
    scores = 1 / (1 + np.exp(-np.clip(scores[0, :, 0], -80, 80)))
    found = []
    anchors = _anchors()
    for i in np.argsort(-scores):
        if scores[i] < FACE_SCORE:
            break
        cx = anchors[i, 0] + boxes[0, i, 0] / FACE_SIZE
        cy = anchors[i, 1] + boxes[0, i, 1] / FACE_SIZE
        bw, bh = boxes[0, i, 2] / FACE_SIZE, boxes[0, i, 3] / FACE_SIZE
        # Back from the square to the frame.
        x = (cx - bw / 2) * side - left
        y = (cy - bh / 2) * side - top
        box = (x / w, y / h, bw * side / w, bh * side / h, float(scores[i]))
        if all(_overlap(box, kept) < 0.3 for kept in found):
            found.append(box)
    return found


def faces_of_people(rgb: np.ndarray, coarse: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """Faces where the person mask (coarse, 0–1 at the model's size) says people are: the whole
    frame, then a square around the top of each person, so a face far from the camera is large
    enough for BlazeFace (made for faces near it)."""
    found = faces(rgb)
    h, w = rgb.shape[:2]
    count, _, stats, _ = cv2.connectedComponentsWithStats((coarse > 0.5).astype(np.uint8))
    for i in range(1, count):
        x, y, bw, bh, area = stats[i]
        if area < PERSON_SHARE * MODEL_W * MODEL_H:
            continue
        # The head: the top of the region, as wide as the region (in frame pixels).
        sx, sy = w / MODEL_W, h / MODEL_H
        side = int(max(bw * sx, bh * sy * 0.5) * 1.1)
        cx = (x + bw / 2) * sx
        left, top = int(max(0, min(w - side, cx - side / 2))), int(max(0, y * sy - side * 0.1))
        crop = rgb[top : top + side, left : left + side]
        if min(crop.shape[:2]) < 16:
            continue
        for fx, fy, fw, fh, score in faces(crop):
            ch, cw = crop.shape[:2]
            box = ((left + fx * cw) / w, (top + fy * ch) / h, fw * cw / w, fh * ch / h, score)
            if all(_overlap(box, kept) < 0.3 for kept in found):
                found.append(box)
    return found


def _overlap(a, b) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw, ih = max(0.0, min(ax2, bx2) - max(a[0], b[0])), max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-9)


@dataclass(frozen=True)
class Found:
    people: int
    share_of_frames: float
    faces: int

    def describe(self) -> str:
        if not self.people:
            return "no person found"
        who = "1 person" if self.people == 1 else f"{self.people} people"
        return f"{who}, in {self.share_of_frames:.0%} of frames"


class People:
    """Person masks of every source frame (8-bit, at the model's size) and what was found."""

    def __init__(self, masks: np.ndarray, found: Found):
        self.masks = masks
        self.found = found

    def mask(self, index: int, guide_rgb: np.ndarray, *, radius: int | None = None) -> np.ndarray:
        """Frame `index`'s mask at the guide's size (float32 0–1), its edge refined along the guide."""
        h, w = guide_rgb.shape[:2]
        coarse = self.masks[min(index, len(self.masks) - 1)].astype(np.float32) * (1 / 255)
        return guided_upsample(coarse, guide_rgb, radius=radius or max(2, round(min(w, h) / 90)))


def guided_upsample(coarse: np.ndarray, guide_rgb: np.ndarray, *, radius: int, eps: float = 1e-3) -> np.ndarray:
    """He, Sun and Tang's guided filter, fast form: coefficients at half the guide's size, applied at
    full size. The mask takes the guide's edges where the coarse mask has an edge nearby."""
    h, w = guide_rgb.shape[:2]
    sw, sh = max(8, w // 2), max(8, h // 2)
    guide = cv2.cvtColor(guide_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1 / 255)
    g = cv2.resize(guide, (sw, sh), interpolation=cv2.INTER_AREA)
    p = cv2.resize(coarse, (sw, sh), interpolation=cv2.INTER_LINEAR)
    r = max(1, radius // 2)
    box = lambda x: cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1))  # noqa: E731
    mean_g, mean_p = box(g), box(p)
    var_g = box(g * g) - mean_g * mean_g
    cov = box(g * p) - mean_g * mean_p
    a = cov / (var_g + eps)
    b = mean_p - a * mean_g
    a = cv2.resize(box(a), (w, h), interpolation=cv2.INTER_LINEAR)
    b = cv2.resize(box(b), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(a * guide + b, 0.0, 1.0)


def analyse(path: Path, count: int, progress: Callable[[float], None], *, cache: Path | None = None) -> People:
    """Segment every frame of the video at path (count frames), or read the masks from the cache."""
    if cache is not None and cache.is_file():
        cached = read_cache(cache, count)
        if cached is not None:
            cache.touch()  # used now: the sweep removes what is not used
            progress(1.0)
            return cached
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    masks = np.zeros((max(1, count), MODEL_H, MODEL_W), np.uint8)
    grid_x, grid_y = np.meshgrid(np.arange(MODEL_W, dtype=np.float32), np.arange(MODEL_H, dtype=np.float32))
    previous_grey = previous = None
    face_count = 0
    sample_every = max(1, count // FACE_SAMPLES)
    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if n >= count:
                break
            small = frame.reformat(width=MODEL_W, height=MODEL_H, format="rgb24", interpolation="AREA").to_ndarray()
            found = segment(small)
            grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
            if previous is not None:
                # Where each pixel of this frame was in the last one: carry the last mask here.
                motion = flow.calc(grey, previous_grey, None)
                carried = cv2.remap(previous, grid_x + motion[..., 0], grid_y + motion[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                found = NEW_WEIGHT * found + (1 - NEW_WEIGHT) * carried
            masks[n] = np.rint(found * 255).astype(np.uint8)
            if n % sample_every == 0 and len(faces_seen := faces(frame.to_ndarray(format="rgb24"))) > face_count:
                face_count = len(faces_seen)
            previous, previous_grey = found, grey
            n += 1
            progress(n / max(1, count))
    masks = masks[: max(1, n)]
    people = People(masks, count_people(masks, face_count))
    if cache is not None:
        _write_cache(cache, people)
    return people


def count_people(masks: np.ndarray, face_count: int) -> Found:
    """How many people, in what share of the frames. A person-shaped region with no face anywhere in
    the clip (a cup, a statue seen from behind) is not counted: the model is made for people."""
    area = MODEL_W * MODEL_H
    present = (masks > 127).reshape(len(masks), -1).mean(axis=1) >= PRESENT_SHARE
    if face_count == 0 or not present.any():
        return Found(0, 0.0, face_count)
    typical = np.median(masks[present], axis=0) > 127
    count, _, stats, _ = cv2.connectedComponentsWithStats(typical.astype(np.uint8))
    parts = int(sum(1 for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= PERSON_SHARE * area))
    return Found(max(1, min(parts, face_count)) if parts else 1, float(present.mean()), face_count)


def _write_cache(path: Path, people: People) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as fh:
        np.savez_compressed(
            fh,
            masks=people.masks,
            found=np.array([people.found.people, people.found.share_of_frames, people.found.faces, CACHE_VERSION], np.float64),
        )
    partial.replace(path)


def read_cache(path: Path, count: int) -> People | None:
    """The cached masks, or None when the file is damaged, of another version, or of another length."""
    try:
        with np.load(path, allow_pickle=False) as data:
            masks, found = data["masks"], data["found"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if found.shape != (4,) or int(found[3]) != CACHE_VERSION or masks.shape[1:] != (MODEL_H, MODEL_W) or abs(len(masks) - count) > 1:
        return None
    return People(masks.astype(np.uint8), Found(int(found[0]), float(found[1]), int(found[2])))


# ---------------------------------------------------------------- the people edits, on one frame


class Effect:
    """One people edit on frames at one size: the mask says how much of each pixel is person.

    Every effect is "a new picture for the person or for what is behind them, blended over the soft
    mask". The blend is one pass of OpenCV's blendLinear on 8-bit frames with the mask as its weight
    (no per-pixel Python, no float copies of the whole frame); what is made at full size is made in
    8 bits, and wide blurs are made small."""

    # How far the person's colours move towards the new background's (0: not at all, 1: the same).
    MATCH = 0.35
    # How much of the new background wraps the person's soft edge (at the edge's middle).
    WRAP = 0.35

    def __init__(self, effect: str, amount: float, width: int, height: int, background: np.ndarray | None = None):
        if effect not in EFFECTS:
            raise EngineError("bad_plan", f"Unknown people edit {effect}.")
        self.effect = effect
        self.amount = amount
        self.width, self.height = width, height
        self.sigma = max(1.0, amount * min(width, height) / 60)
        self.background = None
        if effect == "replace_background":
            if background is None:
                raise EngineError("reference_missing", "Replacing the background needs a reference image.")
            self.background = np.ascontiguousarray(fill(background, width, height))
            mean, std = cv2.meanStdDev(self.background)
            self.background_stats = mean.ravel(), std.ravel()
        if effect == "light_person":
            # More light on the person: lifts shadows more than highlights (a curve, as a table).
            lift = 0.3 * amount
            x = np.arange(256, dtype=np.float32) / 255
            self.curve = np.clip(255 * (1 - (1 - x) ** (1 + lift)) * (1 + 0.15 * lift), 0, 255).astype(np.uint8)
        if effect == "darken_background":
            self.black = np.zeros((height, width, 3), np.uint8)

    def apply(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The edit on one RGB frame (8-bit, the Effect's size) with its person mask (float32 0–1)."""
        if self.effect == "blur_background":
            return _over(rgb, self._background_blur(rgb, mask), mask)
        if self.effect == "colour_pop":
            grey = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            share = min(1.0, self.amount)
            return _over(rgb, cv2.addWeighted(grey, share, rgb, 1 - share, 0), mask)
        if self.effect == "darken_background":
            gain = max(0.15, 1 - 0.55 * self.amount)
            # What is kept of each pixel: all of the person, `gain` of the rest.
            return _over(rgb, self.black, cv2.add(cv2.multiply(mask, 1 - gain), gain))
        if self.effect == "light_person":
            return _over(cv2.LUT(rgb, self.curve), rgb, mask)
        return self._replace(rgb, mask)

    def _background_blur(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Blur only the background: the person is left out of the blur (normalised convolution), so no
        halo of them bleeds into what is behind. A wide blur is made at a quarter of the size."""
        scale = 4 if self.sigma >= 6 else 1
        size = (max(8, self.width // scale), max(8, self.height // scale))
        keep = 1 - mask
        if scale > 1:
            # Halved in 8 bits first (the cheapest pass), then weighted and taken to a quarter.
            half = (max(8, self.width // 2), max(8, self.height // 2))
            picture = cv2.resize(rgb, half, interpolation=cv2.INTER_AREA).astype(np.float32)
            keep = cv2.resize(keep, half, interpolation=cv2.INTER_AREA)
        else:
            picture = rgb.astype(np.float32)
        small = cv2.resize(cv2.multiply(picture, cv2.merge([keep, keep, keep])), size, interpolation=cv2.INTER_AREA)
        weight = cv2.resize(keep, size, interpolation=cv2.INTER_AREA)
        sigma = self.sigma / scale
        k = max(3, int(sigma * 3) * 2 + 1)
        blurred = cv2.GaussianBlur(small, (k, k), sigma)
        weights = np.maximum(cv2.GaussianBlur(weight, (k, k), sigma), 1e-3)
        filled = cv2.convertScaleAbs(cv2.divide(blurred, cv2.merge([weights, weights, weights])))
        return cv2.resize(filled, (self.width, self.height), interpolation=cv2.INTER_LINEAR)

    def _replace(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # The person takes on some of the new background's colour (mean and spread per channel), so
        # they sit in its light.
        person = (mask > 0.5).astype(np.uint8)
        subject = rgb
        if person.any():
            mean, std = (v.ravel() for v in cv2.meanStdDev(rgb, mask=person))
            target_mean, target_std = self.background_stats
            gain = np.clip(1 + self.MATCH * (target_std / np.maximum(std, 1.0) - 1), 0.5, 2.0)
            offset = mean + self.MATCH * (target_mean - mean) - gain * mean
            matrix = np.hstack([np.diag(gain), offset[:, None]]).astype(np.float32)
            subject = cv2.transform(rgb, matrix)
        # The edge blends the two over the soft mask, and a little of the new background wraps it:
        # the person's share is mask × (1 − wrap), the wrap largest where the mask is one half.
        edge = cv2.multiply(mask, 1 - mask, scale=4 * self.WRAP)
        return _over(subject, self.background, cv2.multiply(mask, 1 - edge))


EFFECTS = ("blur_background", "colour_pop", "darken_background", "light_person", "replace_background")
# Edits that need the whole clip, not one frame (PersonRemover).
CLIP_EFFECTS = ("remove_person",)


def load_background(path: Path) -> np.ndarray:
    """A reference image (the new background) as RGB."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except OSError:
        raise EngineError("bad_reference", "The reference image could not be read.") from None


def effect_for(name: str, amount: float, width: int, height: int, references) -> Effect:
    """The one-frame Effect for a people op, with its new background when it replaces one."""
    background = load_background(references[0]) if name == "replace_background" and references else None
    return Effect(name, amount, width, height, background)


def _over(front: np.ndarray, back: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """front where alpha (float32, one channel) is 1, back where it is 0, mixed in between (8-bit)."""
    return cv2.blendLinear(front, back, alpha, 1 - alpha)


def fill(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """An RGB image scaled to cover width × height (cropped about its centre, never stretched)."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    resized = cv2.resize(image, (max(width, round(w * scale)), max(height, round(h * scale))), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    top, left = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return resized[top : top + height, left : left + width]


# ---------------------------------------------------------------- removing a person


class PersonRemover:
    """Remove the people from every frame: what other frames show behind them fills the hole.

    The camera's overall motion is measured between neighbouring frames (phase correlation on small
    greys, the people greyed out), so every frame has a place on one canvas the size of everything
    the camera saw. Before the render, `learn` is shown every frame small (its place on the canvas),
    then `look` every frame at the working size: it keeps, for each canvas pixel, the first
    background seen there. While rendering, `clean` keeps the last background seen
    at each pixel; a hole is filled from it (the nearest earlier frame that showed the spot), then
    from the first sighting (the nearest later frame), and what no frame ever showed is inpainted
    from around it and counted: `unfilled_share` says how much of the people it was.

    Masks are the model's, grown at its size and enlarged (cheap: the hole is grown by far more than
    refining its edge would move it), and only the hole's box is filled. Memory: two canvases of
    8-bit RGB and their masks, about 6 MB at 720p with a still camera.
    """

    # Grow the person's mask by this much of the frame's short side: the soft edge, hair and a
    # contact shadow go with them.
    GROW = 0.02
    FEATHER = 0.006
    # A canvas larger than this many frames' area would be a long pan: positions are clamped to it.
    MAX_CANVAS = 4
    # What no frame showed is inpainted at most this many pixels across (down to 1/8 of its size):
    # a person's hole is larger than a painted one.
    INPAINT_SIZE = 96
    INPAINT_MAX_SHRINK = 8

    def __init__(self, found: People, width: int, height: int):
        self.found = found
        self.width, self.height = width, height
        # The hole is made at the model's size (dilated there, then enlarged): it is grown far beyond
        # what refining the edge at full size would move.
        grow = max(1, round(self.GROW * MODEL_H))
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        self.feather = max(1.0, self.FEATHER * min(width, height))
        self.margin = int(3 * self.feather) + 2
        self.positions: dict[int, tuple[int, int]] = {}
        self._previous: np.ndarray | None = None
        self._track = (0.0, 0.0)
        self.first: np.ndarray | None = None
        self.first_seen: np.ndarray | None = None
        self.last: np.ndarray | None = None
        self.last_seen: np.ndarray | None = None
        self.hole_pixels = 0
        self.unfilled_pixels = 0

    def hole(self, index: int) -> np.ndarray:
        """Where frame `index` shows a person, grown (uint8 0/1, the working size)."""
        coarse = cv2.dilate((self.found.masks[min(index, len(self.found.masks) - 1)] > 64).view(np.uint8), self.kernel)
        return (cv2.resize(coarse * 255, (self.width, self.height), interpolation=cv2.INTER_LINEAR) > 127).view(np.uint8)

    def learn(self, index: int, grey: np.ndarray) -> None:
        """Where source frame `index` sits on the canvas, from its grey at the model's size (frames in
        order): the camera's motion since the last one, measured with the people greyed out."""
        grey = grey.astype(np.float32)
        person = self.found.masks[min(index, len(self.found.masks) - 1)] > 64
        if person.any() and not person.all():
            grey[cv2.dilate(person.view(np.uint8), np.ones((5, 5), np.uint8)) > 0] = grey[~person].mean()
        if self._previous is not None:
            dx, dy = global_shift(self._previous, grey)
            # The picture moved by (dx, dy): the camera moved the other way over the canvas.
            self._track = (self._track[0] - dx * self.width / MODEL_W, self._track[1] - dy * self.height / MODEL_H)
        self._previous = grey
        self.positions[index] = (round(self._track[0]), round(self._track[1]))

    def lay_out(self) -> None:
        """Make the canvas once every frame's place is known."""
        xs = [x for x, _ in self.positions.values()] or [0]
        ys = [y for _, y in self.positions.values()] or [0]
        self.origin = (min(xs), min(ys))
        self.span = (min(max(xs) - min(xs), (self.MAX_CANVAS - 1) * self.width), min(max(ys) - min(ys), (self.MAX_CANVAS - 1) * self.height))
        size = (self.height + self.span[1], self.width + self.span[0])
        self.first = np.zeros((*size, 3), np.uint8)
        self.first_seen = np.zeros(size, np.uint8)
        self.last = np.zeros((*size, 3), np.uint8)
        self.last_seen = np.zeros(size, np.uint8)

    def wants(self, index: int) -> bool:
        """Whether frame `index` could show background the canvas has not seen yet (else `look` need
        not see it)."""
        rows, cols = self._place(index)
        return not self.first_seen[rows, cols].all()

    def look(self, index: int, rgb: np.ndarray) -> None:
        """Keep what source frame `index` (RGB at the working size) is first to show of the background."""
        rows, cols = self._place(index)
        first, first_seen = self.first[rows, cols], self.first_seen[rows, cols]
        new = cv2.bitwise_and(1 - self.hole(index), 1 - first_seen)
        cv2.copyTo(rgb, new, first)
        cv2.bitwise_or(first_seen, new, first_seen)

    def _place(self, index: int) -> tuple[slice, slice]:
        x, y = self.positions.get(index, (0, 0))
        x = min(max(0, x - self.origin[0]), self.span[0])
        y = min(max(0, y - self.origin[1]), self.span[1])
        return slice(y, y + self.height), slice(x, x + self.width)

    def clean(self, index: int, rgb: np.ndarray) -> np.ndarray:
        """Frame `index` without its people (frames come in the order the result shows them)."""
        hole = self.hole(index)
        rows, cols = self._place(index)
        last, last_seen = self.last[rows, cols], self.last_seen[rows, cols]
        # This frame's background is now the last seen there.
        shows = 1 - hole
        cv2.copyTo(rgb, shows, last)
        cv2.bitwise_or(last_seen, shows, last_seen)
        box = cv2.boundingRect(hole)
        if box[2] == 0:
            return rgb
        # Only the hole's box (and the feather around it) is filled.
        x, y, w, h = box
        x0, y0 = max(0, x - self.margin), max(0, y - self.margin)
        x1, y1 = min(self.width, x + w + self.margin), min(self.height, y + h + self.margin)
        inside = (slice(y0, y1), slice(x0, x1))
        fill = self.first[rows, cols][inside].copy()
        cv2.copyTo(last[inside], last_seen[inside], fill)
        hole_box = hole[inside]
        need = cv2.bitwise_and(hole_box, 1 - cv2.bitwise_or(last_seen[inside], self.first_seen[rows, cols][inside]))
        self.hole_pixels += cv2.countNonZero(hole_box)
        missing = cv2.countNonZero(need)
        if missing:
            self.unfilled_pixels += missing
            inpaint(fill, need.astype(bool), full_size=self.INPAINT_SIZE, max_shrink=self.INPAINT_MAX_SHRINK)
        alpha = cv2.GaussianBlur(hole_box.astype(np.float32), (0, 0), self.feather)
        out = rgb.copy()
        out[inside] = _over(fill, rgb[inside], alpha)
        return out

    @property
    def unfilled_share(self) -> float:
        return self.unfilled_pixels / self.hole_pixels if self.hole_pixels else 0.0

    def describe(self) -> str:
        share = self.unfilled_share
        if share < 0.005:
            return "Person removed: everything behind them showed in other frames."
        return (
            f"Person removed: {share:.0%} of what they covered never showed in any frame and was painted in "
            "from around it (it may look smeared there)."
        )
