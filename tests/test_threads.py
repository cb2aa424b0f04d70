"""Streams read from many threads: one ``next()`` per thread, as Starlette's
``iterate_in_threadpool`` does with a sync generator, and streams that end early on a
thread other than the one that opened them (closed, dropped, failed).

Every case checks that the engine serves the next call from yet another thread, and
that the worker stayed loaded (its pid is unchanged): a stream must release its worker
however it ends. A blocked call is detected by a bounded join, never by sleeping.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from fanren_tts import RemoteError, TTSGenerator

T = TypeVar("T")
BLOCKED = 60.0  # far beyond any of these calls; reaching it means the worker was never released


_parked = threading.Event()


@pytest.fixture(autouse=True)
def _release_parked_threads() -> Iterator[None]:
    _parked.clear()
    yield
    _parked.set()


def on_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a fresh thread (as a thread pool hands out work); its result or its error.

    The thread then stays parked until the test ends, so no later thread can reuse its
    id: each call really runs on a thread of its own, as lock ownership sees it."""
    box: dict[str, Any] = {}
    work: list[Any] = [fn, args]
    finished = threading.Event()

    def run() -> None:
        call, call_args = work
        work.clear()  # a parked thread must not keep the stream alive
        try:
            box["value"] = call(*call_args)
        except BaseException as exc:  # handed back to the test's thread
            box["error"] = exc
        del call, call_args
        finished.set()
        _parked.wait(BLOCKED)

    threading.Thread(target=run, daemon=True).start()  # daemon: a blocked call cannot hang the run
    if not finished.wait(BLOCKED):
        pytest.fail(f"{getattr(fn, '__name__', fn)} blocked for {BLOCKED:.0f}s: the worker was never released")
    if "error" in box:
        raise box["error"]
    return box["value"]


def read_threaded(it: Iterator[T]) -> list[T]:
    """Every item of ``it``, each ``next()`` on a new thread, as ``iterate_in_threadpool`` does."""
    out: list[T] = []
    while True:
        try:
            out.append(on_thread(next, it))
        except StopIteration:
            return out


def still_serves(gen: TTSGenerator, pid: int | None) -> None:
    """The engine answers a call from another thread, on the same (still loaded) worker."""
    reply = on_thread(lambda: gen.call("echo", "echo", value="after"))
    assert reply["value"] == "after"
    assert pid is None or reply["pid"] == pid


def test_a_generator_stream_read_one_next_per_thread(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        chunks = read_threaded(gen.stream("one two three", "echo", cache=False))
        assert chunks and sum(len(c.data) for c in chunks) > 0
        still_serves(gen, gen.worker("echo").pid)
        again = read_threaded(gen.stream("one two three", "echo", cache=False))
        assert sum(len(c.data) for c in again) == sum(len(c.data) for c in chunks)


def test_a_worker_stream_read_one_next_per_thread(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        worker = gen.worker("echo")
        assert read_threaded(worker.stream("pieces", {"n": 4})) == [0, 1, 2, 3]
        assert read_threaded(gen.pool("echo").stream("pieces", {"n": 2})) == [0, 1]
        still_serves(gen, worker.pid)


@pytest.mark.parametrize("how", ["close", "drop"])
def test_a_stream_ended_early_on_another_thread_frees_the_worker(echo_config, how: str) -> None:
    with TTSGenerator(echo_config()) as gen:
        gen.warm_up()
        pid = gen.worker("echo").pid
        box = {"it": gen.pool("echo").stream("pieces", {"n": 50})}
        assert on_thread(next, box["it"]) == 0
        if how == "close":
            on_thread(box["it"].close)
        else:  # abandoned mid-stream: the last reference goes on another thread

            def drop() -> None:
                box.pop("it")
                gc.collect()

            on_thread(drop)
        still_serves(gen, pid)
        assert read_threaded(gen.pool("echo").stream("pieces", {"n": 3})) == [0, 1, 2]  # in step again


def test_a_stream_that_fails_mid_way_frees_the_worker(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        gen.warm_up()
        pid = gen.worker("echo").pid
        it = gen.pool("echo").stream("pieces", {"n": 5, "fail_at": 2})
        with pytest.raises(RemoteError, match="failed at piece 2"):
            read_threaded(it)
        still_serves(gen, pid)


def test_a_loop_that_raises_mid_stream_frees_the_worker(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        gen.warm_up()
        pid = gen.worker("echo").pid

        def consume() -> str:
            it = gen.pool("echo").stream("pieces", {"n": 50})
            on_thread(next, it)  # the first piece read on another thread
            try:
                for _ in it:
                    raise KeyError("the consumer gave up")
            except KeyError:
                return "gave up"  # the stream goes with this frame
            return "read it all"

        assert on_thread(consume) == "gave up"
        still_serves(gen, pid)


def test_a_call_behind_a_stream_nobody_reads_fails_typed_instead_of_blocking(echo_config) -> None:
    from fanren_tts import WorkerTimeout

    with TTSGenerator(echo_config(echo={"timeouts": {"startup": 5, "call": 1}})) as gen:
        worker = gen.worker("echo")
        it = worker.stream("pieces", {"n": 50})
        assert next(it) == 0  # open, holding the worker, and no longer read
        with pytest.raises(WorkerTimeout) as info:
            on_thread(lambda: worker.call("echo", {"value": 1}))  # bypasses the pool's queue
        assert info.value.stage == "queue" and "close it" in str(info.value)
        it.close()
        assert worker.call("echo", {"value": 2})["value"] == 2
