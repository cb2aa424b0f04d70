"""Subtitle files from word timings, read back with real subtitle parsers (pysubs2, webvtt-py).

The cues follow broadcast guidance: two lines of 42 (Latin) or 16 (Chinese,
Japanese) characters, breaks between words, no cue shorter than 5/6 s or read
faster than the configured characters a second where the timing allows it.
"""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

import pysubs2
import pytest
import webvtt

with warnings.catch_warnings():  # jieba 0.42's regexes have escapes newer Pythons warn about
    warnings.simplefilter("ignore", DeprecationWarning)
    import jieba

from fanren_tts import ConfigError, GenerateResult, Segment
from fanren_tts._subtitles import DEFAULT_RULES, Cue, CueRules, build_cues, cue_issues
from fanren_tts._timeline import estimate_words, split_units
from fanren_tts._wordbreak import allowed_breaks

TEXT_A = "The quick brown fox jumps over the lazy dog near the quiet river bank tonight."
TEXT_B = "今天天气很好，我们一起去公园散步。"
# 全 is the 42nd character: a cut at 42 characters falls inside 全长
ZH_LONG = "在过去十年里，这座城市修建了许多新的道路和桥梁，其中最重要的是连接东西两岸的大桥，全长约十二公里，于二零二三年正式通车。"
EN_LONG = "Did Dr. Smith pay $3.50 for the 12 apples at 5 p.m. on Jan. 3, or was it more than that?"
JA = "東京タワーは一九五八年に完成した高さ三百三十三メートルの電波塔で、今でも多くの観光客が訪れます。"


def timed(*texts: str, cps: tuple[float, float] = (15.0, 4.5), pause: float = 0.25) -> list[Segment]:
    """Segments at a speaking rate like a TTS engine's: 15 characters a second (Latin), 4.5 (CJK)."""
    out, t = [], 0.0
    for text in texts:
        rate = cps[1] if any("\u4e00" <= ch <= "\u9fff" for ch in text) else cps[0]
        out.append(Segment(text, t, t + len(text) / rate))
        t = out[-1].end + pause
    return out


def result(
    tmp_path: Path, segments: list[Segment], rules: CueRules | tuple[int, float] = DEFAULT_RULES
) -> GenerateResult:
    words = tuple(w for s in segments for w in estimate_words(s.text, s.start, s.end))
    end = segments[-1].end
    return GenerateResult(
        tmp_path / "line.wav", 24000, end, "piper", {}, tuple(segments), words=words, cue_limits=rules
    )


def flat(cue: Cue) -> str:
    """A cue's text on one line: CJK lines join directly, Latin lines with a space."""
    lines = cue.text.split("\n")
    out = lines[0]
    for line in lines[1:]:
        out += line if "\u3000" <= out[-1] or "\u3000" <= line[0] else " " + line
    return out


def test_cues_wrap_to_the_limits_and_never_cross_a_segment(tmp_path: Path) -> None:
    r = result(tmp_path, [Segment(TEXT_A, 0.0, 6.0), Segment(TEXT_B, 6.25, 9.0)], (30, 2.0))
    cues = r.cues()
    assert all(max(map(len, c.text.split("\n"))) <= 30 and c.end - c.start <= 2.0 + 1e-9 for c in cues)
    assert not any(c.start < 6.0 < c.end for c in cues)
    assert " ".join(flat(c) for c in cues if c.end <= 6.0) == TEXT_A
    assert "".join(flat(c) for c in cues if c.start >= 6.0) == TEXT_B
    assert [c.start for c in cues] == sorted(c.start for c in cues)
    assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(cues))


def test_a_chinese_cue_never_splits_a_word(tmp_path: Path) -> None:
    cues = result(tmp_path, timed(ZH_LONG, cps=(15.0, 7.0))).cues()  # 42 characters in 6 s: cut by length
    assert len(cues) >= 2
    words = jieba.lcut(ZH_LONG)
    bounds = {sum(len(w) for w in words[:i]) for i in range(len(words) + 1)}
    pos = 0
    for cue in cues:
        for line in cue.text.split("\n"):
            assert pos in bounds, f"a break inside a word before {line!r}"
            pos += len(line)
    assert pos == len(ZH_LONG)
    assert not any(line.endswith("全") for c in cues for line in c.text.split("\n"))  # the defect: 全|长
    # nor before a particle that leans on the word before it (a line starting 的大桥)
    units = list("连接东西两岸的大桥")
    assert "的" in jieba.lcut("".join(units))
    assert allowed_breaks(units) == [False, True, False, True, False, False, True, False]


def test_chinese_and_japanese_cues_hold_two_lines_of_16_characters(tmp_path: Path) -> None:
    for text in (ZH_LONG, JA):
        cues = result(tmp_path, timed(text, cps=(15.0, 4.5))).cues()
        assert all(len(c.text.split("\n")) <= 2 for c in cues)
        assert all(len(line) <= 16 for c in cues for line in c.text.split("\n")), [c.text for c in cues]
        assert "".join(c.text.replace("\n", "") for c in cues) == text
    narrow = result(tmp_path, timed(ZH_LONG), CueRules(max_chars_cjk=10, max_lines=1)).cues()
    assert all("\n" not in c.text and len(c.text) <= 10 for c in narrow)


def test_cues_break_after_a_comma_where_the_limits_allow(tmp_path: Path) -> None:
    text = "全长一百二十公里的高速公路今天正式通车，沿线设有十二个服务区和三个观景台。"
    cues = result(tmp_path, timed(text)).cues()
    assert len(cues) == 2 and cues[0].text.endswith("通车，"), [c.text for c in cues]


def test_latin_cues_hold_two_balanced_lines_of_42_characters(tmp_path: Path) -> None:
    cues = result(tmp_path, timed(EN_LONG, TEXT_A)).cues()
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines)
        if len(lines) == 2:
            assert abs(len(lines[0]) - len(lines[1])) <= 12, lines  # balanced, not one full and one stub
    assert " ".join(flat(c) for c in cues) == f"{EN_LONG} {TEXT_A}"


def test_no_cue_is_shorter_than_the_minimum_when_the_sentence_allows(tmp_path: Path) -> None:
    # 44 characters in 2.5 s: cut at 42 characters, the last word would be a cue of a fifth of a second
    short_tail = "Everyone in the room was quietly waiting now."
    segments = [Segment(short_tail, 0.0, 2.5), Segment("Yes.", 2.75, 3.15), Segment(TEXT_A, 3.65, 9.0)]
    cues = build_cues(segments, [w for s in segments for w in estimate_words(s.text, s.start, s.end)], (42, 7.0))
    assert all(c.end - c.start >= 5 / 6 - 1e-6 for c in cues), [(c.text, round(c.end - c.start, 2)) for c in cues]
    yes = next(c for c in cues if c.text == "Yes.")
    assert yes.start >= 2.5 and yes.end <= 3.65  # lengthened into the pauses around it, not over a neighbour
    assert not cue_issues(cues)


def test_a_leading_symbol_stays_with_the_word_after_it(tmp_path: Path) -> None:
    text = "It will cost $3.50 (plus tax) or ¥25, he said: “cheap”."
    cues = result(tmp_path, [Segment(text, 0.0, 4.0)]).cues()
    assert flat(cues[0]) == text  # not "cost$ 3.50" or "said: “ cheap”."
    assert split_units("花了¥25。他说：“你好”") == ["花", "了", "¥25。", "他", "说：", "“你", "好”"]


def test_reading_speed_is_checked_and_fixed_from_the_pauses(tmp_path: Path) -> None:
    fast = "This sentence is spoken far too quickly to read."  # 48 characters in 2 s: 24 a second
    segments = [Segment(fast, 0.0, 2.0), Segment(TEXT_B, 4.0, 8.0)]
    cues = build_cues(segments, [], CueRules())
    first = cues[0]
    assert first.cps <= 17.0 + 1e-6 and first.end <= 4.0  # extended into the pause after it
    squeezed = build_cues([Segment(fast, 0.0, 2.0), Segment(TEXT_B, 2.1, 6.0)], [], CueRules())
    issues = cue_issues(squeezed)
    assert len(issues) == 1 and "characters/s" in issues[0] and "cue 1" in issues[0]


@pytest.mark.parametrize("fmt", ["srt", "vtt", "ass"])
def test_every_format_parses_with_pysubs2(tmp_path: Path, fmt: str) -> None:
    r = result(tmp_path, timed(EN_LONG, ZH_LONG, TEXT_B))
    (path,) = r.write_subtitles([fmt])
    subs = pysubs2.load(str(path))
    cues = r.cues()
    assert len(subs) == len(cues) >= 4
    for event, cue in zip(subs, cues, strict=True):
        assert abs(event.start / 1000 - cue.start) <= 0.011 and abs(event.end / 1000 - cue.end) <= 0.011
        assert event.plaintext == cue.text


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_srt_and_vtt_parse_with_webvtt_py(tmp_path: Path, fmt: str) -> None:
    r = result(tmp_path, timed(EN_LONG, ZH_LONG, JA))
    (path,) = r.write_subtitles([fmt])
    captions = (webvtt.from_srt(str(path)) if fmt == "srt" else webvtt.read(str(path))).captions
    cues = r.cues()
    assert len(captions) == len(cues)
    for caption, cue in zip(captions, cues, strict=True):
        assert caption.lines == cue.text.split("\n")
        assert abs(caption.start_in_seconds + caption.start_time.milliseconds / 1000 - cue.start) <= 0.011
        assert abs(caption.end_in_seconds + caption.end_time.milliseconds / 1000 - cue.end) <= 0.011


def test_ass_carries_one_karaoke_tag_per_word_and_its_line_breaks(tmp_path: Path) -> None:
    r = result(tmp_path, [Segment(TEXT_A, 0.0, 6.0), Segment(TEXT_B, 6.25, 9.0)])
    (path,) = r.write_subtitles(["ass"])
    subs = pysubs2.load(str(path))
    tags = sum(e.text.count("\\k") for e in subs)
    assert tags >= len(r.words)
    first = subs[0]
    ks = [int(part.split("}")[0]) for part in first.text.split("{\\k")[1:]]
    assert abs(sum(ks) / 100 - (first.end - first.start) / 1000) <= 0.02 * len(ks)
    assert "\\N" in first.text and first.plaintext == r.cues()[0].text


def test_json_has_words_and_says_they_are_estimated(tmp_path: Path) -> None:
    (path,) = result(tmp_path, [Segment(TEXT_A, 0.0, 6.0)]).write_subtitles(["json"])
    doc = json.loads(path.read_text(encoding="utf-8"))
    letters = sum(ch.isalpha() for ch in TEXT_A)  # shared out by length: "The" gets 3 of them
    assert doc["word_timing"] == "estimated"
    assert doc["words"][0] == {"text": "The", "start": 0.0, "end": round(6.0 * 3 / letters, 3)}
    assert [w["start"] for w in doc["words"]] == sorted(w["start"] for w in doc["words"])


def test_unknown_format_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown subtitle format"):
        result(tmp_path, [Segment(TEXT_A, 0.0, 6.0)]).write_subtitles(["sub"])


def test_without_words_the_segments_are_shared_out() -> None:
    cues = build_cues([Segment("one two three", 0.0, 1.0)], [], 42, 7.0)
    assert [(c.text, c.start, c.end) for c in cues] == [("one two three", 0.0, 1.0)] and len(cues[0].words) == 3
