"""Kept importable for older code: the text front end lives in ``fanren_tts.text``."""

from __future__ import annotations

from .text.clean import clean_text
from .text.sentences import split_sentences

__all__ = ["clean_text", "split_sentences"]
