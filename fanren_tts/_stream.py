"""Narration as a stream of chunks on one timeline: what ``TTSGenerator.stream`` yields
and what ``generate`` writes to disk.

Engines answer in pieces, at their own rate and channel count. ``Timeline`` turns
each piece into the output format as it arrives (a soxr stream per segment, so a
piece boundary leaves no seam), puts the narration pause between segments, keeps
the clock (every chunk's ``start`` in seconds), and collects the segments and
words that the result and the subtitles need. It holds no audio: each chunk goes
out as soon as it is made.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._result import Segment
from ._runtime.fanren_worker import Audio
from ._timeline import Word, estimate_words, refine_words, shift_words
from .audio import convert as _audio
from .config import OutputConfig
from .text import Rewritten, WordMap

__all__ = ["Chunk", "Timeline"]


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One piece of a narration, in the output format.

    ``start`` is in seconds from the narration's start; ``segment`` is the index of the
    segment it belongs to (a pause belongs to the segment after it). ``words`` are the
    words this chunk completes, on the narration's timeline: an engine's own timings
    come with the audio they describe; estimated ones come with a closing chunk that
    carries no audio, once the segment's length is known.
    """

    data: np.ndarray  # float32, frames x channels
    sample_rate: int
    bit_depth: int
    start: float
    segment: int
    words: tuple[Word, ...] = ()

    @property
    def audio(self) -> Audio:
        """The chunk as ``fanren_tts.Audio``: PCM16, or float32 on the 24-bit grid."""
        return _audio.quantize(
            Audio(np.ascontiguousarray(self.data, "<f4").tobytes(), self.sample_rate, "f32", self.data.shape[1]),
            self.bit_depth,
        )

    @property
    def duration(self) -> float:
        return len(self.data) / self.sample_rate


class Timeline:
    """Pieces in, output-format chunks out; see the module docstring."""

    def __init__(self, output: OutputConfig, pause_s: float) -> None:
        self.output = output
        self.pause_s = pause_s
        self.rate: int | None = output.sample_rate
        self.frames = 0
        self.segments: list[Segment] = []
        self.words: list[Word] = []
        self.measured = 0  # segments whose words the engine timed
        self._index = -1
        self._text = ""
        self._pause = True
        self._seg_start: int | None = None
        self._raw_s = 0.0  # seconds of engine audio fed into the open segment
        self._said: list[Word] = []
        self._words: WordMap | None = None
        self._resampler: Any = None
        self._source: tuple[int, int] = (0, 0)

    @property
    def duration(self) -> float:
        return self.frames / self.rate if self.rate else 0.0

    def _chunk(self, data: np.ndarray, words: tuple[Word, ...] = ()) -> Chunk:
        assert self.rate is not None
        chunk = Chunk(data, self.rate, self.output.bit_depth, self.frames / self.rate, self._index, words)
        self.frames += len(data)
        return chunk

    def open(self, index: int, text: str, spoken: Rewritten | None = None, *, pause: bool = True) -> list[Chunk]:
        """Start segment ``index``; returns the pause before it (none before the first, and
        none with ``pause=False``: a language switch inside one sentence).

        ``text`` is what subtitles show; ``spoken``, what the engine read when the front
        end rewrote it: the engine's word timings are mapped back onto ``text``."""
        self._index, self._text, self._said, self._pause = index, text, [], pause
        self._words = WordMap(spoken) if spoken is not None and spoken.spans else None
        self._seg_start, self._raw_s, self._resampler = None, 0.0, None
        if self.segments and self.rate is not None and pause:
            return [self._chunk(_audio.silence(round(self.pause_s * self.rate), self.output.channels))]
        return []

    def _convert(self, audio: Audio) -> np.ndarray:
        assert self.rate is not None
        data = _audio.to_array(audio)
        if audio.sample_rate != self.rate:
            if self._resampler is None or (audio.sample_rate, audio.channels) != self._source:
                import soxr

                self._resampler = soxr.ResampleStream(
                    audio.sample_rate, self.rate, audio.channels, dtype="float32", quality="HQ"
                )
                self._source = (audio.sample_rate, audio.channels)
            data = self._resampler.resample_chunk(data).reshape(-1, audio.channels)
        return _audio.conform_channels(data, self.output.channels)

    def feed(self, audio: Audio, said: list[Any] | None) -> list[Chunk]:
        """One piece of the open segment (``said``: the engine's words, seconds into the piece)."""
        out: list[Chunk] = []
        if self.rate is None:  # the first piece sets the rate when the output keeps the engine's
            self.rate = audio.sample_rate
            out += self.open(self._index, self._text, pause=self._pause) if self.segments else []
        if self._seg_start is None:
            self._seg_start = self.frames
        piece_start = self._seg_start / self.rate + self._raw_s
        self._raw_s += audio.duration
        words: tuple[Word, ...] = ()
        if said and self._words is not None:
            said = self._words.map(said)
        if said:
            floor = self._said[-1].end if self._said else self._seg_start / self.rate
            words = tuple(refine_words(shift_words(said, piece_start, piece_start + audio.duration, floor)))
            self._said.extend(words)
        out.append(self._chunk(self._convert(audio), words))
        return out

    def close(self) -> list[Chunk]:
        """End the open segment: the resampler's tail, then the estimated words if the engine gave none."""
        out: list[Chunk] = []
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(np.zeros((0, self._source[1]), np.float32), last=True)
            if len(tail):
                out.append(
                    self._chunk(_audio.conform_channels(tail.reshape(-1, self._source[1]), self.output.channels))
                )
        start = self._seg_start if self._seg_start is not None else self.frames
        rate = self.rate or 1
        segment = Segment(self._text, start / rate, self.frames / rate)
        self.segments.append(segment)
        if self._said:
            self.measured += 1
            self.words.extend(self._said)
        else:
            guessed = tuple(estimate_words(segment.text, segment.start, segment.end))
            self.words.extend(guessed)
            if self.rate is not None:
                out.append(self._chunk(np.zeros((0, self.output.channels), np.float32), guessed))
        return out

    @property
    def word_timing(self) -> str:
        return "engine" if self.segments and self.measured == len(self.segments) else "estimated"
