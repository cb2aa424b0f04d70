"""Fan-out: a long text's segments made on several replicas at once, written in order.

Real worker processes (echo on a bare interpreter, which makes the same samples every time).
"""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import pytest

from fanren_tts import RemoteError, TTSGenerator
from fanren_tts._pool import Pool


def _frames(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        return w.readframes(w.getnframes())


LONG = " ".join(f"Sentence number {i} has {'a few ' * (i % 3)}words." for i in range(9))


def test_long_text_is_spread_over_the_pool_keeping_order_and_timings(echo_config, tmp_path: Path) -> None:
    with TTSGenerator(echo_config()) as one:
        ref = one.generate(LONG, tmp_path / "one.wav", cache=False)
    config = echo_config(echo={"replicas": 3})
    with TTSGenerator(config) as gen:
        used: set[int] = set()
        pool = gen.pool("echo")
        original = Pool.acquire

        def spy(self, timeout=None):  # records which replica made each segment
            cm = original(self, timeout)
            worker = cm.__enter__()
            used.add(self.replicas.index(worker))
            return _Exit(cm, worker)

        Pool.acquire = spy  # type: ignore[method-assign]
        try:
            got = gen.generate(LONG, tmp_path / "pool.wav", cache=False)
        finally:
            Pool.acquire = original  # type: ignore[method-assign]
        assert len(used) >= 2 and pool.size == 3
    assert len(ref.segments) == len(got.segments) == 9
    assert got.segments == ref.segments and got.words == ref.words and got.duration == ref.duration
    assert _frames(tmp_path / "pool.wav") == _frames(tmp_path / "one.wav")


class _Exit:
    def __init__(self, cm, worker) -> None:
        self.cm, self.worker = cm, worker

    def __enter__(self):
        return self.worker

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)


def test_fan_out_uses_the_cache_like_a_single_worker(echo_config, tmp_path: Path) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 2})) as gen:
        first = gen.generate(LONG, tmp_path / "a.wav")
        again = gen.generate(LONG, tmp_path / "b.wav")
    assert first.cached == 0 and again.cached == 9
    assert _frames(tmp_path / "a.wav") == _frames(tmp_path / "b.wav") and again.segments == first.segments


def test_a_failing_segment_fails_the_fanned_out_line_and_leaves_no_file(echo_config, tmp_path: Path) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 2})) as gen:
        with pytest.raises(RemoteError):  # echo's synthesize takes no option "nope": every segment fails
            gen.generate(LONG, tmp_path / "x.wav", cache=False, nope=1)
        assert not (tmp_path / "x.wav").exists()
        assert gen.generate(LONG, tmp_path / "y.wav", cache=False).segments  # the pool is fine afterwards


def test_stream_over_a_pool_comes_in_order_and_stops_when_left(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 2})) as gen:
        chunks = list(gen.stream(LONG, cache=False))
        audio = [c for c in chunks if c.audio.duration > 0]
        assert [c.segment for c in audio] == sorted(c.segment for c in audio) and audio[-1].segment == 8
        assert all(a.start < b.start for a, b in itertools.pairwise(audio))
        stream = gen.stream(LONG, cache=False)
        next(stream)
        stream.close()  # leaving early: what was queued is cancelled, what ran has finished
        pool = gen.pool("echo")
        assert not pool._busy and not pool._queue
        assert gen.call("echo", "echo", value=1)["value"] == 1
