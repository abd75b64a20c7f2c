"""Reading the input clip: a cheap index pass, then frames in any order with bounded memory.

The index pass reads packets without decoding them, so the engine knows the frame count and
every frame's timestamp up front. Frames are then decoded forward as a stream; when an order goes
backwards (reverse, boomerang), the reader seeks to the keyframe before a chunk, decodes that chunk
and serves it backwards, so memory stays at one chunk whatever the clip's length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from editor.engines.base import EngineError

# Frames held for one backwards chunk, by bytes of decoded picture.
CHUNK_BYTES = 48 * 1024 * 1024
# A clip whose packets end this long before its stated duration is incomplete.
CUT_SHORT_S = 2.0
DAMAGED = "The video is damaged or incomplete (its end is missing)."


@dataclass(frozen=True)
class SourceInfo:
    path: Path
    width: int
    height: int
    rate: Fraction
    pts: tuple[int, ...]
    has_audio: bool

    @property
    def count(self) -> int:
        return len(self.pts)

    @property
    def duration(self) -> float:
        return self.count / float(self.rate)

    @property
    def colorspace(self) -> str:
        # HD sources are BT.709 even when untagged; smaller ones are usually BT.601.
        return "ITU709" if self.height >= 720 else "ITU601"


def open_input(path: Path):
    try:
        return av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        raise EngineError("bad_input", "The input clip could not be opened.") from None


def index(path: Path) -> SourceInfo:
    """Read the clip's packets (not its pictures) to learn its size, rate and frame timestamps."""
    with open_input(path) as container:
        if not container.streams.video:
            raise EngineError("bad_input", "The input clip has no video.")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        pts = []
        end = None
        try:
            for packet in container.demux(stream):
                if packet.size and packet.pts is not None:
                    pts.append(packet.pts)
                    end = packet.pts + (packet.duration or 0)
        except (av.FFmpegError, ValueError):
            raise EngineError("bad_input", DAMAGED) from None
        width, height = stream.codec_context.width, stream.codec_context.height
        has_audio = bool(container.streams.audio)
        # A file cut short (an interrupted copy) lists fewer packets than its stated length.
        if end is not None and stream.duration and stream.time_base:
            start = stream.start_time or 0
            if float((start + stream.duration - max(pts + [end])) * stream.time_base) > CUT_SHORT_S:
                raise EngineError("bad_input", DAMAGED)
    if not pts or not width:
        raise EngineError("bad_input", "The input clip has no frames that could be decoded.")
    return SourceInfo(path=Path(path), width=width, height=height, rate=Fraction(rate), pts=tuple(sorted(set(pts))), has_audio=has_audio)


class FrameReader:
    """Serve decoded frames (av.VideoFrame) for a sequence of frame indices."""

    def __init__(self, info: SourceInfo, *, frame_threads: bool = True):
        self.info = info
        self.container = open_input(info.path)
        self.stream = self.container.streams.video[0]
        # Frame threads decode several frames at once, each holding its own picture and references.
        self.stream.thread_type = "AUTO" if frame_threads else "SLICE"
        self.index_of = {p: i for i, p in enumerate(info.pts)}
        self.decoder: Iterator | None = None
        self.position = 0  # index of the next frame the forward decoder will give
        self.used = False  # whether anything was decoded yet (a fresh file needs no seek)
        self.last: tuple[int, av.VideoFrame] | None = None
        self.chunk: dict[int, av.VideoFrame] = {}
        frame_bytes = max(1, info.width * info.height * 3 // 2)
        self.chunk_size = max(4, min(64, CHUNK_BYTES // frame_bytes))

    def close(self) -> None:
        self.container.close()

    def _frames_from(self, target: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decode from the keyframe at or before a frame index, yielding (index, frame)."""
        if self.used:
            self.container.seek(self.info.pts[target], stream=self.stream, backward=True, any_frame=False)
        self.used = True
        for packet in self.container.demux(self.stream):
            for frame in packet.decode():
                index = self.index_of.get(frame.pts)
                if index is not None:
                    yield index, frame

    def _advance(self, target: int) -> av.VideoFrame:
        for index, frame in self.decoder:
            self.position = index + 1
            self.last = (index, frame)
            if index >= target:
                return frame
        # The decoder gave fewer frames than the index listed: repeat the last good one.
        self.position = len(self.info.pts)
        if self.last is None:
            raise EngineError("bad_input", "The input clip has no frames that could be decoded.")
        return self.last[1]

    def _load_chunk(self, high: int) -> None:
        low = max(0, high - self.chunk_size + 1)
        self.chunk = {}
        for index, frame in self._frames_from(low):
            if index >= low:
                self.chunk[index] = frame
            if index >= high:
                break
        self.decoder = None
        if high not in self.chunk:
            raise EngineError("bad_input", "A frame of the input clip could not be decoded.")

    def frame(self, index: int) -> av.VideoFrame:
        """Return the frame at an index, reading forward when it can and in backward chunks otherwise."""
        if self.last is not None and self.last[0] == index:
            return self.last[1]
        if index in self.chunk:
            self.last = (index, self.chunk[index])
            return self.last[1]
        if self.decoder is not None and index >= self.position:
            return self._advance(index)
        if self.decoder is None and index > (self.last[0] if self.last else -1):
            self.chunk = {}
            self.decoder = self._frames_from(index if self.used else 0)
            return self._advance(index)
        self._load_chunk(index)
        self.last = (index, self.chunk[index])
        return self.last[1]

    def frames(self, order: list[int]) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield (index, frame) for each index of an order."""
        for index in order:
            yield index, self.frame(index)
