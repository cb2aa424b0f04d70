"""Subtitle files from word timings, read back with a real subtitle parser (pysubs2)."""

from __future__ import annotations

from pathlib import Path

import pysubs2
import pytest

from fanren_tts import ConfigError, GenerateResult, Segment
from fanren_tts._subtitles import build_cues
from fanren_tts._timeline import estimate_words

TEXT_A = "The quick brown fox jumps over the lazy dog near the quiet river bank tonight."
TEXT_B = "今天天气很好，我们一起去公园散步。"


def result(tmp_path: Path, limits: tuple[int, float] = (42, 7.0)) -> GenerateResult:
    segments = (Segment(TEXT_A, 0.0, 6.0), Segment(TEXT_B, 6.25, 9.0))
    words = tuple(w for s in segments for w in estimate_words(s.text, s.start, s.end))
    return GenerateResult(tmp_path / "line.wav", 24000, 9.0, "piper", {}, segments, words=words, cue_limits=limits)


def test_cues_wrap_to_the_limits_and_never_cross_a_segment(tmp_path: Path) -> None:
    r = result(tmp_path, (30, 2.0))
    cues = r.cues()
    assert all(len(c.text) <= 30 and c.end - c.start <= 2.0 + 1e-9 for c in cues)
    assert not any(c.start < 6.0 < c.end for c in cues)
    assert " ".join(c.text for c in cues if c.end <= 6.0) == TEXT_A
    assert "".join(c.text for c in cues if c.start >= 6.25) == TEXT_B
    assert [c.start for c in cues] == sorted(c.start for c in cues)


@pytest.mark.parametrize("fmt", ["srt", "vtt", "ass"])
def test_every_format_parses_with_pysubs2(tmp_path: Path, fmt: str) -> None:
    r = result(tmp_path)
    (path,) = r.write_subtitles([fmt])
    subs = pysubs2.load(str(path))
    cues = r.cues()
    assert len(subs) == len(cues) >= 3
    for event, cue in zip(subs, cues, strict=True):
        assert abs(event.start / 1000 - cue.start) <= 0.011 and abs(event.end / 1000 - cue.end) <= 0.011
        assert event.plaintext.replace("\n", " ") == cue.text


def test_ass_carries_one_karaoke_tag_per_word(tmp_path: Path) -> None:
    r = result(tmp_path)
    (path,) = r.write_subtitles(["ass"])
    subs = pysubs2.load(str(path))
    tags = sum(e.text.count("\\k") for e in subs)
    assert tags >= len(r.words)
    first = subs[0]
    ks = [int(part.split("}")[0]) for part in first.text.split("{\\k")[1:]]
    assert abs(sum(ks) / 100 - (first.end - first.start) / 1000) <= 0.02 * len(ks)


def test_json_has_words_and_says_they_are_estimated(tmp_path: Path) -> None:
    import json

    (path,) = result(tmp_path).write_subtitles(["json"])
    doc = json.loads(path.read_text(encoding="utf-8"))
    letters = sum(ch.isalpha() for ch in TEXT_A)  # shared out by length: "The" gets 3 of them
    assert doc["word_timing"] == "estimated"
    assert doc["words"][0] == {"text": "The", "start": 0.0, "end": round(6.0 * 3 / letters, 3)}
    assert [w["start"] for w in doc["words"]] == sorted(w["start"] for w in doc["words"])


def test_unknown_format_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown subtitle format"):
        result(tmp_path).write_subtitles(["sub"])


def test_without_words_the_segments_are_shared_out(tmp_path: Path) -> None:
    cues = build_cues([Segment("one two three", 0.0, 1.0)], [], 42, 7.0)
    assert [(c.text, c.start, c.end) for c in cues] == [("one two three", 0.0, 1.0)] and len(cues[0].words) == 3
