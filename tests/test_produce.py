"""The one segment producer: with one replica or many, a segment's pieces reach a
listener as its engine makes them, and later segments follow in order.

Real worker processes: a stdlib engine whose stream waits between its two pieces until
the test has the first one (``tests/wrappers/gated_wrapper.py``).
"""

from __future__ import annotations

import itertools
import signal
import threading
from pathlib import Path

import pytest

from conftest import wait_gone
from fanren_tts import TTSGenerator
from fanren_tts._pool import Pool

GATED = Path(__file__).parent / "wrappers" / "gated_wrapper.py"
TEXT = "The first sentence is here. The second one follows. And a third to end."


@pytest.mark.parametrize("replicas", [1, 2])
def test_a_segments_first_piece_is_heard_before_its_engine_has_finished_it(
    echo_config, tmp_path: Path, replicas: int
) -> None:
    gate = tmp_path / "gate"
    with TTSGenerator(echo_config(echo={"wrapper": str(GATED), "replicas": replicas})) as gen:
        stream = gen.stream(TEXT, cache=False, gate=str(gate))
        first = next(c for c in stream if len(c.data))  # segment 0's first piece, while its engine waits
        gate.touch()
        rest = list(stream)
    assert first.segment == 0
    # with the first piece held back until the segment was done, the engine waited out its gate
    assert not Path(f"{gate}.late").exists(), "the first piece came only after the segment was finished"
    audio = [first, *(c for c in rest if len(c.data))]
    assert [c.segment for c in audio] == sorted(c.segment for c in audio) and audio[-1].segment == 2
    assert all(a.start < b.start for a, b in itertools.pairwise(audio))


def test_the_pool_says_how_many_calls_it_serves_at_once(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 3})) as gen:
        pool = gen.pool("echo")
        assert isinstance(pool, Pool) and pool.capacity == 3 == gen.capacity("echo")


def test_ctrl_c_while_a_segment_is_made_kills_its_worker_and_the_generator_goes_on(echo_config, tmp_path: Path) -> None:
    """The segment is made on a producer thread; Ctrl-C reaches the main thread, which must
    still kill that worker (as for a call interrupted on the host), not leave it busy."""
    assert threading.current_thread() is threading.main_thread()
    with TTSGenerator(echo_config()) as gen:
        gen.warm_up("echo")
        pid = gen.worker("echo").pid
        assert pid is not None
        timer = threading.Timer(0.5, signal.pthread_kill, args=(threading.main_thread().ident, signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            gen.generate("One slow sentence.", tmp_path / "slow.wav", cache=False, delay=30.0)
        timer.join(1)
        assert wait_gone(pid, 5), "the interrupted segment's worker still runs"
        assert gen.generate("And the next one.", tmp_path / "next.wav", cache=False).segments


OVERLAP = Path(__file__).parent / "wrappers" / "overlap_wrapper.py"


def _narrate(gen: TTSGenerator, text: str, out: Path) -> tuple[list, list, bytes]:
    import wave

    result = gen.generate(text, out, cache=False)
    segments = [(s.text, s.start, s.end) for s in result.segments]
    words = [(w.text, w.start, w.end) for w in result.words]
    with wave.open(str(out)) as w:
        return segments, words, w.readframes(w.getnframes())


def test_a_narration_with_calls_in_flight_is_the_sequential_one_sample_for_sample(echo_config, tmp_path: Path) -> None:
    """Issue 22: one long narration batches its own sentences (the producer sends up to
    the worker's capacity at once) and its segment order, segment and word timings and
    samples stay those of a sequential run. The engine is deterministic, so they must be
    equal, not close; and its calls really overlapped."""
    text = " ".join(f"Sentence number {i} has {'some ' * (i % 5)}words in it." for i in range(40))
    block = {"wrapper": str(OVERLAP), "options": {"meet": 1}}
    with TTSGenerator(echo_config(echo=block)) as gen:
        assert gen.capacity("echo") == 1
        alone = _narrate(gen, text, tmp_path / "alone.wav")
        assert gen.call("echo", "peak") == 1
    many = {"wrapper": str(OVERLAP), "concurrency": 4, "options": {"meet": 3}}
    with TTSGenerator(echo_config(echo=many)) as gen:
        gen.warm_up("echo")
        assert gen.capacity("echo") == 4
        together = _narrate(gen, text, tmp_path / "together.wav")
        assert gen.call("echo", "peak") >= 3  # the worker held several of the narration's calls at once
    assert len(alone[0]) == 40 and alone[1]
    assert together[0] == alone[0]  # the same segments, in the same order, at the same times
    assert together[1] == alone[1]  # the same word timings
    assert together[2] == alone[2]  # the same samples
