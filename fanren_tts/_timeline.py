"""Words on the output's timeline.

Subtitles that follow every word need a start and end per word. Where an engine
reports its own alignment, the worker sends it with the audio and the host only
shifts it onto the narration's timeline (``word_timing == "engine"``). Where it
cannot, each segment's span is shared out over its words in proportion to their
length (``"estimated"``), and the result says so: no precision is claimed that
was not measured.

For Chinese, Japanese and Korean the unit is the character: those scripts put no
spaces between words, and a character is what a karaoke highlight moves over.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Word", "estimate_words", "is_cjk", "refine_words", "scale_words", "shift_words", "split_units"]


@dataclasses.dataclass(frozen=True)
class Word:
    """One word (a character in CJK text) and when it is spoken, in seconds."""

    text: str
    start: float
    end: float


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0x20000 <= code <= 0x2FA1F  # extensions B.. and compatibility supplement
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0x31F0 <= code <= 0x31FF  # katakana phonetic extensions
        or 0xAC00 <= code <= 0xD7AF  # hangul syllables
        or 0x1100 <= code <= 0x11FF  # hangul jamo
    )


def _is_mark(ch: str) -> bool:
    """Punctuation and symbols: spoken as a pause, never a unit of their own."""
    return unicodedata.category(ch)[0] in "PSZ" or ch.isspace()


_TOKEN = re.compile(r"\S+")


def _opening(ch: str) -> bool:
    """Brackets, opening quotes and currency signs: they belong to the word after them."""
    return unicodedata.category(ch) in ("Ps", "Pi", "Sc")


def split_units(text: str) -> list[str]:
    """The units a highlight moves over: CJK characters one by one, other words whole.

    Closing punctuation stays attached to the unit before it; a symbol that opens a
    word (``$3.50``, ``(see``, ``“你``, ``¥25``: at the start of a space-delimited
    token, or an opening bracket, quote or currency sign anywhere) to the unit after
    it. A token of punctuation alone joins the unit before it. Joining the units
    gives the text back without spaces lost between non-CJK words.
    """
    units: list[str] = []
    for token in _TOKEN.findall(text):
        buf = ""
        for i, ch in enumerate(token):
            if is_cjk(ch):
                if buf and not all(_is_mark(c) for c in buf):
                    units.append(buf)
                    buf = ""
                buf += ch
                units.append(buf)
                buf = ""
            elif _is_mark(ch) and units and not buf and i > 0 and not _opening(ch):
                units[-1] += ch
            else:
                buf += ch
        if buf:
            if units and all(_is_mark(c) for c in buf):
                units[-1] += buf
            else:
                units.append(buf)
    return units


def _weight(unit: str) -> int:
    return max(1, sum(1 for ch in unit if not _is_mark(ch)))


def estimate_words(text: str, start: float, end: float) -> list[Word]:
    """Share ``[start, end]`` out over the units of ``text`` in proportion to their length."""
    units = split_units(text)
    if not units:
        return []
    total = sum(_weight(u) for u in units)
    span = max(0.0, end - start)
    out: list[Word] = []
    cursor = start
    for i, unit in enumerate(units):
        stop = end if i == len(units) - 1 else cursor + span * _weight(unit) / total
        out.append(Word(unit, cursor, stop))
        cursor = stop
    return out


def shift_words(items: Iterable[Any], offset: float, limit: float, floor: float | None = None) -> list[Word]:
    """Engine-reported words (mappings with text/start/end, seconds from ``offset``)
    moved onto the narration's timeline: none before ``floor`` (default ``offset``; a
    streamed word can start in an earlier piece) or past ``limit``, and monotonic."""
    out: list[Word] = []
    floor = offset if floor is None else floor
    for item in items:
        start = min(max(float(item["start"]) + offset, floor), limit)
        end = min(max(float(item["end"]) + offset, start), limit)
        text = str(item["text"])
        if text.strip():
            out.append(Word(text, start, end))
            floor = end
    return out


def refine_words(words: Iterable[Word]) -> list[Word]:
    """Engine words split into the units subtitles use: a multi-character CJK word
    (好 spoken inside 很好) shares its span out over its characters."""
    out: list[Word] = []
    for w in words:
        units = split_units(w.text)
        out.extend(estimate_words(w.text, w.start, w.end) if len(units) > 1 else [w])
    return out


def scale_words(words: Sequence[Word], factor: float) -> list[Word]:
    return [Word(w.text, w.start * factor, w.end * factor) for w in words]
