"""The text front end: what an engine is given to read, and how it maps back to what was written.

``clean`` checks the characters; ``sentences`` splits into segments; ``lexicon`` and
``normalize`` (with ``normalize_zh`` and ``normalize_en``) rewrite each segment in one
pass (``rules``); ``frontend`` ties them together and maps word timings back.
"""

from __future__ import annotations

from .clean import clean_text
from .frontend import FrontEnd, WordMap, join_segments, original_words
from .lexicon import Lexicon, load_lexicon
from .normalize import LANGUAGES, language_of, normalize
from .rules import Rewritten, Rule, Rules
from .sentences import split_sentences

__all__ = [
    "LANGUAGES",
    "FrontEnd",
    "Lexicon",
    "Rewritten",
    "Rule",
    "Rules",
    "WordMap",
    "clean_text",
    "join_segments",
    "language_of",
    "load_lexicon",
    "normalize",
    "original_words",
    "split_sentences",
]
