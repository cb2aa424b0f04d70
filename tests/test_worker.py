"""The host's worker handle against real worker processes: contract and faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import dedent, wait_gone
from fanren_tts import (
    PROTOCOL_VERSION,
    ConfigError,
    RemoteError,
    TTSGenerator,
    WorkerCrashed,
    WorkerStartupError,
    WorkerTimeout,
    WorkerUnavailable,
)
from fanren_tts._runtime.fanren_watchdog import POLL_S


def test_echo_worker_in_a_bare_venv(echo_config, bare_python: Path) -> None:
    with TTSGenerator(echo_config()) as gen:
        worker = gen.worker("echo")
        worker.start()
        hello = worker.hello
        assert hello is not None and worker.info is not None
        assert hello["protocol"] == PROTOCOL_VERSION
        assert hello["engine"] == "echo"
        assert hello["pid"] == worker.pid
        assert hello["python"] == ".".join(map(str, sys.version_info[:3]))
        assert hello["device"] == "cpu"
        # nothing but msgpack is installed there
        assert hello["packages"] == dict.fromkeys(
            ["transformers", "torch", "torchaudio", "numpy", "onnxruntime", "protobuf"]
        )
        assert Path(hello["executable"]).parent == bare_python.parent
        payload = {"text": "你好", "n": [1, 2.5, None], "raw": b"\x00\xff"}
        assert gen.call("echo", "echo", value=payload)["value"] == payload
        assert worker.ping() < 1.0
        assert "echo" in worker.info["methods"] and worker.info["speakers"] == ["sine"]


def test_prints_to_stdout_never_reach_the_protocol(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        assert gen.call("echo", "shout", text="hello") == "hello"
        assert gen.call("echo", "echo", value=1)["value"] == 1
        tail = gen.worker("echo").stderr_tail
    assert "must not corrupt the protocol" in tail  # printed at wrapper import
    assert "printed to stdout during load" in tail
    assert "garbage written straight to fd 1" in tail
    assert "C printf hello" in tail


def test_abort_mid_call_is_a_typed_crash_then_recovers(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        first = gen.call("echo", "echo")["pid"]
        with pytest.raises(WorkerCrashed) as info:
            gen.call("echo", "crash")
        assert info.value.signal == signal.SIGABRT
        assert "SIGABRT" in str(info.value)
        assert info.value.engine == "echo"
        assert wait_gone(first, 2)
        assert gen.call("echo", "echo", value="again")["value"] == "again"
        assert gen.call("echo", "echo")["pid"] != first


def test_exit_mid_call_reports_the_exit_code(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        with pytest.raises(WorkerCrashed) as info:
            gen.call("echo", "exit_now", code=9)
        assert info.value.returncode == 9 and info.value.signal is None


def test_hang_times_out_kills_the_group_and_recovers(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"timeouts": {"call": 1.0}})) as gen:
        child = gen.call("echo", "spawn_child")
        worker_pid = gen.worker("echo").pid
        t0 = time.monotonic()
        with pytest.raises(WorkerTimeout) as info:
            gen.call("echo", "hang")
        assert time.monotonic() - t0 < 4.0
        assert info.value.stage == "call" and info.value.timeout == 1.0
        assert wait_gone(worker_pid, 2) and wait_gone(child, 2), "the whole process group must die"
        assert gen.call("echo", "echo", value=3)["value"] == 3


def test_progress_frames_extend_the_call_deadline(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"timeouts": {"call": 0.8}})) as gen:
        assert gen.call("echo", "slow", steps=5, step_s=0.3) == 5  # 1.5 s in all, 0.3 s between frames


def test_progress_frames_extend_the_startup_deadline(echo_config) -> None:
    cfg = echo_config(echo={"timeouts": {"startup": 0.8}, "load_steps": 5, "step_s": 0.3})
    with TTSGenerator(cfg) as gen:
        gen.worker("echo").start()


def test_death_during_startup_is_a_startup_error_then_recovers(echo_config, tmp_path: Path) -> None:
    flag = tmp_path / "die"
    flag.touch()
    with TTSGenerator(echo_config(echo={"die_if_exists": str(flag)})) as gen:
        with pytest.raises(WorkerStartupError) as info:
            gen.call("echo", "echo")
        assert "exited with code 7 during startup" in str(info.value)
        assert "dying during startup as asked" in info.value.stderr_tail
        flag.unlink()
        assert gen.call("echo", "echo", value=1)["value"] == 1


def test_hang_during_startup_times_out(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"timeouts": {"startup": 1.0}, "hang_on_startup": True})) as gen:
        t0 = time.monotonic()
        with pytest.raises(WorkerTimeout) as info:
            gen.worker("echo").start()
        assert info.value.stage == "startup"
        assert time.monotonic() - t0 < 4.0


def test_load_error_carries_the_remote_exception(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"fail_on_load": "/models/missing.pt"})) as gen:
        with pytest.raises(RemoteError) as info:
            gen.worker("echo").start()
    err = info.value
    assert err.stage == "load" and err.remote_type == "FileNotFoundError" and err.remote_module == "builtins"
    assert "/models/missing.pt" in err.remote_message
    assert "Traceback" in err.remote_traceback and "fail_on_load" in err.remote_traceback


def test_engine_exception_keeps_the_worker(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        pid = gen.call("echo", "echo")["pid"]
        with pytest.raises(RemoteError) as info:
            gen.call("echo", "fail", message="bad speaker")
        assert info.value.remote_type == "ValueError" and info.value.stage == "call"
        assert "bad speaker" in str(info.value)
        assert "remote traceback" in "\n".join(vars(info.value)["__notes__"])
        with pytest.raises(RemoteError, match="no callable method 'nope'"):
            gen.call("echo", "nope")
        with pytest.raises(RemoteError, match="no callable method 'progress'"):
            gen.call("echo", "progress", message="x")
        assert gen.call("echo", "echo")["pid"] == pid


def test_restart_budget_stops_restart_storms(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"max_restarts": 1, "restart_window": 60})) as gen:
        for _ in range(2):
            with pytest.raises(WorkerCrashed):
                gen.call("echo", "crash")
        with pytest.raises(WorkerUnavailable, match="failed 2 times"):
            gen.call("echo", "echo")


def test_oversize_frames_fail_fast_on_both_ends(echo_config) -> None:
    cfg = echo_config(echo={"env_vars": {"FANREN_TTS_MAX_FRAME": "4096"}})
    with TTSGenerator(cfg) as gen:
        with pytest.raises(RemoteError, match="limit is 4096 bytes") as info:
            gen.call("echo", "blob", size=10_000)
        assert info.value.remote_type == "ProtocolError"
        assert len(gen.call("echo", "blob", size=1000)) == 1000  # the worker survived


def test_environment_reaches_the_worker(echo_config) -> None:
    cfg = echo_config(echo={"env_vars": {"FANREN_TEST_VALUE": "42"}})
    with TTSGenerator(cfg) as gen:
        assert gen.call("echo", "env", name="FANREN_TEST_VALUE") == "42"
        assert gen.call("echo", "env", name="PYTHONPATH").endswith("_runtime")


def test_idle_workers_are_stopped_and_restarted_on_demand(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"idle_timeout": 0.5})) as gen:
        pid = gen.call("echo", "echo")["pid"]
        assert wait_gone(pid, 5)
        # The reaper thread finishes its stop (reaping the process) asynchronously.
        deadline = time.monotonic() + 5
        while gen.worker("echo").alive and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not gen.worker("echo").alive
        assert gen.call("echo", "echo")["pid"] != pid


def test_stop_ladder_is_bounded_when_the_worker_resists(echo_config) -> None:
    cfg = echo_config(echo={"hang_on_close": True, "ignore_sigterm": True, "timeouts": {"shutdown": 0.5}})
    gen = TTSGenerator(cfg)
    pid = gen.call("echo", "echo")["pid"]
    t0 = time.monotonic()
    gen.close()
    assert time.monotonic() - t0 < 8.0
    assert wait_gone(pid, 1)


def test_close_is_idempotent_and_final(echo_config) -> None:
    gen = TTSGenerator(echo_config())
    gen.call("echo", "echo")
    gen.close()
    gen.close()
    with pytest.raises(Exception, match="closed"):
        gen.call("echo", "echo")


def test_a_killed_host_leaves_no_worker_behind(echo_config, tmp_path: Path) -> None:
    config = str(echo_config(a={}, b={}))
    script = tmp_path / "host.py"
    script.write_text(
        dedent(
            f"""
            import time
            from fanren_tts import TTSGenerator
            gen = TTSGenerator({config!r})
            gen.warm_up()
            pids = [gen.call(n, "echo")["pid"] for n in ("a", "b")]
            print(*pids, gen.call("a", "spawn_child"), flush=True)
            time.sleep(3600)
            """
        )
    )
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    try:
        line = host.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 3, line
        host.kill()
        host.wait(5)
        for pid in pids:
            assert wait_gone(pid, 5), f"process {pid} outlived its host"
    finally:
        host.kill()


def test_a_killed_host_stops_a_busy_worker(echo_config, tmp_path: Path) -> None:
    """The worker's main thread is stuck in a call; the parent watch still ends it."""
    script = tmp_path / "host.py"
    script.write_text(
        dedent(
            f"""
            import threading, time
            from fanren_tts import TTSGenerator
            gen = TTSGenerator({str(echo_config())!r})
            print(gen.call("echo", "echo")["pid"], flush=True)
            threading.Thread(target=gen.call, args=("echo", "hang"), daemon=True).start()
            time.sleep(3600)
            """
        )
    )
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    try:
        pid = int(host.stdout.readline())
        time.sleep(0.5)
        os.kill(host.pid, signal.SIGKILL)
        host.wait(5)
        assert wait_gone(pid, 5)
    finally:
        host.kill()


def test_eight_threads_share_one_generator_over_two_engines(echo_config) -> None:
    with TTSGenerator(echo_config(left={}, right={})) as gen:
        gen.warm_up()
        errors: list[str] = []

        def client(n: int) -> None:
            for i in range(25):
                engine = ("left", "right")[(n + i) % 2]
                token = f"{n}-{i}"
                reply = gen.call(engine, "echo", value=token)
                if reply["value"] != token or reply["engine"] != engine:
                    errors.append(f"{engine} {token} got {reply}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        assert all(not t.is_alive() for t in threads)


def test_workers_warm_up_in_parallel(echo_config) -> None:
    cfg = echo_config(**{n: {"load_steps": 4, "step_s": 0.25} for n in ("a", "b", "c")})
    with TTSGenerator(cfg) as gen:
        t0 = time.monotonic()
        times = gen.warm_up()
        elapsed = time.monotonic() - t0
    assert set(times) == {"a", "b", "c"}
    # each needs >= 1 s to load; one after another would take >= 3 s
    assert elapsed < sum(times.values())


@pytest.mark.skipif(not hasattr(__import__("fcntl"), "F_GETPIPE_SZ"), reason="pipe sizes are a Linux feature")
def test_protocol_pipes_are_widened_for_audio(echo_config) -> None:
    import fcntl

    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    with TTSGenerator(echo_config()) as gen:
        worker = gen.worker("echo")
        worker.start()
        assert worker._pipe is not None
        for fd in (worker._pipe.rfd, worker._pipe.wfd):
            assert fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) == min(1 << 20, limit)


def test_an_interpreter_that_cannot_run_is_a_startup_error(echo_config, tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("not a program")
    fake.chmod(0o644)
    with TTSGenerator(echo_config(echo={"python": str(fake)})) as gen:
        with pytest.raises(WorkerStartupError, match="cannot run .*python: Permission denied"):
            gen.worker("echo").start()


def test_path_options_resolve_from_the_config_folder(
    echo_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = echo_config(
        echo={"model_path": "models/voice", "aux_paths": {"codec": "~/codec"}, "mode": "models/not-a-path"}
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with TTSGenerator(cfg) as gen:
        assert gen.call("echo", "option", name="model_path") == str(cfg.parent / "models" / "voice")
        assert gen.call("echo", "option", name="aux_paths") == {"codec": str(Path.home() / "codec")}
        assert gen.call("echo", "option", name="mode") == "models/not-a-path"
        assert gen.config.engines["echo"].options["model_path"] == "models/voice"  # as written


@pytest.mark.parametrize("kind", ["unprintable", "path_bytes", "surrogate"])
def test_an_exception_that_is_hard_to_report_keeps_the_worker(echo_config, kind: str) -> None:
    with TTSGenerator(echo_config()) as gen:
        pid = gen.call("echo", "echo")["pid"]
        with pytest.raises(RemoteError) as info:
            gen.call("echo", "fail_weird", kind=kind)
        assert info.value.stage == "call" and "Traceback" in info.value.remote_traceback
        if kind == "path_bytes":
            assert "/models/caf\\xe9/voice.onnx" in info.value.remote_message
        assert gen.call("echo", "echo")["pid"] == pid


@pytest.mark.parametrize(
    "value,why",
    [(object(), "cannot send a object"), (2**70, "out of range"), ({"deep": {1, object()}}, "cannot send a object")],
)
def test_an_argument_that_cannot_be_sent_is_a_config_error_naming_it(echo_config, value: object, why: str) -> None:
    with TTSGenerator(echo_config()) as gen:
        pid = gen.call("echo", "echo")["pid"]
        with pytest.raises(ConfigError) as info:
            gen.call("echo", "echo", value=value)
        message = str(info.value)
        assert "argument 'value' of echo()" in message and why in message, message
        assert gen.call("echo", "echo", value=1) == {"value": 1, "engine": "echo", "pid": pid}


def _interrupt_main_after(delay: float) -> threading.Timer:
    """Deliver SIGINT to the main thread, as Ctrl-C does, while it waits for the worker."""
    timer = threading.Timer(delay, signal.pthread_kill, args=(threading.main_thread().ident, signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_mid_call_leaves_the_generator_usable_at_once(echo_config) -> None:
    """The interrupted call's reply must never be read as the next call's.

    Choice: the worker of an interrupted call is killed (its group too) and the next
    call starts a fresh one; waiting for the abandoned work could take minutes.
    """
    assert threading.current_thread() is threading.main_thread()
    with TTSGenerator(echo_config()) as gen:
        pid = gen.call("echo", "echo")["pid"]
        child = gen.call("echo", "spawn_child")
        timer = _interrupt_main_after(0.3)
        with pytest.raises(KeyboardInterrupt):
            gen.call("echo", "slow", steps=1, step_s=1.5)  # its reply would come 1.2 s later
        timer.join(1)
        assert wait_gone(pid, 2) and wait_gone(child, 2)
        t0 = time.monotonic()
        reply = gen.call("echo", "echo", value="after")
        assert reply["value"] == "after" and reply["pid"] != pid
        assert time.monotonic() - t0 < 1.2, "must not wait for the abandoned call"
        time.sleep(1.5)  # past the moment the abandoned reply would have arrived
        assert gen.call("echo", "echo", value="later")["value"] == "later"
        assert not gen.worker("echo")._failures, "an interrupt is not a worker failure"


def test_ctrl_c_during_startup_leaves_no_worker(echo_config) -> None:
    with TTSGenerator(echo_config(echo={"load_steps": 20, "step_s": 0.1})) as gen:
        timer = _interrupt_main_after(0.5)
        with pytest.raises(KeyboardInterrupt):
            gen.worker("echo").start()
        timer.join(1)
        assert not gen.worker("echo").alive
        assert gen.call("echo", "echo", value=1)["value"] == 1


def test_a_worker_that_died_while_idle_takes_its_children_along(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        worker = gen.worker("echo")
        child = gen.call("echo", "spawn_child")  # holds the worker's stderr pipe open
        old_stderr = worker._stderr_thread
        pid = gen.call("echo", "exit_soon", delay=0.1)
        deadline = time.monotonic() + 5
        while worker.alive and time.monotonic() < deadline:  # reapable, not merely a zombie
            time.sleep(0.02)
        assert not worker.alive
        t0 = time.monotonic()
        reply = gen.call("echo", "echo", value="restarted")
        elapsed = time.monotonic() - t0
        assert reply["value"] == "restarted" and reply["pid"] != pid
        assert wait_gone(child, 2), "the dead worker's process group must be killed"
        assert old_stderr is not None and not old_stderr.is_alive(), "its stderr reader must end"
        assert elapsed < 1.0, f"restart took {elapsed:.2f}s: it waited on the old stderr reader"


def test_a_crash_mid_call_is_reported_at_once_even_with_children_holding_stderr(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        child = gen.call("echo", "spawn_child")
        t0 = time.monotonic()
        with pytest.raises(WorkerCrashed, match="exited with code 9"):
            gen.call("echo", "exit_now", code=9)
        assert time.monotonic() - t0 < 1.0, "it waited on a stderr reader that children kept open"
        assert wait_gone(child, 2)


def test_a_killed_host_stops_a_worker_stuck_in_c_holding_the_gil(echo_config, tmp_path: Path) -> None:
    """No Python code runs in that worker: its end must not depend on its interpreter.

    A child that started its own session (out of the worker's group) goes too, and
    so does a daemon whose parent exited at once (a double fork).
    """
    script = tmp_path / "host.py"
    script.write_text(
        dedent(
            f"""
            import threading, time
            from fanren_tts import TTSGenerator
            gen = TTSGenerator({str(echo_config())!r})
            threading.Thread(target=gen.warm_up, daemon=True).start()  # started from a thread that ends
            time.sleep(1.0)
            pids = [gen.call("echo", m) for m in ("spawn_session_child", "spawn_daemon")]
            print(gen.call("echo", "echo")["pid"], *pids, flush=True)
            threading.Thread(target=gen.call, args=("echo", "spin"), daemon=True).start()
            time.sleep(3600)
            """
        )
    )
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        assert host.stdout is not None
        pids = [int(p) for p in host.stdout.readline().split()]
        assert len(pids) == 3
        time.sleep(0.5)  # the worker is in sum() now
        os.kill(host.pid, signal.SIGKILL)
        host.wait(5)
        for pid in pids:
            assert wait_gone(pid, 5), f"process {pid} outlived its killed host"
    finally:
        host.kill()
        host.wait(5)
        for pid in pids:  # never leave a spinning process behind, even when the test fails
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_what_a_dead_worker_started_goes_even_before_the_next_call(echo_config) -> None:
    """Its own session put the child out of reach of a group kill; the watchdog still knows it.

    The watchdog learns of descendants by polling, so one started less than a poll
    (0.5 s) before its worker dies on its own may escape; hence the pause.
    """
    with TTSGenerator(echo_config()) as gen:
        child = gen.call("echo", "spawn_session_child")
        daemon = gen.call("echo", "spawn_daemon")
        time.sleep(2 * POLL_S)
        gen.call("echo", "exit_soon", delay=0.1)
        assert wait_gone(child, 3) and wait_gone(daemon, 3)


def test_every_watchdog_is_reaped_with_its_worker(echo_config) -> None:
    gen = TTSGenerator(echo_config(a={}, b={}))
    gen.warm_up()
    dogs = [gen.worker(n)._watchdog for n in ("a", "b")]
    assert all(d is not None and d.poll() is None for d in dogs)
    gen.close()
    assert all(d is not None and d.returncode == 0 for d in dogs)


def test_a_killed_host_stops_a_stuck_worker_even_when_a_fork_of_the_host_lives_on(echo_config, tmp_path: Path) -> None:
    """A forked copy of the host (multiprocessing's fork) keeps the watchdog's pipe open; its
    parent check still notices the host is gone."""
    script = tmp_path / "host.py"
    script.write_text(
        dedent(
            f"""
            import os, threading, time
            from fanren_tts import TTSGenerator
            gen = TTSGenerator({str(echo_config())!r})
            worker = gen.call("echo", "echo")["pid"]
            fork = os.fork()
            if fork == 0:  # the copy: holds every inherited fd, does nothing, exits after a while
                time.sleep(20)
                os._exit(0)
            print(worker, fork, flush=True)
            threading.Thread(target=gen.call, args=("echo", "spin"), daemon=True).start()
            time.sleep(3600)
            """
        )
    )
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    pids: list[int] = []
    try:
        pids = [int(p) for p in host.stdout.readline().split()]
        assert len(pids) == 2
        time.sleep(0.5)
        os.kill(host.pid, signal.SIGKILL)
        host.wait(5)
        assert wait_gone(pids[0], 5), "the worker outlived its killed host"
    finally:
        host.kill()
        host.wait(5)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_forked_copy_of_the_host_that_exits_leaves_the_workers_alone(echo_config, tmp_path: Path) -> None:
    """The copy inherits the atexit hook; stopping the workers is the real host's business."""
    script = tmp_path / "host.py"
    script.write_text(
        dedent(
            f"""
            import os, sys
            from fanren_tts import TTSGenerator
            gen = TTSGenerator({str(echo_config())!r})
            before = gen.call("echo", "echo")["pid"]
            child = os.fork()
            if child == 0:
                sys.exit(0)  # a normal exit: atexit hooks run in the copy
            os.waitpid(child, 0)
            after = gen.call("echo", "echo")["pid"]
            print(before, after, flush=True)
            gen.close()
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    before, after = out.stdout.split()
    assert before == after, "the fork's exit stopped the host's worker"


def test_a_clean_stop_takes_descendants_outside_the_group_along(echo_config) -> None:
    gen = TTSGenerator(echo_config())
    child = gen.call("echo", "spawn_session_child")
    daemon = gen.call("echo", "spawn_daemon")
    gen.close()
    assert wait_gone(child, 3) and wait_gone(daemon, 3), "close() left a setsid'd descendant running"
