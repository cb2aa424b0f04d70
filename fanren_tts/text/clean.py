"""Checking narration text before any work.

``clean_text`` runs before any work: characters that only mean layout (CR LF, tabs,
no-break and other Unicode spaces, zero-width spaces, a BOM) are normalized, and
characters no engine can speak sensibly are refused with their index and code
point. Engines disagree on them otherwise: espeak silently drops everything after
a NUL, piper raises a bare ValueError, and a lone surrogate cannot even be encoded
to reach the worker.
"""

from __future__ import annotations

import re

from .._exceptions import ConfigError

__all__ = ["clean_text"]

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
