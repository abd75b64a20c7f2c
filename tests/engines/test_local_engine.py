"""The local engine on real frames: sizes, timing, colour moved the right way, audio, determinism."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from editor import media
from editor.engines import local
from editor.engines.local import source
from editor.engines.base import EditCancelled, EditRequest, EngineError
from tests.engines.test_local_clips import edit, read_exact, write_clip
from tests.media_factory import make_clip

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("local") / "in.mp4", seconds=1.0, size=(320, 240), fps=25, audio=True)


def _run(src: Path, out: Path, prompt: str, *, ratio="640:480", seed=7, references=(), progress=None, exact=False):
    request = EditRequest(
        input_path=src, output_path=out, prompt=prompt, ratio=ratio, seed=seed, references=tuple(references),
        recipe={"prompt": prompt, "seed": str(seed)}, exact=exact,
    )
    return local.run(request, progress or (lambda f: None))


def _mean_rgb(path: Path, at_frame: int = 10) -> np.ndarray:
    with av.open(str(path)) as c:
        for n, frame in enumerate(c.decode(video=0)):
            if n == at_frame:
                return frame.to_ndarray(format="rgb24").reshape(-1, 3).astype(float).mean(axis=0)
    raise AssertionError("clip too short")


def _frame(path: Path, n: int = 10) -> np.ndarray:
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == n:
                return frame.to_ndarray(format="rgb24").astype(float)
    raise AssertionError("clip too short")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("ratio", ["1280:720", "720:1280", "960:960", "1584:672"])
def test_output_matches_the_ratio_and_the_input_duration(clip, tmp_path, ratio):
    out = tmp_path / "out.mp4"
    result = _run(clip, out, "black and white", ratio=ratio)
    info = media.probe(out)
    w, h = (int(x) for x in ratio.split(":"))
    assert (info.width, info.height) == (w, h)
    assert abs(info.duration - 1.0) <= 1 / 25 + 1e-6
    assert info.frame_count == 25
    assert info.video_codec == "h264"
    assert f"reframe {ratio}" in result.summary


def test_output_is_h264_yuv420p_bt709_faststart_with_audio(clip, tmp_path):
    out = tmp_path / "out.mp4"
    _run(clip, out, "warmer")
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.pix_fmt == "yuv420p"
        assert v.codec_context.color_primaries == 1 and v.codec_context.colorspace == 1
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def test_black_and_white_removes_chroma(clip, tmp_path):
    out = tmp_path / "bw.mp4"
    _run(clip, out, "make it black and white")
    frame = _frame(out)
    assert np.abs(frame - frame.mean(axis=2, keepdims=True)).mean() < 3.0
    source = _frame(clip)
    assert np.abs(source - source.mean(axis=2, keepdims=True)).mean() > 30


@pytest.mark.parametrize(
    "prompt, check",
    [
        ("warmer", lambda before, after: after[0] / after[2] > before[0] / before[2] * 1.1),
        ("cooler", lambda before, after: after[2] / after[0] > before[2] / before[0] * 1.1),
        ("brighter", lambda before, after: after.mean() > before.mean() + 8),
        ("much darker", lambda before, after: after.mean() < before.mean() - 15),
        ("golden hour", lambda before, after: after[0] - after[2] > before[0] - before[2] + 10),
        ("neon night", lambda before, after: after.mean() < before.mean()),
    ],
)
def test_adjustments_move_colour_the_right_way(clip, tmp_path, prompt, check):
    out = tmp_path / "out.mp4"
    _run(clip, out, prompt, ratio="1280:720")
    before, after = _mean_rgb(clip), _mean_rgb(out)
    assert check(before, after), (prompt, before, after)


def test_every_look_changes_the_frames(clip, tmp_path):
    from editor.engines.local.vocabulary import LOOKS

    reference = _frame(clip)
    import cv2

    for key, (label, words) in LOOKS.items():
        out = tmp_path / f"{key}.mp4"
        result = _run(clip, out, words[0])
        assert label in result.summary
        frame = cv2.resize(_frame(out), (320, 240))
        assert np.abs(frame - reference).mean() > 4, key


def test_match_the_reference_moves_colours_toward_the_reference(clip, tmp_path):
    out = tmp_path / "match.mp4"
    cat = DATA / "chelsea_cat.png"
    result = _run(clip, out, "match the reference", references=[cat])
    assert "colour match to reference" in result.summary
    from PIL import Image

    target = np.asarray(Image.open(cat).convert("RGB"), float).reshape(-1, 3).mean(axis=0)
    before, after = _mean_rgb(clip), _mean_rgb(out)
    assert np.linalg.norm(after - target) < np.linalg.norm(before - target) * 0.7


def test_match_the_reference_uses_whole_clip_statistics_so_it_does_not_flicker(tmp_path):
    """Two clips with the same content give the same transfer for the same frame."""
    src = make_clip(tmp_path / "in.mp4", seconds=1.0, audio=False)
    out = tmp_path / "out.mp4"
    _run(src, out, "match the reference", references=[DATA / "chelsea_cat.png"])
    means = []
    with av.open(str(out)) as c:
        for frame in c.decode(video=0):
            means.append(frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0))
    # The source's colour bars are steady; a per-frame transfer would chase the moving square.
    assert np.ptp(np.array(means), axis=0).max() < 6


def test_match_the_reference_without_a_reference_says_so(clip, tmp_path):
    with pytest.raises(EngineError, match="reference"):
        _run(clip, tmp_path / "o.mp4", "match the reference")


def test_grain_is_seeded_same_seed_same_bytes(clip, tmp_path):
    a, b, c = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    _run(clip, a, "vintage film grain", seed=42, exact=True)
    _run(clip, b, "vintage film grain", seed=42, exact=True)
    _run(clip, c, "vintage film grain", seed=43, exact=True)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    assert np.abs(_frame(a) - _frame(c)).mean() > 1


EVERY_OPERATION = [
    "teal and orange at 60%", "golden hour", "blue hour", "at night", "overcast", "much brighter, more contrast",
    "warmer and less saturated", "match the reference", "light from the left", "vignette", "spotlight",
    "zoom in", "zoom out", "push in", "pull back", "pan left", "tilt up", "dutch angle", "handheld shake",
    "mirror", "close-up", "wide shot", "crop to square", "slow motion", "speed up", "reverse", "boomerang",
    "freeze frame", "extend by 1 second", "extend with a hold", "extend with a boomerang", "remove",
    "film grain", "sharpen", "soften",
]


@pytest.fixture(scope="module")
def mask(tmp_path_factory) -> Path:
    from PIL import Image

    pixels = np.zeros((240, 320), np.uint8)
    pixels[60:120, 100:180] = 255
    path = tmp_path_factory.mktemp("mask") / "mask.png"
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize("prompt", EVERY_OPERATION)
def test_every_operation_in_the_exact_mode_gives_the_same_bytes(clip, mask, tmp_path, prompt):
    refs = [DATA / "chelsea_cat.png"]
    outputs = []
    for name in ("a.mp4", "b.mp4"):
        request = EditRequest(
            input_path=clip, output_path=tmp_path / name, prompt=prompt, ratio="848:480", seed=11,
            references=tuple(refs), mask_path=mask if prompt == "remove" else None, exact=True,
        )
        local.run(request, lambda f: None)
        outputs.append(_digest(tmp_path / name))
    assert outputs[0] == outputs[1]
    assert _digest(tmp_path / "a.mp4") != _digest(clip)


def _x264_settings(path: Path) -> dict[str, str]:
    """The settings x264 wrote into the stream (its SEI text)."""
    data = path.read_bytes()
    at = data.index(b"x264 - core")
    text = data[at : data.index(b"\x00", at)].decode("ascii", "replace")
    return dict(item.split("=", 1) for item in text.split("options: ", 1)[1].split() if "=" in item)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def _planes(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [frame.to_ndarray(format="yuv420p").copy() for frame in c.decode(video=0)]


def test_the_encoder_uses_every_core_by_default_and_one_in_the_exact_mode(clip, tmp_path):
    _run(clip, tmp_path / "fast.mp4", "warmer")
    _run(clip, tmp_path / "exact.mp4", "warmer", exact=True)
    fast, exact = _x264_settings(tmp_path / "fast.mp4"), _x264_settings(tmp_path / "exact.mp4")
    # x264's own threading, as an ffmpeg command line gets it: more than one thread even on one core.
    assert int(fast["threads"]) > 1 and fast["mbtree"] == "1"
    assert exact["threads"] == "1" and exact["mbtree"] == "0"
    # Same rate control otherwise.
    assert (fast["crf"], fast["vbv_maxrate"]) == (exact["crf"], exact["vbv_maxrate"])


# What each kind of pixel work gives in the default mode, run twice (while another run loads the
# cores, which is when frame threads reorder their work).
REPEATED = ["golden hour", "film grain", "crop to square", "zoom in", "slow motion", "remove", "handheld shake"]


@pytest.mark.parametrize("prompt", REPEATED)
def test_repeat_runs_in_the_default_mode_give_the_same_picture(clip, mask, tmp_path, prompt):
    outputs = [tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "load.mp4"]

    def run(path: Path) -> None:
        request = EditRequest(
            input_path=clip, output_path=path, prompt=prompt, ratio="848:480", seed=11,
            mask_path=mask if prompt == "remove" else None,
        )
        local.run(request, lambda f: None)

    run(outputs[0])
    load = threading.Thread(target=run, args=(outputs[2],))
    load.start()
    run(outputs[1])
    load.join()
    a, b = _planes(outputs[0]), _planes(outputs[1])
    assert len(a) == len(b) == media.probe(outputs[0]).frame_count
    assert min(_psnr(x, y) for x, y in zip(a, b)) >= 45


def test_recipe_is_written_into_the_metadata(clip, tmp_path):
    out = tmp_path / "out.mp4"
    _run(clip, out, "warmer", seed=99)
    with av.open(str(out)) as c:
        recipe = json.loads(c.metadata["comment"])
    assert recipe == {"prompt": "warmer", "seed": "99"}


def test_a_prompt_it_cannot_act_on_fails_with_what_it_can_do(clip, tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(EngineError) as caught:
        _run(clip, out, "frabjous plorb")
    assert caught.value.code == "prompt_not_understood"
    assert len(caught.value.suggestions) == 3 and all(s in caught.value.message for s in caught.value.suggestions)
    assert not out.exists()


@pytest.mark.parametrize("prompt", ["warmer", "mirror it"])
def test_progress_is_reported_and_cancel_removes_the_partial_file(clip, tmp_path, prompt):
    seen = []

    def progress(fraction):
        seen.append(fraction)
        if fraction > 0.5:
            raise EditCancelled()

    folder = tmp_path / "output"
    folder.mkdir()
    with pytest.raises(EditCancelled):
        _run(clip, folder / "out.mp4", prompt, progress=progress)
    assert seen == sorted(seen) and seen[-1] > 0.5
    assert list(folder.iterdir()) == []
    # The filter and encode stages stopped with the edit.
    assert [t.name for t in threading.enumerate() if t.name.startswith("aleph-")] == []


def test_real_clip_with_index_at_the_end(tmp_path):
    out = tmp_path / "bunny.mp4"
    result = _run(DATA / "bigbuckbunny_720p_5s.mp4", out, "teal and orange with grain", ratio="720:1280")
    info = media.probe(out)
    assert (info.width, info.height) == (720, 1280)
    assert info.frame_count == 132
    assert abs(info.duration - 5.28) <= 0.04 + 1e-6
    assert info.has_audio
    assert "Source audio kept in sync." in result.notes


def test_describe_matches_what_run_does(clip, tmp_path):
    summary, plan = local.describe("golden hour with grain", ratio="960:960", seed=42, has_reference=False)
    assert summary == "golden-hour light · grain (seed 42) · reframe 960:960 (keeps the subject)"
    result = _run(clip, tmp_path / "o.mp4", "golden hour with grain", ratio="960:960", seed=42)
    assert result.summary == summary and result.plan == plan


def test_heavy_grain_on_noise_stays_under_the_bitrate_cap(tmp_path):
    """Grain is noise, which x264 would spend any number of bits on: the VBV cap holds the file down."""
    from editor.engines.local import pipeline

    rng = np.random.default_rng(1)
    noise = tmp_path / "noise.mp4"
    with av.open(str(noise), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "0", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for _ in range(50):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    out = tmp_path / "grainy.mp4"
    _run(noise, out, "heavy film grain, a lot", ratio="640:480")
    seconds = media.probe(out).duration
    bits_per_second = out.stat().st_size * 8 / seconds
    cap = 640 * 480 * 25 * pipeline.MAX_BITS_PER_PIXEL
    # The VBV buffer holds two seconds of the cap, so a two-second clip may use at most cap + buffer.
    assert bits_per_second < cap * 2.2
    assert bits_per_second < noise.stat().st_size * 8 / seconds / 10


def test_x264_chooses_its_own_frame_types_whatever_the_source_used(clip, tmp_path):
    """Decoded frames carry their picture type through libavfilter; the encoder must not copy it."""
    no_b = tmp_path / "no-b-frames.mp4"
    with av.open(str(clip)) as src, av.open(str(no_b), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"bf": "0", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for frame in src.decode(video=0):
            frame.pict_type = av.video.frame.PictureType.NONE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)

    def types(path: Path) -> set[str]:
        with av.open(str(path)) as c:
            return {av.video.frame.PictureType(f.pict_type).name for f in c.decode(video=0)}

    assert "B" not in types(no_b)
    out = tmp_path / "out.mp4"
    _run(no_b, out, "sepia")  # the direct path: decoded frames straight into the graph
    assert "B" in types(out)


def test_the_reader_gives_the_same_pictures_with_or_without_frame_threads():
    """The render decodes in the asking thread, the analysis passes with frame threads: the
    pictures must not depend on it, reading forwards, skipping, or backwards."""
    info = source.index(DATA / "bigbuckbunny_720p_5s.mp4")
    order = [0, 1, 2, 40, 41, 131, 130, 90, 7]
    pictures = {}
    for frame_threads in (True, False):
        reader = source.FrameReader(info, frame_threads=frame_threads)
        try:
            pictures[frame_threads] = [reader.frame(n).to_ndarray() for n in order]
        finally:
            reader.close()
    assert all(np.array_equal(a, b) for a, b in zip(pictures[True], pictures[False]))
    assert not np.array_equal(pictures[True][0], pictures[True][3])


FLAT = ((200, 120, 60), (40, 90, 170))
MATRIX = {"hd": "ITU709", "sd": "ITU601"}  # what the engine takes an untagged source of that size to be


@pytest.fixture(scope="module")
def flat_clips(tmp_path_factory):
    """Two flat saturated colours side by side, in HD (BT.709) and in SD (BT.601)."""
    folder = tmp_path_factory.mktemp("flat")
    clips = {}
    for name, size in (("hd", (1280, 720)), ("sd", (320, 240))):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[:, : size[0] // 2] = FLAT[0]
        frame[:, size[0] // 2 :] = FLAT[1]
        clips[name] = write_clip(folder / f"{name}.mp4", (frame for _ in range(6)), colorspace=MATRIX[name])
    return clips


@pytest.mark.parametrize("size", ["hd", "sd"])
@pytest.mark.parametrize(
    ("prompt", "ratio"),
    [
        ("speed up 2x", None),  # straight from the decoder
        ("crop to vertical, centre crop", "720:1280"),  # straight from the decoder, scaled
        ("flip it upside down", None),  # yuv420p planes
        ("zoom in slightly", None),
        ("slow motion 2x", None),  # RGB (in-betweens)
        ("remove the masked object", None),  # RGB (removal)
    ],
)
def test_edits_that_leave_colour_alone_keep_the_source_colours(flat_clips, tmp_path, size, prompt, ratio):
    """Colour goes between the source's matrix, RGB and BT.709 on the way through the engine; none
    of it may shift a colour (a result edited again would drift further with each version)."""
    w, h = (1280, 720) if size == "hd" else (320, 240)
    ratio = ratio or f"{w}:{h}"
    mask = None
    if "remove" in prompt:
        mask = tmp_path / "mask.png"
        box = np.zeros((h, w), np.uint8)
        box[h // 3 : h // 2, w // 2 - w // 10 : w // 2 + w // 10] = 255
        Image.fromarray(box).save(mask)
    out = tmp_path / "out.mp4"
    edit(flat_clips[size], out, prompt, ratio=ratio, mask=mask)
    # The source's own colours, as stored (8-bit YUV holds FLAT to within a level).
    source = read_exact(flat_clips[size], MATRIX[size])[0]
    want = [source[:, : w // 2].reshape(-1, 3).mean(0), source[:, w // 2 :].reshape(-1, 3).mean(0)]
    frames = read_exact(out, "ITU709")
    ow = frames[0].shape[1]
    off = np.array([
        [half.reshape(-1, 3).mean(0) - colour for half, colour in zip((f[:, ow // 8 : 3 * ow // 8], f[:, 5 * ow // 8 : 7 * ow // 8]), want)]
        for f in frames
    ])
    # Storing a colour in another matrix's 8-bit YUV moves a channel by up to a level either way;
    # a conversion that rounds badly moves every colour the same way, by a level or more.
    assert np.abs(off).max() < 1.5, off.mean(0)
    assert abs(off.mean()) < 0.5, off.mean(0)
