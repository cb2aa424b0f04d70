"""Host-side audio: one output format for every engine, pauses, loudness.

Engines answer in their native rate and format; the host converts to the
configured output (rate, channels, PCM16), joins segments with pauses and, if
asked, normalizes loudness (ITU-R BS.1770 via pyloudnorm, then peak-limited).
"""

from __future__ import annotations

import numpy as np

from ._runtime.fanren_worker import Audio

__all__ = ["as_pcm16", "conform", "from_array", "join", "normalize_loudness", "to_array"]


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


def _resample(data: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out or len(data) == 0:
        return data
    import soxr

    return soxr.resample(data, rate_in, rate_out, quality="HQ").astype(np.float32).reshape(-1, data.shape[1])


def _channels(data: np.ndarray, channels: int) -> np.ndarray:
    if data.shape[1] == channels:
        return data
    mono = data.mean(axis=1, keepdims=True)
    return np.repeat(mono, channels, axis=1)


def conform(audio: Audio, sample_rate: int | None, channels: int) -> tuple[np.ndarray, int]:
    """Samples at the output rate (None: keep the engine's) and channel count."""
    rate = sample_rate or audio.sample_rate
    return _channels(_resample(to_array(audio), audio.sample_rate, rate), channels), rate


def join(parts: list[np.ndarray], rate: int, pause_s: float) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Concatenate with ``pause_s`` of silence between parts; returns (start, end) per part."""
    channels = parts[0].shape[1] if parts else 1
    gap = np.zeros((round(pause_s * rate), channels), dtype=np.float32)
    pieces: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    cursor = 0
    for i, part in enumerate(parts):
        if i:
            pieces.append(gap)
            cursor += len(gap)
        spans.append((cursor / rate, (cursor + len(part)) / rate))
        pieces.append(part)
        cursor += len(part)
    data = np.concatenate(pieces) if pieces else np.zeros((0, channels), dtype=np.float32)
    return data, spans


def normalize_loudness(data: np.ndarray, rate: int, target_lufs: float) -> np.ndarray:
    """Gain to ``target_lufs`` integrated loudness, never past 0.99 peak.

    Clips under 0.4 s (one BS.1770 block) or pure silence are returned unchanged.
    """
    if len(data) < int(0.4 * rate) or not np.any(data):
        return data
    import pyloudnorm

    loudness = pyloudnorm.Meter(rate).integrated_loudness(data)
    if not np.isfinite(loudness):
        return data
    out = data * np.float32(10.0 ** ((target_lufs - loudness) / 20.0))
    peak = float(np.max(np.abs(out)))
    if peak > 0.99:
        out *= np.float32(0.99 / peak)
    return out
