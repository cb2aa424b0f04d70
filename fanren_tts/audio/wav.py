"""Writing a WAV file piece by piece: bounded memory, atomic, 16 or 24 bit, RF64 past 4 GiB.

A narration can run for hours. Joining every segment in memory before writing
made host memory grow with the text (100 kB of text peaked at 2.7 GB), so the
output is written as the segments arrive: a temp file beside the target, its
header patched when the last frame is in, then renamed into place. A failed or
interrupted narration never leaves a partial file and never clobbers the last take.

The header reserves a ``JUNK`` chunk of ``ds64``'s size, so a file that outgrows the
classic RIFF 4 GiB limit is turned into RF64 (EBU Tech 3306) in place at close
instead of being silently wrapped around. Readers that do not know RF64 still
read every file under the limit, because ``JUNK`` is a chunk they skip.

Loudness normalization needs the whole signal's integrated loudness before the
first sample can be written at its final gain. ``LoudnessMeter`` measures it as the
audio streams by (ITU-R BS.1770-4: K-weighting, 400 ms blocks with 75 % overlap,
absolute and relative gates), and the narration is spooled to a float32 temp file
and copied through once more with the gain: two passes over the disk, none in memory.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

__all__ = ["BIT_DEPTHS", "LoudnessMeter", "Spool", "WavWriter", "decode_pcm", "encode_pcm", "read_wav", "stream_header"]

BIT_DEPTHS = (16, 24)
#: A RIFF chunk size is 32 bits; past this many data bytes the file becomes RF64.
RIFF_LIMIT = 0xFFFFFFFF - 1024
_HEADER = 12 + (8 + 28) + (8 + 16) + 8  # RIFF/WAVE, JUNK(ds64 size), fmt, data header
_CHUNK_FRAMES = 1 << 18


def stream_header(sample_rate: int, channels: int, bit_depth: int) -> bytes:
    """A WAV header for a stream of unknown length (both sizes 0xFFFFFFFF, as pipes carry it)."""
    block = channels * bit_depth // 8
    fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, sample_rate * block, block, bit_depth)
    return (
        b"RIFF"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF)
    )


def encode_pcm(data: np.ndarray, bit_depth: int) -> bytes:
    """Float samples in [-1, 1] (frames x channels) as little-endian PCM, clipped and rounded."""
    if bit_depth == 16:
        return np.clip(np.round(data * 32768.0), -32768, 32767).astype("<i2").tobytes()
    if bit_depth == 24:
        ints = np.clip(np.round(data.astype(np.float64) * 8388608.0), -8388608, 8388607).astype("<i4")
        return ints.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()
    raise ValueError(f"bit_depth must be one of {BIT_DEPTHS}, got {bit_depth!r}")


def decode_pcm(raw: bytes, bit_depth: int, channels: int) -> np.ndarray:
    """Little-endian PCM back to float32 samples (frames x channels): ``encode_pcm``'s inverse."""
    if bit_depth == 16:
        data = np.frombuffer(raw, dtype="<i2") / 32768.0
    elif bit_depth == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        data = np.where(ints >= 1 << 23, ints - (1 << 24), ints) / 8388608.0
    else:
        raise ValueError(f"bit_depth must be one of {BIT_DEPTHS}, got {bit_depth!r}")
    return data.astype(np.float32).reshape(-1, channels)


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int, int]:
    """A 16- or 24-bit PCM WAV as written here: (float32 frames x channels, rate, bit depth)."""
    import wave

    with wave.open(os.fspath(path), "rb") as w:
        rate, channels, bits = w.getframerate(), w.getnchannels(), 8 * w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if bits not in BIT_DEPTHS:
        raise ValueError(f"{path}: {bits}-bit PCM; fanren_tts writes {' or '.join(map(str, BIT_DEPTHS))}-bit")
    return decode_pcm(raw, bits, channels), rate, bits


class WavWriter:
    """A WAV file written as frames arrive; ``commit()`` renames it into place.

    Used as a context manager: leaving the block without ``commit()`` (an error, an
    interrupt) removes the temp file and leaves ``path`` as it was.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int, channels: int, bit_depth: int = 16) -> None:
        if bit_depth not in BIT_DEPTHS:
            raise ValueError(f"bit_depth must be one of {BIT_DEPTHS}, got {bit_depth!r}")
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.bit_depth = bit_depth
        self.frames = 0
        self._frame_bytes = channels * bit_depth // 8
        directory = self.path.resolve().parent
        directory.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666, not mkstemp's 0o600: the finished file gets the usual umask permissions
        self._tmp = directory / f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.{os.urandom(4).hex()}.part"
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        self._file.write(self._header(0))

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.discard()

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def write(self, data: np.ndarray) -> None:
        """Append float samples, shape (frames, channels)."""
        if data.ndim != 2 or data.shape[1] != self.channels:
            raise ValueError(f"expected (frames, {self.channels}) samples, got shape {data.shape}")
        assert self._file is not None, "the writer is closed"
        for start in range(0, len(data), _CHUNK_FRAMES):
            self._file.write(encode_pcm(data[start : start + _CHUNK_FRAMES], self.bit_depth))
        self.frames += len(data)

    def write_silence(self, frames: int) -> None:
        assert self._file is not None, "the writer is closed"
        zero = bytes(min(frames, _CHUNK_FRAMES) * self._frame_bytes)
        left = frames
        while left > 0:
            n = min(left, _CHUNK_FRAMES)
            self._file.write(zero[: n * self._frame_bytes])
            left -= n
        self.frames += frames

    def commit(self) -> Path:
        """Patch the header (RF64 when needed), flush to disk and rename into place."""
        assert self._file is not None, "the writer is closed"
        data_bytes = self.frames * self._frame_bytes
        if data_bytes % 2:
            self._file.write(b"\x00")  # chunks are word-aligned; the pad is not part of the data
        self._file.seek(0)
        self._file.write(self._header(data_bytes))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._tmp.unlink(missing_ok=True)

    def _header(self, data_bytes: int) -> bytes:
        riff_bytes = _HEADER - 8 + data_bytes + (data_bytes % 2)
        block_align = self._frame_bytes
        fmt = struct.pack(
            "<HHIIHH",
            1,  # WAVE_FORMAT_PCM
            self.channels,
            self.sample_rate,
            self.sample_rate * block_align,
            block_align,
            self.bit_depth,
        )
        if data_bytes <= RIFF_LIMIT:
            head = b"RIFF" + struct.pack("<I", riff_bytes) + b"WAVE" + b"JUNK" + struct.pack("<I", 28) + bytes(28)
            data_size = data_bytes
        else:
            ds64 = struct.pack("<QQQI", riff_bytes, data_bytes, self.frames, 0)
            head = b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"ds64" + struct.pack("<I", 28) + ds64
            data_size = 0xFFFFFFFF
        return head + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data_size)


class Spool:
    """Float32 frames parked in an anonymous temp file, read back in chunks."""

    def __init__(self, directory: Path, channels: int) -> None:
        self.channels = channels
        self.frames = 0
        self._file = tempfile.TemporaryFile(dir=directory)

    def write(self, data: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(data, dtype="<f4").tobytes())
        self.frames += len(data)

    def chunks(self) -> Iterator[np.ndarray]:
        """Yields the frames back, ``_CHUNK_FRAMES`` at a time."""
        self._file.seek(0)
        size = _CHUNK_FRAMES * self.channels * 4
        while True:
            raw = self._file.read(size)
            if not raw:
                return
            yield np.frombuffer(raw, dtype="<f4").reshape(-1, self.channels)

    def close(self) -> None:
        self._file.close()


class LoudnessMeter:
    """Integrated loudness (LUFS) of a signal fed in pieces, as ITU-R BS.1770-4 defines it.

    Gives the same figure as ``pyloudnorm.Meter(rate).integrated_loudness`` on the
    whole signal (the K-weighting filters carry their state from piece to piece),
    while keeping only one number per 100 ms step in memory.
    """

    def __init__(self, sample_rate: int, channels: int) -> None:
        from pyloudnorm.iirfilter import IIRfilter

        self.rate = sample_rate
        self.channels = channels
        # K-weighting, as pyloudnorm and BS.1770 define it: a high shelf, then a high pass.
        self._filters = [
            IIRfilter(4.0, 1 / math.sqrt(2), 1500.0, sample_rate, "high_shelf"),
            IIRfilter(0.0, 0.5, 38.0, sample_rate, "high_pass"),
        ]
        self._state: list[np.ndarray | None] = [None, None]
        self._steps: list[np.ndarray] = []  # sum of squares per channel, per 100 ms step
        self._partial = np.zeros(channels)
        self._frames = 0
        self.peak = 0.0

    def _boundary(self, k: int) -> int:
        return int(0.4 * (k * 0.25) * self.rate)

    def feed(self, data: np.ndarray) -> None:
        from scipy.signal import lfilter

        if len(data) == 0:
            return
        self.peak = max(self.peak, float(np.max(np.abs(data))))
        y = data.astype(np.float64)
        for i, f in enumerate(self._filters):
            state = self._state[i]
            if state is None:
                # zero initial state, as pyloudnorm's whole-signal lfilter starts
                state = np.zeros((max(len(f.a), len(f.b)) - 1, self.channels))
            y, self._state[i] = lfilter(f.b, f.a, y, axis=0, zi=state)
        start = self._frames
        self._frames += len(y)
        pos = 0
        while True:
            k = len(self._steps)
            end = self._boundary(k + 1)
            if end > self._frames:
                self._partial += np.sum(y[pos:] ** 2, axis=0)
                return
            take = end - (start + pos)
            self._partial += np.sum(y[pos : pos + take] ** 2, axis=0)
            self._steps.append(self._partial)
            self._partial = np.zeros(self.channels)
            pos += take

    def integrated(self) -> float:
        """LUFS; ``-inf`` for silence or a signal shorter than one 400 ms block."""
        if len(self._steps) < 4:
            return float("-inf")
        steps = np.array(self._steps)
        window = 0.4 * self.rate
        z = np.array([steps[j : j + 4].sum(axis=0) for j in range(len(steps) - 3)]) / window
        with np.errstate(divide="ignore"):
            block = -0.691 + 10.0 * np.log10(z.sum(axis=1))
        gated = z[block >= -70.0]
        if len(gated) == 0:
            return float("-inf")
        relative = -0.691 + 10.0 * np.log10(gated.mean(axis=0).sum()) - 10.0
        final = z[(block >= -70.0) & (block > relative)]
        if len(final) == 0:
            return float("-inf")
        with np.errstate(divide="ignore"):
            return float(-0.691 + 10.0 * np.log10(final.mean(axis=0).sum()))

    def gain(self, target_lufs: float) -> float:
        """The linear gain to ``target_lufs``, never taking the peak past 0.99; 1 when unmeasurable."""
        loudness = self.integrated()
        if not math.isfinite(loudness) or self.peak == 0:
            return 1.0
        return float(min(10.0 ** ((target_lufs - loudness) / 20.0), 0.99 / self.peak))
