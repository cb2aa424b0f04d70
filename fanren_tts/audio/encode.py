"""Every audio format this package writes, from float frames, streamed or whole.

``Encoder`` turns chunks into the bytes of a response: ``wav`` (streamed: a header
with unknown sizes, as players expect from a pipe; whole: a complete file with its
sizes), ``pcm`` (raw little-endian samples), and ``flac``, ``mp3`` and ``opus`` (Ogg
Opus) through libsndfile (soundfile, part of the ``[server]`` extra; without it they
are refused with a message naming the extra). Only wav and pcm go out chunk by chunk
as the audio is made; a compressed format is encoded as the chunks come but handed
over whole at the end, because libsndfile rewrites its header when it closes the
file (a FLAC stream sent early carries "length unknown", which libsndfile itself then
cannot read back).

``EncodedFile`` writes a compressed format to disk the same way ``wav.WavWriter``
writes a WAV: frames as they come (libsndfile encodes to the file, memory stays
flat), a temp file beside the target, renamed into place on ``commit()``.
``open_writer`` picks one of the two by the path's suffix.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from .._exceptions import ConfigError
from .wav import BIT_DEPTHS, WavWriter, encode_pcm, stream_header

__all__ = [
    "FILE_SUFFIXES",
    "FORMATS",
    "MEDIA_TYPES",
    "STREAMED",
    "EncodedFile",
    "Encoder",
    "available_formats",
    "file_format",
    "open_writer",
]

MEDIA_TYPES = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg; codecs=opus",
}
FORMATS = tuple(MEDIA_TYPES)
#: The formats sent chunk by chunk as the audio is made.
STREAMED = ("wav", "pcm")
#: Output file suffix -> format (``pcm`` has no file form: it has no header to say its rate).
FILE_SUFFIXES = {".wav": "wav", ".flac": "flac", ".mp3": "mp3", ".opus": "opus", ".ogg": "opus"}
#: soundfile format, subtype; Opus only runs at these rates, so other rates are resampled to 48 kHz.
_SF = {"flac": ("FLAC", None), "mp3": ("MP3", "MPEG_LAYER_III"), "opus": ("OGG", "OPUS")}
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def available_formats() -> list[str]:
    try:
        import soundfile  # noqa: F401
    except ImportError:
        return ["wav", "pcm"]
    return list(FORMATS)


def _check(fmt: str, what: str = "response_format") -> None:
    if fmt not in MEDIA_TYPES:
        raise ConfigError(f"{what} {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
    if fmt not in available_formats():
        raise ConfigError(f"{what} {fmt!r} needs soundfile (pip install 'fanren-tts[server]'); available: wav, pcm")


def file_format(path: str | os.PathLike[str]) -> str:
    """The format ``path``'s suffix asks for (``FILE_SUFFIXES``), checked before any work
    is spent: ConfigError for a suffix nothing here writes, or one that needs soundfile
    where it is not installed."""
    fmt = FILE_SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"cannot write {os.fspath(path)!r}: the output's suffix picks its format; use one of "
            f"{', '.join(FILE_SUFFIXES)}"
        )
    _check(fmt, "output format")
    return fmt


def wav_header(sample_rate: int, channels: int, bit_depth: int, data_bytes: int) -> bytes:
    """The 44-byte header of a complete PCM WAV holding ``data_bytes`` of samples."""
    block = channels * bit_depth // 8
    fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, sample_rate * block, block, bit_depth)
    riff = 4 + (8 + 16) + 8 + data_bytes + (data_bytes % 2)
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class _Compressed:
    """libsndfile writing ``fmt`` into ``target`` (a file object or a path), resampling
    to 48 kHz first where Opus cannot run at the given rate."""

    def __init__(self, target: BinaryIO | str, fmt: str, sample_rate: int, channels: int) -> None:
        import soundfile

        self.channels = channels
        self._resampler: Any = None
        rate = sample_rate
        if fmt == "opus" and rate not in _OPUS_RATES:
            import soxr

            self._resampler = soxr.ResampleStream(rate, 48000, channels, dtype="float32")
            rate = 48000
        kind, subtype = _SF[fmt]
        self._file = soundfile.SoundFile(target, "w", samplerate=rate, channels=channels, format=kind, subtype=subtype)

    def write(self, data: np.ndarray) -> None:
        if self._resampler is not None:
            data = self._resampler.resample_chunk(np.ascontiguousarray(data, np.float32)).reshape(-1, self.channels)
        if len(data):
            self._file.write(data)

    def close(self) -> None:
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(np.zeros((0, self.channels), np.float32), last=True)
            if len(tail):
                self._file.write(tail.reshape(-1, self.channels))
            self._resampler = None
        self._file.close()


class Encoder:
    """Chunks of float samples in, bytes of ``fmt`` out.

    ``feed()`` returns what is ready to send now, ``close()`` the rest. With
    ``whole=True`` everything comes from ``close()`` as one complete file (a WAV with
    its real sizes); otherwise wav and pcm come chunk by chunk (``streams``), a WAV
    with a streaming header.
    """

    def __init__(self, fmt: str, bit_depth: int, *, whole: bool = False) -> None:
        _check(fmt)
        if bit_depth not in BIT_DEPTHS:
            raise ValueError(f"bit_depth must be one of {BIT_DEPTHS}, got {bit_depth!r}")
        self.fmt = fmt
        self.bit_depth = bit_depth
        self.whole = whole
        self.media_type = MEDIA_TYPES[fmt]
        self.streams = fmt in STREAMED and not whole  # sent chunk by chunk; the others at the end
        self._buf = io.BytesIO()
        self._compressed: _Compressed | None = None
        self._shape: tuple[int, int] | None = None  # sample rate, channels of the first chunk

    def feed(self, data: np.ndarray, sample_rate: int) -> bytes:
        """Encode one chunk (float32 frames x channels); returns what is ready to send."""
        if data.ndim == 1:
            data = data.reshape(-1, 1)
        channels = data.shape[1]
        first = self._shape is None
        if first:
            self._shape = (sample_rate, channels)
        if self.fmt in ("wav", "pcm"):
            pcm = encode_pcm(data, self.bit_depth) if len(data) else b""
            if self.whole:
                self._buf.write(pcm)
                return b""
            head = stream_header(sample_rate, channels, self.bit_depth) if first and self.fmt == "wav" else b""
            return head + pcm
        if self._compressed is None:
            self._compressed = _Compressed(self._buf, self.fmt, sample_rate, channels)
        self._compressed.write(data)
        return b""

    def close(self) -> bytes:
        """What is left: a whole file's bytes, or a compressed format's (all of them)."""
        if self._compressed is not None:
            self._compressed.close()
            self._compressed = None
            return self._buf.getvalue()
        if self.whole and self._shape is not None:
            pcm = self._buf.getvalue()
            self._buf = io.BytesIO()
            if self.fmt == "pcm":
                return pcm
            rate, channels = self._shape
            return wav_header(rate, channels, self.bit_depth, len(pcm)) + pcm + b"\x00" * (len(pcm) % 2)
        return b""


class EncodedFile:
    """A flac, mp3 or opus file written as frames arrive; ``commit()`` renames it into place.

    The same contract as ``wav.WavWriter``: leaving the ``with`` block without
    ``commit()`` removes the temp file and leaves ``path`` as it was.
    """

    def __init__(self, path: str | os.PathLike[str], fmt: str, sample_rate: int, channels: int) -> None:
        _check(fmt, "output format")
        if fmt not in _SF:
            raise ValueError(f"EncodedFile writes {', '.join(_SF)}; WavWriter writes wav")
        self.path = Path(path)
        self.fmt = fmt
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.frames = 0
        directory = self.path.resolve().parent
        directory.mkdir(parents=True, exist_ok=True)
        self._tmp = directory / f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.{os.urandom(4).hex()}.part"
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        self._raw: BinaryIO | None = os.fdopen(fd, "w+b")
        try:
            self._file: _Compressed | None = _Compressed(self._raw, fmt, self.sample_rate, self.channels)
        except BaseException:
            self.discard()
            raise

    def __enter__(self) -> EncodedFile:
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
        self._file.write(data)
        self.frames += len(data)

    def write_silence(self, frames: int) -> None:
        self.write(np.zeros((frames, self.channels), np.float32))

    def commit(self) -> Path:
        """Finish the encoding, flush to disk and rename into place."""
        assert self._file is not None and self._raw is not None, "the writer is closed"
        self._file.close()
        self._file = None
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        self._raw = None
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        if self._raw is not None:
            if self._file is not None:
                try:  # libsndfile writes through the file object: close it first
                    self._file.close()
                except Exception:  # the file is removed anyway
                    pass
                self._file = None
            self._raw.close()
            self._raw = None
            self._tmp.unlink(missing_ok=True)


def open_writer(
    path: str | os.PathLike[str], sample_rate: int, channels: int, bit_depth: int = 16
) -> WavWriter | EncodedFile:
    """The writer for ``path``'s suffix (``FILE_SUFFIXES``): a WAV, or a compressed file.
    ``bit_depth`` is the WAV's; the compressed formats choose their own."""
    fmt = file_format(path)
    if fmt == "wav":
        return WavWriter(path, sample_rate, channels, bit_depth)
    return EncodedFile(path, fmt, sample_rate, channels)
