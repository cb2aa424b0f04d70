"""Protocol 4: several calls in flight on one worker, each named by its id; the batcher."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import ECHO, wait_gone
from fanren_tts import ProtocolError, RemoteError, TTSGenerator, WorkerCrashed, WorkerTimeout
from fanren_tts._runtime import fanren_calls
from fanren_tts._runtime import fanren_worker as wire


def _all_at_once(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """``fn(i)`` on ``n`` threads started together; each result or the exception it raised."""
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            out[i] = fn(i)
        except BaseException as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_capacity_is_what_the_config_asks_capped_by_the_engine(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"concurrency": 4}, plain={}, many={"concurrency": 64})) as gen:
        assert gen.pool("plain").capacity == 1
        gen.worker("echo").start()
        assert gen.worker("echo").capacity == 4
        info = gen.describe("echo")
        assert (info["capacity"], info["concurrency"], info["max_batch"]) == (4, 4, 1)
        plain = gen.describe("plain")
        assert plain["capacity"] == 1 and plain["capacity_note"]
        gen.worker("many").start()
        assert gen.worker("many").capacity == 16  # Echo declares max_concurrency = 16


def test_replies_interleave_and_each_reaches_its_caller(echo_config) -> None:
    """Eight calls in flight; the quick ones answer before the slow one that went first."""
    with TTSGenerator(echo_config(echo={"concurrency": 8})) as gen:
        worker = gen.worker("echo")
        worker.start()
        pid = worker.pid
        done: list[int] = []

        def call(i: int) -> Any:
            reply = worker.call("wait", {"seconds": 1.5 if i == 0 else 0.05 * i, "value": i})
            done.append(i)
            return reply

        replies = _all_at_once(8, call)
        assert [r["value"] for r in replies] == list(range(8))
        assert len({r["thread"] for r in replies}) > 1, "the calls ran at once"
        assert done[-1] == 0, "the slow first call answered last"
        assert worker.pid == pid


def test_one_cancel_among_many_calls(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"concurrency": 4})) as gen:
        worker = gen.worker("echo")
        worker.start()
        stopped = worker.stream("pieces", {"n": 1000})
        assert next(stopped) == 0
        others = _all_at_once(3, lambda i: list(worker.stream("pieces", {"n": 20 + i})))
        stopped.close()
        assert others == [list(range(20)), list(range(21)), list(range(22))]
        _until(lambda: worker.in_flight == 0)
        assert worker.call("echo", {"value": 1})["value"] == 1
        assert not worker._failures


def test_a_worker_killed_with_eight_calls_in_flight_fails_each_then_restarts(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"concurrency": 8, "max_restarts": 1})) as gen:
        worker = gen.worker("echo")
        child = worker.call("spawn_child")  # an orphan-to-be: it must go with the worker
        pid = worker.pid
        assert pid is not None

        def kill_when_full() -> None:
            _until(lambda: worker.in_flight == 8)
            os.kill(pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_when_full)
        killer.start()
        results = _all_at_once(8, lambda i: worker.call("wait", {"seconds": 30, "value": i}))
        killer.join(10)
        assert all(isinstance(r, WorkerCrashed) for r in results), results
        assert all(r.signal == signal.SIGKILL for r in results)
        assert len({id(r) for r in results}) == 8, "each caller has its own exception"
        assert len(worker._failures) == 1, "one death counts once against the restart budget"
        assert wait_gone(pid, 2) and wait_gone(child, 2)
        reply = worker.call("echo", {"value": "again"})
        assert reply["value"] == "again" and reply["pid"] != pid


def test_a_timeout_with_calls_in_flight_kills_once_and_fails_them_all(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"concurrency": 4, "timeouts": {"call": 1.0}})) as gen:
        worker = gen.worker("echo")
        worker.start()
        results = _all_at_once(4, lambda i: worker.call("hang") if i == 0 else worker.call("wait", {"seconds": 30}))
        assert all(isinstance(r, WorkerTimeout) for r in results), results
        assert len(worker._failures) == 1
        assert worker.call("echo", {"value": 2})["value"] == 2


def test_faults_of_one_call_leave_the_others_in_flight_alone(echo_config) -> None:
    """Stdout noise, an oversize reply and an engine error, each beside other calls."""
    cfg = echo_config(echo={"concurrency": 6, "env_vars": {"FANREN_TTS_MAX_FRAME": "4096"}})
    with TTSGenerator(cfg) as gen:
        worker = gen.worker("echo")
        worker.start()
        pid = worker.pid
        calls: list[Callable[[], Any]] = [
            lambda: worker.call("shout", {"text": "hello"}),
            lambda: worker.call("blob", {"size": 10_000}),
            lambda: worker.call("fail", {"message": "one bad call"}),
            lambda: worker.call("wait", {"seconds": 0.3, "value": "a"}),
            lambda: worker.call("wait", {"seconds": 0.2, "value": "b"}),
            lambda: worker.call("blob", {"size": 100}),
        ]
        results = _all_at_once(len(calls), lambda i: calls[i]())
        assert results[0] == "hello"
        assert isinstance(results[1], RemoteError) and "limit is 4096 bytes" in str(results[1])
        assert isinstance(results[2], RemoteError) and results[2].remote_message == "one bad call"
        assert [results[3]["value"], results[4]["value"], results[5]] == ["a", "b", b"x" * 100]
        assert worker.pid == pid and not worker._failures


def test_a_reply_for_no_call_in_flight_is_a_protocol_error_then_a_restart(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"concurrency": 2})) as gen:
        worker = gen.worker("echo")
        worker.start()
        pid = worker.pid
        with pytest.raises(ProtocolError, match="names no call in flight"):
            worker.call("forge", {"frame": {"kind": "result", "id": 999_999, "value": 1}})
        assert wait_gone(pid, 5)
        assert worker.call("echo", {"value": 3})["pid"] != pid


def _raw_worker(concurrency: int) -> tuple[subprocess.Popen[bytes], Callable[[dict], None], Callable[[], dict]]:
    env = {**os.environ, "PYTHONPATH": str(Path(wire.__file__).parent)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fanren_worker", str(ECHO), "--engine", "echo"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def send(msg: dict) -> None:
        stdin.write(wire.encode_frame(msg))
        stdin.flush()

    def receive() -> dict:
        header = stdout.read(4)
        return wire.decode_body(stdout.read(wire.decode_length(header)))

    assert receive()["kind"] == "hello"
    send({"kind": "init", "options": {}, "limits": {"concurrency": concurrency}})
    assert receive()["info"]["capacity"] == concurrency
    return proc, send, receive


@pytest.mark.parametrize("bad", ["seven", None, 0, -3, 2.5, True, [1]])
def test_a_malformed_call_id_is_refused_and_the_worker_carries_on(bad: object) -> None:
    proc, send, receive = _raw_worker(2)
    try:
        send({"kind": "call", "id": bad, "method": "echo", "kwargs": {"value": 1}})
        refused = receive()
        assert refused["kind"] == "error" and refused["stage"] == "protocol" and refused["id"] is None
        assert "id must be an integer" in refused["message"]
        send({"kind": "call", "id": 5, "method": "echo", "kwargs": {"value": 2}})
        reply = receive()
        assert (reply["kind"], reply["id"], reply["value"]["value"]) == ("result", 5, 2)
    finally:
        proc.kill()
        proc.wait(5)


def test_a_duplicate_id_and_a_call_over_capacity_are_refused() -> None:
    proc, send, receive = _raw_worker(2)
    try:
        send({"kind": "call", "id": 1, "method": "wait", "kwargs": {"seconds": 1.0, "value": 1}})
        send({"kind": "call", "id": 1, "method": "echo", "kwargs": {}})
        first = receive()
        assert first["kind"] == "error" and "already in flight" in first["message"] and first["id"] is None
        send({"kind": "call", "id": 2, "method": "wait", "kwargs": {"seconds": 1.0, "value": 2}})
        send({"kind": "call", "id": 3, "method": "echo", "kwargs": {}})
        over = receive()
        assert over["kind"] == "error" and over["id"] == 3 and "capacity of 2" in over["message"]
        assert sorted(receive()["id"] for _ in range(2)) == [1, 2]
    finally:
        proc.kill()
        proc.wait(5)


# --------------------------------------------------------------------------- batching


def test_calls_at_once_share_one_batch_and_a_bad_one_fails_alone(echo_config) -> None:
    cfg = echo_config(echo={"max_batch": 4, "batch_window_ms": 1000})
    with TTSGenerator(cfg) as gen:
        worker = gen.worker("echo")
        worker.start()
        assert worker.capacity == 4
        texts = ["one", "two words", "fail", "four"]
        results = _all_at_once(4, lambda i: worker.call("synthesize", {"text": texts[i]}))
        assert isinstance(results[2], RemoteError) and "cannot say 'fail'" in str(results[2])
        assert [r.duration for i, r in enumerate(results) if i != 2] == [0.5, 1.0, 0.5]
        assert [sorted(b) for b in worker.call("batches")] == [sorted(texts)]


def test_only_requests_whose_batch_keys_agree_share_a_batch(echo_config) -> None:
    cfg = echo_config(echo={"max_batch": 2, "batch_window_ms": 1000, "concurrency": 2})
    with TTSGenerator(cfg) as gen:
        worker = gen.worker("echo")
        worker.start()
        assert worker.capacity == 4
        freq = [440.0, 880.0, 440.0, 880.0]
        _all_at_once(4, lambda i: worker.call("synthesize", {"text": f"t{i}", "frequency": freq[i]}))
        assert sorted(sorted(b) for b in worker.call("batches")) == [["t0", "t2"], ["t1", "t3"]]


class _Recorder:
    """An engine for the executor alone: the first call holds until every call is queued."""

    batch_keys = ()

    def __init__(self) -> None:
        self.order: list[str] = []
        self.gate = threading.Event()

    def work(self, tag: str) -> str:
        if not self.order:
            self.order.append(tag)
            self.gate.wait(10)
        else:
            self.order.append(tag)
        return tag


def test_the_executor_takes_from_each_caller_in_turn() -> None:
    """A long narration (caller A, five calls) must not starve a short request (caller B)."""
    engine = _Recorder()
    limits = fanren_calls.Limits({"max_batch": 2}, batches=True, max_concurrency=1, default_max_batch=2)
    sent: list[dict] = []
    finished = threading.Semaphore(0)

    def send(frame: dict) -> None:
        sent.append(frame)
        finished.release()

    executor = fanren_calls.Executor(engine, {"work": engine.work}, limits, send, lambda c: None, lambda i: None)
    calls = [("A", "a1"), ("A", "a2"), ("A", "a3"), ("A", "a4"), ("B", "b1"), ("A", "a5")]
    for i, (caller, tag) in enumerate(calls, 1):
        executor.submit(fanren_calls.Call({"id": i, "method": "work", "kwargs": {"tag": tag}, "caller": caller}))
        if i == 1:
            _until(lambda: engine.order == ["a1"])
    engine.gate.set()
    for _ in calls:
        assert finished.acquire(timeout=10)
    assert engine.order == ["a1", "b1", "a2", "a3", "a4", "a5"]
    assert [f["kind"] for f in sent] == ["result"] * len(calls)


# --------------------------------------------------------------------------- real engines


@pytest.mark.slow
def test_piper_runs_calls_at_once_over_one_voice(default_envs, tmp_path: Path) -> None:
    """ONNX Runtime sessions are thread-safe; piper's phonemizer is serialized by a lock.
    Four lines at once on one worker come out as the same lines made one at a time."""
    from conftest import write_config

    lines = ["One sentence here.", "A second, longer sentence follows it.", "Third.", "And the fourth line."]
    one = write_config(tmp_path / "one.yaml", {"piper": {"device": "cpu"}})
    with TTSGenerator(one) as gen:
        alone = [gen.call("piper", "synthesize", text=t) for t in lines]
    many = write_config(tmp_path / "many.yaml", {"piper": {"device": "cpu", "concurrency": 4}})
    with TTSGenerator(many) as gen:
        worker = gen.worker("piper")
        worker.start()
        assert worker.capacity == 4 and gen.describe("piper")["concurrency"] == 4
        together = _all_at_once(4, lambda i: worker.call("synthesize", {"text": lines[i]}))
    for a, b in zip(alone, together, strict=True):
        assert [w["text"] for w in a["words"]] == [w["text"] for w in b["words"]]
        assert abs(a["audio"].duration - b["audio"].duration) < 0.25 * a["audio"].duration


@pytest.mark.slow
def test_piper_splits_its_threads_among_its_calls(default_envs, tmp_path: Path) -> None:
    """Several calls at once share one session without asking for more cores than the worker
    has: each call gets its share of the intra-op threads, which do not spin, and no memory
    pattern (each concurrent run's own block, kept by the arena, cost 650 MB at 4 calls).
    One call at a time keeps piper's own session, as before."""
    from conftest import write_config
    from fanren_tts._placement import cpu_cores

    two = write_config(tmp_path / "two.yaml", {"piper": {"device": "cpu", "concurrency": 2}})
    with TTSGenerator(two) as gen:
        info = gen.describe("piper")
        assert (info["capacity"], info["intra_op_threads"]) == (2, max(1, cpu_cores() // 2))
        assert info["intra_op_spinning"] is False and info["memory_pattern"] is False
    split = write_config(tmp_path / "split.yaml", {"piper": {"device": "cpu", "concurrency": 4, "threads": 8}})
    with TTSGenerator(split) as gen:
        assert gen.describe("piper")["intra_op_threads"] == 2  # the worker's 8 threads over 4 calls
    one = write_config(tmp_path / "one.yaml", {"piper": {"device": "cpu"}})
    with TTSGenerator(one) as gen:
        info = gen.describe("piper")
        assert (info["capacity"], info["intra_op_threads"]) == (1, 0)  # onnxruntime's default: every core
        assert info["intra_op_spinning"] is True and info["memory_pattern"] is True


class _Batcher:
    """An engine for the executor alone that logs each synthesize_batch call."""

    batch_keys = ("voice",)

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def synthesize(self, text: str, voice: str = "") -> str:
        self.batches.append([text])
        return text

    def synthesize_batch(self, requests: list[dict[str, Any]]) -> list[Any]:
        self.batches.append([r["text"] for r in requests])
        return [r["text"] for r in requests]


class _Idle(fanren_calls.Executor):
    """An executor whose runner threads do nothing: the test plays the runners itself."""

    def _run(self) -> None:
        return


def test_two_runners_never_split_one_batch_between_them() -> None:
    """Runner A is gathering a batch for voice v; runner B then takes the next call, of
    voice v too. B must add it to A's batch, not hold it as the first of a batch of its
    own (each would wait out the window and run half the batch alone)."""
    limits = fanren_calls.Limits(
        {"max_batch": 2, "batch_window_ms": 5000, "concurrency": 2},
        batches=True,
        max_concurrency=2,
        default_max_batch=2,
    )
    engine = _Batcher()
    executor = _Idle(engine, {"synthesize": engine.synthesize}, limits, print, print, print)

    def call(i: int, method: str, caller: str) -> fanren_calls.Call:
        return fanren_calls.Call(
            {"id": i, "method": method, "kwargs": {"text": f"t{i}", "voice": "v"}, "caller": caller}
        )

    got: dict[str, list[fanren_calls.Call]] = {}
    executor.submit(call(1, "synthesize", "a"))
    runner_a = threading.Thread(target=lambda: got.setdefault("a", executor._next()))
    runner_a.start()
    _until(lambda: not executor.waiting)  # A took it, and waits for a partner
    with executor.cond:  # queued without waking A: B comes first
        executor.waiting["b"] = collections.deque([call(2, "synthesize", "b")])
        executor.waiting["c"] = collections.deque([call(3, "other", "c")])
    got["b"] = executor._next()
    runner_a.join(10)
    assert [c.id for c in got["a"]] == [1, 2]
    assert [c.id for c in got["b"]] == [3]


def test_an_env_built_for_protocol_3_shows_as_drifted(tiny_project: Path) -> None:
    import json

    from fanren_tts import sync_env
    from fanren_tts._envs import MARKER, env_status

    sync_env(tiny_project)
    marker = tiny_project / ".venv" / MARKER
    stamp = json.loads(marker.read_text())
    assert stamp["protocol"] == wire.PROTOCOL_VERSION == 4
    marker.write_text(json.dumps({**stamp, "protocol": 3}))
    status = env_status(tiny_project)
    assert status.state == "drifted" and "built for protocol 3, this is 4" in status.detail
    assert sync_env(tiny_project).ready  # re-stamped
