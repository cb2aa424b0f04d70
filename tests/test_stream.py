"""The narration timeline: output-format chunks, pauses, spans and words as pieces arrive."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from test_assemble import narrate, read, tone

from fanren_tts.audio.convert import from_array
from fanren_tts.config import OutputConfig


def test_segments_are_joined_with_pauses_and_their_spans_reported(tmp_path: Path) -> None:
    timeline = narrate(tmp_path / "a.wav", OutputConfig(sample_rate=8000), 0.25, tone(1.0, 8000), rate=8000)
    assert [(s.start, s.end) for s in timeline.segments] == [(0.0, 1.0)]
    timeline = narrate(
        tmp_path / "b.wav", OutputConfig(sample_rate=8000), 0.25, tone(1.0, 8000), tone(0.5, 8000), rate=8000
    )
    assert [(s.start, s.end) for s in timeline.segments] == [(0.0, 1.0), (1.25, 1.75)]
    data = read(tmp_path / "b.wav")
    assert len(data) == 14000 and not np.any(data[8000:10000])


def test_pieces_are_resampled_as_one_stream_without_seams() -> None:
    from fanren_tts._stream import Timeline

    rate_in, rate_out = 16000, 24000
    whole = tone(1.0, rate_in)
    timeline = Timeline(OutputConfig(sample_rate=rate_out), 0.1)
    chunks = list(timeline.open(0, "x"))
    for start in range(0, len(whole), 1234):  # odd piece sizes, as an engine would send them
        chunks += timeline.feed(from_array(whole[start : start + 1234], rate_in), None)
    chunks += timeline.close()
    joined = np.concatenate([c.data for c in chunks])
    assert abs(len(joined) - rate_out) <= 1
    t = np.arange(len(joined)) / rate_out
    expected = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    assert np.max(np.abs(joined[200:-200, 0] - expected[200:-200])) < 2e-3  # no click at piece edges
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    assert chunks[-1].words and chunks[-1].words[0].text == "x" and len(chunks[-1].data) == 0


def test_engine_words_may_start_before_their_piece_and_stay_monotonic() -> None:
    from fanren_tts._stream import Timeline

    timeline = Timeline(OutputConfig(sample_rate=8000), 0.1)
    timeline.open(0, "one two")
    timeline.feed(from_array(tone(0.5, 8000), 8000), [{"text": "one", "start": 0.0, "end": 0.4}])
    late = timeline.feed(from_array(tone(0.5, 8000), 8000), [{"text": "two", "start": -0.1, "end": 0.3}])
    timeline.close()
    assert [(w.text, round(w.start, 3), round(w.end, 3)) for w in timeline.words] == [
        ("one", 0.0, 0.4),
        ("two", 0.4, 0.8),
    ]
    assert late[0].words[0].text == "two" and timeline.word_timing == "engine"


# --------------------------------------------------------------------------- through TTSGenerator

LONG_ZH = "今天天气很好，我们一起去公园散步，看看湖边的风景。" * 8


def _gen():  # the shipped config: piper and espeak
    from fanren_tts import TTSGenerator
    from fanren_tts.config import PROJECT_ROOT

    return TTSGenerator(PROJECT_ROOT / "config.yaml")


@pytest.mark.slow
def test_chunks_arrive_before_the_synthesis_has_finished(default_envs: None) -> None:
    with _gen() as gen:
        gen.warm_up("espeak")
        t0 = time.perf_counter()
        arrivals = [(time.perf_counter() - t0, c) for c in gen.stream(LONG_ZH + "。" + LONG_ZH, "espeak", cache=False)]
    first, last = arrivals[0][0], arrivals[-1][0]
    assert len(arrivals) > 20 and first < last / 4, (first, last)
    chunks = [c for _, c in arrivals]
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    assert sorted({c.segment for c in chunks}) == list(range(16))  # every sentence, in order
    audio = chunks[0].audio
    assert audio.sample_rate == 22050 and audio.sample_format == "s16"  # the output format
    total = sum(c.duration for c in chunks)
    assert abs(chunks[-1].start + chunks[-1].duration - total) < 1e-6


@pytest.mark.slow
def test_breaking_out_cancels_and_the_worker_stays_usable(default_envs: None, tmp_path: Path) -> None:
    with _gen() as gen:
        gen.warm_up("espeak")
        pid = gen.worker("espeak").pid
        t0 = time.perf_counter()
        for chunk in gen.stream(LONG_ZH * 6, "espeak", cache=False):
            assert len(chunk.data)
            break
        assert time.perf_counter() - t0 < 5
        assert gen.worker("espeak").pid == pid and gen.worker("espeak").ping() < 1.0
        r = gen.generate("再来一句。", tmp_path / "after.wav", engine="espeak", cache=False)
        assert r.duration > 0.3 and gen.worker("espeak").pid == pid


@pytest.mark.slow
def test_generate_writes_exactly_what_the_stream_yields(default_envs: None, tmp_path: Path) -> None:
    text = "First sentence here. And a second one."
    with _gen() as gen:
        still = {"noise_scale": 0.0, "noise_w_scale": 0.0}  # piper without its noise: the same take twice
        streamed = np.concatenate([c.data for c in gen.stream(text, "piper", cache=False, **still)])
        r = gen.generate(text, tmp_path / "g.wav", engine="piper", cache=False, **still)
    written = read(tmp_path / "g.wav")
    assert len(written) == len(streamed) and np.allclose(written, streamed[:, 0], atol=1 / 32768)
    assert len(r.segments) == 2 and r.word_timing == "engine"


@pytest.mark.slow
def test_cached_segments_come_out_at_once(default_envs: None, tmp_path: Path) -> None:
    with _gen() as gen:
        gen.generate("A cached line.", tmp_path / "c.wav", engine="piper")
        gen.worker("piper").stop()
        chunks = list(gen.stream("A cached line.", "piper"))
        assert not gen.worker("piper").alive  # fully cached: no worker was started
    assert sum(len(c.data) for c in chunks) > 0 and chunks[-1].segment == 0
