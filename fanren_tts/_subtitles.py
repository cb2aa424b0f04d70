"""Subtitles from a result's segment timings: SRT for editors, JSON for code."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from ._runtime.fanren_worker import atomic_write

if TYPE_CHECKING:
    from ._generator import GenerateResult

__all__ = ["srt_text", "subtitle_doc", "write_json", "write_text"]


def _timestamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def srt_text(result: GenerateResult) -> str:
    cues = [
        f"{i}\n{_timestamp(seg.start)} --> {_timestamp(seg.end)}\n{seg.text}\n"
        for i, seg in enumerate(result.segments, 1)
    ]
    return "\n".join(cues)


def subtitle_doc(result: GenerateResult) -> dict[str, Any]:
    return {
        "audio": str(result.path),
        "engine": result.engine,
        "sample_rate": result.sample_rate,
        "duration": round(result.duration, 3),
        "segments": [
            {"index": i, "text": s.text, "start": round(s.start, 3), "end": round(s.end, 3)}
            for i, s in enumerate(result.segments, 1)
        ],
    }


def write_text(path: str | os.PathLike[str], text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(path, write)


def write_json(path: str | os.PathLike[str], doc: Any) -> None:
    write_text(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
