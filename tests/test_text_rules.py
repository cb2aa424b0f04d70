"""The one-pass rewriter's span map, and word timings mapped back through it."""

from __future__ import annotations

import pytest

from fanren_tts.text import FrontEnd, Rule, Rules, WordMap


def test_spans_pair_every_rewrite_with_its_original() -> None:
    r = Rules([Rule(r"\d+", lambda m: "#" * int(m.group(0)))]).apply("a 3 b 10 c")
    assert r.spoken == "a ### b ########## c"
    assert [(r.original[o0:o1], r.spoken[s0:s1]) for o0, o1, s0, s1 in r.spans] == [("3", "###"), ("10", "#" * 10)]
    assert r.original_span(2, 5) == (2, 3)  # the whole rewrite
    assert r.original_span(3, 4) == (2, 3)  # a piece of it
    assert r.original_span(6, 7) == (4, 5)  # plain text after a longer rewrite
    assert r.original_span(19, 20) == (9, 10)


def test_earlier_rules_win_and_outputs_are_never_rewritten_again() -> None:
    rules = Rules([Rule(r"ab", lambda m: "1"), Rule(r"a|\d", lambda m: "x")])
    assert rules.apply("ab a 2").spoken == "1 x x"


def test_words_of_a_streamed_segment_map_back_across_pieces() -> None:
    said = FrontEnd().speak("Pay $3.50 now.")
    assert said.spoken == "Pay three dollars and fifty cents now."
    words = [{"text": w, "start": float(i), "end": i + 0.5} for i, w in enumerate(said.spoken.rstrip(".").split())]
    mapper = WordMap(said)
    first, second = mapper.map(words[:3]), mapper.map(words[3:])
    assert [(w["text"], w["start"], w["end"]) for w in first] == [("Pay", 0.0, 0.5), ("$3.50", 1.0, 2.5)]
    assert [w["text"] for w in second] == ["now"]  # "and fifty cents" belongs to "$3.50", already out


def test_chinese_characters_map_to_the_number_they_read() -> None:
    said = FrontEnd().speak("花了¥25。")
    words = [{"text": ch, "start": float(i), "end": i + 1.0} for i, ch in enumerate(said.spoken.rstrip("。"))]
    assert [(w["text"], w["start"], w["end"]) for w in WordMap(said).map(words)] == [
        ("花", 0.0, 1.0),
        ("了", 1.0, 2.0),
        ("¥25", 2.0, 6.0),
    ]


@pytest.mark.parametrize(
    "text,spoken",
    [
        ("卖出手机1000台", "卖出手机一千台"),  # a count after 手机, not a phone number
        ("拨打110报警", "拨打一一零报警"),
        ("He paid $5 to 李明.", "He paid five dollars to 李明."),  # English around a Chinese name
        ("Call 3:2 a draw.", "Call three:two a draw."),  # not a time: minutes have two digits
    ],
)
def test_context_decides_the_reading(text: str, spoken: str) -> None:
    assert FrontEnd().speak(text).spoken == spoken
