"""Which language a piece of text is in, told by its Unicode script, and where the script changes.

Why script blocks and not a statistical detector: routing only has to tell apart the
languages the configured engines speak, and for the languages this project narrates
(Chinese, Japanese, Korean, Russian, English) the script decides it. Measured on the
60 lines of ``tests/data/language_cases.tsv`` (ja/ko/ru/zh/en, mixed lines, digits,
names): script blocks 60/60; lingua-language-detector 2.1.1 with every language 53/60
(it reads "Как дела?" as Macedonian, "Да" as Kazakh, "OK" as Zulu, "We met in
Zürich." as German), after a 25 s model load and 1.2 GB of memory; lingua restricted
to zh/ja/ko/ru/en 59/60 (a Korean line with one English word came out English). Its
one gain, telling French from English in Latin script, matters to no engine here.

Rules:

* Han characters are Chinese unless the text holds kana anywhere: then they are Japanese
  (kanji); Hangul is Korean, Cyrillic Russian, Latin English, Greek, Arabic, Hebrew,
  Thai and Devanagari their main language.
* Digits, punctuation, spaces and symbols belong to no script: they go with the run
  before them (or the first run, at the start).
* A run with fewer than two letters of its script ("A股", "X光") stays inside its
  neighbour: one letter is no reason to switch voices.
"""

from __future__ import annotations

import dataclasses
import itertools
import unicodedata

__all__ = ["LANGUAGE_NAMES", "Run", "detect_language", "language_of", "script_runs"]

#: Script -> the language routing assumes for it.
_SCRIPT_LANGUAGE = {
    "han": "zh",
    "kana": "ja",
    "hangul": "ko",
    "cyrillic": "ru",
    "latin": "en",
    "greek": "el",
    "arabic": "ar",
    "hebrew": "he",
    "thai": "th",
    "devanagari": "hi",
}

LANGUAGE_NAMES = {
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "ru": "Russian",
    "en": "English",
    "el": "Greek",
    "ar": "Arabic",
    "he": "Hebrew",
    "th": "Thai",
    "hi": "Hindi",
}

#: (first, last, script) code point ranges, checked in order.
_RANGES = (
    (0x3040, 0x30FF, "kana"),
    (0x31F0, 0x31FF, "kana"),
    (0xFF66, 0xFF9F, "kana"),  # half-width katakana
    (0x1100, 0x11FF, "hangul"),
    (0x3130, 0x318F, "hangul"),
    (0xAC00, 0xD7AF, "hangul"),
    (0x4E00, 0x9FFF, "han"),
    (0x3400, 0x4DBF, "han"),
    (0xF900, 0xFAFF, "han"),
    (0x20000, 0x2FA1F, "han"),
    (0x0400, 0x052F, "cyrillic"),
    (0x0370, 0x03FF, "greek"),
    (0x0590, 0x05FF, "hebrew"),
    (0x0600, 0x06FF, "arabic"),
    (0x0E00, 0x0E7F, "thai"),
    (0x0900, 0x097F, "devanagari"),
)


def _script(ch: str) -> str | None:
    """The script of one character, or None for digits, punctuation, spaces and symbols."""
    code = ord(ch)
    if code < 0x80:
        return "latin" if ch.isalpha() else None
    for first, last, script in _RANGES:
        if first <= code <= last:
            return script if unicodedata.category(ch).startswith("L") or script == "han" else None
    if code < 0x250 and unicodedata.category(ch).startswith("L"):
        return "latin"  # Latin-1 and Latin Extended letters (é, ß, ł)
    if 0xFF21 <= code <= 0xFF5A and ch.isalpha():
        return "latin"  # full-width Latin
    return None


@dataclasses.dataclass(frozen=True)
class Run:
    """A stretch of text in one language: ``text[start:end]`` of the line it came from."""

    text: str
    language: str
    start: int
    end: int


@dataclasses.dataclass
class _Span:
    language: str
    start: int
    end: int
    letters: int


def script_runs(text: str) -> list[Run]:
    """``text`` cut where its script changes, each run with its language; the runs cover
    the whole text, in order (see the module docstring for the rules)."""
    japanese = any(_script(ch) == "kana" for ch in text)
    spans: list[_Span] = []
    for i, ch in enumerate(text):
        script = _script(ch)
        if script is None:
            if spans:
                spans[-1].end = i + 1
            continue
        lang = "ja" if japanese and script == "han" else _SCRIPT_LANGUAGE[script]
        if spans and spans[-1].language == lang:
            spans[-1].end = i + 1
            spans[-1].letters += 1
        else:
            spans.append(_Span(lang, i, i + 1, 1))
    if not spans:
        return [Run(text, "en", 0, len(text))] if text else []
    merged: list[_Span] = []
    for span in spans:
        if merged and (span.letters < 2 or merged[-1].language == span.language):
            merged[-1].end, merged[-1].letters = span.end, merged[-1].letters + span.letters
        elif len(merged) == 1 and merged[0].letters < 2:  # a one-letter start joins the run after it
            merged[0] = _Span(span.language, 0, span.end, merged[0].letters + span.letters)
        else:
            merged.append(span)
    merged[0].start, merged[-1].end = 0, len(text)
    for before, after in itertools.pairwise(merged):
        before.end = after.start
    return [Run(text[s.start : s.end], s.language, s.start, s.end) for s in merged]


def language_of(text: str) -> str | None:
    """The language of ``text`` when it is written in one script only, else None."""
    runs = script_runs(text)
    return runs[0].language if len(runs) == 1 else None


def detect_language(text: str) -> str:
    """The line's main language by script: zh, ja, ko, ru, en, ... (for routing, not linguistics).

    Kana anywhere makes it Japanese. Otherwise the script with the most letters wins,
    where a Latin or Cyrillic letter counts a quarter (a word of four letters says as
    much as one Chinese character). Text with no letters at all is English.
    """
    counts: dict[str, float] = {}
    for ch in text:  # by letter, not by run: one Han character in "重5kg" still counts as Chinese
        script = _script(ch)
        if script is None:
            continue
        language = _SCRIPT_LANGUAGE[script]
        counts[language] = counts.get(language, 0.0) + (0.25 if language in ("en", "ru", "el") else 1.0)
    if "ja" in counts:
        return "ja"
    return max(counts, key=lambda k: counts[k]) if counts else "en"
