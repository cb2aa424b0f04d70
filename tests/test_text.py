"""Sentence splitting for Chinese and English narration."""

from __future__ import annotations

import pytest

from fanren_tts._text import split_sentences


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
