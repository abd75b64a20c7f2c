"""Probing, posters, frame grabs, image checks and the H.264 writer, on real files made here."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from editor import media
from editor.media import MediaError
from tests.media_factory import (
    VideoWriter,
    make_clip,
    make_text_as_mp4,
    make_truncated_mp4,
    read_frames,
)

DATA = Path(__file__).parent / "data"
BUNNY = DATA / "bigbuckbunny_720p_5s.mp4"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=1.0, size=(320, 240), fps=25)


def test_probe_describes_a_clip(clip):
    info = media.probe(clip)
    assert (info.width, info.height) == (320, 240)
    assert info.fps == 25
    assert info.frame_count == 25
    assert abs(info.duration - 1.0) < 0.05
    assert info.video_codec == "h264"
    assert info.has_audio and info.audio_codec == "aac"
    assert "mp4" in info.container
    assert info.as_dict()["width"] == 320


@pytest.mark.parametrize("container, codec, audio_codec", [("mov", "h264", "aac"), ("mkv", "h264", "aac"), ("webm", "vp8", "opus"), ("avi", "mpeg4", "mp3")])
def test_probe_reads_every_container_uploads_accept(tmp_path, container, codec, audio_codec):
    path = make_clip(tmp_path / f"clip.{container}", seconds=1.0, size=(160, 120))
    info = media.probe(path)
    assert (info.width, info.height) == (160, 120)
    assert abs(info.duration - 1.0) < 0.1
    assert info.video_codec == codec
    assert info.audio_codec in (audio_codec, audio_codec + "float")


def test_probe_of_the_real_clip_is_fast_and_exact():
    started = time.perf_counter()
    info = media.probe(BUNNY)
    elapsed = time.perf_counter() - started
    assert (info.width, info.height, info.frame_count) == (1280, 720, 132)
    assert abs(info.duration - 5.28) < 0.01
    assert elapsed < 0.5, elapsed


def test_probe_refuses_a_clip_over_the_limit():
    with pytest.raises(MediaError) as caught:
        media.probe(BUNNY, limits=media.ClipLimits(max_seconds=3))
    assert caught.value.message == "The clip is 5 s long; the limit is 3 s."


def test_long_durations_read_in_minutes():
    assert media._seconds(190) == "3 min 10 s"


def test_probe_refuses_text_renamed_mp4(tmp_path):
    with pytest.raises(MediaError) as caught:
        media.probe(make_text_as_mp4(tmp_path / "fake.mp4"))
    assert "not a video" in caught.value.message


def test_probe_refuses_an_empty_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="The file is empty."):
        media.probe(empty)


def test_probe_refuses_a_truncated_mp4_with_its_index_at_the_end(tmp_path):
    with pytest.raises(MediaError):
        media.probe(make_truncated_mp4(BUNNY, tmp_path / "cut.mp4"))


def test_probe_refuses_a_faststart_mp4_cut_short(tmp_path):
    """The index is at the front and claims 3 s, but half the frames never arrived."""
    whole = tmp_path / "whole.mp4"
    with VideoWriter(whole, 320, 240, Fraction(25)) as writer:
        for rgb in read_frames(make_clip(tmp_path / "src.mp4", seconds=3.0, audio=False)):
            writer.write_rgb(rgb)
    media.probe(whole)
    with pytest.raises(MediaError) as caught:
        media.probe(make_truncated_mp4(whole, tmp_path / "cut.mp4", keep=0.5))
    assert "damaged or incomplete" in caught.value.message


def test_probe_refuses_a_file_without_video(tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 48000), np.float32), format="fltp", layout="stereo")
        frame.sample_rate = 48000
        frame.pts = 0
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(MediaError, match="no video stream"):
        media.probe(path)


def test_poster_is_a_jpeg_from_ten_percent_in(tmp_path):
    poster = tmp_path / "poster.jpg"
    size = media.extract_poster(BUNNY, poster)
    assert size == (640, 360)
    with Image.open(poster) as image:
        assert image.format == "JPEG" and image.size == (640, 360)
        picture = np.asarray(image.convert("RGB"), np.float32)
    frames = [f for _, f in zip(range(20), read_frames(BUNNY))]
    small = [np.asarray(Image.fromarray(f).resize((640, 360)), np.float32) for f in frames]
    distances = [np.abs(picture - f).mean() for f in small]
    # 10% of 5.28 s is frame 13.
    assert int(np.argmin(distances)) in (12, 13, 14)


def test_poster_skips_a_black_opening(clip, tmp_path):
    frames = [np.zeros((240, 320, 3), np.uint8)] * 3 + list(read_frames(clip))
    fade_in = _write(tmp_path / "fade.mp4", frames)
    media.extract_poster(fade_in, tmp_path / "p.jpg")
    with Image.open(tmp_path / "p.jpg") as image:
        assert np.asarray(image.convert("RGB")).mean() > 60


def test_poster_keeps_a_small_clip_at_its_size(clip, tmp_path):
    assert media.extract_poster(clip, tmp_path / "p.jpg") == (320, 240)


def test_frame_grab_is_the_full_size_frame_at_that_time(clip, tmp_path):
    png = tmp_path / "frame.png"
    assert media.extract_frame_png(clip, 0.4, png) == (320, 240)
    with Image.open(png) as image:
        assert image.format == "PNG"
        grabbed = np.asarray(image.convert("RGB"), np.float32)
    frames = list(read_frames(clip))
    distances = [np.abs(grabbed - f.astype(np.float32)).mean() for f in frames]
    assert int(np.argmin(distances)) == 10
    assert distances[10] < 1


def test_frame_grab_past_the_end_takes_the_last_frame(clip, tmp_path):
    assert media.extract_frame_png(clip, 99.0, tmp_path / "f.png") == (320, 240)


def _image(tmp_path, fmt: str, name: str) -> Path:
    path = tmp_path / name
    Image.new("RGB", (40, 30), (200, 100, 50)).save(path, fmt)
    return path


@pytest.mark.parametrize("fmt, expected", [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp")])
def test_validate_image_accepts_png_jpeg_webp(tmp_path, fmt, expected):
    path = _image(tmp_path, fmt, f"ref.{expected}")
    assert media.validate_image(path, max_bytes=1 << 20) == (expected, 40, 30)


def test_validate_image_refuses_other_formats(tmp_path):
    with pytest.raises(MediaError, match="PNG, JPEG or WebP"):
        media.validate_image(_image(tmp_path, "GIF", "ref.gif"), max_bytes=1 << 20)


def test_validate_image_refuses_text_empty_truncated_and_oversize(tmp_path):
    text = tmp_path / "a.png"
    text.write_text("not an image")
    empty = tmp_path / "b.png"
    empty.write_bytes(b"")
    whole = _image(tmp_path, "PNG", "c.png")
    cut = tmp_path / "d.png"
    cut.write_bytes(whole.read_bytes()[:60])
    for path in (text, cut):
        with pytest.raises(MediaError, match="not an image"):
            media.validate_image(path, max_bytes=1 << 20)
    with pytest.raises(MediaError, match="empty"):
        media.validate_image(empty, max_bytes=1 << 20)
    big = DATA / "chelsea_cat.png"
    with pytest.raises(MediaError, match="larger than the 0 MB limit"):
        media.validate_image(big, max_bytes=1000)


def _write(path: Path, frames) -> Path:
    with VideoWriter(path, 320, 240, Fraction(25)) as writer:
        for rgb in frames:
            writer.write_rgb(rgb)
    return path


def test_remux_keeps_the_streams_and_adds_the_recipe(clip, tmp_path):
    import json

    dest = tmp_path / "out.mp4"
    media.remux_with_metadata(clip, dest, {"comment": json.dumps({"prompt": "x"})})
    info = media.probe(dest)
    source = media.probe(clip)
    assert (info.width, info.frame_count, info.has_audio) == (source.width, source.frame_count, source.has_audio)
    with av.open(str(dest)) as c:
        assert json.loads(c.metadata["comment"]) == {"prompt": "x"}
    data = dest.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
