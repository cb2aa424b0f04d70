"""Splitting narration into segments an engine can speak in one go.

Sentences end at Chinese and English punctuation (。！？；… and . ! ? ;) or a line
break; a sentence longer than the engine's limit is cut at commas, then at
spaces, and only then mid-word.
"""

from __future__ import annotations

import re

__all__ = ["split_sentences"]

_HARD = "。！？；!?;…"
_CLOSERS = "\"'”’)]）】」』》"
_SOFT = re.compile(r"(?<=[，,、：:—])")
_HAS_WORD = re.compile(r"\w")


def _sentences(text: str) -> list[str]:
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
        end = ch in _HARD or (ch == "." and (i == n or text[i].isspace() or text[i] in _CLOSERS))
        if end:
            while i < n and (text[i] in _HARD or text[i] == "." or text[i] in _CLOSERS):
                buf.append(text[i])
                i += 1
            out.append("".join(buf))
            buf = []
    out.append("".join(buf))
    return [s.strip() for s in out if s.strip()]


def _pack(pieces: list[str], limit: int, joiner: str = "") -> list[str]:
    """Greedily join pieces while the result stays within ``limit`` characters."""
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + len(joiner) + len(piece) <= limit:
            out[-1] = out[-1] + joiner + piece
        else:
            out.append(piece)
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
                out.extend(chunk[i : i + limit] for i in range(0, len(chunk), limit))
        else:
            out.extend(clause[i : i + limit] for i in range(0, len(clause), limit))
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
