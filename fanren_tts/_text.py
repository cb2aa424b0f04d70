"""Checking narration text, and splitting it into segments an engine can speak in one go.

``clean_text`` runs before any work: characters that only mean layout (CR LF, tabs,
no-break and other Unicode spaces, zero-width spaces, a BOM) are normalized, and
characters no engine can speak sensibly are refused with their index and code
point. Engines disagree on them otherwise: espeak silently drops everything after
a NUL, piper raises a bare ValueError, and a lone surrogate cannot even be encoded
to reach the worker.

Sentences end at Chinese and English punctuation (。！？；… and . ! ? ;) or a line
break; a sentence longer than the engine's limit is cut at commas, then at
spaces, and only then mid-word, never inside a character as a reader sees it (a
letter and its combining marks).
"""

from __future__ import annotations

import re
import unicodedata

from ._exceptions import ConfigError

__all__ = ["clean_text", "split_sentences"]

#: Refused: C0/C1 controls other than tab and line breaks, lone surrogates, noncharacters.
_BAD = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\u2028\u2029]")
_SPACE = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
#: Invisible and meaningless to speech: soft hyphen, zero-width space, word joiner, BOM.
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_CONTROL_NAMES = {0: "NUL", 7: "BEL", 8: "BS", 0x1B: "ESC", 0x7F: "DEL", 0x85: "NEL"}


def _what(ch: str) -> str:
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        return "a lone surrogate (text decoded with surrogateescape, or half of a broken UTF-16 pair)"
    if code in _CONTROL_NAMES:
        return f"a control character ({_CONTROL_NAMES[code]})"
    if code < 0xA0:
        return "a control character"
    return "a Unicode noncharacter"


def clean_text(text: str) -> str:
    """``text`` with layout characters normalized, or ConfigError naming the first bad character.

    Normalized: CR LF, CR, vertical tab, form feed and the Unicode line/paragraph
    separators become ``\n``; tabs and Unicode spaces (NBSP, ideographic space...)
    become a space; soft hyphens, zero-width spaces, word joiners and BOMs go.
    Refused: other control characters (NUL, ESC, C1 controls such as a cp1252
    ellipsis decoded as Latin-1), lone surrogates and noncharacters. The error
    gives the index in ``text`` as passed, the code point and what precedes it.
    """
    bad = _BAD.search(text)
    if bad is not None:
        index, ch = bad.start(), bad.group()
        others = len(_BAD.findall(text, index + 1))
        before = text[max(0, index - 20) : index]
        raise ConfigError(
            f"text has {_what(ch)} U+{ord(ch):04X} at index {index} (after {before!r})"
            + (f", and {others} more bad character{'s' if others > 1 else ''}" if others else "")
            + "; remove or replace it (engines drop or choke on such characters)"
        )
    text = _LINE_BREAK.sub("\n", text)
    text = _SPACE.sub(" ", text)
    return _INVISIBLE.sub("", text)


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
