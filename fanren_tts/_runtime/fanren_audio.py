"""fanren_audio: the protocol's audio value, and PCM16 WAV files written atomically.

Part of the worker runtime (stdlib only): an engine env imports it through
``fanren_worker``; the host through ``fanren_tts._runtime``.
"""

from __future__ import annotations

import os
import sys
import threading
import wave
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Audio", "atomic_write", "read_wav", "write_wav"]

_SAMPLE_WIDTH = {"s16": 2, "f32": 4}

# --------------------------------------------------------------------------- audio


class Audio:
    """Mono or interleaved PCM plus what is needed to play it: the protocol's audio value."""

    __slots__ = ("channels", "pcm", "sample_format", "sample_rate")

    def __init__(self, pcm: bytes, sample_rate: int, sample_format: str = "s16", channels: int = 1):
        if sample_format not in _SAMPLE_WIDTH:
            raise ValueError(f"sample_format must be one of {sorted(_SAMPLE_WIDTH)}, got {sample_format!r}")
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels!r}")
        frame = _SAMPLE_WIDTH[sample_format] * channels
        if len(pcm) % frame:
            raise ValueError(f"{len(pcm)} bytes of PCM is not a whole number of {sample_format} frames")
        self.pcm = bytes(pcm)
        self.sample_rate = int(sample_rate)
        self.sample_format = sample_format
        self.channels = int(channels)

    @classmethod
    def from_array(cls, samples: Any, sample_rate: int) -> Audio:
        """Build from a numpy-like array: float in [-1, 1] becomes f32, integers become s16.

        Duck-typed so this module never imports numpy; 2-D input is (frames, channels).
        """
        kind = getattr(getattr(samples, "dtype", None), "kind", None)
        if kind is None:
            raise TypeError(f"expected a numpy-like array, got {type(samples).__name__}")
        channels = 1 if samples.ndim == 1 else int(samples.shape[1])
        if kind == "f":
            return cls(samples.astype("<f4").tobytes(), sample_rate, "f32", channels)
        if kind in "iu":
            return cls(samples.astype("<i2").tobytes(), sample_rate, "s16", channels)
        raise TypeError(f"unsupported sample dtype {samples.dtype}")

    @classmethod
    def concat(cls, parts: Iterable[Audio]) -> Audio:
        """Join chunks that share rate, format and channel count."""
        parts = list(parts)
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        for p in parts[1:]:
            if (p.sample_rate, p.sample_format, p.channels) != (first.sample_rate, first.sample_format, first.channels):
                raise ValueError("chunks differ in sample rate, format or channels")
        return cls(b"".join(p.pcm for p in parts), first.sample_rate, first.sample_format, first.channels)

    @property
    def frames(self) -> int:
        return len(self.pcm) // (_SAMPLE_WIDTH[self.sample_format] * self.channels)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def to_s16(self) -> bytes:
        """PCM16 little-endian, clipping float samples to [-1, 1]."""
        if self.sample_format == "s16":
            return self.pcm
        from array import array

        floats = array("f")
        floats.frombytes(self.pcm)
        if sys.byteorder != "little":
            floats.byteswap()
        out = array("h", [int(max(-1.0, min(1.0, x)) * 32767.0) for x in floats])
        if sys.byteorder != "little":
            out.byteswap()
        return out.tobytes()

    def peak(self) -> float:
        """Largest absolute sample, scaled to [0, 1]: a cheap check for silence."""
        from array import array

        if self.sample_format == "s16":
            a = array("h")
            a.frombytes(self.pcm)
            return max((abs(x) for x in a), default=0) / 32768.0
        floats = array("f")
        floats.frombytes(self.pcm)
        return max((abs(x) for x in floats), default=0.0)

    def __repr__(self) -> str:
        return f"Audio({self.duration:.3f}s, {self.sample_rate} Hz, {self.sample_format}, {self.channels} ch)"


# --------------------------------------------------------------------------- audio files


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temp file beside ``path``, then rename it into place.

    A failed or interrupted write never leaves a partial file at ``path``, and a
    previous file there survives until the new one is complete.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_wav(path: str | os.PathLike[str], audio: Audio) -> None:
    """Write PCM16 WAV atomically (see ``atomic_write``)."""

    def write(tmp: str) -> None:
        with wave.open(tmp, "wb") as w:
            w.setnchannels(audio.channels)
            w.setsampwidth(2)
            w.setframerate(audio.sample_rate)
            w.writeframes(audio.to_s16())

    atomic_write(path, write)


def read_wav(path: str | os.PathLike[str]) -> Audio:
    """Read a PCM16 WAV (as written by ``write_wav``)."""
    with wave.open(os.fspath(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * w.getsampwidth()}-bit")
        return Audio(w.readframes(w.getnframes()), w.getframerate(), "s16", w.getnchannels())
