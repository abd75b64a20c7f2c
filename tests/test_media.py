"""Media facts: probing, posters, frame grabs, image checks and metadata remuxing on real files."""

import json
from pathlib import Path

import av
import pytest

from editor import media
from tests.media_factory import make_clip

DATA = Path(__file__).parent / "data"


def test_probe_reads_the_real_clip(bunny):
    info = media.probe(bunny)
    assert (info.width, info.height, info.frame_count, info.fps) == (1280, 720, 132, 25.0)
    assert info.duration == pytest.approx(5.28, abs=0.01)
    assert info.has_audio and info.audio_codec == "aac"


def test_probe_refuses_a_clip_longer_than_the_limit(bunny):
    with pytest.raises(media.MediaError, match="5 s long; the limit is 3 s"):
        media.probe(bunny, max_seconds=3)


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"hello" * 100, "not a video")])
def test_probe_refuses_non_videos(tmp_path, content, message):
    path = tmp_path / "x.mp4"
    path.write_bytes(content)
    with pytest.raises(media.MediaError, match=message):
        media.probe(path)


def test_probe_refuses_a_truncated_clip(tmp_path, bunny):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(bunny.read_bytes()[:-200_000])
    with pytest.raises(media.MediaError):
        media.probe(cut)


def test_poster_is_a_small_jpeg_not_the_first_frame(tmp_path, bunny):
    size = media.extract_poster(bunny, tmp_path / "p.jpg")
    assert size == (640, 360)
    assert (tmp_path / "p.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_frame_grab_is_full_size(tmp_path, bunny):
    assert media.extract_frame_png(bunny, 2.5, tmp_path / "f.png") == (1280, 720)


def test_validate_image(tmp_path):
    assert media.validate_image(DATA / "chelsea_cat.png", max_bytes=16 * 2**20) == ("png", 451, 300)
    with pytest.raises(media.MediaError, match="limit"):
        media.validate_image(DATA / "chelsea_cat.png", max_bytes=1000)
    gif = tmp_path / "a.gif"
    from PIL import Image

    Image.new("RGB", (4, 4)).save(gif)
    with pytest.raises(media.MediaError, match="PNG, JPEG or WebP"):
        media.validate_image(gif, max_bytes=2**20)


def test_remux_keeps_the_streams_and_adds_the_recipe(tmp_path):
    src = make_clip(tmp_path / "in.mp4", seconds=1.0)
    dest = tmp_path / "out.mp4"
    media.remux_with_metadata(src, dest, {"comment": json.dumps({"prompt": "x"})})
    info = media.probe(dest)
    assert (info.width, info.frame_count, info.has_audio) == (320, 25, True)
    with av.open(str(dest)) as c:
        assert json.loads(c.metadata["comment"]) == {"prompt": "x"}
    data = dest.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
