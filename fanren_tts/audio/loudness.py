"""Loudness normalization that reaches its target: gain, then a look-ahead true-peak limiter.

A gain capped at the peak (what was here before) leaves speech short of its target:
``loudness_lufs: -16`` gave -18.8 LUFS, because a few consonant peaks decided the
gain for the whole narration. Broadcast practice (EBU R 128, ITU-R BS.1770-4) is
the other way round: apply the full gain, then hold the *true* peak (the peak of
the reconstructed waveform, between samples too) under a ceiling with a limiter.

Why our own limiter: pyloudnorm measures and normalizes but does not limit;
pedalboard's ``Limiter`` (JUCE) adds make-up gain and clips at 0 dBFS, and its
``BrickwallLimiter(true_peak=True)`` documents that it does not guarantee the ceiling
(measured on a piper take: see the README). This one is plain numpy/scipy, works on
blocks with context so memory stays flat, and meets the ceiling by construction:

- detection: the signal oversampled x4 (an 81-tap interpolating FIR, ``scipy.signal.upfirdn``),
  the largest magnitude around each sample over every channel (linked stereo);
- the gain each sample needs, ``min(1, ceiling / peak)``; a sliding minimum of
  ``lookahead + hold`` samples followed by two box filters that together span the
  look-ahead, so the gain ramps down smoothly *before* a peak and is never above
  what any sample needs (each averaged value already saw that sample);
- release: the minimum of that gain and its moving average over ``release`` seconds,
  so the gain comes back up slowly (no fast pumping on voiced speech).

The limiter takes a little loudness away, so ``normalize`` measures the limited
output (a pass over the spool without writing) and corrects the gain, at most a
few times, before the one pass that writes the file.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from .wav import LoudnessMeter, Spool

__all__ = ["Loudness", "TruePeakLimiter", "envelope", "normalize", "relimit", "true_peak"]

_OVERSAMPLE = 4
#: the measured loudness may differ from the target by this much before the gain is corrected again
_TOLERANCE_LU = 0.1
_PASSES = 5


@dataclasses.dataclass(frozen=True)
class Loudness:
    """What a normalized file reached: integrated loudness (LUFS, BS.1770-4) and true peak
    (dBTP, x4 oversampled), with the target and ceiling it was asked for and the gain applied."""

    lufs: float
    true_peak_dbtp: float
    target_lufs: float
    ceiling_dbtp: float
    gain_db: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 2) if math.isfinite(v) else v for k, v in dataclasses.asdict(self).items()}


@functools.lru_cache(maxsize=1)
def _interpolator() -> np.ndarray:
    """An 81-tap low-pass for x4 oversampling, the one ``scipy.signal.resample_poly`` designs
    (Kaiser window, cut at the input's Nyquist): odd length, so it delays by exactly 10 input
    samples and phase 0 lands on the samples themselves. A shorter filter rolls off before
    Nyquist and under-reads the peaks of bright consonants by half a dB."""
    from scipy.signal import firwin

    taps: np.ndarray = (firwin(20 * _OVERSAMPLE + 1, 1 / _OVERSAMPLE, window=("kaiser", 5.0)) * _OVERSAMPLE).astype(
        np.float32
    )
    return taps


def _peaks(data: np.ndarray) -> np.ndarray:
    """Per sample, the largest |value| of the x4 oversampled signal on either side of it, any channel."""
    from scipy.signal import upfirdn

    n = len(data)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    taps = _interpolator()
    delay = (len(taps) - 1) // 2
    per = np.abs(data).max(axis=1).astype(np.float32)
    for ch in range(data.shape[1]):
        up = upfirdn(taps, np.ascontiguousarray(data[:, ch], dtype=np.float32), _OVERSAMPLE)
        up = up[delay : delay + n * _OVERSAMPLE]
        for phase in range(1, _OVERSAMPLE):
            np.maximum(per, np.abs(up[phase::_OVERSAMPLE]), out=per)
    out: np.ndarray = np.maximum(per, np.concatenate([[0.0], per[:-1]]).astype(np.float32))  # the stretch before it
    return out


def true_peak(data: np.ndarray) -> float:
    """The true peak of ``data`` (frames x channels) in dBTP; ``-inf`` for silence."""
    peak = float(_peaks(data).max()) if len(data) else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else float("-inf")


def envelope(chunks: Iterable[np.ndarray], channels: int) -> Iterator[np.ndarray]:
    """``_peaks`` of a stream, block by block: the same values as on the whole signal
    (each block measured with the samples around it), as many as frames came in."""
    ctx = _PeakMeter._CTX
    tail = np.zeros((0, channels), dtype=np.float32)
    for block in chunks:
        joined = np.concatenate([tail, block])
        if len(joined) <= 2 * ctx:
            tail = joined
            continue
        lo = min(len(tail), ctx)
        yield _peaks(joined)[lo : len(joined) - ctx]
        tail = joined[len(joined) - 2 * ctx :]
    if len(tail):
        yield _peaks(tail)[min(len(tail), ctx) :]


def _rechunk(parts: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The same values in pieces of ``size`` (the last may be shorter)."""
    pending: list[np.ndarray] = []
    held = 0
    for part in parts:
        pending.append(part)
        held += len(part)
        while held >= size:
            joined = np.concatenate(pending)
            yield joined[:size]
            pending, held = [joined[size:]], held - size
    if held:
        yield np.concatenate(pending)


class _PeakMeter:
    """The true peak of a stream fed in blocks: each block is measured with the samples
    around it, so the oversampling filter sees the same signal as on the whole."""

    _CTX = 16

    def __init__(self, channels: int) -> None:
        self._tail = np.zeros((0, channels), dtype=np.float32)
        self.peak = 0.0

    def feed(self, block: np.ndarray) -> None:
        joined = np.concatenate([self._tail, block])
        if len(joined) <= 2 * self._CTX:
            self._tail = joined
            return
        lo = min(len(self._tail), self._CTX)
        self.peak = max(self.peak, float(_peaks(joined)[lo : len(joined) - self._CTX].max(initial=0.0)))
        self._tail = joined[len(joined) - 2 * self._CTX :]

    def dbtp(self) -> float:
        if len(self._tail):
            self.peak = max(self.peak, float(_peaks(self._tail)[min(len(self._tail), self._CTX) :].max(initial=0.0)))
            self._tail = self._tail[:0]
        return 20.0 * math.log10(self.peak) if self.peak > 0 else float("-inf")


class TruePeakLimiter:
    """Holds the true peak of a stream under ``ceiling_dbtp``; ``process`` blocks in, blocks out.

    The output has as many frames as the input; ``process`` keeps back the last few
    milliseconds (its context) until the next block or ``flush()``.
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        ceiling_dbtp: float = -1.0,
        lookahead_s: float = 0.005,
        hold_s: float = 0.02,
        release_s: float = 0.08,
    ) -> None:
        # A hair under the ceiling: the gain moves between samples too, and the file is rounded to its grid.
        self.ceiling = 10.0 ** ((ceiling_dbtp - 0.1) / 20.0)
        self.channels = channels
        self._box = max(1, round(lookahead_s * sample_rate / 2))
        self._min = 2 * self._box - 1 + max(0, round(hold_s * sample_rate))
        self._release = max(1, round(release_s * sample_rate))
        self._pad = 16  # the oversampling filter's reach, in input samples (10 each side)
        # context each side: what the min, box and release filters and the detector look at
        self._ctx = self._min + 2 * self._box + self._release + 2 * self._pad
        self._buf = np.zeros((self._ctx, channels))  # the past (silence before the start), then unprocessed input
        self._env: np.ndarray | None = None  # the true-peak envelope of ``_buf``, when the caller has it
        self.reduction_db = 0.0  # the deepest gain reduction so far

    def _gain(self, data: np.ndarray, env: np.ndarray | None) -> np.ndarray:
        from scipy.ndimage import minimum_filter1d, uniform_filter1d

        peaks = _peaks(data) if env is None else env
        need = np.minimum(1.0, self.ceiling / np.maximum(peaks, 1e-12))
        # backward minimum over [n - min + 1, n]: every value averaged forward below still saw sample n
        held = minimum_filter1d(need, self._min, origin=(self._min - 1) // 2, mode="nearest")
        b = self._box
        # two forward boxes over [n, n + box - 1]: a smooth ramp of 2 box - 1 samples ending at the peak
        shift = -(b // 2)
        gain = uniform_filter1d(held, b, origin=shift, mode="nearest")
        gain = uniform_filter1d(gain, b, origin=shift, mode="nearest")
        r = self._release
        slow = uniform_filter1d(gain, r, origin=(r - 1) // 2, mode="nearest")  # backward mean: slow release
        out: np.ndarray = np.minimum(gain, slow)
        return out

    def process(self, block: np.ndarray, env: np.ndarray | None = None) -> np.ndarray:
        """Limit ``block`` (frames x channels); returns the frames that are final so far.

        ``env``: the block's true-peak envelope (``envelope``), when it was measured
        before; then the limiter does not oversample again. Give it for every block or none.
        """
        if env is not None:
            past = np.zeros(self._ctx) if self._env is None else self._env
            self._env = np.concatenate([past, np.asarray(env, dtype=np.float64)])
        self._buf = np.concatenate([self._buf, np.asarray(block, dtype=np.float64)])
        ready = len(self._buf) - 2 * self._ctx
        if ready <= 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        return self._emit(ready)

    def flush(self) -> np.ndarray:
        """The frames still held back, limited as the end of the stream (silence after it)."""
        held = len(self._buf) - self._ctx
        if held <= 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        self._buf = np.concatenate([self._buf, np.zeros((self._ctx, self.channels))])
        if self._env is not None:
            self._env = np.concatenate([self._env, np.zeros(self._ctx)])
        out = self._emit(held)
        self._buf = np.zeros((self._ctx, self.channels))
        self._env = None
        return out

    def _emit(self, count: int) -> np.ndarray:
        gain = self._gain(self._buf, self._env)
        lo, hi = self._ctx, self._ctx + count
        out = self._buf[lo:hi] * gain[lo:hi, None]
        if count:
            self.reduction_db = min(self.reduction_db, 20.0 * math.log10(max(float(gain[lo:hi].min()), 1e-12)))
        self._buf = self._buf[hi - self._ctx :]
        if self._env is not None:
            self._env = self._env[hi - self._ctx :]
        limited: np.ndarray = out.astype(np.float32)
        return limited


def _limited(
    chunks: Iterable[np.ndarray],
    envs: Iterable[np.ndarray],
    gain: float,
    rate: int,
    channels: int,
    ceiling_dbtp: float,
) -> Iterator[np.ndarray]:
    limiter = TruePeakLimiter(rate, channels, ceiling_dbtp)
    for chunk, env in zip(chunks, envs, strict=True):
        out = limiter.process(chunk * gain, env[:, 0] * gain)
        if len(out):
            yield out
    tail = limiter.flush()
    if len(tail):
        yield tail


def normalize(
    chunks: Callable[[], Iterable[np.ndarray]],
    measured_lufs: float,
    rate: int,
    channels: int,
    target_lufs: float,
    ceiling_dbtp: float,
    write: Callable[[np.ndarray], None],
    scratch: Path,
) -> Loudness:
    """Write ``chunks()`` (called once per pass: the spool read again) at ``target_lufs``,
    true peak under ``ceiling_dbtp``; ``measured_lufs`` is the input's integrated loudness.

    Each pass limits the spool into a float32 temp file in ``scratch`` and measures it;
    the pass closest to the target (within 0.1 LU, or the best of ``_PASSES``) is copied
    into the file, so the last pass is not made twice. Returns what the written signal
    measures. Silence, or a signal too short to measure (under 400 ms), is written as it is.
    """
    if not math.isfinite(measured_lufs):
        silent = _PeakMeter(channels)
        for chunk in chunks():
            write(chunk)
            silent.feed(chunk)
        return Loudness(measured_lufs, silent.dbtp(), target_lufs, ceiling_dbtp, 0.0)
    gain_db = target_lufs - measured_lufs
    tried: list[tuple[float, float]] = []  # (gain, loudness reached), for the secant step
    best: tuple[float, float, float, Spool] | None = None  # (distance from the target, gain, LUFS, output)
    # the input's true-peak envelope, oversampled once: each pass only scales it
    envs = Spool(scratch, 1)
    try:
        first = next(iter(chunks()), None)
        size = len(first) if first is not None else 1
        for env in _rechunk(envelope(chunks(), channels), size):
            envs.write(env[:, None])
        for _ in range(_PASSES):
            meter = LoudnessMeter(rate, channels)
            spool = Spool(scratch, channels)
            limited = _limited(chunks(), envs.chunks(), 10.0 ** (gain_db / 20.0), rate, channels, ceiling_dbtp)
            for out in limited:
                meter.feed(out)
                spool.write(out)
            reached = meter.integrated()
            miss = abs(target_lufs - reached) if math.isfinite(reached) else 0.0
            if best is None or miss < best[0]:
                if best is not None:
                    best[3].close()
                best = (miss, gain_db, reached, spool)
            else:
                spool.close()
            if miss <= _TOLERANCE_LU:
                break
            tried.append((gain_db, reached))
            slope = 1.0  # LU per dB of gain: 1 without limiting, less the harder the limiter works
            if len(tried) >= 2:
                (g0, l0), (g1, l1) = tried[-2], tried[-1]
                if g1 != g0:
                    slope = min(1.0, max(0.1, (l1 - l0) / (g1 - g0)))
            gain_db += (target_lufs - reached) / slope
        assert best is not None
        # the closest pass is the file: copied through once, its true peak measured as it goes
        peaks = _PeakMeter(channels)
        for out in best[3].chunks():
            peaks.feed(out)
            write(out)
        return Loudness(best[2], peaks.dbtp(), target_lufs, ceiling_dbtp, best[1])
    finally:
        envs.close()
        if best is not None:
            best[3].close()


def relimit(data: np.ndarray, rate: int, before: Loudness) -> tuple[np.ndarray, Loudness]:
    """A normalized take changed after the fact (time-stretched to fit its slot): its true
    peak held under the same ceiling again, and what it measures now."""
    limiter = TruePeakLimiter(rate, data.shape[1], before.ceiling_dbtp)
    out = np.concatenate([limiter.process(data), limiter.flush()])
    meter = LoudnessMeter(rate, data.shape[1])
    meter.feed(out)
    return out, dataclasses.replace(before, lufs=meter.integrated(), true_peak_dbtp=true_peak(out))
