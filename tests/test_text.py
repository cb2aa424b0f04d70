"""Sentence splitting for Chinese and English narration."""

from __future__ import annotations

from pathlib import Path

import pytest

from fanren_tts import ConfigError, TTSGenerator
from fanren_tts._text import clean_text, split_sentences


def test_chinese_punctuation() -> None:
    assert split_sentences("今天天气很好。我们去公园吧！你觉得呢？好的；走吧……") == [
        "今天天气很好。",
        "我们去公园吧！",
        "你觉得呢？",
        "好的；",
        "走吧……",
    ]


def test_english_punctuation_keeps_decimals_and_quotes() -> None:
    assert split_sentences('Hello there. It costs 3.14 dollars! Really? Yes; "Quoted." Next') == [
        "Hello there.",
        "It costs 3.14 dollars!",
        "Really?",
        "Yes;",
        '"Quoted."',
        "Next",
    ]


def test_mixed_and_line_breaks() -> None:
    assert split_sentences("第一句。Second one!\n第三行没有标点\n\nfourth") == [
        "第一句。",
        "Second one!",
        "第三行没有标点",
        "fourth",
    ]


def test_long_sentences_are_cut_at_commas_then_spaces_then_anywhere() -> None:
    english = "The quick brown fox jumps over the lazy dog, and then it takes a very long nap in the sun."
    parts = split_sentences(english, 30)
    assert all(len(p) <= 30 for p in parts) and " ".join(parts) == english
    assert parts[1] == "the lazy dog,"
    chinese = "一二三四五六七八九十一二三四五六七八九十，一二三四五六七八九十。"
    parts = split_sentences(chinese, 15)
    assert all(len(p) <= 15 for p in parts) and "".join(parts) == chinese


def test_punctuation_only_pieces_join_a_neighbour() -> None:
    assert split_sentences("……开始。") == ["……开始。"]
    assert split_sentences("好。……") == ["好。……"]
    assert split_sentences("") == []


@pytest.mark.parametrize("limit", [0, -5])
def test_limit_must_be_positive(limit: int) -> None:
    with pytest.raises(ValueError):
        split_sentences("x", limit)


@pytest.mark.parametrize(
    "text,clean",
    [
        ("one\r\ntwo\rthree", "one\ntwo\nthree"),
        ("tab\tseparated", "tab separated"),
        ("no\u00a0break\u3000ideographic\u2009thin", "no break ideographic thin"),
        ("line\u2028para\u2029end\x0cpage\x0bv", "line\npara\nend\npage\nv"),
        ("\ufeffbom and zero\u200bwidth and soft\u00adhyphen", "bom and zerowidth and softhyphen"),
        ("你好，世界", "你好，世界"),
        ("family \U0001f468\u200d\U0001f469\u200d\U0001f467", "family \U0001f468\u200d\U0001f469\u200d\U0001f467"),
    ],
)
def test_harmless_characters_are_normalized(text: str, clean: str) -> None:
    assert clean_text(text) == clean


@pytest.mark.parametrize(
    "text,index,codepoint",
    [
        ("hello\x00world", 5, "U+0000"),
        ("bad \ud800 surrogate", 4, "U+D800"),
        ("bell\x07", 4, "U+0007"),
        ("esc \x1b[31m red", 4, "U+001B"),
        ("c1 \x85 control", 3, "U+0085"),
        ("\r\nafter a normalized break \x00", 27, "U+0000"),
    ],
)
def test_bad_characters_are_refused_with_index_and_codepoint(text: str, index: int, codepoint: str) -> None:
    with pytest.raises(ConfigError) as info:
        clean_text(text)
    message = str(info.value)
    assert f"index {index}" in message and codepoint in message, message


def test_every_bad_character_is_counted() -> None:
    with pytest.raises(ConfigError, match=r"and 2 more"):
        clean_text("a\x00b\x01c\x02")


def test_generate_refuses_bad_text_before_starting_a_worker(echo_config, tmp_path: Path) -> None:
    with TTSGenerator(echo_config()) as gen:
        with pytest.raises(ConfigError, match="U\\+0000"):
            gen.generate("speak\x00this", tmp_path / "x.wav")
        assert not gen.worker("echo").alive
        assert not (tmp_path / "x.wav").exists()
