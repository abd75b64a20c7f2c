"""Engine-ready input: trimmed, cropped, encoded and routed as data URI or upload; checked on the real files."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from editor.engines.base import EngineError
from editor.engines.remote.prepare import estimate_cost, prepare_image, prepare_video

DATA = Path(__file__).resolve().parent.parent / "data"
BUNNY = DATA / "bigbuckbunny_720p_5s.mp4"
CAT = DATA / "chelsea_cat.png"

GREEN, RED, BLUE, YELLOW, MAGENTA = (0, 160, 0), (220, 0, 0), (0, 0, 220), (230, 230, 0), (230, 0, 230)


def make_clip(path: Path, *, seconds: float, fps: int = 25, size=(320, 180), rotation: int | None = None) -> Path:
    """Write a clip with coloured bands on each edge and a centre patch whose grey level is 3 x frame index."""
    width, height = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(round(seconds * fps)):
            picture = np.zeros((height, width, 3), np.uint8)
            picture[:] = GREEN
            picture[:16, :] = YELLOW
            picture[-16:, :] = MAGENTA
            picture[:, :40] = RED
            picture[:, -40:] = BLUE
            cy, cx = height // 2, width // 2
            picture[cy - 20 : cy + 20, cx - 20 : cx + 20] = min(255, 3 * i)
            frame = av.VideoFrame.from_ndarray(picture, "rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prepare_clips")
    return {
        "3s": make_clip(folder / "three.mp4", seconds=3.0),
        "1.5s": make_clip(folder / "short.mp4", seconds=1.5),
        "60fps": make_clip(folder / "fast.mp4", seconds=1.0, fps=60),
        "rotated": make_clip(folder / "rotated.mp4", seconds=0.4, rotation=90),
        "upside_down": make_clip(folder / "upside_down.mp4", seconds=0.4, rotation=180),
    }


@pytest.fixture
def out(tmp_path):
    folder = tmp_path / "prepared"
    folder.mkdir()
    return folder


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def info_of(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        return {
            "codec": cc.name,
            "pix_fmt": cc.pix_fmt,
            "size": (cc.width, cc.height),
            "fps": stream.average_rate,
            "duration": float(stream.duration * stream.time_base),
            "colour": (cc.color_primaries, cc.color_trc, cc.colorspace),
            "audio": len(container.streams.audio),
        }


def near(pixel, colour, tolerance=40) -> bool:
    return all(abs(int(p) - c) <= tolerance for p, c in zip(pixel, colour))


# ---------------------------------------------------------------- video


def test_gen4_aleph_input_is_five_seconds_of_h264_at_the_ratio_size(out):
    prepared = prepare_video(BUNNY, out, model="gen4_aleph", ratio="1280:720", trim_start=0.0, provider="runway")
    info = info_of(prepared.path)
    assert info == {
        "codec": "h264",
        "pix_fmt": "yuv420p",
        "size": (1280, 720),
        "fps": 25,
        "duration": 5.0,
        "colour": (1, 1, 1),
        "audio": 0,
    }
    assert prepared.duration == 5.0 and (prepared.width, prepared.height) == (1280, 720)
    frames = frames_of(prepared.path)
    assert len(frames) == 125
    raw = prepared.path.read_bytes()
    # +faststart: the index comes before the media data.
    assert raw.index(b"moov") < raw.index(b"mdat")
    assert prepared.uri_kind == "data" and prepared.size == len(raw)
    assert prepared.data_uri.startswith("data:video/mp4;base64,")
    assert base64.b64decode(prepared.data_uri.split(",", 1)[1]) == raw
    assert "base64" not in repr(prepared)
    # The picture is the source's, not a re-timed or shifted one.
    with av.open(str(BUNNY)) as source:
        first = next(source.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(frames[0].astype(int) - first).mean() < 4


def test_trim_start_picks_which_seconds_are_sent(clips, out):
    prepared = prepare_video(clips["3s"], out, model="gen4_aleph", ratio="1280:720", trim_start=1.0, provider="runway")
    frames = frames_of(prepared.path)
    assert len(frames) == 50 and prepared.duration == 2.0
    centre = lambda frame: frame[360, 640].astype(int).mean()  # noqa: E731
    assert abs(centre(frames[0]) - 75) < 10  # frame 25 of the source
    assert abs(centre(frames[-1]) - 222) < 10  # its last frame, 74


def test_a_square_ratio_crops_the_sides_and_keeps_the_top(clips, out):
    prepared = prepare_video(clips["3s"], out, model="gen4_aleph", ratio="960:960", provider="runway")
    frame = frames_of(prepared.path)[0]
    assert frame.shape == (960, 960, 3)
    # The red and blue side bands (40 of 320 px) fall outside the centred 180 px square.
    assert near(frame[480, 2], GREEN) and near(frame[480, 957], GREEN)
    assert near(frame[10, 480], YELLOW) and near(frame[950, 480], MAGENTA)


def test_a_wide_ratio_crops_the_top_and_bottom_and_keeps_the_sides(clips, out):
    prepared = prepare_video(clips["3s"], out, model="gen4_aleph", ratio="1584:672", provider="runway")
    frame = frames_of(prepared.path)[0]
    assert frame.shape == (672, 1584, 3)
    assert near(frame[2, 792], GREEN) and near(frame[669, 792], GREEN)
    assert near(frame[336, 20], RED) and near(frame[336, 1563], BLUE)


def test_a_rotated_phone_clip_is_turned_upright(clips, out):
    prepared = prepare_video(clips["rotated"], out, model="gen4_aleph", ratio="720:1280", provider="runway")
    frame = frames_of(prepared.path)[0]
    assert frame.shape == (1280, 720, 3)
    # Turned a quarter counter-clockwise, the red left edge is now the bottom edge.
    assert near(frame[1270, 360], RED) and near(frame[10, 360], BLUE)
    assert near(frame[640, 20], YELLOW)


def test_an_upside_down_clip_is_turned_upright(clips, out):
    prepared = prepare_video(clips["upside_down"], out, model="gen4_aleph", ratio="1280:720", provider="runway")
    frame = frames_of(prepared.path)[0]
    assert near(frame[360, 10], BLUE) and near(frame[360, 1270], RED)
    assert near(frame[10, 640], MAGENTA) and near(frame[710, 640], YELLOW)


def test_frame_rate_is_capped_at_30(clips, out):
    prepared = prepare_video(clips["60fps"], out, model="gen4_aleph", ratio="640:480", provider="runway")
    assert info_of(prepared.path)["fps"] == 30
    assert len(frames_of(prepared.path)) == 30


def test_aleph2_refuses_less_than_two_seconds(clips, out):
    with pytest.raises(EngineError) as info:
        prepare_video(clips["1.5s"], out, model="aleph2", ratio="1280:720", provider="runway")
    assert info.value.code == "input_too_short"
    assert info.value.message == (
        "aleph2 needs at least 2 s of video; from 0 s there are only 1.5 s. Pick an earlier start or a longer clip."
    )
    assert list(out.iterdir()) == []


def test_aleph2_takes_the_whole_clip_or_the_chosen_length(clips, out):
    whole = prepare_video(clips["3s"], out, model="aleph2", ratio="848:480", provider="runway")
    assert whole.duration == 3.0 and len(frames_of(whole.path)) == 75
    part = prepare_video(clips["3s"], out, model="aleph2", ratio="848:480", provider="runway", duration=2.0, name="part")
    assert part.duration == 2.0 and len(frames_of(part.path)) == 50


def test_a_start_outside_the_clip_is_refused(clips, out):
    with pytest.raises(EngineError) as info:
        prepare_video(clips["3s"], out, model="gen4_aleph", ratio="1280:720", trim_start=3.5, provider="runway")
    assert info.value.code == "bad_trim"


def test_cometapi_does_not_offer_aleph2(clips, out):
    with pytest.raises(EngineError) as info:
        prepare_video(clips["3s"], out, model="aleph2", ratio="1280:720", provider="cometapi")
    assert info.value.message == "CometAPI does not offer aleph2."


def test_a_file_that_is_not_a_video_is_refused(out, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video at all" * 100)
    with pytest.raises(EngineError) as info:
        prepare_video(junk, out, model="gen4_aleph", ratio="1280:720", provider="runway")
    assert info.value.code == "bad_input"


def test_a_clip_too_big_for_a_data_uri_goes_through_a_runway_upload(clips, out):
    prepared = prepare_video(clips["3s"], out, model="gen4_aleph", ratio="1280:720", provider="runway", data_uri_limit=10_000)
    assert prepared.uri_kind == "upload" and prepared.data_uri is None
    assert prepared.size == prepared.path.stat().st_size > 10_000


def test_cometapi_tries_a_smaller_encode_before_refusing(clips, out):
    first = prepare_video(clips["3s"], out, model="gen4_aleph", ratio="1280:720", provider="runway", name="best")
    just_under = len(first.data_uri) - 1
    smaller = prepare_video(
        clips["3s"], out, model="gen4_aleph", ratio="1280:720", provider="cometapi", data_uri_limit=just_under, name="smaller"
    )
    assert smaller.uri_kind == "data" and len(smaller.data_uri) <= just_under < len(first.data_uri)
    with pytest.raises(EngineError) as info:
        prepare_video(clips["3s"], out, model="gen4_aleph", ratio="1280:720", provider="cometapi", data_uri_limit=10_000)
    assert info.value.code == "input_too_large"
    assert "CometAPI takes at most 0.01 MB and has no upload route" in info.value.message


# ---------------------------------------------------------------- images


def test_a_png_reference_is_sent_as_is(out):
    prepared = prepare_image(CAT, out, provider="runway")
    assert (prepared.content_type, prepared.width, prepared.height, prepared.uri_kind) == ("image/png", 451, 300, "data")
    assert prepared.data_uri.startswith("data:image/png;base64,")
    assert base64.b64decode(prepared.data_uri.split(",", 1)[1]) == CAT.read_bytes()


def test_a_jpeg_reference_stays_jpeg(out, tmp_path):
    jpeg = tmp_path / "cat.jpg"
    Image.open(CAT).convert("RGB").save(jpeg, quality=90)
    prepared = prepare_image(jpeg, out, provider="cometapi")
    assert prepared.content_type == "image/jpeg" and prepared.data_uri.startswith("data:image/jpeg;base64,")
    assert prepared.path.read_bytes() == jpeg.read_bytes()


def test_other_image_formats_become_png(out, tmp_path):
    webp = tmp_path / "cat.webp"
    Image.open(CAT).save(webp)
    prepared = prepare_image(webp, out, provider="runway")
    assert prepared.content_type == "image/png" and prepared.path.suffix == ".png"
    with Image.open(prepared.path) as image:
        assert image.format == "PNG" and image.size == (451, 300)


def test_a_sideways_jpeg_is_turned_upright(out, tmp_path):
    jpeg = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown turned 90 degrees clockwise
    Image.open(CAT).convert("RGB").save(jpeg, exif=exif)
    prepared = prepare_image(jpeg, out, provider="runway")
    assert (prepared.width, prepared.height) == (300, 451)
    with Image.open(prepared.path) as image:
        assert image.size == (300, 451)


def test_a_large_reference_is_uploaded_on_runway_and_refused_on_cometapi(out):
    assert prepare_image(CAT, out, provider="runway", data_uri_limit=1000).uri_kind == "upload"
    with pytest.raises(EngineError) as info:
        prepare_image(CAT, out, provider="cometapi", data_uri_limit=1000)
    assert info.value.code == "input_too_large" and "smaller image" in info.value.message


def test_a_file_that_is_not_an_image_is_refused(out, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"nope" * 50)
    with pytest.raises(EngineError) as info:
        prepare_image(junk, out, provider="runway")
    assert info.value.code == "bad_image"


# ---------------------------------------------------------------- cost


def test_cost_estimates_follow_the_listed_prices():
    five = estimate_cost("runway", "gen4_aleph", 5.0)
    assert (five.credits, five.usd) == (75, Decimal("0.75"))
    assert estimate_cost("runway", "gen4_aleph", 4.2).credits == 75
    comet = estimate_cost("cometapi", "gen4_aleph", 5.0)
    assert (comet.credits, comet.usd) == (None, Decimal("0.96"))
    aleph2 = estimate_cost("runway", "aleph2", 10.0)
    assert (aleph2.credits, aleph2.usd) == (280, Decimal("2.80"))
    assert "28 credits per output second" in aleph2.basis
    # 56 credits at least, and a part of a second counts as a whole one.
    assert estimate_cost("runway", "aleph2", 1.2).credits == 56
    assert estimate_cost("runway", "aleph2", 2.1).credits == 84
    with pytest.raises(EngineError):
        estimate_cost("cometapi", "aleph2", 5.0)


def test_output_format_surcharges_are_in_the_estimate():
    # 5 credits a second for ProRes and PNG sequences, 20 for 10-bit HEVC (40 above four megapixels).
    assert estimate_cost("runway", "aleph2", 10.0, output_format="prores").credits == 330
    assert estimate_cost("runway", "aleph2", 10.0, output_format="png_sequence").credits == 330
    ten_bit = estimate_cost("runway", "aleph2", 10.0, output_format="sdr_rec709_10bit", pixels=1920 * 1080)
    assert (ten_bit.credits, ten_bit.surcharge) == (480, 200)
    assert "adds 20 a second" in ten_bit.basis
    assert estimate_cost("runway", "aleph2", 10.0, output_format="sdr_rec709_10bit", pixels=3840 * 2160).credits == 680
    # The minimum applies to the whole: two seconds of ProRes cost 66, one second 56.
    assert estimate_cost("runway", "aleph2", 2.0, output_format="prores").credits == 66
    assert estimate_cost("runway", "aleph2", 1.0, output_format="prores").credits == 56


def test_a_model_without_a_published_price_says_so():
    cost = estimate_cost("runway", "gemini_omni_flash", 5.0)
    assert (cost.credits, cost.usd, cost.known) == (None, None, False)
    assert "once the task is created" in cost.basis
