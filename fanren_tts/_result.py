"""What a ``generate`` call gives back: the path it wrote, and what is known about it.

``GenerateResult`` is a ``str``: the pipeline that fanren_tts replaces returned the
output path as a plain string from ``generate(text, output_path)``, and code built
on that (``os.path.exists(r)``, ``r.replace(".wav", ".srt")``, ``json.dumps``,
``Path(r)``) keeps working unchanged. The timings, segments and format ride along
as attributes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from . import _subtitles
from ._exceptions import ConfigError
from ._timeline import Word
from .audio.loudness import Loudness

__all__ = ["GenerateResult", "Segment", "Word"]

log = logging.getLogger("fanren_tts.subtitles")


@dataclasses.dataclass(frozen=True)
class Segment:
    """One piece of the narration and where it sits in the WAV, in seconds."""

    text: str
    start: float
    end: float


class GenerateResult(str):
    """The path written (as a ``str``), plus ``path``, ``sample_rate``, ``duration``,
    ``engine``, ``timings``, ``segments``, ``cached``, ``bit_depth``, ``words``,
    ``word_timing`` and, for a line fitted to a slot, ``target_duration``.

    ``timings`` are seconds spent: ``start`` (worker start and model load, 0 when
    warm or cached), ``synthesize``, ``write`` (conversion, joining, loudness,
    file) and ``total``. ``cached`` counts the segments that came from the cache.
    ``words`` are ``Word(text, start, end)`` on the output's timeline (characters for
    CJK text); ``word_timing`` says where they come from: ``"engine"`` (the engine's
    own alignment) or ``"estimated"`` (each segment shared out by word length).
    ``loudness``, when ``tts.output.loudness_lufs`` is set, is what the file reached:
    ``.lufs`` (integrated, BS.1770-4), ``.true_peak_dbtp``, the target and ceiling asked
    for and the gain applied; None without normalization.
    """

    path: Path
    sample_rate: int
    duration: float
    engine: str
    timings: dict[str, float]
    segments: tuple[Segment, ...]
    cached: int
    bit_depth: int
    words: tuple[Word, ...]
    word_timing: str
    target_duration: float | None
    #: how subtitle cues are cut (``tts.subtitles``); a (max characters, max seconds) pair also works.
    cue_limits: _subtitles.CueRules
    loudness: Loudness | None

    def __new__(
        cls,
        path: str | os.PathLike[str],
        sample_rate: int,
        duration: float,
        engine: str,
        timings: dict[str, float],
        segments: tuple[Segment, ...] = (),
        cached: int = 0,
        bit_depth: int = 16,
        words: tuple[Word, ...] = (),
        word_timing: str = "estimated",
        target_duration: float | None = None,
        cue_limits: _subtitles.CueRules | tuple[int, float] = _subtitles.DEFAULT_RULES,
        loudness: Loudness | None = None,
    ) -> GenerateResult:
        self = super().__new__(cls, os.fspath(path))
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.duration = duration
        self.engine = engine
        self.timings = timings
        self.segments = tuple(segments)
        self.cached = cached
        self.bit_depth = bit_depth
        self.words = tuple(words)
        self.word_timing = word_timing
        self.target_duration = target_duration
        self.cue_limits = _subtitles.CueRules.of(cue_limits)
        self.loudness = loudness
        return self

    def __fspath__(self) -> str:
        return str.__str__(self)

    def __str__(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return (
            f"GenerateResult(path={str(self.path)!r}, sample_rate={self.sample_rate}, "
            f"duration={self.duration:.3f}, engine={self.engine!r}, segments={len(self.segments)}, "
            f"cached={self.cached})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            GenerateResult,
            (
                self.path,
                self.sample_rate,
                self.duration,
                self.engine,
                self.timings,
                self.segments,
                self.cached,
                self.bit_depth,
                self.words,
                self.word_timing,
                self.target_duration,
                self.cue_limits,
                self.loudness,
            ),
        )

    @property
    def target_error(self) -> float | None:
        """Seconds longer (+) or shorter (-) than ``target_duration``; None without a target."""
        return None if self.target_duration is None else self.duration - self.target_duration

    def cues(self) -> list[_subtitles.Cue]:
        return _subtitles.build_cues(self.segments, self.words, self.cue_limits, end=self.duration)

    def subtitle_issues(self) -> list[str]:
        """Cues that still break a ``tts.subtitles`` rule after merging and lengthening
        (too short, read too fast, too long a line), one line each; empty when all are fine."""
        return _subtitles.cue_issues(self.cues(), self.cue_limits)

    def srt(self) -> str:
        return _subtitles.srt_text(self.cues())

    def _target(self, path: str | os.PathLike[str] | None, suffix: str) -> Path:
        return Path(path) if path is not None else self.path.with_suffix(suffix)

    def write_srt(self, path: str | os.PathLike[str] | None = None) -> Path:
        """SRT subtitles (default: beside the WAV), cues wrapped to ``tts.subtitles``; atomic."""
        target = self._target(path, ".srt")
        _subtitles.write_text(target, self.srt())
        return target

    def write_vtt(self, path: str | os.PathLike[str] | None = None) -> Path:
        """WebVTT subtitles (default: beside the WAV); atomic."""
        target = self._target(path, ".vtt")
        _subtitles.write_text(target, _subtitles.vtt_text(self.cues()))
        return target

    def write_ass(self, path: str | os.PathLike[str] | None = None) -> Path:
        """ASS subtitles with a karaoke ``\\k`` tag per word (default: beside the WAV); atomic."""
        target = self._target(path, ".ass")
        _subtitles.write_text(target, _subtitles.ass_text(self.cues(), title=self.path.stem))
        return target

    def write_json(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Segment and word timings as JSON (default: beside the WAV); atomic."""
        target = self._target(path, ".json")
        doc = _subtitles.subtitle_doc(
            self.segments, self.path, self.engine, self.sample_rate, self.duration, self.words, self.word_timing
        )
        _subtitles.write_json(target, doc)
        return target

    def write_subtitles(self, formats: tuple[str, ...] | list[str] = ("srt", "json")) -> list[Path]:
        """Each of ``srt``, ``vtt``, ``ass``, ``json`` asked for, beside the WAV."""
        writers = {"srt": self.write_srt, "vtt": self.write_vtt, "ass": self.write_ass, "json": self.write_json}
        unknown = [f for f in formats if f not in writers]
        if unknown:
            raise ConfigError(f"unknown subtitle format(s) {unknown}; choose from {', '.join(_subtitles.FORMATS)}")
        if set(formats) & {"srt", "vtt", "ass"}:
            issues = self.subtitle_issues()
            if issues:
                log.info("%s: %d subtitle cue(s) break a rule, e.g. %s", self.path.name, len(issues), issues[0])
        return [writers[f]() for f in formats]
