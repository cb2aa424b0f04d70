"""Segments in, one output file out: conversion, pauses, loudness, written as they come.

The host's half of a narration. Each segment is converted to the configured
output (rate via soxr, channels) and appended to the WAV on disk at once, so host
memory stays flat however long the text is. With loudness normalization the
segments are first spooled as float32 while ``LoudnessMeter`` measures them, then
copied into the WAV at their final gain.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from . import _audio
from ._config import OutputConfig
from ._runtime.fanren_worker import Audio
from ._wavout import LoudnessMeter, Spool, WavWriter

__all__ = ["Assembler"]


class Assembler:
    """Appends segments with ``pause_s`` of silence between them; ``commit()`` writes the file.

    A context manager: leaving without ``commit()`` removes every temp file and
    leaves ``path`` as it was.
    """

    def __init__(self, path: str | os.PathLike[str], output: OutputConfig, pause_s: float) -> None:
        self.path = Path(path)
        self.output = output
        self.pause_s = pause_s
        self.rate: int | None = output.sample_rate
        self.frames = 0
        self._writer: WavWriter | None = None
        self._spool: Spool | None = None
        self._meter: LoudnessMeter | None = None

    def __enter__(self) -> Assembler:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.discard()

    def _open(self, rate: int) -> None:
        channels = self.output.channels
        self.rate = rate
        self._writer = WavWriter(self.path, rate, channels, self.output.bit_depth)
        if self.output.loudness_lufs is not None:
            self._spool = Spool(self._writer.path.resolve().parent, channels)
            self._meter = LoudnessMeter(rate, channels)

    def add(self, audio: Audio) -> tuple[float, float]:
        """Append one segment (after a pause, unless it is the first); its (start, end) in seconds."""
        if self._writer is None:
            self._open(self.rate or audio.sample_rate)
        assert self.rate is not None
        data, _ = _audio.conform(audio, self.rate, self.output.channels)
        sink = self._spool or self._writer
        assert sink is not None
        if self.frames:
            gap = round(self.pause_s * self.rate)
            sink.write_silence(gap)
            if self._meter is not None:
                self._meter.feed(_audio.silence(gap, self.output.channels))
            self.frames += gap
        start = self.frames
        sink.write(data)
        if self._meter is not None:
            self._meter.feed(data)
        self.frames += len(data)
        return start / self.rate, self.frames / self.rate

    def commit(self) -> Path:
        """Apply loudness (if asked), finish the WAV and rename it into place."""
        if self._writer is None:
            raise ValueError("no audio to write")
        if self._spool is not None and self._meter is not None:
            assert self.output.loudness_lufs is not None
            gain = self._meter.gain(self.output.loudness_lufs)
            for chunk in self._spool.chunks():
                self._writer.write(chunk * gain if gain != 1.0 else chunk)
            self._spool.close()
            self._spool = None
        return self._writer.commit()

    @property
    def duration(self) -> float:
        return self.frames / self.rate if self.rate else 0.0

    def discard(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self._writer is not None:
            self._writer.discard()
