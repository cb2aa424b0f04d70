"""The front end: each segment's original text, and the text its engine will read.

``FrontEnd.speak`` runs the lexicon and the language's normalization rules over one
segment in one pass (``rules.Rules``) and returns a ``Rewritten``: the original,
the spoken text, and the span map between them. Segments are split *before*
normalization (a full stop in "Dr." or "3.14" must not vanish before the splitter
sees it), so each segment keeps its original text for subtitles, and
``original_words`` maps the engine's word timings, reported on the spoken text,
back onto it ("three dollars and fifty cents" becomes one word "$3.50").
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable
from typing import Any

from .lexicon import Lexicon
from .normalize import language_of, rules_for
from .rules import Rewritten, Rules

__all__ = ["FrontEnd", "WordMap", "join_segments", "original_words"]


class FrontEnd:
    """Lexicon + normalization, compiled once per (language, engine, normalize) and reused."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or Lexicon()
        self._compiled: dict[tuple[str, str | None, bool], Rules] = {}
        self._lock = threading.Lock()

    def speak(
        self, text: str, *, engine: str | None = None, normalize: bool = True, language: str | None = None
    ) -> Rewritten:
        """``text`` (one segment) as ``engine`` should read it."""
        language = language or language_of(text)
        key = (language, engine, normalize)
        rules = self._compiled.get(key)
        if rules is None:
            lexicon = self.lexicon.rules(language, engine)
            rules = Rules([*lexicon, *(rules_for(language) if normalize else [])])
            with self._lock:
                self._compiled[key] = rules
        return rules.apply(text)


class WordMap:
    """Engine words (``text``/``start``/``end`` on the spoken text) as words of the original.

    Words are found in the spoken text in order, across every piece of a streamed
    segment; the words inside one rewritten span become the span's original text,
    timed from the first one's start to the last one's end ("three dollars and fifty
    cents" -> "$3.50"). A word that cannot be found keeps its own text.
    """

    def __init__(self, rewritten: Rewritten) -> None:
        self.rewritten = rewritten
        self._cursor = 0
        self._last: tuple[int, int] | None = None

    def map(self, words: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """This piece's words; a word continuing a span from an earlier piece is dropped."""
        words = list(words)
        if not self.rewritten.spans:
            return words
        out: list[dict[str, Any]] = []
        spoken = self.rewritten.spoken
        for word in words:
            text = str(word.get("text", ""))
            at = spoken.find(text, self._cursor) if text.strip() else -1
            if at < 0:
                out.append(word)
                continue
            self._cursor = at + len(text)
            start, end = self.rewritten.original_span(at, self._cursor)
            if self._last is not None and start < self._last[1]:
                if out:
                    out[-1] = {**out[-1], "end": word["end"]}  # still inside the same original span
                continue
            out.append({**word, "text": self.rewritten.original[start:end]})
            self._last = (start, end)
        return out


def original_words(words: Iterable[dict[str, Any]], rewritten: Rewritten) -> list[dict[str, Any]]:
    """``words`` of one whole segment mapped back onto its original text (see ``WordMap``)."""
    return WordMap(rewritten).map(words)


def join_segments(segments: Iterable[str]) -> str:
    """Segments back into one text: a space between Latin ones, none beside CJK text."""
    out = ""
    for seg in segments:
        if out and seg and not (_wide(out[-1]) or _wide(seg[0])):
            out += " "
        out += seg
    return out


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF"
