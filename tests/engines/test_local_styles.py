"""Stylised looks: each style has its character, a still scene does not shimmer, a moving one moves."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.engines.base import EditRequest
from editor.engines.local import pipeline, stylise
from tests.media_factory import make_person_clip, read_frames

SIZE = (640, 360)


@pytest.fixture(scope="module")
def still(tmp_path_factory) -> Path:
    return make_person_clip(tmp_path_factory.mktemp("still") / "still.mp4", frames=12, size=SIZE, step=0)


@pytest.fixture(scope="module")
def moving(tmp_path_factory) -> Path:
    return make_person_clip(tmp_path_factory.mktemp("moving") / "moving.mp4", frames=12, size=SIZE, step=6)


def _frames(clip: Path) -> list[np.ndarray]:
    return list(read_frames(clip))


def _grey(picture: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)


def test_each_style_has_its_character(still):
    picture = _frames(still)[0]
    detail = cv2.Laplacian(_grey(picture), cv2.CV_32F).var()
    saturation = cv2.cvtColor(picture, cv2.COLOR_RGB2HSV)[..., 1].mean()
    styled = {name: stylise.style(picture, name) for name in stylise.STYLES}
    for name, out in styled.items():
        assert out.shape == picture.shape and np.abs(out.astype(int) - picture.astype(int)).mean() > 4, name
    # A sketch is grey; a painting loses the fine detail but keeps its colour.
    assert cv2.cvtColor(styled["sketch"], cv2.COLOR_RGB2HSV)[..., 1].mean() < 3
    assert cv2.Laplacian(_grey(styled["painterly"]), cv2.CV_32F).var() < 0.6 * detail
    assert cv2.cvtColor(styled["painterly"], cv2.COLOR_RGB2HSV)[..., 1].mean() > 0.9 * saturation
    # Oil and cartoon paint in steps of colour: far fewer distinct colours.
    colours = lambda p: len(np.unique(p.reshape(-1, 3), axis=0))  # noqa: E731
    assert colours(styled["oil"]) < 0.2 * colours(picture)
    assert colours(styled["cartoon"]) < 0.2 * colours(picture)
    # A cartoon is inked: dark lines along the edges.
    assert (_grey(styled["cartoon"]) < 40).mean() > 1.5 * (_grey(picture) < 40).mean()
    # Watercolour is pigment on white paper: no deep blacks.
    assert np.percentile(_grey(styled["watercolour"]), 1) > np.percentile(_grey(picture), 1) + 20


@pytest.mark.parametrize("name", stylise.STYLES)
def test_a_still_scene_does_not_shimmer(still, name):
    frames = _frames(still)
    steady = stylise.Stylise(name)
    held = [steady(f) for f in frames]
    each = [stylise.style(f, name) for f in frames]
    change = lambda seq: np.mean([np.abs(b.astype(int) - a.astype(int)).mean() for a, b in zip(seq, seq[1:])])  # noqa: E731
    source = change(frames)
    # Frame to frame, the styled still moves no more than its source (encoding noise) does...
    assert change(held) <= source + 0.05, (change(held), source)
    # ...where styling each frame on its own would flicker.
    assert change(each) > change(held)


def test_a_moving_scene_is_styled_as_it_moves(moving):
    frames = _frames(moving)
    steady = stylise.Stylise("cartoon")
    held = [steady(f) for f in frames]
    # The last styled frame is the last frame styled, not the first one held.
    assert np.abs(held[-1].astype(int) - stylise.style(frames[-1], "cartoon").astype(int)).mean() < 3
    assert np.abs(held[-1].astype(int) - held[0].astype(int)).mean() > 5


def test_a_van_gogh_prompt_is_painterly_with_the_references_colours(still, tmp_path):
    reference = tmp_path / "night.png"
    night = np.zeros((200, 300, 3), np.uint8)
    night[:] = (30, 60, 160)
    night[60:120, 100:200] = (240, 210, 60)
    cv2.imwrite(str(reference), night[:, :, ::-1])
    out = tmp_path / "out.mp4"
    result = pipeline.run(
        EditRequest(still, out, "make it look like a van gogh painting", f"{SIZE[0]}:{SIZE[1]}", 1, references=(reference,)),
        lambda f: None,
    )
    assert [op["name"] for op in result.plan][:2] == ["stylise", "match_reference"]
    first = next(read_frames(out))
    source = _frames(still)[0]
    # The reference is mostly blue: the result turns bluer than its source.
    assert first[..., 2].mean() - first[..., 0].mean() > source[..., 2].mean() - source[..., 0].mean() + 20
