"""Chunks in, one output file out: written as they come, loudness in a second pass.

The file end of a narration (``_stream.Timeline`` makes the chunks). The path's
suffix picks the format (``encode.open_writer``: .wav, or .flac, .mp3, .opus/.ogg
through libsndfile). Each chunk is appended to the file on disk at once, so host
memory stays flat however long the text is. With loudness normalization the chunks
are first spooled as float32 while ``LoudnessMeter`` measures them, then copied into
the file at their final gain through
a true-peak limiter (``loudness.normalize``: a few read passes over the spool, blockwise).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import numpy as np

from ..config import OutputConfig
from .encode import EncodedFile, open_writer
from .loudness import Loudness, normalize
from .wav import LoudnessMeter, Spool, WavWriter

__all__ = ["Assembler"]


class Assembler:
    """``write()`` output-format frames, then ``commit()`` the file.

    A context manager: leaving without ``commit()`` removes every temp file and
    leaves ``path`` as it was. After a normalized ``commit()``, ``loudness`` says what
    the file reached (integrated LUFS, true peak); it is None without a target.
    """

    def __init__(self, path: str | os.PathLike[str], output: OutputConfig) -> None:
        self.path = Path(path)
        self.output = output
        self.frames = 0
        self._writer: WavWriter | EncodedFile | None = None
        self._spool: Spool | None = None
        self._meter: LoudnessMeter | None = None
        self._rate = 0
        self.loudness: Loudness | None = None

    def __enter__(self) -> Assembler:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.discard()

    def write(self, data: np.ndarray, rate: int) -> None:
        """Append float frames (frames x channels) at ``rate`` (the same for every call)."""
        if self._writer is None:
            self._writer = open_writer(self.path, rate, self.output.channels, self.output.bit_depth)
            self._rate = rate
            if self.output.loudness_lufs is not None:
                self._spool = Spool(self._writer.path.resolve().parent, self.output.channels)
                self._meter = LoudnessMeter(rate, self.output.channels)
        if self._meter is not None and self._spool is not None:
            self._meter.feed(data)
            self._spool.write(data)
        else:
            self._writer.write(data)
        self.frames += len(data)

    def commit(self) -> Path:
        """Apply loudness (if asked), finish the file and rename it into place."""
        if self._writer is None:
            raise ValueError("no audio to write")
        if self._spool is not None and self._meter is not None:
            assert self.output.loudness_lufs is not None
            self.loudness = normalize(
                self._spool.chunks,
                self._meter.integrated(),
                self._rate,
                self.output.channels,
                self.output.loudness_lufs,
                self.output.true_peak_dbtp,
                self._writer.write,
                self._writer.path.resolve().parent,
            )
            self._spool.close()
            self._spool = None
        return self._writer.commit()

    def discard(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self._writer is not None:
            self._writer.discard()
