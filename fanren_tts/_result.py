"""What a ``generate`` call gives back: the path it wrote, and what is known about it.

``GenerateResult`` is a ``str``: the pipeline that fanren_tts replaces returned the
output path as a plain string from ``generate(text, output_path)``, and code built
on that (``os.path.exists(r)``, ``r.replace(".wav", ".srt")``, ``json.dumps``,
``Path(r)``) keeps working unchanged. The timings, segments and format ride along
as attributes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from . import _subtitles

__all__ = ["GenerateResult", "Segment"]


@dataclasses.dataclass(frozen=True)
class Segment:
    """One piece of the narration and where it sits in the WAV, in seconds."""

    text: str
    start: float
    end: float


class GenerateResult(str):
    """The path written (as a ``str``), plus ``path``, ``sample_rate``, ``duration``,
    ``engine``, ``timings``, ``segments``, ``cached`` and ``bit_depth``.

    ``timings`` are seconds spent: ``start`` (worker start and model load, 0 when
    warm or cached), ``synthesize``, ``write`` (conversion, joining, loudness,
    file) and ``total``. ``cached`` counts the segments that came from the cache.
    """

    path: Path
    sample_rate: int
    duration: float
    engine: str
    timings: dict[str, float]
    segments: tuple[Segment, ...]
    cached: int
    bit_depth: int

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
            ),
        )

    def srt(self) -> str:
        return _subtitles.srt_text(self.segments)

    def write_srt(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write SRT subtitles (default: beside the WAV), atomically."""
        target = Path(path) if path is not None else self.path.with_suffix(".srt")
        _subtitles.write_text(target, self.srt())
        return target

    def write_json(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write segment timings as JSON (default: beside the WAV), atomically."""
        target = Path(path) if path is not None else self.path.with_suffix(".json")
        doc = _subtitles.subtitle_doc(self.segments, self.path, self.engine, self.sample_rate, self.duration)
        _subtitles.write_json(target, doc)
        return target
