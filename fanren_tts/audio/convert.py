"""Host-side audio conversion: one output format for every engine.

Engines answer in their native rate and format; the host converts each segment
to the configured output (rate via soxr, channels, the bit depth's sample grid).
Joining, pauses and loudness happen as the file is written (``assemble``).
"""

from __future__ import annotations

import numpy as np

from .._runtime.fanren_worker import Audio

__all__ = ["as_pcm16", "conform", "conform_channels", "from_array", "quantize", "silence", "to_array"]


def to_array(audio: Audio) -> np.ndarray:
    """float32 samples in [-1, 1], shape (frames, channels)."""
    if audio.sample_format == "s16":
        data = np.frombuffer(audio.pcm, dtype="<i2").astype(np.float32) / 32768.0
    else:
        data = np.frombuffer(audio.pcm, dtype="<f4").astype(np.float32)
    return data.reshape(-1, audio.channels)


def from_array(data: np.ndarray, sample_rate: int) -> Audio:
    """PCM16 Audio from float samples, clipped; the exact inverse of ``to_array`` for PCM16."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    pcm = np.clip(np.round(data * 32768.0), -32768, 32767).astype("<i2")
    return Audio(pcm.tobytes(), sample_rate, "s16", data.shape[1])


def as_pcm16(audio: Audio) -> Audio:
    return audio if audio.sample_format == "s16" else from_array(to_array(audio), audio.sample_rate)


def quantize(audio: Audio, bit_depth: int) -> Audio:
    """The samples the output file will hold: PCM16, or float32 exactly on the 24-bit grid.

    The cache stores this, so a cached segment and a fresh one write the same bytes.
    """
    if bit_depth == 16:
        return as_pcm16(audio)
    scale = 8388608.0
    data = np.clip(np.round(to_array(audio).astype(np.float64) * scale), -scale, scale - 1) / scale
    return Audio(data.astype("<f4").tobytes(), audio.sample_rate, "f32", audio.channels)


def silence(frames: int, channels: int) -> np.ndarray:
    return np.zeros((frames, channels), dtype=np.float32)


def _resample(data: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out or len(data) == 0:
        return data
    import soxr

    out: np.ndarray = soxr.resample(data, rate_in, rate_out, quality="HQ").astype(np.float32)
    return out.reshape(-1, data.shape[1])


def conform_channels(data: np.ndarray, channels: int) -> np.ndarray:
    if data.shape[1] == channels:
        return data
    mono = data.mean(axis=1, keepdims=True)
    return np.repeat(mono, channels, axis=1)


def conform(audio: Audio, sample_rate: int | None, channels: int) -> tuple[np.ndarray, int]:
    """Samples at the output rate (None: keep the engine's) and channel count."""
    rate = sample_rate or audio.sample_rate
    return conform_channels(_resample(to_array(audio), audio.sample_rate, rate), channels), rate
