"""Delivered masters: what inspect_master says of each of aleph2's formats, the proxies make_proxy
writes from them (checked by decoding them), and the hostile zips and files both refuse."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from editor import media
from editor.engines.base import EngineError
from editor.engines.remote.masters import Master, MasterLimits, inspect_master, make_proxy, proxy_size
from tests import media_factory as mf

RED, BLUE = (220, 24, 24), (24, 32, 220)
FPS = 24
RECIPE = {"comment": '{"prompt": "a red kite"}', "description": "a red kite"}

# What inspect_master says of each output format: kind, extension, content type, codec, label.
EXPECTED = {
    "mp4": ("mp4", ".mp4", "video/mp4", "h264", "H.264 (.mp4)"),
    "prores": ("prores", ".mov", "video/quicktime", "prores", "ProRes 4444 (.mov)"),
    "png_sequence": ("png_sequence", ".zip", "application/zip", "png", "PNG sequence, 48 frames (.zip)"),
    "sdr_rec709_10bit": ("hevc10", ".mp4", "video/mp4", "hevc", "10-bit HEVC (.mp4)"),
}
KINDS = list(EXPECTED)


@pytest.fixture(scope="module")
def masters(tmp_path_factory):
    """One 2 s master of each format, named so that its name says nothing of what it is."""
    folder = tmp_path_factory.mktemp("masters")
    return {kind: mf.make_master(kind, folder / f"{kind}.delivered") for kind in KINDS}


@pytest.fixture(scope="module")
def red_then_blue(tmp_path_factory):
    """Half a second of each format: solid red for the first six frames, solid blue for the last six."""
    folder = tmp_path_factory.mktemp("colours")
    made = {}
    for kind in KINDS:
        if kind == "png_sequence":
            made[kind] = mf.make_png_sequence_zip(folder / "colours.zip", frames=12, colours=[RED, BLUE])
        else:
            made[kind] = mf.make_master(kind, folder / f"{kind}.colours", seconds=0.5, colours=[RED, BLUE])
    return made


def proxy_of(master_path: Path, dest: Path) -> tuple[Master, Path]:
    master = inspect_master(master_path)
    make_proxy(master_path, master, dest, fps=FPS, metadata=RECIPE)
    return master, dest


def centre_colour(path: Path, index: int) -> np.ndarray:
    frame = mf.frame_at(path, index)
    h, w = frame.shape[:2]
    return frame[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3).mean(axis=0)


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def refusal(path: Path, **kwargs) -> EngineError:
    with pytest.raises(EngineError) as caught:
        inspect_master(path, **kwargs)
    return caught.value


# ---------------------------------------------------------------- what a master is


@pytest.mark.parametrize("kind", KINDS)
def test_inspect_tells_each_format_by_its_content(masters, kind):
    master = inspect_master(masters[kind])

    assert (master.kind, master.extension, master.content_type, master.codec, master.label) == EXPECTED[kind]
    assert (master.width, master.height) == (320, 180)


def test_inspect_reads_the_bit_depth_and_chroma_of_each_video(masters):
    assert inspect_master(masters["mp4"]).pix_fmt == "yuv420p"
    assert inspect_master(masters["sdr_rec709_10bit"]).pix_fmt == "yuv420p10le"
    assert inspect_master(masters["prores"]).pix_fmt.startswith("yuv444p1")
    assert inspect_master(masters["png_sequence"]).pix_fmt == "rgb24"


@pytest.mark.parametrize("profile", ["422 Proxy", "422 LT", "422", "422 HQ", "4444", "4444 XQ"])
def test_inspect_names_the_prores_profile(tmp_path, profile):
    path = mf.make_prores_mov(tmp_path / "master", seconds=0.125, size=(64, 36), profile=profile)

    master = inspect_master(path)

    assert master.label == f"ProRes {profile} (.mov)"
    assert master.pix_fmt.startswith("yuv444p" if profile.startswith("4444") else "yuv422p")


def test_inspect_counts_the_frames_of_a_sequence_and_ignores_macos_litter(tmp_path):
    path = mf.make_png_sequence_zip(tmp_path / "frames.zip", frames=5, size=(32, 18), names="shot/f{}.png")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("shot/", b"")
        archive.writestr("__MACOSX/shot/._f1.png", b"\x00\x05\x16\x07 resource fork")
        archive.writestr("shot/.DS_Store", b"Bud1")

    master = inspect_master(path)

    assert (master.frames, master.width, master.height) == (5, 32, 18)
    assert master.label == "PNG sequence, 5 frames (.zip)"


# ---------------------------------------------------------------- proxies


@pytest.mark.parametrize("kind", KINDS)
def test_the_proxy_is_h264_yuv420p_of_the_masters_size_frames_and_length(masters, tmp_path, kind):
    master, proxy = proxy_of(masters[kind], tmp_path / "proxy.mp4")

    info = media.probe(proxy)
    with av.open(str(proxy)) as container:
        cc = container.streams.video[0].codec_context
        tags = (cc.color_primaries, cc.color_trc, cc.colorspace)
        pix_fmt, labels = cc.pix_fmt, dict(container.metadata)
    assert (info.video_codec, pix_fmt, info.width, info.height) == ("h264", "yuv420p", 320, 180)
    assert tags == (1, 1, 1)
    assert len(mf.probe_frames(proxy)) == 48
    assert abs(info.duration - 2.0) < 1 / FPS
    assert labels["comment"] == RECIPE["comment"]
    assert labels["description"] == RECIPE["description"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_proxy_keeps_the_masters_colours(red_then_blue, tmp_path, kind):
    # Strong colours short of the gamut edge, so a wrong matrix or range cannot hide in clipping.
    _, proxy = proxy_of(red_then_blue[kind], tmp_path / "proxy.mp4")

    assert np.abs(centre_colour(proxy, 2) - RED).max() < 8
    assert np.abs(centre_colour(proxy, 9) - BLUE).max() < 8


def test_a_playable_h264_master_is_copied_not_encoded_again(masters, tmp_path):
    _, proxy = proxy_of(masters["mp4"], tmp_path / "proxy.mp4")

    def packets(path):
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(video=0) if p.size]

    assert packets(proxy) == packets(masters["mp4"])


def test_a_large_master_gives_a_proxy_with_a_1920_long_side(tmp_path):
    path = mf.make_h264_mp4(tmp_path / "wide", seconds=4 / FPS, size=(2560, 1440))

    _, proxy = proxy_of(path, tmp_path / "proxy.mp4")

    info = media.probe(proxy)
    assert (info.width, info.height) == (1920, 1080)
    assert len(mf.probe_frames(proxy)) == 4


def test_proxy_sizes_are_even_and_keep_the_shape():
    assert proxy_size(1440, 2560) == (1080, 1920)
    assert proxy_size(4096, 1716) == (1920, 804)
    assert proxy_size(321, 181) == (320, 180)


def test_the_pcm_sound_of_a_prores_master_becomes_aac(tmp_path):
    path = mf.make_prores_mov(tmp_path / "master", seconds=0.5, size=(64, 36), profile="422 LT", audio=True)

    _, proxy = proxy_of(path, tmp_path / "proxy.mp4")

    assert media.probe(proxy).audio_codec == "aac"
    assert abs(mf.audio_seconds(proxy) - 0.5) < 0.05


def test_a_sequence_plays_in_natural_order_at_the_given_rate(tmp_path):
    greys = [(20 * n,) * 3 for n in range(12)]
    path = mf.make_png_sequence_zip(
        tmp_path / "frames.zip", frames=12, size=(64, 36), names="frame_{}.png", colours=greys, reverse_entries=True
    )
    master = inspect_master(path)

    make_proxy(path, master, tmp_path / "proxy.mp4", fps=12, metadata={})

    shown = [round(float(frame.mean())) for frame in mf.read_frames(tmp_path / "proxy.mp4")]
    assert shown == pytest.approx([20 * n for n in range(12)], abs=3)
    assert abs(media.probe(tmp_path / "proxy.mp4").duration - 1.0) < 1 / 12


def test_a_master_damaged_after_inspection_leaves_no_proxy(masters, tmp_path):
    master = inspect_master(masters["prores"])
    cut = mf.make_truncated_mp4(masters["prores"], tmp_path / "cut.mov", keep=0.6)
    dest = tmp_path / "proxy.mp4"
    before = files_under(tmp_path)

    with pytest.raises(EngineError) as caught:
        make_proxy(cut, master, dest, fps=FPS, metadata=RECIPE)

    assert caught.value.code == "proxy_failed"
    assert not dest.exists()
    assert files_under(tmp_path) == before


# ---------------------------------------------------------------- hostile zips and files


def png(size=(16, 16), colour=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def zip_of(path: Path, entries: list[tuple[str, bytes]], *, compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


def bomb_frame() -> bytes:
    """A real 16×16 PNG header followed by 20 MB of zeros (which deflate a thousandfold)."""
    return png()[:33] + bytes(20_000_000)


def truncated(path: Path) -> Path:
    zip_of(path, [(f"frame_{n}.png", png()) for n in range(4)])
    path.write_bytes(path.read_bytes()[:300])
    return path


SANE = [(f"frame_{n:04d}.png", png()) for n in range(3)]
HOSTILE = {
    "bomb": (lambda p: zip_of(p, [("frame_0001.png", bomb_frame())], compression=zipfile.ZIP_DEFLATED), {},
             "master_unsafe", "zip bomb"),
    "too_many_frames": (lambda p: zip_of(p, [(f"f{n}.png", png()) for n in range(6)]), {"max_frames": 5},
                        "master_too_large", "6 frames; the limit is 5"),
    "too_many_files": (lambda p: zip_of(p, [(f"__MACOSX/._f{n}", b"x") for n in range(40)] + SANE), {"max_frames": 5},
                       "master_too_large", "holds 43 files"),
    "unpacks_too_big": (lambda p: zip_of(p, SANE), {"max_unpacked_bytes": 100},
                        "master_too_large", "unpacks to"),
    "text_entry": (lambda p: zip_of(p, SANE + [("readme.txt", b"made with aleph2\n" * 10)]), {},
                   "master_bad_frames", "readme.txt in the PNG sequence is not a PNG"),
    "climbs_out": (lambda p: zip_of(p, SANE + [("../evil.png", png())]), {},
                   "master_unsafe", "outside its own folder ('../evil.png')"),
    "absolute": (lambda p: zip_of(p, SANE + [("/etc/evil.png", png())]), {},
                 "master_unsafe", "outside its own folder"),
    "mismatched": (lambda p: zip_of(p, SANE + [("frame_0009.png", png((32, 16)))]), {},
                   "master_bad_frames", "differ in size: frame_0000.png is 16×16, frame_0009.png is 32×16"),
    "truncated": (truncated, {}, "master_unreadable", "damaged or incomplete"),
    "huge_header": (lambda p: zip_of(p, [("frame_0001.png", mf.png_claiming(100_000, 100_000))]), {},
                    "master_too_large", "100000×100000"),
    "no_frames": (lambda p: zip_of(p, [("shot/", b""), ("__MACOSX/._a.png", b"x"), (".hidden.png", png())]), {},
                  "master_bad_frames", "no PNG frames"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_zip_is_refused_with_a_clear_message(tmp_path, case):
    make, limits, code, words = HOSTILE[case]
    path = make(tmp_path / "delivered")

    error = refusal(path, limits=MasterLimits(**limits))

    assert error.code == code
    assert words in error.message


def frames_in(path: Path) -> int:
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(not i.is_dir() and not i.filename.startswith("__MACOSX") for i in archive.infolist())
    except zipfile.BadZipFile:
        return 1


# Those whose only fault is a limit that inspect_master applies are left out.
@pytest.mark.parametrize("case", [c for c in HOSTILE if c not in ("too_many_frames", "too_many_files", "unpacks_too_big")])
def test_make_proxy_refuses_a_hostile_zip_passed_off_as_sane_and_leaves_nothing(tmp_path, case):
    # As if the file were swapped after inspection: make_proxy checks each frame against the Master.
    path = HOSTILE[case][0](tmp_path / "delivered")
    master = Master("png_sequence", ".zip", "application/zip", "png", "rgb24", 16, 16, frames_in(path), "PNG sequence")
    dest = tmp_path / "proxy.mp4"
    before = files_under(tmp_path)

    with pytest.raises(EngineError):
        make_proxy(path, master, dest, fps=FPS, metadata={})

    assert not dest.exists()
    assert files_under(tmp_path) == before


def test_an_entry_claiming_a_huge_size_is_refused_before_it_is_read(tmp_path):
    # A PNG of 16×16 cannot be 5 MB; such a frame would be read whole into memory.
    data = png() + bytes(5_000_000)
    path = zip_of(tmp_path / "delivered", [("frame_0001.png", data)])

    error = refusal(path)

    assert error.code == "master_too_large"
    assert "more than a 16×16 PNG can hold" in error.message


def test_a_frame_with_a_broken_header_is_not_a_png(tmp_path):
    body = b"IHDR" + struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + body + b"\0\0\0\0"
    path = zip_of(tmp_path / "delivered", [("frame_0001.png", header + b"\0" * 64)])

    error = refusal(path)

    assert (error.code, error.message) == ("master_bad_frames", "The file frame_0001.png in the PNG sequence is not a PNG image.")


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda p: mf.make_text_as_mp4(p), "master_unreadable"),
        (lambda p: p.write_bytes(b""), "master_unreadable"),
        (lambda p: p.write_bytes(png()), "master_unsupported"),
        (lambda p: mf.make_clip(p, seconds=0.2, size=(64, 36), audio=False, container="mkv"), "master_unsupported"),
        (lambda p: mf.make_clip(p, seconds=0.2, size=(64, 36), audio=False, codec="mpeg4", container="mp4"),
         "master_unsupported"),
    ],
    ids=["text", "empty", "png_image", "matroska", "mpeg4"],
)
def test_a_file_that_is_not_a_master_video_is_refused(tmp_path, make, code):
    path = tmp_path / "delivered.mp4"
    make(path)

    error = refusal(path)

    assert error.code == code
    assert error.message.startswith("The delivered ")


def test_a_video_over_the_size_limits_is_refused_on_its_header(masters):
    error = refusal(masters["sdr_rec709_10bit"], limits=MasterLimits(max_side=256))

    assert error.code == "master_too_large"
    assert "320×180" in error.message
