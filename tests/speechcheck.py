"""What real speech looks like in a WAV, for the tests of engines with real weights.

Speech is loud enough, comes and goes with the syllables (a steady tone or hiss does
not), and keeps most of its energy below 4 kHz. Each check returns the figure it
measured, so a failing assertion shows how far off the audio was.
"""

from __future__ import annotations

import numpy as np

FRAME_S = 0.025


def frame_rms(samples: np.ndarray, rate: int) -> np.ndarray:
    """RMS of each 25 ms frame of mono float samples."""
    n = int(FRAME_S * rate)
    usable = len(samples) // n * n
    frames = samples[:usable].reshape(-1, n).astype(np.float64)
    return np.sqrt((frames**2).mean(axis=1))


def speech_like(samples: np.ndarray, rate: int) -> dict[str, float]:
    """Figures of a stretch of audio: overall RMS (dBFS), the share of frames above -40 dBFS,
    how much the frame level varies (coefficient of variation), and the share of the energy
    below 4 kHz."""
    rms = frame_rms(samples, rate)
    level = 20 * np.log10(max(float(np.sqrt((samples.astype(np.float64) ** 2).mean())), 1e-9))
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    low = float(spectrum[freqs < 4000].sum() / max(spectrum.sum(), 1e-12))
    return {
        "dbfs": level,
        "active": float((rms > 10 ** (-40 / 20)).mean()) if len(rms) else 0.0,
        "variation": float(rms.std() / max(rms.mean(), 1e-12)) if len(rms) else 0.0,
        "below_4k": low,
    }


def assert_speech(samples: np.ndarray, rate: int, what: str) -> None:
    f = speech_like(samples, rate)
    assert f["dbfs"] > -35, f"{what}: too quiet to be speech: {f}"
    assert f["active"] > 0.4, f"{what}: mostly silence: {f}"
    assert f["variation"] > 0.3, f"{what}: a steady level, not syllables: {f}"
    assert f["below_4k"] > 0.6, f"{what}: energy not where speech has it: {f}"
