"""`manage.py edit_clip`: the local engine on plain files, its plan, its progress bar and its refusals."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper
from PIL import Image

from editor import media
from editor.management.commands.edit_clip import ProgressBar, closest_ratio
from tests.media_factory import VideoWriter, make_clip, make_truncated_mp4, read_frames

REPO = Path(__file__).parent.parent


def edit_clip(*args: str) -> tuple[str, str]:
    """Run the command in this process; return (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("edit_clip", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def edit_clip_process(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the command as a real process, the way a user does."""
    env = {**os.environ, "ALEPH_DATA_DIR": str(tmp_path / "data"), "DJANGO_SETTINGS_MODULE": "aleph_studio.settings"}
    # A user's shell buffers output to a pipe; unbuffered output would hide a print that never lands.
    env.pop("PYTHONUNBUFFERED", None)
    return subprocess.run(
        [sys.executable, "manage.py", "edit_clip", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def worst_psnr(a: Path, b: Path) -> float:
    """The lowest PSNR (dB) between two clips' frames, frame by frame; inf when every frame is equal."""
    with av.open(str(a)) as ca, av.open(str(b)) as cb:
        pairs = list(zip(ca.decode(video=0), cb.decode(video=0), strict=True))
    worst = float("inf")
    for x, y in pairs:
        mse = float(((x.to_ndarray(format="yuv420p").astype(float) - y.to_ndarray(format="yuv420p")) ** 2).mean())
        if mse:
            worst = min(worst, 10 * np.log10(255**2 / mse))
    return worst


def recipe_of(path: Path) -> dict:
    with av.open(str(path)) as container:
        return json.loads(container.metadata["comment"])


def mean_rgb(path: Path) -> np.ndarray:
    """Return the mean RGB of every frame of a clip."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0) for f in container.decode(video=0)]
    return np.mean(frames, axis=0)


def chroma_spread(path: Path) -> float:
    """Return the largest distance of any chroma sample from neutral grey over a clip's first frame."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    planes = frame.to_ndarray(format="yuv420p")
    chroma = planes[frame.height :].astype(np.int16)
    return float(np.abs(chroma - 128).max())


def test_it_writes_a_probeable_clip_of_the_chosen_ratio_and_prints_the_plan(small_clip, tmp_path):
    output = tmp_path / "bw.mp4"
    stdout, _ = edit_clip(str(small_clip), "-o", str(output), "--prompt", "black and white", "--ratio", "960:960", "--seed", "7")
    info = media.probe(output)
    assert (info.width, info.height) == (960, 960)
    assert info.video_codec == "h264"
    assert info.frame_count == 25
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert info.has_audio
    assert "Plan: black-and-white look · reframe 960:960" in stdout
    assert "Seed: 7\n" in stdout
    assert f"Wrote {output} (960x960" in stdout
    # The colour bars came out grey: the edit was really applied.
    assert chroma_spread(small_clip) > 80
    assert chroma_spread(output) <= 3


def test_it_picks_the_closest_ratio_and_prints_a_random_seed_that_reproduces_the_edit(small_clip, tmp_path):
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    stdout, _ = edit_clip(str(small_clip), "-o", str(first), "--prompt", "film grain")
    assert "Ratio: 640:480" in stdout
    seed = re.search(r"Seed: (\d+) \(random\)", stdout).group(1)
    assert f"grain (seed {seed})" in stdout
    assert (media.probe(first).width, media.probe(first).height) == (640, 480)
    edit_clip(str(small_clip), "-o", str(second), "--prompt", "film grain", "--seed", seed)
    # The same picture (the default encoder's threads may order bits differently, not pixels).
    assert worst_psnr(first, second) >= 45


def test_exact_gives_the_same_bytes_and_says_so_in_the_recipe(small_clip, tmp_path):
    first, second, default = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "default.mp4"
    stdout, _ = edit_clip(str(small_clip), "-o", str(first), "--prompt", "film grain", "--seed", "5", "--exact")
    assert "Exact: the same bytes on every run" in stdout
    edit_clip(str(small_clip), "-o", str(second), "--prompt", "film grain", "--seed", "5", "--exact")
    assert first.read_bytes() == second.read_bytes()
    assert recipe_of(first)["exact"] == "true"
    edit_clip(str(small_clip), "-o", str(default), "--prompt", "film grain", "--seed", "5")
    assert recipe_of(default)["exact"] == "false"
    assert worst_psnr(first, default) >= 40


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ((1280, 720), "1280:720"),
        ((1920, 1080), "1280:720"),
        ((720, 1280), "720:1280"),
        ((1000, 1000), "960:960"),
        ((1920, 816), "1584:672"),
        ((320, 240), "640:480"),
        ((1080, 1350), "832:1104"),
        ((1440, 1080), "640:480"),
        ((1200, 900), "640:480"),
        ((1300, 980), "1104:832"),
    ],
)
def test_closest_ratio_matches_the_input_shape(size, ratio):
    assert closest_ratio(*size) == ratio


def test_it_reports_progress_as_lines_when_not_on_a_terminal(small_clip, tmp_path):
    _, stderr = edit_clip(str(small_clip), "-o", str(tmp_path / "out.mp4"), "--prompt", "sepia", "--seed", "1")
    lines = stderr.strip().splitlines()
    assert "\r" not in stderr
    assert lines[-1].startswith("[" + "#" * ProgressBar.WIDTH + "] 100%")
    assert len(lines) == 11


def test_the_progress_bar_redraws_in_place_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = ProgressBar(OutputWrapper(screen))
    for step in range(201):
        bar.update(step / 200)
    bar.finish()
    text = screen.getvalue()
    assert text.count("\r") == 101
    assert text.rsplit("\r", 1)[1].startswith("[" + "#" * ProgressBar.WIDTH + "] 100%")
    assert text.endswith(" s\n") and text.count("\n") == 1


def test_a_finished_edit_run_as_a_process_prints_everything_and_writes_the_same_bytes(small_clip, tmp_path):
    """The command line ends the process itself once the edit is written: nothing printed to a pipe
    may be lost, the exit status is 0, and the file is whole (the same bytes as in-process)."""
    by_process, in_process = tmp_path / "process.mp4", tmp_path / "in-process.mp4"
    done = edit_clip_process(tmp_path, str(small_clip), "-o", str(by_process), "--prompt", "sepia", "--seed", "3", "--exact")
    assert done.returncode == 0, done.stderr
    assert "Plan: sepia look" in done.stdout
    assert "Note: Source audio kept in sync." in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith(f"Wrote {by_process} (640x480, 1.00 s, 25 frames) in ")
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("[" + "#" * ProgressBar.WIDTH + "] 100%")
    edit_clip(str(small_clip), "-o", str(in_process), "--prompt", "sepia", "--seed", "3", "--exact")
    assert by_process.read_bytes() == in_process.read_bytes()
    assert media.probe(by_process).frame_count == 25
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".mp4") == ["in-process.mp4", "process.mp4"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("aleph-local-")]


def test_a_prompt_the_engine_cannot_do_exits_non_zero_with_the_reason(small_clip, tmp_path):
    output = tmp_path / "out.mp4"
    done = edit_clip_process(tmp_path, str(small_clip), "-o", str(output), "--prompt", "make me a sandwich")
    assert done.returncode != 0
    assert "The local engine cannot do that; the closest things it can do are: “" in done.stderr
    assert not output.exists()


def test_a_missing_input_exits_non_zero_with_the_reason(tmp_path):
    missing = tmp_path / "nowhere.mp4"
    done = edit_clip_process(tmp_path, str(missing), "-o", str(tmp_path / "out.mp4"), "--prompt", "sepia")
    assert done.returncode != 0
    assert f"The input {missing} does not exist" in done.stderr


def test_an_input_that_is_not_a_video_is_refused_after_probing(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video at all")
    with pytest.raises(CommandError, match="was refused: This file is not a video we can read"):
        edit_clip(str(fake), "-o", str(tmp_path / "out.mp4"), "--prompt", "sepia")


def test_an_input_cut_short_is_refused_before_the_plan(tmp_path):
    """The index at the front claims 3 s, but half the bytes never arrived (an interrupted copy)."""
    whole = tmp_path / "whole.mp4"
    with VideoWriter(whole, 320, 240, Fraction(25)) as writer:
        for rgb in read_frames(make_clip(tmp_path / "src.mp4", seconds=3.0, audio=False)):
            writer.write_rgb(rgb)
    edit_clip(str(whole), "-o", str(tmp_path / "whole-out.mp4"), "--prompt", "sepia")
    cut = make_truncated_mp4(whole, tmp_path / "cut.mp4", keep=0.5)
    out = io.StringIO()
    with pytest.raises(CommandError, match="was refused: The video is damaged or incomplete"):
        call_command("edit_clip", str(cut), "-o", str(tmp_path / "out.mp4"), "--prompt", "sepia", stdout=out)
    assert "Plan:" not in out.getvalue()
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(
    ("output_name", "message"),
    [("missing-folder/out.mp4", "does not exist"), ("out.mov", "give it a .mp4 name")],
)
def test_a_bad_output_path_is_refused_before_any_work(small_clip, tmp_path, output_name, message):
    with pytest.raises(CommandError, match=message):
        edit_clip(str(small_clip), "-o", str(tmp_path / output_name), "--prompt", "sepia")


def test_the_output_may_not_overwrite_the_input(small_clip, tmp_path):
    source = tmp_path / "source.mp4"
    source.write_bytes(small_clip.read_bytes())
    with pytest.raises(CommandError, match="overwrite the input"):
        edit_clip(str(source), "-o", str(source), "--prompt", "sepia")
    assert source.read_bytes() == small_clip.read_bytes()


def test_an_out_of_range_seed_is_refused(small_clip, tmp_path):
    with pytest.raises(CommandError, match="The seed must be between 0 and"):
        edit_clip(str(small_clip), "-o", str(tmp_path / "out.mp4"), "--prompt", "sepia", "--seed", "-1")


def test_the_reference_image_is_passed_to_the_engine(small_clip, cat_png, tmp_path):
    output = tmp_path / "matched.mp4"
    stdout, _ = edit_clip(
        str(small_clip), "-o", str(output), "--prompt", "match the reference", "--reference", str(cat_png), "--seed", "3"
    )
    assert "colour match to reference" in stdout
    with Image.open(cat_png) as image:
        target = np.asarray(image.convert("RGB"), np.float32).reshape(-1, 3).mean(axis=0)
    before, after = mean_rgb(small_clip), mean_rgb(output)
    assert np.linalg.norm(after - target) < 0.5 * np.linalg.norm(before - target)


def test_asking_for_a_reference_without_one_is_refused(small_clip, tmp_path):
    with pytest.raises(CommandError, match="no reference image"):
        edit_clip(str(small_clip), "-o", str(tmp_path / "out.mp4"), "--prompt", "match the reference")


def test_a_reference_that_is_not_an_image_is_refused(small_clip, tmp_path):
    bogus = tmp_path / "ref.png"
    bogus.write_bytes(b"not an image")
    with pytest.raises(CommandError, match="reference image .* was refused"):
        edit_clip(str(small_clip), "-o", str(tmp_path / "out.mp4"), "--prompt", "sepia", "--reference", str(bogus))


def write_mask(path: Path, *, painted: bool, fmt: str = "PNG") -> Path:
    """Paint the band the test clip's white square travels along (white = remove)."""
    image = Image.new("L", (320, 240), 0)
    if painted:
        image.paste(255, (0, 52, 320, 108))
    image.save(path, fmt)
    return path


def frames_rgb(path: Path, size: tuple[int, int]) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [np.asarray(f.to_image().resize(size), np.int16) for f in container.decode(video=0)]


def test_the_mask_is_passed_to_the_engine_which_removes_what_it_covers(tmp_path):
    clip = make_clip(tmp_path / "square.mp4", seconds=0.4)
    mask = write_mask(tmp_path / "mask.png", painted=True)
    output = tmp_path / "removed.mp4"
    stdout, _ = edit_clip(str(clip), "-o", str(output), "--prompt", "remove the white square", "--mask", str(mask), "--seed", "2")
    assert "Plan: remove the masked region" in stdout
    before, after = frames_rgb(clip, (640, 480)), frames_rgb(output, (640, 480))
    assert len(after) == len(before) == 10
    for source, result in zip(before, after):
        # The square (pure white, 40×40 at 320×240) is on every input frame and gone from every output frame.
        assert (source > 245).all(axis=-1).sum() > 4000
        assert (result > 245).all(axis=-1).sum() == 0
        # Away from the mask the picture is untouched.
        assert np.abs(source[260:] - result[260:]).mean() < 3


@pytest.mark.parametrize(
    ("painted", "fmt", "message"),
    [(False, "PNG", "The mask is empty"), (True, "JPEG", "The mask must be a PNG")],
)
def test_an_empty_or_non_png_mask_is_refused(small_clip, tmp_path, painted, fmt, message):
    mask = write_mask(tmp_path / "mask.img", painted=painted, fmt=fmt)
    with pytest.raises(CommandError, match=message):
        edit_clip(str(small_clip), "-o", str(tmp_path / "out.mp4"), "--prompt", "sepia", "--mask", str(mask))
