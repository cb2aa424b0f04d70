"""Word units and estimated word timings."""

from __future__ import annotations

import itertools

from fanren_tts._timeline import Word, estimate_words, shift_words, split_units


def test_cjk_is_timed_per_character_and_punctuation_rides_along() -> None:
    assert split_units("今天很好，我们走。") == ["今", "天", "很", "好，", "我", "们", "走。"]
    assert split_units("Hello, big world!") == ["Hello,", "big", "world!"]
    assert split_units("用 AI 生成。OK") == ["用", "AI", "生", "成。", "OK"]
    assert split_units("……") == ["……"]


def test_estimated_words_fill_the_segment_in_order_and_by_length() -> None:
    words = estimate_words("a bbbb cc", 1.0, 2.4)
    assert [w.text for w in words] == ["a", "bbbb", "cc"]
    assert words[0].start == 1.0 and words[-1].end == 2.4
    assert all(a.end == b.start for a, b in itertools.pairwise(words))
    spans = [w.end - w.start for w in words]
    assert abs(spans[1] / spans[0] - 4) < 1e-9 and abs(spans[2] / spans[0] - 2) < 1e-9


def test_engine_words_are_shifted_clamped_and_kept_monotonic() -> None:
    raw = [
        {"text": "a", "start": 0.0, "end": 0.3},
        {"text": "b", "start": 0.2, "end": 0.9},
        {"text": " ", "start": 0, "end": 0},
    ]
    assert shift_words(raw, 10.0, 10.5) == [Word("a", 10.0, 10.3), Word("b", 10.3, 10.5)]
