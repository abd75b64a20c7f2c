"""The source audio in the output: copied when timing is unchanged, retimed with atempo when the
clip is slowed or sped up as a whole, dropped when picture and sound cannot line up (reverse,
boomerang, a freeze in the middle). The caller says which and the note says so.

Audio is muxed alongside the video as it is encoded (feed up to the current video time), so
packets interleave without the muxer buffering a whole stream.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import av.filter

COPYABLE = ("aac", "mp3", "mp3float", "ac3", "alac")
AAC_BITRATE = 160_000


def atempo_chain(factor: float) -> list[float]:
    """Split a tempo factor into steps atempo accepts (0.5 to 2 each, where it is exact)."""
    steps = []
    while factor < 0.5:
        steps.append(0.5)
        factor /= 0.5
    while factor > 2.0:
        steps.append(2.0)
        factor /= 2.0
    steps.append(factor)
    return steps


class AudioTrack:
    """Feed the input's audio into the output, copied or retimed."""

    def __init__(self, source: Path, out, *, tempo: float = 1.0):
        self.container = av.open(str(source))
        self.stream_in = self.container.streams.audio[0]
        self.out = out
        self.tempo = tempo
        self.done = False
        self.packets = self.container.demux(self.stream_in)
        self.graph = None
        codec = self.stream_in.codec_context.name
        if tempo == 1.0 and codec in COPYABLE:
            self.stream_out = out.add_stream_from_template(self.stream_in)
            self.copy = True
        else:
            rate = self.stream_in.codec_context.sample_rate or 48000
            self.stream_out = out.add_stream("aac", rate=rate)
            self.stream_out.layout = self.stream_in.codec_context.layout.name if self.stream_in.codec_context.layout else "stereo"
            self.stream_out.bit_rate = AAC_BITRATE
            self.copy = False
            self.rate = rate
            self.samples_out = 0

    def _build_graph(self, frame) -> None:
        graph = av.filter.Graph()
        src = graph.add_abuffer(template=self.stream_in)
        node = src
        for step in atempo_chain(self.tempo):
            stage = graph.add("atempo", f"{step:.6f}")
            node.link_to(stage)
            node = stage
        fmt = graph.add("aformat", f"sample_fmts=fltp:sample_rates={self.rate}:channel_layouts={self.stream_out.layout.name}")
        node.link_to(fmt)
        sink = graph.add("abuffersink")
        fmt.link_to(sink)
        graph.configure()
        self.graph = graph

    def _mux_encoded(self, frame) -> None:
        frame.pts = self.samples_out
        frame.time_base = Fraction(1, self.rate)
        self.samples_out += frame.samples
        for packet in self.stream_out.encode(frame):
            self.out.mux(packet)

    def _drain(self) -> None:
        while True:
            try:
                frame = self.graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            self._mux_encoded(frame)

    def feed(self, until: float) -> None:
        """Mux audio up to `until` seconds of output time."""
        if self.done:
            return
        for packet in self.packets:
            if packet.dts is None:
                self._finish()
                return
            seconds = float(packet.pts * packet.time_base) / self.tempo if packet.pts is not None else 0.0
            if self.copy:
                packet.stream = self.stream_out
                self.out.mux(packet)
            else:
                for frame in packet.decode():
                    if self.graph is None:
                        self._build_graph(frame)
                    self.graph.push(frame)
                    self._drain()
            if seconds > until:
                return
        self._finish()

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        if not self.copy and self.graph is not None:
            self.graph.push(None)
            self._drain()
            for packet in self.stream_out.encode(None):
                self.out.mux(packet)
        self.container.close()

    def close(self) -> None:
        """Mux what is left and close the input."""
        self.feed(float("inf"))
        self._finish()
