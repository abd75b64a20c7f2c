"""The local engine's people edits, on a clip where the right answer is known: a cut-out person
composited over a known background, so the person mask and the background are ground truth."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.engines.base import EditRequest, EngineError
from editor.engines.local import people, pipeline
from tests.media_factory import make_clip, make_person_clip, person_backdrop, person_background, person_frame, read_frames

SIZE = (640, 360)
FRAMES = 25


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_person_clip(tmp_path_factory.mktemp("people") / "person.mp4", frames=FRAMES, size=SIZE)


@pytest.fixture(scope="module")
def background_image(tmp_path_factory) -> Path:
    """A reference image for the new background: a photo-like picture of its own (a blurred checker)."""
    path = tmp_path_factory.mktemp("ref") / "beach.png"
    checker = ((np.indices((300, 500)).sum(axis=0) // 25) % 2).astype(np.float32)
    picture = np.dstack([60 + 150 * checker, 120 + 80 * checker, 200 - 100 * checker])
    cv2.imwrite(str(path), cv2.GaussianBlur(picture, (7, 7), 2)[:, :, ::-1].astype(np.uint8))
    return path


def _run(clip: Path, tmp_path: Path, prompt: str, **extra):
    out = tmp_path / "out.mp4"
    request = EditRequest(clip, out, prompt, f"{SIZE[0]}:{SIZE[1]}", 1, **extra)
    return pipeline.run(request, lambda f: None), out


def _regions(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Well inside the person, and well away from them (the soft edge in between is left out)."""
    alpha = person_frame(n, SIZE)[1]
    inside = cv2.erode((alpha > 0.5).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    outside = cv2.dilate((alpha > 0.02).astype(np.uint8), np.ones((31, 31), np.uint8)) == 0
    return inside, outside


def test_the_mask_matches_the_person_frame_after_frame(clip):
    found = people.analyse(clip, FRAMES, lambda f: None)
    assert found.found.describe() == "1 person, in 100% of frames"
    for n, picture in enumerate(read_frames(clip)):
        mask = found.mask(n, picture) > 0.5
        truth = person_frame(n, SIZE)[1] > 0.5
        iou = (mask & truth).sum() / (mask | truth).sum()
        assert iou > 0.92, (n, iou)


def test_the_mask_holds_steady_on_a_still_person(tmp_path):
    still = make_person_clip(tmp_path / "still.mp4", frames=15, size=SIZE, step=0)
    found = people.analyse(still, 15, lambda f: None)
    masks = found.masks.astype(np.float32) / 255
    # Frame to frame, a still person's mask changes by well under a level on average at the edge.
    edge = (masks[0] > 0.05) & (masks[0] < 0.95)
    change = np.abs(np.diff(masks, axis=0))[:, edge].mean()
    assert change < 0.01, change


def test_a_clip_without_a_person_is_refused_with_what_was_found(tmp_path):
    scene = make_clip(tmp_path / "scene.mp4", seconds=0.6, size=(320, 240), pattern="scene", audio=False)
    assert people.analyse(scene, 15, lambda f: None).found.people == 0
    with pytest.raises(EngineError) as caught:
        _run(scene, tmp_path, "blur the background")
    assert caught.value.code == "no_person" and "found no person" in caught.value.message
    assert not (tmp_path / "out.mp4").exists()


def test_blurring_the_background_leaves_the_person_sharp(clip, tmp_path):
    result, out = _run(clip, tmp_path, "blur the background a lot")
    assert "People: 1 person, in 100% of frames." in result.notes
    for n, (before, after) in enumerate(zip(read_frames(clip), read_frames(out), strict=True)):
        if n % 6:
            continue
        inside, outside = _regions(n)
        detail = lambda picture, where: cv2.Laplacian(cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY), cv2.CV_32F)[where].var()  # noqa: E731
        assert detail(after, outside) < 0.2 * detail(before, outside)
        assert np.abs(after.astype(int) - before.astype(int))[inside].mean() < 4


def test_the_background_is_replaced_by_the_reference_scaled_to_fill(clip, tmp_path, background_image):
    _, out = _run(clip, tmp_path, "replace the background with the reference", references=(background_image,))
    reference = cv2.imread(str(background_image))[:, :, ::-1]
    wanted = people.fill(reference, *SIZE).astype(int)
    old = person_background(SIZE).astype(int)
    for n, (before, after) in enumerate(zip(read_frames(clip), read_frames(out), strict=True)):
        if n % 6:
            continue
        inside, outside = _regions(n)
        after = after.astype(int)
        assert np.abs(after - wanted)[outside].mean() < 6
        assert np.abs(after - old)[outside].mean() > 40
        # The person is kept, taking on only some of the new background's colour.
        assert np.abs(after - before.astype(int))[inside].mean() < 30


def test_colour_pop_keeps_the_person_in_colour_and_greys_the_rest(clip, tmp_path):
    _, out = _run(clip, tmp_path, "black and white except the person")
    for n, (before, after) in enumerate(zip(read_frames(clip), read_frames(out), strict=True)):
        if n % 8:
            continue
        inside, outside = _regions(n)
        chroma = lambda picture: cv2.cvtColor(picture, cv2.COLOR_RGB2HSV)[..., 1].astype(float)  # noqa: E731
        assert chroma(after)[outside].mean() < 8 < chroma(before)[outside].mean()
        assert abs(chroma(after)[inside].mean() - chroma(before)[inside].mean()) < 8


@pytest.mark.parametrize("prompt, where, lower, upper", [("darken the background", "outside", 0.35, 0.6), ("relight the person", "inside", 1.08, 1.6)])
def test_light_on_the_person_or_the_background_only(clip, tmp_path, prompt, where, lower, upper):
    _, out = _run(clip, tmp_path, prompt)
    for n, (before, after) in enumerate(zip(read_frames(clip), read_frames(out), strict=True)):
        if n % 8:
            continue
        inside, outside = _regions(n)
        changed, kept = (inside, outside) if where == "inside" else (outside, inside)
        luma = lambda picture: cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY).astype(float)  # noqa: E731
        ratio = luma(after)[changed].mean() / luma(before)[changed].mean()
        assert lower < ratio < upper, ratio
        assert abs(luma(after)[kept].mean() - luma(before)[kept].mean()) < 3


def test_masks_are_cached_per_clip_and_a_damaged_cache_is_ignored(clip, tmp_path):
    cache = tmp_path / "people-key.npz"
    first = people.analyse(clip, FRAMES, lambda f: None, cache=cache)
    assert cache.is_file()
    seen = []
    again = people.analyse(clip, FRAMES, seen.append, cache=cache)
    assert seen == [1.0] and np.array_equal(again.masks, first.masks) and again.found == first.found
    cache.write_bytes(b"not a cache")
    seen.clear()
    rebuilt = people.analyse(clip, FRAMES, seen.append, cache=cache)
    assert len(seen) == FRAMES and np.array_equal(rebuilt.masks, first.masks)


def test_replacing_the_background_without_a_reference_is_refused_before_any_work(clip, tmp_path):
    with pytest.raises(EngineError) as caught:
        _run(clip, tmp_path, "replace the background")
    assert caught.value.code == "reference_missing"


# Removing the person: the background behind them is known, so what fills the hole can be checked.


def _share_in_note(notes: list[str]) -> float:
    note = next(n for n in notes if n.startswith("Person removed"))
    if "everything behind them showed" in note:
        return 0.0
    return float(note.split("Person removed: ", 1)[1].split("%", 1)[0]) / 100


def _after_removal(out: Path, behind) -> list[tuple[float, float]]:
    """For each frame: how far the result is from the true background inside where the person was,
    and outside (levels, mean over RGB)."""
    errors = []
    for n, picture in enumerate(read_frames(out)):
        alpha = person_frame(n, SIZE, step=STEP, pan=PAN if behind is person_backdrop else 0)[1]
        truth = behind(n)
        inside = alpha > 0.5
        outside = cv2.dilate((alpha > 0.02).astype(np.uint8), np.ones((31, 31), np.uint8)) == 0
        diff = np.abs(picture.astype(float) - truth)
        errors.append((float(diff[inside].mean()), float(diff[outside].mean())))
    return errors


STEP, PAN = 8, 5


def test_a_walking_person_is_removed_and_the_background_they_hid_comes_back(tmp_path):
    clip = make_person_clip(tmp_path / "walk.mp4", frames=40, size=SIZE, step=STEP)
    result, out = _run(clip, tmp_path, "remove the person")
    assert "person removed" in result.summary
    errors = _after_removal(out, lambda n: person_background(SIZE).astype(float))
    # The person stood out from the background by tens of levels; the background came back.
    before = [float(np.abs(f.astype(float) - person_background(SIZE))[person_frame(n, SIZE, step=STEP)[1] > 0.5].mean()) for n, f in enumerate(read_frames(clip))]
    assert min(before) > 30
    assert max(inside for inside, _ in errors) < 8
    assert max(outside for _, outside in errors) < 3
    # The person walks 8 px a frame until the frame's edge stops them: part of what they cover at
    # the end is covered in every frame, and the note says how much of them that was.
    always = np.logical_and.reduce([person_frame(n, SIZE, step=STEP)[1] > 0.5 for n in range(40)])
    share = always.sum() / np.mean([(person_frame(n, SIZE, step=STEP)[1] > 0.5).sum() for n in range(40)])
    assert 0 < share < 0.2
    assert abs(_share_in_note(result.notes) - share) < 0.1


def test_a_panning_camera_shows_what_a_still_person_hides(tmp_path):
    clip = make_person_clip(tmp_path / "pan.mp4", frames=40, size=SIZE, step=0, pan=PAN)
    result, out = _run(clip, tmp_path, "remove the person")
    errors = _after_removal(out, lambda n: person_backdrop(n, SIZE, PAN).astype(float))
    assert max(inside for inside, _ in errors[5:-5]) < 10
    assert max(outside for _, outside in errors) < 3
    assert _share_in_note(result.notes) < 0.25


def test_a_person_who_never_moves_is_painted_out_and_the_note_says_so(tmp_path):
    clip = make_person_clip(tmp_path / "still.mp4", frames=15, size=SIZE, step=0)
    result, out = _run(clip, tmp_path, "get rid of the man")
    assert _share_in_note(result.notes) > 0.9
    assert "painted in from around it" in " ".join(result.notes)
    frames = list(read_frames(out))
    alpha = person_frame(0, SIZE, step=0)[1] > 0.5
    source = list(read_frames(clip))[7].astype(float)
    # Not the person any more: far from them, nearer the background they hid.
    assert np.abs(frames[7].astype(float) - source)[alpha].mean() > 20
    assert np.abs(frames[7].astype(float) - person_background(SIZE))[alpha].mean() < np.abs(source - person_background(SIZE))[alpha].mean() / 2


def test_removing_a_person_needs_no_mask_and_a_painted_mask_still_means_that_region():
    from editor.engines.local.plan import make_plan

    plan = make_plan("remove the person, golden hour", ratio="640:360", seed=1, has_reference=False)
    assert plan.op("people").params["effect"] == "remove_person" and plan.op("remove") is None
    assert "golden" in plan.summary()
    masked = make_plan("remove the person", ratio="640:360", seed=1, has_reference=False, has_mask=True)
    assert masked.op("remove") is not None and masked.op("people") is None
    with pytest.raises(EngineError) as caught:
        make_plan("remove the boom mic", ratio="640:360", seed=1, has_reference=False)
    assert caught.value.code == "mask_missing"


def test_removing_a_person_from_a_clip_without_one_is_refused(tmp_path):
    empty = make_clip(tmp_path / "empty.mp4", seconds=0.4, size=SIZE)
    with pytest.raises(EngineError) as caught:
        _run(empty, tmp_path, "remove the person")
    assert caught.value.code == "no_person"
    assert not (tmp_path / "out.mp4").exists()
