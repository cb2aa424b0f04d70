"""Subtitle files from cues (``_cues``): SRT and WebVTT for players, ASS with karaoke tags,
JSON for code.

The ASS file carries one ``\\k`` tag per word, so editors can highlight each word
as it is spoken, and ``\\N`` where a cue's second line starts. Every file is
written atomically. Works on anything with ``text``, ``start`` and ``end``: it
depends on no result type and sits below the generator and the batch runner.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from ._cues import DEFAULT_RULES, Cue, CueRules, Timed, build_cues, cue_issues, spaced
from ._runtime.fanren_worker import atomic_write
from ._timeline import Word

__all__ = [
    "DEFAULT_RULES",
    "FORMATS",
    "Cue",
    "CueRules",
    "Timed",
    "ass_text",
    "build_cues",
    "cue_issues",
    "srt_text",
    "subtitle_doc",
    "vtt_text",
    "write_json",
    "write_text",
]

FORMATS = ("srt", "vtt", "ass", "json")


def _clock(seconds: float, sep: str) -> str:
    ms = round(max(0.0, seconds) * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt_text(cues: Sequence[Timed]) -> str:
    return "\n".join(f"{i}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{c.text}\n" for i, c in enumerate(cues, 1))


def vtt_text(cues: Sequence[Timed]) -> str:
    body = "\n".join(f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{c.text}\n" for c in cues)
    return "WEBVTT\n\n" + body


def _ass_clock(seconds: float) -> str:
    cs = round(max(0.0, seconds) * 100)
    h, cs = divmod(cs, 360_000)
    m, cs = divmod(cs, 6000)
    s, cs = divmod(cs, 100)
    return f"{h:d}:{m:02d}:{s:02d}.{cs:02d}"


def _ass_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("{", "(").replace("}", ")").replace("\n", "\\N")


def ass_text(cues: Sequence[Cue], title: str = "fanren_tts") -> str:
    """Advanced SubStation Alpha with ``{\\kNN}`` (centiseconds) before every word."""
    head = (
        "[Script Info]\n"
        f"Title: {_ass_escape(title)}\n"
        "ScriptType: v4.00+\n"
        "PlayResX: 1920\n"
        "PlayResY: 1080\n"
        "WrapStyle: 0\n\n"
        "[V4+ Styles]\n"
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
        "MarginL, MarginR, MarginV, Encoding\n"
        "Style: Default,Arial,56,&H00FFFFFF,&H0000FFFF,&H00000000,&H64000000,0,0,0,0,100,100,0,0,1,3,0,2,"
        "60,60,60,1\n\n"
        "[Events]\n"
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    )
    events = []
    for cue in cues:
        parts: list[str] = []
        cursor = cue.start
        words = cue.words or (Word(cue.text, cue.start, cue.end),)
        for i, w in enumerate(words):
            gap = round((w.start - cursor) * 100)
            if gap > 0:
                parts.append(f"{{\\k{gap}}}")
            sep = " " if i and spaced(words[i - 1].text, w.text) else ""
            if i in cue.breaks:
                sep = "\\N"
            parts.append(f"{{\\k{max(0, round((w.end - w.start) * 100))}}}{sep}{_ass_escape(w.text)}")
            cursor = max(cursor, w.end)
        events.append(f"Dialogue: 0,{_ass_clock(cue.start)},{_ass_clock(cue.end)},Default,,0,0,0,,{''.join(parts)}")
    return head + "\n".join(events) + "\n"


def subtitle_doc(
    segments: Sequence[Timed],
    audio: os.PathLike[str] | str,
    engine: str,
    sample_rate: int,
    duration: float,
    words: Sequence[Timed] = (),
    word_timing: str = "estimated",
) -> dict[str, Any]:
    return {
        "audio": os.fspath(audio),
        "engine": engine,
        "sample_rate": sample_rate,
        "duration": round(duration, 3),
        "word_timing": word_timing,
        "segments": [
            {"index": i, "text": s.text, "start": round(s.start, 3), "end": round(s.end, 3)}
            for i, s in enumerate(segments, 1)
        ],
        "words": [{"text": w.text, "start": round(w.start, 3), "end": round(w.end, 3)} for w in words],
    }


def write_text(path: str | os.PathLike[str], text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(path, write)


def write_json(path: str | os.PathLike[str], doc: Any) -> None:
    write_text(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
