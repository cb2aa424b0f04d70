"""Fitting a line to the seconds its shot has: ``generate(..., target_duration=S)``.

First the engine's own rate control, where it has one, since speech that is
spoken faster sounds better than speech that is stretched: the line is made
once, and if it misses by more than ``TOLERANCE`` it is made again with the rate
option scaled by how far the speech (pauses excluded) was off. Whatever is left
is closed with Rubber Band's time-stretch (pitch kept) to land on the target. The
segment and word timings are scaled with the audio.

Some engines have a rate control in one version only (IndexTTS: ``duration_factor``
exists in 2.5, not in 1, 1.5 or 2). Their control is used only where the loaded
wrapper names it in ``describe()["rate_control"]``; elsewhere the fit is the
time-stretch alone, never a retry with an option the engine does not take. Each
engine's control is the ``rate`` of its row in ``fanren_tts.engines``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._exceptions import ConfigError
from ._result import GenerateResult, Segment
from ._timeline import scale_words
from .audio.loudness import Loudness, relimit
from .audio.wav import WavWriter, read_wav
from .engines import BUILTIN, RateControl

__all__ = ["TOLERANCE", "RateControl", "fit", "rate_control", "stretch"]

#: A take this close to the target (as a fraction) is kept as the engine made it.
TOLERANCE = 0.03
#: After the stretch, the take is within this fraction of the target.
_EXACT = 0.002


def _control(kind: str) -> RateControl | None:
    """The rate control in built-in engine ``kind``'s registry row (None: none, or not built-in)."""
    found = BUILTIN.get(kind)
    return found.rate if found is not None else None


def rate_control(kind: str, info: Mapping[str, Any] | None) -> RateControl | None:
    """The rate control to retry with for engine ``kind`` (None: time-stretch only).

    ``info`` is what the loaded wrapper's ``describe()`` reported. A control that only
    some versions have is used only when the wrapper names it as ``rate_control``.
    """
    control = _control(kind)
    if control is None:
        return None
    if control.reported and (info is None or info.get("rate_control") != control.option):
        return None
    return control


def stretch(data: np.ndarray, rate: int, ratio: float) -> np.ndarray:
    """``data`` (frames x channels) made ``ratio`` times as long, pitch kept (Rubber Band, offline)."""
    try:
        import pylibrb
    except ImportError as exc:  # pragma: no cover - a dependency of fanren_tts
        raise ConfigError(f"target_duration needs pylibrb (Rubber Band): pip install pylibrb ({exc})") from None
    opts = pylibrb.Option.PROCESS_OFFLINE | pylibrb.Option.ENGINE_FINER
    st = pylibrb.RubberBandStretcher(rate, data.shape[1], opts, initial_time_ratio=ratio)
    buf = np.ascontiguousarray(data.T, dtype=np.float32)
    st.set_max_process_size(max(1, len(data)))
    st.set_expected_input_duration(len(data))
    st.study(buf, final=True)
    st.process(buf, final=True)
    parts = []
    for _ in range(1 + len(data)):  # offline: process() did the work; this only collects it
        chunk = st.retrieve_available()
        if chunk.shape[1]:
            parts.append(chunk)
        elif st.is_done():
            break
    return np.concatenate(parts, axis=1).T if parts else np.zeros((0, data.shape[1]), np.float32)


def _speech(result: GenerateResult) -> float:
    """Seconds of speech: the take without the pauses between segments."""
    return sum(s.end - s.start for s in result.segments) or result.duration


def fit(
    narrate: Callable[[Path, dict[str, Any]], GenerateResult],
    kind: str,
    path: Path,
    target: float,
    options: dict[str, Any],
    defaults: dict[str, Any],
    info: Callable[[], Mapping[str, Any] | None] | None = None,
) -> GenerateResult:
    """Make a take of ``target`` seconds at ``path``; ``narrate(tmp_path, options)`` makes one take.

    ``info()`` gives the engine's ``describe()``; it is asked only when a retry is wanted,
    after the first take, so the engine is loaded by then.
    """
    if not target > 0:
        raise ConfigError(f"target_duration must be a positive number of seconds, got {target!r}")
    tmp = path.with_name(f".{path.stem}.fit.{os.getpid()}.{threading.get_ident()}.wav")
    try:
        take = narrate(tmp, options)
        control = _control(kind)
        off = abs(take.duration / target - 1) > TOLERANCE
        if control is not None and control.reported and off:
            control = rate_control(kind, info() if info is not None else None)
        if control is not None and control.option not in options and off:
            pauses = take.duration - _speech(take)
            wanted = max(target - pauses, 0.1 * _speech(take))
            current = float(defaults.get(control.option, control.default))
            retry = {**options, control.option: control.scaled(current, wanted / _speech(take))}
            again = narrate(tmp, retry)
            if abs(again.duration - target) <= abs(take.duration - target):
                take = again
            else:
                take = narrate(tmp, options)  # the first take was closer: make it the file again
        if abs(take.duration / target - 1) <= _EXACT:
            os.replace(tmp, path)
            return _retarget(take, path, 1.0, target, take.loudness)
        data, rate, bits = read_wav(tmp)
        ratio = target / take.duration
        stretched = stretch(data, rate, ratio)
        loudness = take.loudness
        if loudness is not None:  # the stretch moves peaks: hold the ceiling again, say what it measures
            stretched, loudness = relimit(stretched, rate, loudness)
        with WavWriter(path, rate, data.shape[1], bits) as out:
            out.write(stretched)
            out.commit()
        return _retarget(take, path, len(stretched) / rate / take.duration, target, loudness)
    finally:
        tmp.unlink(missing_ok=True)


def _retarget(
    take: GenerateResult, path: Path, factor: float, target: float, loudness: Loudness | None
) -> GenerateResult:
    return GenerateResult(
        path,
        take.sample_rate,
        take.duration * factor,
        take.engine,
        take.timings,
        tuple(Segment(s.text, s.start * factor, s.end * factor) for s in take.segments),
        take.cached,
        take.bit_depth,
        tuple(scale_words(take.words, factor)),
        take.word_timing,
        target,
        take.cue_limits,
        loudness,
    )
