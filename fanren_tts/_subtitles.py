"""Subtitles from segment timings: SRT for editors, JSON for code.

Works on anything with ``text``, ``start`` and ``end``, so it depends on no result
type and sits below the generator and the batch runner.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, Protocol

from ._runtime.fanren_worker import atomic_write

__all__ = ["Timed", "srt_text", "subtitle_doc", "write_json", "write_text"]


class Timed(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


def _timestamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def srt_text(segments: Sequence[Timed]) -> str:
    cues = [
        f"{i}\n{_timestamp(seg.start)} --> {_timestamp(seg.end)}\n{seg.text}\n" for i, seg in enumerate(segments, 1)
    ]
    return "\n".join(cues)


def subtitle_doc(
    segments: Sequence[Timed], audio: os.PathLike[str] | str, engine: str, sample_rate: int, duration: float
) -> dict[str, Any]:
    return {
        "audio": os.fspath(audio),
        "engine": engine,
        "sample_rate": sample_rate,
        "duration": round(duration, 3),
        "segments": [
            {"index": i, "text": s.text, "start": round(s.start, 3), "end": round(s.end, 3)}
            for i, s in enumerate(segments, 1)
        ],
    }


def write_text(path: str | os.PathLike[str], text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(path, write)


def write_json(path: str | os.PathLike[str], doc: Any) -> None:
    write_text(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
