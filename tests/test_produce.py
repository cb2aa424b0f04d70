"""The one segment producer: with one replica or many, a segment's pieces reach a
listener as its engine makes them, and later segments follow in order.

Real worker processes: a stdlib engine whose stream waits between its two pieces until
the test has the first one (``tests/wrappers/gated_wrapper.py``).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

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
