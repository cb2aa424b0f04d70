"""The small sections of ``tts:`` (timeouts, output, narration, subtitles, text, cache): plain
validated records with their defaults and the ranges a typo or a wild value is caught by."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from .._options import Strict

#: Engine options whose values are file system paths (a str, or a mapping of them).
PATH_OPTION = re.compile(r"(paths?|dir|file|checkpoint|prompt_speech|prompt_wav|ref_audio|audio_prompt|lexicon)$")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class Timeouts(Strict):
    """Seconds to wait, per stage. A progress frame from the worker re-arms ``startup``."""

    startup: float = Field(120.0, gt=0)
    call: float = Field(600.0, gt=0)
    shutdown: float = Field(10.0, gt=0)


class OutputConfig(Strict):
    """What every generated WAV looks like, whatever the engine: rate, channels, 16- or 24-bit PCM."""

    sample_rate: int | None = Field(None, ge=8000, le=192000, description="null keeps the engine's native rate")
    channels: Literal[1, 2] = 1
    bit_depth: Literal[16, 24] = Field(16, description="PCM sample size of the WAV files written")
    loudness_lufs: float | None = Field(None, ge=-70, le=0, description="integrated loudness target; null: as is")
    true_peak_dbtp: float = Field(
        -1.0, ge=-20, le=0, description="true-peak ceiling the limiter holds when loudness_lufs is set, dBTP"
    )


class NarrationConfig(Strict):
    """How long text is split and joined."""

    pause_ms: int = Field(250, ge=0, le=10000, description="silence between segments")
    split_sentences: bool = Field(
        True, description="false: send each line whole, cut only where it is longer than max_segment_chars"
    )
    split_languages: bool = Field(
        True, description="a line in several scripts goes run by run to the engine of each run's language"
    )


class SubtitlesConfig(Strict):
    """How subtitle cues are cut from the word timings (broadcast guidance: two lines, 42 or 16 characters)."""

    max_chars: int = Field(42, ge=4, le=200, description="longest line in Latin scripts, in characters")
    max_chars_cjk: int = Field(16, ge=2, le=100, description="longest line in Chinese and Japanese, in characters")
    max_lines: int = Field(2, ge=1, le=4, description="lines per cue")
    max_duration: float = Field(7.0, gt=0.5, le=60, description="longest cue, in seconds")
    min_duration: float = Field(
        5 / 6, ge=0, le=10, description="shortest cue, in seconds: shorter ones merge within their sentence"
    )
    max_cps: float = Field(17.0, gt=0, le=100, description="fastest reading speed, characters a second (Latin)")
    max_cps_cjk: float = Field(9.0, gt=0, le=100, description="fastest reading speed, characters a second (CJK)")


Normalize = Literal["auto", "on", "off"]


def _on_off(value: Any) -> Any:
    """YAML 1.1 reads a bare ``on`` / ``off`` as true / false: take them back."""
    return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class TextConfig(Strict):
    """The text front end (``fanren_tts.text``)."""

    lexicon: str | None = Field(None, description="pronunciation lexicon (YAML), relative to the config file")


class CacheConfig(Strict):
    enabled: bool = True
    dir: str = Field(".fanren/cache", description="relative to the config file's folder")
