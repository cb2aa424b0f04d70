"""Audio formats of the speech endpoint, encoded as the chunks come.

``wav`` (a streaming header: sizes unknown, as players expect from a pipe) and
``pcm`` (raw little-endian samples) need nothing beyond numpy. ``flac``, ``mp3`` and
``opus`` (Ogg Opus) use libsndfile through soundfile, part of the ``[server]`` extra;
without it they are refused with a message naming the extra. Only wav and pcm go out
chunk by chunk as the audio is made; a compressed format is encoded as the chunks come
but sent whole at the end, because libsndfile rewrites its header when it closes the
file (a FLAC stream sent early carries "length unknown", which libsndfile itself then
cannot read back).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ._exceptions import ConfigError
from ._wavout import encode_pcm, stream_header

__all__ = ["FORMATS", "MEDIA_TYPES", "Encoder", "available_formats"]

MEDIA_TYPES = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg; codecs=opus",
}
FORMATS = tuple(MEDIA_TYPES)
#: soundfile format, subtype; Opus only runs at these rates, so other rates are resampled to 48 kHz.
_SF = {"flac": ("FLAC", None), "mp3": ("MP3", "MPEG_LAYER_III"), "opus": ("OGG", "OPUS")}
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def available_formats() -> list[str]:
    try:
        import soundfile  # noqa: F401
    except ImportError:
        return ["wav", "pcm"]
    return list(FORMATS)


class Encoder:
    """Chunks of float samples in, bytes of ``fmt`` out, as they come."""

    def __init__(self, fmt: str, bit_depth: int) -> None:
        if fmt not in MEDIA_TYPES:
            raise ConfigError(f"response_format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
        if fmt not in available_formats():
            raise ConfigError(
                f"response_format {fmt!r} needs soundfile (pip install 'fanren-tts[server]'); available: wav, pcm"
            )
        self.fmt = fmt
        self.bit_depth = bit_depth
        self.media_type = MEDIA_TYPES[fmt]
        self.streams = fmt in ("wav", "pcm")  # sent chunk by chunk; the others whole at the end
        self._file: Any = None
        self._buf = io.BytesIO()
        self._started = False
        self._resampler: Any = None

    def feed(self, data: np.ndarray, sample_rate: int) -> bytes:
        """Encode one chunk (float32 frames x channels); returns what is ready to send."""
        channels = data.shape[1] if data.ndim == 2 else 1
        if self.fmt in ("wav", "pcm"):
            head = b""
            if not self._started and self.fmt == "wav":
                head = stream_header(sample_rate, channels, self.bit_depth)
            self._started = True
            return head + (encode_pcm(data, self.bit_depth) if len(data) else b"")
        import soundfile

        if self._file is None:
            rate = sample_rate
            if self.fmt == "opus" and rate not in _OPUS_RATES:
                import soxr

                self._resampler = soxr.ResampleStream(rate, 48000, channels, dtype="float32")
                rate = 48000
            fmt, subtype = _SF[self.fmt]
            self._file = soundfile.SoundFile(
                self._buf, "w", samplerate=rate, channels=channels, format=fmt, subtype=subtype
            )
        if self._resampler is not None:
            data = self._resampler.resample_chunk(np.ascontiguousarray(data, np.float32)).reshape(-1, channels)
        if len(data):
            self._file.write(data)
        return b""

    def close(self) -> bytes:
        """The encoder's tail (a compressed format's last frames)."""
        if self._file is None:
            return b""
        if self._resampler is not None:
            channels = self._file.channels
            tail = self._resampler.resample_chunk(np.zeros((0, channels), np.float32), last=True)
            if len(tail):
                self._file.write(tail.reshape(-1, channels))
        self._file.close()
        self._file = None
        return self._buf.getvalue()
