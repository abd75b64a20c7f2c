"""Time on real frames: slow motion with in-between frames, speed up, reverse, boomerang, freeze,
the next shot; and what happens to the sound in each case."""

from __future__ import annotations

import av
import numpy as np
import pytest

from editor import media
from tests.engines.test_local_clips import edit, read_frames, shift, texture, write_clip
from tests.media_factory import make_clip


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    """The moving white square over colour bars, with a tone."""
    return make_clip(tmp_path_factory.mktemp("time") / "moving.mp4", seconds=1.0, size=(320, 240), fps=25, audio=True)


@pytest.fixture(scope="module")
def panning(tmp_path_factory):
    """A texture sliding left by 2 pixels a frame, as if the camera panned right."""
    wide = texture(420, 240, seed=3)
    return write_clip(tmp_path_factory.mktemp("time") / "pan.mp4", (wide[:, 2 * n : 2 * n + 320] for n in range(25)))


def _square_x(frame: np.ndarray) -> float:
    """Horizontal centre of the white square (the only pure white in the clip)."""
    mask = (frame > 245).all(axis=2)
    mask[: 240 // 3 - 25] = False
    mask[240 // 3 + 25 :] = False
    return float(np.nonzero(mask)[1].mean())


def _audio_seconds(path) -> float:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0.0
        stream = container.streams.audio[0]
        return sum(f.samples for f in container.decode(stream)) / stream.codec_context.sample_rate


def _close(a: np.ndarray, b: np.ndarray, limit: float = 4.0) -> bool:
    return float(np.abs(a.astype(float) - b.astype(float)).mean()) < limit


def test_slow_motion_doubles_the_frames_with_real_in_betweens(moving, tmp_path):
    out = tmp_path / "slow.mp4"
    result = edit(moving, out, "slow motion")
    frames = read_frames(out)
    assert len(frames) == 49
    source = read_frames(moving)
    assert _close(frames[20], source[10])
    # An in-between puts the square halfway, not on either neighbour.
    before, middle, after = _square_x(frames[20]), _square_x(frames[21]), _square_x(frames[22])
    assert after - before > 6
    assert abs(middle - (before + after) / 2) < 1.5
    assert abs(_audio_seconds(out) - 2.0) < 0.1
    assert any("retimed" in note for note in result.notes)


def test_speed_up_drops_frames_and_speeds_up_the_sound(moving, tmp_path):
    out = tmp_path / "fast.mp4"
    result = edit(moving, out, "speed up 2x")
    frames, source = read_frames(out), read_frames(moving)
    assert len(frames) == 13
    assert _close(frames[5], source[10])
    assert abs(_audio_seconds(out) - 0.5) < 0.06
    assert any("retimed to 2x" in note for note in result.notes)


def test_reverse_plays_the_frames_backwards_and_drops_the_sound(moving, tmp_path):
    out = tmp_path / "rev.mp4"
    result = edit(moving, out, "reverse")
    frames, source = read_frames(out), read_frames(moving)
    assert len(frames) == 25
    for k in (0, 7, 24):
        assert _close(frames[k], source[24 - k])
    assert not media.probe(out).has_audio
    assert result.notes == ["Source audio dropped: it would play backwards."]


def test_boomerang_goes_there_and_back(moving, tmp_path):
    out = tmp_path / "boom.mp4"
    edit(moving, out, "boomerang")
    frames, source = read_frames(out), read_frames(moving)
    assert len(frames) == 49
    assert _close(frames[24], source[24])
    for m in (1, 10, 24):
        assert _close(frames[24 + m], source[24 - m])


def test_freeze_frame_holds_one_moment_then_plays_on(moving, tmp_path):
    out = tmp_path / "freeze.mp4"
    result = edit(moving, out, "freeze frame at 0.4 s for 1 second")
    frames, source = read_frames(out), read_frames(moving)
    assert len(frames) == 50
    held = frames[10:36]
    assert all(_close(f, source[10], 3) for f in held)
    assert _close(frames[36], source[11])
    assert any("freeze" in note for note in result.notes)


def test_next_shot_hold_adds_still_frames_and_keeps_the_sound(moving, tmp_path):
    out = tmp_path / "hold.mp4"
    result = edit(moving, out, "extend by 1 second with a hold")
    frames, source = read_frames(out), read_frames(moving)
    assert len(frames) == 50
    assert all(_close(f, source[24], 3) for f in frames[25:])
    assert abs(_audio_seconds(out) - 1.0) < 0.06
    assert "next shot: +1 s, hold on the last frame" in result.summary
    assert any("have no sound" in note for note in result.notes)


def test_next_shot_boomerang_plays_the_end_backwards(moving, tmp_path):
    out = tmp_path / "bounce.mp4"
    edit(moving, out, "extend by 1 second with a boomerang")
    frames, source = read_frames(out), read_frames(moving)
    assert len(frames) == 50
    assert _close(frames[25], source[23]) and _close(frames[30], source[18])


def test_next_shot_continues_the_camera_move(panning, tmp_path):
    out = tmp_path / "more.mp4"
    result = edit(panning, out, "extend by 1 second")
    frames = read_frames(out)
    assert len(frames) == 50
    assert "continued camera move" in result.summary
    steps = [shift(a, b)[0] for a, b in zip(frames[30:45], frames[31:46])]
    # The source slid left about 2 px a frame; the added frames keep sliding the same way.
    assert np.median(steps) < -1.0, steps
