"""The case tables in tests/data, read once, and how spoken text is compared."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Case:
    lang: str
    category: str
    text: str
    expected: str
    known_miss: bool

    @property
    def id(self) -> str:
        return f"{self.lang}-{self.category}-{self.text}"


def _rows(name: str) -> list[list[str]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def text_cases() -> list[Case]:
    """tests/data/text_cases.tsv: language, category, input, expected spoken text[, "miss"]."""
    return [Case(r[0], r[1], r[2], r[3], len(r) > 4 and r[4] == "miss") for r in _rows("text_cases.tsv")]


def split_cases() -> list[tuple[str, str, list[str]]]:
    """tests/data/split_cases.tsv: language, input, the sentences expected."""
    return [(r[0], r[1], [s.strip() for s in r[2].split(" | ")]) for r in _rows("split_cases.tsv")]


def fold(text: str) -> str:
    """Spoken text compared as heard: case, punctuation and hyphens folded, 〇 read as 零."""
    text = text.lower().replace("〇", "零").replace("-", " ")
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())
