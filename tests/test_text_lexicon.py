"""The pronunciation lexicon (``tts.text.lexicon``): words an engine misreads, replaced.

espeak reads 单田芳 (the storyteller Shan Tianfang) with 单's common reading dān,
and "Nguyen" as "noo-yen"; the lexicon makes both say what is meant.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fanren_tts import ConfigError, TTSGenerator
from fanren_tts.config import PROJECT_ROOT, venv_dir, venv_python
from fanren_tts.text import FrontEnd, load_lexicon

LEXICON = {
    "zh": {"单田芳": "善田芳"},
    "en": {"Nguyen": "Win", r"/\bGIF(s?)\b/": r"jif\1"},
    "*": {"fanren": "fan ren"},
    "engines": {"espeak": {"en": {"Nguyen": "Wen"}}},
}


def _lexicon(tmp_path: Path, doc: object = LEXICON) -> Path:
    path = tmp_path / "lexicon.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_words_regexes_languages_and_engines(tmp_path: Path) -> None:
    front = FrontEnd(load_lexicon(_lexicon(tmp_path)))
    assert front.speak("Mr. Nguyen sent 2 GIFs and a GIF.").spoken == "Mister Win sent two jifs and a jif."
    assert front.speak("Mr. Nguyen left.", engine="espeak").spoken == "Mister Wen left."  # the engine's entry wins
    assert front.speak("Nguyenville stays.").spoken == "Nguyenville stays."  # whole words only
    assert front.speak("单田芳说了3句。").spoken == "善田芳说了三句。"
    assert front.speak("fanren and 凡人").spoken == "fan ren and 凡人"
    assert front.speak("Mr. Nguyen left.", normalize=False).spoken == "Mr. Win left."  # the lexicon always applies


def test_original_words_survive_a_replacement(tmp_path: Path) -> None:
    from fanren_tts.text import original_words

    said = FrontEnd(load_lexicon(_lexicon(tmp_path))).speak("Ask Nguyen now")
    words = [{"text": w, "start": float(i), "end": i + 0.5} for i, w in enumerate(said.spoken.split())]
    assert [w["text"] for w in original_words(words, said)] == ["Ask", "Nguyen", "now"]


@pytest.mark.parametrize(
    "doc,message",
    [
        ({"en": {"/(unclosed/": "x"}}, "not a valid regular expression"),
        ({"en": ["Nguyen", "Win"]}, "expected a mapping"),
        ({"en": {"Nguyen": None}}, "the replacement must be text"),
        ({"engines": ["espeak"]}, "engines: expected a mapping"),
    ],
)
def test_a_bad_lexicon_names_the_file_and_entry(tmp_path: Path, doc: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_lexicon(_lexicon(tmp_path, doc))


def test_a_missing_lexicon_fails_when_the_generator_is_made(echo_config, tmp_path: Path) -> None:
    path = echo_config()
    doc = yaml.safe_load(path.read_text())
    doc["tts"]["text"] = {"lexicon": "missing.yaml"}
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="tts.text.lexicon: cannot read"):
        TTSGenerator(path)


ESPEAK = venv_python(venv_dir(PROJECT_ROOT / "envs" / "espeak"))


@pytest.mark.skipif(not ESPEAK.is_file(), reason="the espeak env is not built (python scripts/quickstart.py)")
def test_espeak_says_the_lexicons_reading_of_a_name_it_misreads(tmp_path: Path) -> None:
    """What the generator gives espeak sounds like the intended reading (espeak's own phonemes);
    the name as written does not. (espeak's audio differs run to run, so phonemes are compared.)"""
    from test_text_cases import _phonemes

    _lexicon(tmp_path, {"zh": {"单田芳": "善田芳"}, "en": {"Nguyen": "Win"}})
    doc = {"tts": {"engine": "espeak", "espeak": {}, "text": {"lexicon": "lexicon.yaml"}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with TTSGenerator(tmp_path / "config.yaml") as gen:
        zh, en = gen.normalize("单田芳说书"), gen.normalize("Ask Nguyen")
    written, given, meant, en_written, en_given, en_meant = _phonemes(
        [
            ("cmn", "单田芳说书"),
            ("cmn", zh),
            ("cmn", "善田芳说书"),
            ("en-us", "Ask Nguyen"),
            ("en-us", en),
            ("en-us", "Ask Win"),
        ]
    )
    assert given == meant != written
    assert en_given == en_meant != en_written
