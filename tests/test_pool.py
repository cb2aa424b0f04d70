"""Pools of worker replicas: real worker processes (echo on a bare interpreter, piper in its env)."""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path

import pytest

from conftest import wait_gone
from fanren_tts import TTSGenerator, WorkerCrashed, WorkerUnavailable
from fanren_tts._placement import cpu_cores


def _wait(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_warm_up_starts_every_replica_and_describe_shows_them(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 3, "device": "cpu"})) as gen:
        gen.warm_up()
        pool = gen.pool("echo")
        pids = {w.pid for w in pool.replicas}
        assert len(pids) == 3 and all(w.alive for w in pool.replicas)
        info = gen.describe("echo")
        assert info["speakers"] == ["sine"]
        assert [r["replica"] for r in info["replicas"]] == [0, 1, 2]
        assert {r["pid"] for r in info["replicas"]} == pids and all(r["device"] == "cpu" for r in info["replicas"])
        assert gen.worker("echo") is pool.replicas[0]  # the first replica, for code that wants one worker
        (piece,) = list(pool.stream("stream", {"text": "two words"}))  # a streaming call on one replica
        assert piece.duration == 1.0 and not pool._busy  # the replica is free again


def test_a_call_goes_to_an_idle_replica_while_another_is_busy(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 2})) as gen:
        gen.warm_up()
        pool = gen.pool("echo")
        busy = threading.Thread(target=gen.call, args=("echo", "slow"), kwargs={"steps": 40, "step_s": 0.05})
        busy.start()
        _wait(lambda: len(pool._busy) == 1)
        (taken,) = pool._busy
        pid = gen.call("echo", "echo", value=1)["pid"]  # answered while the slow call runs
        assert busy.is_alive() and pid != pool.replicas[taken].pid
        busy.join(10)


def test_waiting_calls_are_served_first_come_first_served(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        gen.warm_up()
        pool = gen.pool("echo")
        order: list[int] = []
        holder = threading.Thread(target=gen.call, args=("echo", "slow"), kwargs={"steps": 10, "step_s": 0.05})
        holder.start()
        _wait(lambda: len(pool._busy) == 1)
        waiters = []
        for i in range(4):
            t = threading.Thread(target=lambda i=i: order.append(gen.call("echo", "echo", value=i)["value"]))
            t.start()
            _wait(lambda i=i: len(pool._queue) == i + 1)  # in line before the next one comes
            waiters.append(t)
        for t in [holder, *waiters]:
            t.join(10)
        assert order == [0, 1, 2, 3]


def test_one_replicas_crash_fails_only_its_own_call(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 2, "max_restarts": 0})) as gen:
        gen.warm_up()
        pool = gen.pool("echo")
        result: list[int] = []
        slow = threading.Thread(target=lambda: result.append(gen.call("echo", "slow", steps=10, step_s=0.05)))
        slow.start()
        _wait(lambda: len(pool._busy) == 1)
        with pytest.raises(WorkerCrashed):
            gen.call("echo", "crash")
        slow.join(10)
        assert result == [10]  # the other replica's call was untouched
        # the crashed replica has spent its budget (max_restarts 0); the pool serves from the other
        for _ in range(3):
            assert gen.call("echo", "echo", value="x")["value"] == "x"
        crashed = [w for w in pool.replicas if not w.restartable]
        assert len(crashed) == 1 and not crashed[0].alive
        with pytest.raises(WorkerUnavailable):
            crashed[0].start()


def _spend_budget(pool) -> None:
    """Crash one replica whose budget is max_restarts 0: it may not start again."""
    with pytest.raises(WorkerCrashed):
        pool.replicas[1].call("crash")
    assert not pool.replicas[1].restartable


def test_a_spent_replica_waits_for_the_healthy_busy_one_instead_of_failing(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 2, "max_restarts": 0})) as gen:
        gen.warm_up()
        pool = gen.pool("echo")
        _spend_budget(pool)
        got: list[object] = []
        with pool.acquire() as healthy:  # the healthy replica is merely busy
            assert healthy is pool.replicas[0]
            waiter = threading.Thread(target=lambda: got.append(gen.call("echo", "echo", value="w")["value"]))
            waiter.start()
            _wait(lambda: len(pool._queue) == 1 or bool(got) or not waiter.is_alive())
            assert waiter.is_alive() and not got  # it waits its turn rather than failing
        waiter.join(10)
        assert got == ["w"]


def test_two_threads_with_one_spent_replica_never_fail(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 2, "max_restarts": 0})) as gen:
        gen.warm_up()
        pool = gen.pool("echo")
        _spend_budget(pool)
        failures: list[BaseException] = []
        done: list[int] = []

        def client() -> None:
            for _ in range(15):
                try:
                    gen.call("echo", "synthesize", text="a", delay=0.01)
                    done.append(1)
                except Exception as exc:
                    failures.append(exc)

        threads = [threading.Thread(target=client) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failures, failures[:3]
        assert len(done) == 30


def test_with_every_replica_spent_a_call_fails_at_once(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 2, "max_restarts": 0, "timeouts": {"startup": 60}})) as gen:
        gen.warm_up()
        pool = gen.pool("echo")
        _spend_budget(pool)
        with pytest.raises(WorkerCrashed):
            pool.replicas[0].call("crash")
        with pytest.raises(WorkerUnavailable, match="failed 1 times"):  # not a queue timeout after 60s
            gen.call("echo", "echo")


def test_idle_replicas_are_stopped_one_by_one(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 2})) as gen:
        gen.warm_up()
        pool = gen.pool("echo")
        first = pool.replicas[0].pid
        time.sleep(0.6)
        pool.replicas[1].call("echo")
        assert pool.stop_idle(0.5) == 1
        assert not pool.replicas[0].alive and pool.replicas[1].alive
        assert first is not None and wait_gone(first, 5)
        assert gen.call("echo", "echo", value=2)["value"] == 2  # goes to the loaded one, no restart
        assert not pool.replicas[0].alive


def test_idle_timeout_evicts_each_replica_through_the_reaper(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"replicas": 2, "idle_timeout": 0.3})) as gen:
        gen.warm_up()
        pool = gen.pool("echo")
        _wait(lambda: not any(w.alive for w in pool.replicas), timeout=10)
        assert gen.call("echo", "echo", value=3)["value"] == 3


def test_cpu_replicas_get_their_share_of_the_cores_in_their_environment(echo_config) -> None:
    share = str(max(1, cpu_cores() // 2))
    with TTSGenerator(echo_config(echo={"replicas": 2, "device": "cpu"})) as gen:
        pool = gen.pool("echo")
        for w in pool.replicas:
            assert w.call("env", {"name": "OMP_NUM_THREADS"}) == share
            assert w.call("env", {"name": "FANREN_TTS_THREADS"}) == share
    with TTSGenerator(echo_config()) as gen:  # one worker: the engine's default, nothing imposed
        assert gen.call("echo", "env", name="FANREN_TTS_THREADS") is None


def _frames(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        return w.readframes(w.getnframes())


def test_generate_many_uses_every_replica_and_writes_the_same_files(echo_config, tmp_path: Path) -> None:
    lines = [f"Line {i} of the script." for i in range(8)]
    with TTSGenerator(echo_config()) as gen:
        gen.generate_many(lines, tmp_path / "one", cache=False)
    with TTSGenerator(echo_config(echo={"replicas": 2})) as gen:
        assert gen.pool_size("echo") == 2
        batch = gen.generate_many(lines, tmp_path / "two", cache=False)
        assert batch.ok and all(w.alive for w in gen.pool("echo").replicas)
    for i in range(1, 9):
        name = f"{i:03d}.wav"
        assert _frames(tmp_path / "one" / name) == _frames(tmp_path / "two" / name)
        assert (tmp_path / "one" / f"{i:03d}.srt").read_text() == (tmp_path / "two" / f"{i:03d}.srt").read_text()


@pytest.mark.slow
def test_piper_replicas_split_onnxruntime_threads(default_envs, tmp_path: Path) -> None:
    from conftest import write_config

    cfg = write_config(tmp_path / "c.yaml", {"piper": {"replicas": 2, "device": "cpu"}})
    with TTSGenerator(cfg) as gen:
        gen.warm_up()
        threads = [w.call("describe")["intra_op_threads"] for w in gen.pool("piper").replicas]
        assert threads == [max(1, cpu_cores() // 2)] * 2
        r = gen.generate("One sentence here. And a second one there.", tmp_path / "p.wav")
        assert len(r.segments) == 2 and r.words
    one = write_config(tmp_path / "d.yaml", {"piper": {"device": "cpu"}})
    with TTSGenerator(one) as gen:
        assert gen.describe("piper")["intra_op_threads"] == 0  # onnxruntime's default: every core


TORCH_WRAPPER = """
from fanren_worker import Engine


class TorchThreads(Engine):
    def __init__(self, options, device):
        super().__init__(options, device)
        import torch

        self.torch = torch

    def threads(self):
        return self.torch.get_num_threads()
"""


@pytest.mark.slow
def test_the_worker_runtime_holds_torch_to_the_replicas_threads(torch_python: Path, tmp_path: Path) -> None:
    from conftest import write_config

    wrapper = tmp_path / "torch_threads_wrapper.py"
    wrapper.write_text(TORCH_WRAPPER)
    block = {"python": str(torch_python), "wrapper": str(wrapper), "device": "cpu", "replicas": 2, "threads": 1}
    # OMP_NUM_THREADS says 2 (the user's env_vars win there): only the runtime's hook can make torch use 1
    block["env_vars"] = {"OMP_NUM_THREADS": "2"}
    with TTSGenerator(write_config(tmp_path / "c.yaml", {"t": block})) as gen:
        pool = gen.pool("t")
        assert [w.call("threads") for w in pool.replicas] == [1, 1]
