"""Normalization by language: which rules read a segment's numbers and symbols aloud.

A segment is normalized as Chinese when it holds Han characters (digits inside
Chinese are read in Chinese: 价格是$3.50 -> 价格是三点五美元), as English when it is
Latin script, and not at all in a script without rules here (Japanese, Korean,
Cyrillic...), where the engine's own reading is the better guess.

Candidates measured on tests/data/text_cases.tsv (README, "Text front end"):
WeTextProcessing and wetext (WFST grammars), NeMo text processing, and cn2an /
num2words under these rules. The rules over cn2an + num2words read the most lines
right, at a fraction of the cost, with no grammar to build or download.
"""

from __future__ import annotations

from .._language import detect_language
from .normalize_en import normalizer as _en
from .normalize_en import rules as _en_rules
from .normalize_zh import normalizer as _zh
from .normalize_zh import rules as _zh_rules
from .rules import Rule

__all__ = ["LANGUAGES", "language_of", "normalize", "rules_for"]

#: Languages with normalization rules.
LANGUAGES = ("zh", "en")


def language_of(text: str) -> str:
    """The text's main language: the one detector routing uses (``detect_language``: kana
    means Japanese, else the script with the most letters, a Latin or Cyrillic letter
    counting a quarter, so "He said 你好 and paid $5" is English and "iPhone 15售价5999元"
    Chinese). Text without letters is English."""
    return detect_language(text)


def rules_for(language: str) -> list[Rule]:
    """The normalization rules of ``language`` (none for a language without rules)."""
    if language == "zh":
        return _zh_rules()
    if language == "en":
        return _en_rules()
    return []


def normalize(text: str, language: str | None = None) -> str:
    """``text`` with numbers, dates, money, units and abbreviations written out as read."""
    language = language or language_of(text)
    if language == "zh":
        return _zh().apply(text).spoken
    if language == "en":
        return _en().apply(text).spoken
    return text
