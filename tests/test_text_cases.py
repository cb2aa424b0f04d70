"""The case table (tests/data/text_cases.tsv) through the front end, and through espeak's ears.

Every line checks the normalized text; then eSpeak NG turns both the normalized text
and the expected text into phonemes, which must match: what is spoken is what was meant.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from text_cases import Case, fold, text_cases

from fanren_tts.config import PROJECT_ROOT, venv_dir, venv_python
from fanren_tts.text import FrontEnd

CASES = text_cases()
FRONT = FrontEnd()
ESPEAK = venv_python(venv_dir(PROJECT_ROOT / "envs" / "espeak"))
VOICE = {"zh": "cmn", "en": "en-us"}


def test_the_table_covers_both_languages_and_every_kind_of_text() -> None:
    assert len(CASES) >= 150
    by_lang = Counter(c.lang for c in CASES)
    assert by_lang["zh"] >= 75 and by_lang["en"] >= 75
    zh = {c.category for c in CASES if c.lang == "zh"}
    en = {c.category for c in CASES if c.lang == "en"}
    assert {"number", "year", "date", "time", "percent", "currency", "unit", "phone", "range", "mixed"} <= zh
    assert {"cardinal", "ordinal", "year", "money", "time", "percent", "decimal", "unit", "date", "abbrev"} <= en


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_front_end_reads_the_case(case: Case) -> None:
    if case.known_miss:
        pytest.xfail("a known miss of the chosen normalizer (see README, 'Text front end')")
    assert fold(FRONT.speak(case.text).spoken) == fold(case.expected)


def _phonemes(pairs: list[tuple[str, str]]) -> list[str]:
    done = subprocess.run(
        [str(ESPEAK), str(Path(__file__).parent / "espeak_phonemes.py")],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # stress and pause marks depend on punctuation, not on what is said
    return [re.sub(r"[\s_:|',]", "", p) for p in json.loads(done.stdout)]


def _heard(text: str) -> str:
    return re.sub(r"[^\w\s']", " ", text.replace("-", " "))


@pytest.mark.skipif(not ESPEAK.is_file(), reason="the espeak env is not built (python scripts/quickstart.py)")
def test_what_espeak_says_for_the_normalized_text_is_what_was_meant() -> None:
    subset = [c for c in CASES if not c.known_miss and c.text != c.expected]
    said = _phonemes([(VOICE[c.lang], _heard(FRONT.speak(c.text).spoken)) for c in subset])
    meant = _phonemes([(VOICE[c.lang], _heard(c.expected)) for c in subset])
    wrong = [c.text for c, s, m in zip(subset, said, meant, strict=True) if s != m]
    assert len(subset) > 150 and not wrong


@pytest.mark.skipif(not ESPEAK.is_file(), reason="the espeak env is not built (python scripts/quickstart.py)")
@pytest.mark.parametrize(
    "lang,text",
    [
        ("zh", "2024年是龙年"),
        ("zh", "增长了100%"),
        ("zh", "下午3:30见"),
        ("zh", "票价¥25"),
        ("en", "It costs $3.50."),
        ("en", "Due 3/5/2024."),
    ],
)
def test_the_issues_misreadings_are_gone(lang: str, text: str) -> None:
    """Each of these was misread when the text went to the engine as written (issue 16)."""
    expected = next(c.expected for c in CASES if c.text == text)
    raw, normalized, meant = _phonemes(
        [(VOICE[lang], text), (VOICE[lang], _heard(FRONT.speak(text).spoken)), (VOICE[lang], _heard(expected))]
    )
    assert raw != meant and normalized == meant


if __name__ == "__main__":  # accuracy before (pass-through) and after, for the README
    for name, speak in {"pass-through": lambda t: t, "fanren_tts.text": lambda t: FRONT.speak(t).spoken}.items():
        ok = Counter(c.lang for c in CASES if fold(speak(c.text)) == fold(c.expected))
        total = Counter(c.lang for c in CASES)
        print(name, {lang: f"{ok[lang]}/{total[lang]}" for lang in total}, file=sys.stdout)
