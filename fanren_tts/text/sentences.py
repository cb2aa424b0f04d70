"""Splitting narration into segments an engine can speak in one go.

Two kinds of rules, each where it does best (tests/data/split_cases.tsv measures both):

* CJK punctuation (。！？；…) and line breaks always end a sentence, closing quotes
  and brackets staying with it: a rule no library improves on, and one that
  pysbd gets wrong (it splits “走吧。”| and 吗？|！).
* Latin full stops, ``!`` and ``?`` go to ``sentencex`` (Wikimedia's rule-based
  segmenter, no model, ~3 ms per 1,000 characters), which knows that the full
  stops in "Dr.", "p.m.", "J. R. R.", "e.g.", "3.14" and an ellipsis end nothing.
  A hand-written "full stop then space" rule split "Did Dr. Smith arrive at 5 p.m.
  yesterday?" into three segments (three pauses, three subtitle cues).

A sentence longer than the engine's limit is then cut at commas, then at spaces,
and only then mid-word, never inside a character as a reader sees it (a letter and
its combining marks).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

__all__ = ["split_sentences"]

_HARD = "。！？；!?;…"
_CJK_HARD = "。！？；…"
_CLOSERS = "\"'”’)]）】」』》"
_LATIN_END = re.compile(r"[.!?]")
_SOFT = re.compile(r"(?<=[，,、：:—])")
_HAS_WORD = re.compile(r"\w")


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    from sentencex import segment  # a plain import (no data, no download); lazy only to keep startup short

    return segment


def _cjk_sentences(text: str) -> list[str]:
    """Split at line breaks, CJK terminators and ';' (closers stay with their sentence)."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\r\n":
            out.append("".join(buf))
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
        if ch in _CJK_HARD or ch == ";":
            while i < n and (text[i] in _HARD or text[i] in _CLOSERS):
                buf.append(text[i])
                i += 1
            out.append("".join(buf))
            buf = []
    out.append("".join(buf))
    return [s.strip() for s in out if s.strip()]


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    for chunk in _cjk_sentences(text):
        if _LATIN_END.search(chunk[:-1]):
            out.extend(s.strip() for s in _segmenter()("en", chunk) if s.strip())
        else:
            out.append(chunk)
    return out


def _pack(pieces: list[str], limit: int, joiner: str = "") -> list[str]:
    """Greedily join pieces while the result stays within ``limit`` characters."""
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + len(joiner) + len(piece) <= limit:
            out[-1] = out[-1] + joiner + piece
        else:
            out.append(piece)
    return out


def _extends(text: str, i: int) -> bool:
    """Whether ``text[i]`` belongs to the character before it: a combining mark (accents,
    variation selectors), a zero-width joiner or what follows one, an emoji skin tone.
    The parts of UAX #29's grapheme clusters that a cut can meet; a cut never falls there."""
    ch = text[i]
    return (
        unicodedata.category(ch).startswith("M")
        or ch == "\u200d"
        or text[i - 1] == "\u200d"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"
    )


def _hard_cut(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut between characters as a reader
    sees them: marks stay with their base. A single character with more marks than
    ``limit`` (zalgo text) stays whole, longer than the limit, rather than leave a piece of
    marks with nothing to speak."""
    out: list[str] = []
    start, n = 0, len(text)
    while start < n:
        end = start + limit
        if end < n:
            back = end
            while back > start and _extends(text, back):
                back -= 1
            if back > start:
                end = back
            else:
                while end < n and _extends(text, end):
                    end += 1
        out.append(text[start:end])
        start = end
    return out


def _cut(sentence: str, limit: int) -> list[str]:
    if len(sentence) <= limit:
        return [sentence]
    out: list[str] = []
    for clause in _pack([c.strip() for c in _SOFT.split(sentence) if c.strip()], limit, " "):
        if len(clause) <= limit:
            out.append(clause)
            continue
        words = clause.split()
        if len(words) > 1:
            for chunk in _pack(words, limit, " "):
                out.extend(_hard_cut(chunk, limit))
        else:
            out.extend(_hard_cut(clause, limit))
    return out


def split_sentences(text: str, max_chars: int = 200, *, sentences: bool = True) -> list[str]:
    """Segments of at most ``max_chars`` characters, in order, none without a word.

    Punctuation-only pieces (a stray "……") are glued to their neighbour rather
    than sent to an engine on their own. ``sentences=False`` keeps the text whole
    (line breaks become spaces) and cuts it only where it is longer than ``max_chars``.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    segments: list[str] = []
    units = _sentences(text) if sentences else [" ".join(text.split())]
    for sentence in units:
        for piece in _cut(sentence, max_chars):
            if segments and not _HAS_WORD.search(piece) and len(segments[-1]) + len(piece) <= max_chars:
                segments[-1] += piece
            else:
                segments.append(piece)
    if len(segments) > 1 and not _HAS_WORD.search(segments[0]):
        first = segments.pop(0)
        segments[0] = first + segments[0]
    return segments
