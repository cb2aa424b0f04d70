"""How an engine replica's chunks travel to the ingress (``fanren_tts.rayserve.messages``),
without a cluster: the replica's ``speak`` and the ingress's ``ServeGenerator.stream`` run
here against stand-ins for the worker and for Serve's response generator.

Why these matter: one Serve message per chunk cost a warm short line tens of milliseconds
(espeak makes 56 chunks for it), and waiting for Serve's end-of-stream after the last
chunk cost another message. The tests count messages and check order and content; none
measures a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("ray.serve", reason="needs ray[serve] (the [ray] extra)")
pytest.importorskip("fastapi")

from conftest import write_config
from fanren_tts.config import load_config
from fanren_tts.rayserve.app import EngineReplica
from fanren_tts.rayserve.messages import END, Outbox, coalesce
from fanren_tts.rayserve.remote import ServeGenerator


class Piece:
    """A chunk stand-in: ``coalesce`` reads only ``duration``."""

    def __init__(self, i: int, duration: float) -> None:
        self.i, self.duration = i, duration

    def __repr__(self) -> str:
        return f"Piece({self.i})"


def _collect(items: list[Any], gap: float, hold: float) -> list[Any]:
    """Run ``coalesce`` over ``items`` put by a thread ``gap`` seconds apart, then END."""

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        out = Outbox(loop)

        def produce() -> None:
            for item in items:
                out.put(item)
                time.sleep(gap)
            out.put(END)

        work = loop.run_in_executor(None, produce)
        messages = [m async for m in coalesce(out, hold)]
        await work
        return messages

    return asyncio.run(main())


def _flat(messages: list[Any]) -> list[Any]:
    return [c for m in messages for c in (m["last"] if isinstance(m, dict) else m)]


def test_a_fast_engine_s_chunks_travel_in_two_messages_the_last_marked() -> None:
    pieces = [Piece(i, 1.0) for i in range(30)]  # each a second of audio: the listener has plenty
    messages = _collect(pieces, gap=0.001, hold=30.0)
    assert len(messages) == 2, messages
    assert isinstance(messages[0], list) and messages[0][0] is pieces[0]  # the first leaves at once
    assert set(messages[1]) == {"last"}
    assert _flat(messages) == pieces


def test_chunks_are_not_held_when_the_listener_has_no_audio_buffered() -> None:
    """An engine slower than real time (pieces of no audio here): each leaves as it comes."""
    pieces = [Piece(i, 0.0) for i in range(5)]
    messages = _collect(pieces, gap=0.05, hold=30.0)
    assert _flat(messages) == pieces
    assert all(len(m["last"] if isinstance(m, dict) else m) <= 1 for m in messages), messages
    assert isinstance(messages[-1], dict) and "last" in messages[-1]


def test_an_engine_error_comes_last_after_the_chunks_made_before_it() -> None:
    pieces = [Piece(0, 1.0), Piece(1, 1.0)]
    error = {"error": {"type": "EngineError", "message": "no"}}
    messages = _collect([*pieces, error], gap=0.001, hold=30.0)
    assert messages[-1] == error
    assert [c for m in messages[:-1] for c in m] == pieces


class _FakeGen:
    """What ``EngineReplica`` uses of its ``TTSGenerator``: ``stream`` and the call timeout."""

    def __init__(self, n: int, gap: float) -> None:
        self.n, self.gap = n, gap
        self.config = SimpleNamespace(get=lambda name: SimpleNamespace(timeouts=SimpleNamespace(call=30.0)))

    def stream(self, text: str, engine: str, **options: Any) -> Iterator[Piece]:
        for i in range(self.n):
            time.sleep(self.gap)
            yield Piece(i, 1.0)


def test_the_replica_sends_a_fast_line_in_two_messages_not_one_per_chunk() -> None:
    replica = object.__new__(EngineReplica)  # no worker: the generator is a stand-in
    replica.engine = "fake"
    replica.gen = _FakeGen(40, 0.001)  # type: ignore[assignment]
    replica.threads = concurrent.futures.ThreadPoolExecutor(2)
    replica.warm = set()
    replica.hold = 30.0

    async def main() -> list[Any]:
        return [m async for m in replica.speak("a line", {}, None)]

    try:
        messages = asyncio.run(main())
    finally:
        replica.threads.shutdown()
        del replica.gen  # its __del__ closes a real generator only
    assert len(messages) == 2, [len(m) for m in messages]
    assert [c.i for c in _flat(messages)] == list(range(40))


class _Replies:
    """Serve's response generator, stand-in: the messages, then an end-of-stream that comes
    only once ``release`` is set (a reader that waits for it before answering would hang)."""

    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages
        self.release = threading.Event()
        self.drained = threading.Event()
        self.cancelled = False

    def __iter__(self) -> Iterator[Any]:
        yield from self.messages
        assert self.release.wait(30), "nobody released the end-of-stream"
        self.drained.set()

    def cancel(self) -> None:
        self.cancelled = True


class _Handle:
    def __init__(self, replies: _Replies) -> None:
        self.replies = replies
        self.speak = SimpleNamespace(remote=lambda *args: replies)

    def options(self, **kwargs: Any) -> _Handle:
        return self


def test_the_ingress_answers_at_the_last_message_and_drains_the_end_on_the_side(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "config.yaml", {"espeak": {}}, voices={"dir": str(tmp_path / "v")}))
    replies = _Replies([[1], {"last": [2, 3]}])
    tts = ServeGenerator(config, {"espeak": _Handle(replies)})
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.extend(tts.stream("a line", "espeak")), daemon=True)
    reader.start()
    reader.join(10)
    alive = reader.is_alive()
    replies.release.set()
    assert not alive, "the ingress waited for Serve's end-of-stream before answering"
    assert got == [1, 2, 3]
    assert replies.drained.wait(20), "the reply was not read to its end"
    assert not replies.cancelled


def test_chunks_put_while_a_message_is_held_open_do_not_wake_the_loop() -> None:
    """Only the end wakes a consumer that holds a message open; each chunk used to (one
    event-loop wake-up per chunk, on the same cores as the engine)."""

    async def main() -> tuple[int, list[Any]]:
        loop = asyncio.get_running_loop()
        out = Outbox(loop)
        wakes = [0]
        real = loop.call_soon_threadsafe

        def counted(*args: Any, **kwargs: Any) -> Any:
            wakes[0] += 1
            return real(*args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign, assignment]

        def produce() -> None:
            for i in range(20):
                out.put(Piece(i, 1.0))
            out.put(END)

        waiting = asyncio.ensure_future(out.wait(30.0, any_item=False))
        await asyncio.sleep(0)  # the consumer is waiting before anything is put
        await loop.run_in_executor(None, produce)
        await asyncio.wait_for(waiting, 10)
        return wakes[0], out.take()

    wakes, items = asyncio.run(main())
    assert items[-1] is END and len(items) == 21
    assert wakes <= 2, f"{wakes} wake-ups for 20 chunks and an end"  # the end's, and the executor's own
