"""Where a subtitle line may break: between words, also in scripts written without spaces.

Chinese and Japanese put no spaces between words, so a cue cut at any character
can split a word (全|长). The breaks come from a segmenter instead: jieba for
Chinese (a dictionary plus an HMM for unknown words) and BudouX for Japanese (a
small model shipped inside the package, made for exactly this: phrase breaks in
running text, no MeCab dictionary to install). Both work offline from their wheels.
Text with spaces breaks at the spaces; an opening bracket, quote or currency sign
stays with the word after it (``_timeline.split_units`` keeps it there).
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Sequence

from ._timeline import is_cjk

__all__ = ["allowed_breaks", "has_kana", "segment_words"]


def has_kana(text: str) -> bool:
    return any(0x3040 <= ord(ch) <= 0x30FF or 0x31F0 <= ord(ch) <= 0x31FF for ch in text)


@functools.lru_cache(maxsize=1)
def _jieba() -> Callable[[str], list[str]]:
    with warnings.catch_warnings():  # jieba 0.42's regexes have escapes newer Pythons warn about
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        import jieba

    jieba.setLogLevel(logging.WARNING)  # it announces its dictionary load on stderr otherwise
    return lambda text: list(jieba.cut(text, HMM=True))


@functools.lru_cache(maxsize=1)
def _budoux() -> Callable[[str], list[str]]:
    import budoux

    parser = budoux.load_default_japanese_parser()
    return lambda text: list(parser.parse(text))


#: Chinese particles that lean on the word before them: a line that starts with one reads badly
#: (的大桥), so no break falls before them. jieba gives them as words of their own.
_LEANS_BACK = frozenset("的了着过地得吗呢吧啊么")


def segment_words(text: str) -> list[str]:
    """``text`` (no spaces: one run of CJK script) as words, in order; joined they give it back."""
    if not text:
        return []
    words = _budoux()(text) if has_kana(text) else _jieba()(text)
    return [w for w in words if w]


def allowed_breaks(units: Sequence[str]) -> list[bool]:
    """For each junction between ``units[i]`` and ``units[i + 1]``: may a line or cue break there?

    Between two CJK units only where the segmenter puts a word boundary, and not before
    a Chinese particle that leans on the word before it; elsewhere (a space) always.
    """
    out = [True] * max(0, len(units) - 1)
    i = 0
    while i < len(units) - 1:
        if not _joined_cjk(units[i], units[i + 1]):
            i += 1
            continue
        j = i + 1  # a run of units written together: units[i..j]
        while j < len(units) - 1 and _joined_cjk(units[j], units[j + 1]):
            j += 1
        run = units[i : j + 1]
        bounds = set()
        pos = 0
        text = "".join(run)
        for word in segment_words(text):
            if word not in _LEANS_BACK or has_kana(text):
                bounds.add(pos)
            pos += len(word)
        bounds.add(pos)
        pos = 0
        for k in range(len(run) - 1):
            pos += len(run[k])
            out[i + k] = pos in bounds
        i = j
    return out


def _joined_cjk(left: str, right: str) -> bool:
    """Two units written without a space between them, at least one side a CJK character."""
    a, b = left.rstrip()[-1:], right.lstrip()[:1]
    return bool(a and b) and (is_cjk(a) or is_cjk(b))
