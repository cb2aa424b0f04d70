"""The host's handle on one persistent worker process.

A ``Worker`` starts its engine's interpreter directly (never through ``uv run``),
checks the hello, loads the engine once, then serves calls one at a time. Every
wait has a deadline; a timeout kills the worker's whole process group; a crash
is reported with the exit status and the tail of its stderr, and the next call
starts a fresh worker unless the restart budget is spent.

A call interrupted on the host (Ctrl-C, i.e. KeyboardInterrupt, or any other
exception that is not the engine's own error) kills the worker too: its reply
may still come, and waiting for it could take as long as the abandoned work. So
the generator is usable at once; the next call pays a restart (model load), and
the interrupt does not count against the restart budget.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, NoReturn

from ._envs import env_status, require_ready
from ._exceptions import (
    REMOTE_TYPES,
    ConfigError,
    EnvNotReady,
    ProtocolError,
    RemoteError,
    WorkerCrashed,
    WorkerStartupError,
    WorkerTimeout,
    WorkerUnavailable,
)
from ._runtime import RUNTIME_DIR
from ._runtime import fanren_worker as wire
from ._setups import Setup, Setups
from ._termination import KILL_WAIT, Watchdog, describe_exit, signal_group
from ._transport import Deadline, Pipe, encode
from .config import EngineConfig

__all__ = ["Worker", "worker_environment"]

log = logging.getLogger("fanren_tts.worker")

_LIVE: weakref.WeakSet[Worker] = weakref.WeakSet()
_TAIL_LINES = 60


def worker_environment(config: EngineConfig) -> dict[str, str]:
    """The environment an engine's interpreter runs in: the host's, minus what would
    point it at another Python, plus the engine's presets and env_vars, with the
    worker runtime (and only it, before any PYTHONPATH of the engine's) importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(config.worker_env())
    extra = config.env_vars.get("PYTHONPATH")
    env["PYTHONPATH"] = str(RUNTIME_DIR) + (os.pathsep + extra if extra else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Worker:
    """One engine's worker process; thread-safe, one call in flight at a time."""

    def __init__(self, config: EngineConfig, config_file: Path | None = None, setups: Setups | None = None) -> None:
        self.config = config
        #: What some calls need done first in the process (a voice registered); a pool's replicas share it.
        self.setups = setups if setups is not None else Setups()
        self._done: set[Setup] = set()  # what the current process has done; a new process has done nothing
        #: The config file this engine comes from: error messages' fix commands name it.
        self.config_file = config_file
        self.name = config.name
        self.hello: dict[str, Any] | None = None
        self.info: dict[str, Any] | None = None
        self.load_s: float | None = None
        self.started_at: float | None = None
        self.last_used = time.monotonic()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe: Pipe | None = None
        self._stderr_thread: threading.Thread | None = None
        self._watchdog: Watchdog | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._failures: collections.deque[float] = collections.deque()
        # A plain Lock, not an RLock: a stream holds it across yields and may be resumed,
        # closed or garbage-collected on any thread, and only a Lock may be released there.
        self._lock = threading.Lock()
        self._aborted = False
        self._ids = itertools.count(1)
        self._log = logging.getLogger(f"fanren_tts.worker.{self.name}")
        _LIVE.add(self)

    # ------------------------------------------------------------------ state

    @property
    def alive(self) -> bool:
        proc = self._proc  # read once: another thread (the idle reaper) may clear it meanwhile
        return proc is not None and proc.poll() is None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._tail)

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.alive else "stopped"
        return f"<Worker {self.name!r} {state}>"

    # ------------------------------------------------------------------ starting

    def start(self) -> None:
        """Start and load the engine unless it is already running."""
        with self._held():
            self._ensure_started()

    def _take(self) -> None:
        """Take this worker for one call or stream; bounded by a start plus a call, the most
        that the one holding it may take (a stream nobody reads holds it until closed)."""
        limit = self.config.timeouts.startup + self.config.timeouts.call
        if not self._lock.acquire(timeout=limit):
            raise WorkerTimeout(
                f"engine {self.name!r}: the worker stayed taken by another call or stream for {limit:.0f}s; "
                "read every stream to its end or close it, or use replicas for calls at once",
                stage="queue",
                timeout=limit,
                engine=self.name,
            )

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        self._take()
        try:
            yield
        finally:
            self._lock.release()

    def _ensure_started(self) -> None:
        if self.alive:
            return
        if self._proc is not None:  # died while idle: count it, kill what it left, start afresh
            self._log.warning("worker exited while idle (%s)", describe_exit(self._proc.returncode))
            self._record_failure()
            # Its children may live on and hold its stderr open: kill its group first,
            # so they go too and the stderr reader sees EOF instead of timing out.
            self._discard()
        self._check_budget()
        try:
            self._spawn_and_handshake()
        except (WorkerStartupError, WorkerTimeout, ProtocolError, RemoteError):
            self._record_failure()
            raise

    def _check_budget(self) -> None:
        now = time.monotonic()
        window = self.config.restart_window
        while self._failures and now - self._failures[0] > window:
            self._failures.popleft()
        if len(self._failures) > self.config.max_restarts:
            wait = window - (now - self._failures[0])
            raise WorkerUnavailable(
                f"engine {self.name!r} failed {len(self._failures)} times in the last {window:.0f}s "
                f"(max_restarts={self.config.max_restarts}); not restarting for another {wait:.0f}s",
                engine=self.name,
                stderr_tail=self.stderr_tail,
            )

    @property
    def restartable(self) -> bool:
        """False while the restart budget is spent (a start would raise WorkerUnavailable)."""
        now = time.monotonic()
        recent = [t for t in self._failures if now - t <= self.config.restart_window]
        return len(recent) <= self.config.max_restarts

    def _record_failure(self) -> None:
        if self._aborted:  # killed on purpose (``abort``): not the engine's fault
            self._aborted = False
            return
        self._failures.append(time.monotonic())

    def _command(self) -> list[str]:
        cfg = self.config
        return [
            str(cfg.interpreter),
            "-u",
            "-m",
            "fanren_worker",
            str(cfg.wrapper_path),
            "--engine",
            self.name,
            "--device",
            cfg.device,
            "--host-pid",
            str(os.getpid()),
        ]

    def _spawn_and_handshake(self) -> None:
        cfg = self.config
        interpreter = cfg.interpreter
        if not interpreter.exists():
            if cfg.env_dir is not None:
                require_ready(cfg.env_dir, self.name, self.config_file)  # says how to build it
            raise EnvNotReady(
                f"engine {self.name!r}: interpreter {interpreter} does not exist"
                + (
                    f". Build its env with: {env_status(cfg.env_dir, self.name, self.config_file).fix}"
                    if cfg.env_dir
                    else ""
                )
            )
        if not cfg.wrapper_path.is_file():
            raise WorkerStartupError(
                f"engine {self.name!r}: wrapper script not found: {cfg.wrapper_path}", engine=self.name
            )
        self._tail.clear()
        self._done = set()  # a new process: every setup (a registered voice) must be done again
        t0 = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=worker_environment(self.config),
                start_new_session=True,  # its own process group, so a kill takes its children too
            )
        except OSError as exc:
            raise WorkerStartupError(
                f"engine {self.name!r}: cannot run {interpreter}: {exc.strerror or exc}", engine=self.name
            ) from None
        self._watchdog = Watchdog.start(self._proc, self._log, sys.executable or str(self.config.interpreter))
        self._pipe = Pipe(self._proc)
        self._stderr_thread = threading.Thread(
            target=self._drain_stderr, args=(self._proc.stderr,), name=f"fanren-stderr-{self.name}", daemon=True
        )
        self._stderr_thread.start()
        self._log.debug("started pid %d: %s", self._proc.pid, " ".join(self._command()))
        timeout = cfg.timeouts.startup
        try:
            hello = self._expect("hello", timeout, stage="startup")
            if hello.get("protocol") != wire.PROTOCOL_VERSION:
                raise WorkerStartupError(
                    f"engine {self.name!r}: worker speaks protocol {hello.get('protocol')}, "
                    f"this host speaks {wire.PROTOCOL_VERSION}; its fanren_worker is not this host's",
                    engine=self.name,
                )
            self.hello = hello
            self._pipe.send({"kind": "init", "options": cfg.resolved_options()}, time.monotonic() + timeout)
            ready = self._expect("ready", timeout, stage="startup")
        except Deadline:
            self._discard()
            raise WorkerTimeout(
                f"engine {self.name!r} was not ready within {timeout:.0f}s (startup timeout)",
                stage="startup",
                timeout=timeout,
                engine=self.name,
                stderr_tail=self.stderr_tail,
            ) from None
        except BaseException:
            self._discard()
            raise
        self.info = ready.get("info") or {}
        self.load_s = ready.get("load_s")
        self.started_at = time.monotonic()
        self.last_used = self.started_at
        self._log.info(
            "ready in %.2fs (pid %d, python %s, device %s)",
            self.started_at - t0,
            self._proc.pid,
            hello.get("python"),
            hello.get("device"),
        )

    def _expect(self, kind: str | tuple[str, ...], timeout: float, *, stage: str, req_id: Any = None) -> dict:
        """Wait for a frame of ``kind`` (or one of several); progress frames re-arm the deadline."""
        assert self._pipe is not None
        deadline = time.monotonic() + timeout
        while True:
            msg = self._pipe.receive(deadline)
            if msg is None:
                self._raise_dead(stage)
            got = msg["kind"]
            if got == "progress":
                self._log.info("progress: %s", msg.get("message"))
                deadline = time.monotonic() + timeout
                continue
            if got == "error":
                self._raise_remote(msg)
            wanted = (kind,) if isinstance(kind, str) else kind
            if got not in wanted or (req_id is not None and msg.get("id") != req_id):
                raise ProtocolError(
                    f"engine {self.name!r}: expected {kind!r} (id {req_id}), got {got!r} (id {msg.get('id')})",
                    engine=self.name,
                )
            return msg

    def _raise_remote(self, msg: dict) -> NoReturn:
        # a remote engine's typed errors keep their type on this side (REMOTE_TYPES)
        error_type = REMOTE_TYPES.get(msg.get("type", ""), RemoteError)
        error = error_type(
            engine=self.name,
            stage=msg.get("stage", "call"),
            remote_type=msg.get("type", "Exception"),
            remote_module=msg.get("module", ""),
            remote_message=msg.get("message", ""),
            remote_traceback=msg.get("traceback", ""),
        )
        if error.stage == "load":
            self._discard()
        raise error

    def _raise_dead(self, stage: str) -> NoReturn:
        """EOF on stdout: the worker is gone. Reap it and say how it ended."""
        assert self._proc is not None
        try:
            code = self._proc.wait(KILL_WAIT)
        except subprocess.TimeoutExpired:
            self._kill()
            code = self._proc.returncode
        signal_group(self._proc, signal.SIGKILL)  # what it left behind holds its stderr open
        self._join_stderr()
        how = describe_exit(code)
        if stage == "startup":
            raise WorkerStartupError(
                f"engine {self.name!r}: worker {how} during startup", engine=self.name, stderr_tail=self.stderr_tail
            )
        raise WorkerCrashed(
            f"engine {self.name!r}: worker {how} during a {stage}",
            returncode=code,
            engine=self.name,
            stderr_tail=self.stderr_tail,
        )

    def _drain_stderr(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            self._tail.append(line)
            self._log.info("%s", line)
        stream.close()

    def _join_stderr(self) -> None:
        if self._stderr_thread is not None:
            self._stderr_thread.join(1.0)

    # ------------------------------------------------------------------ calls

    def call(self, method: str, kwargs: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Run ``method(**kwargs)`` in the worker, starting it first if needed."""
        timeout = timeout or self.config.timeouts.call
        with self._held():
            self._ensure_started()
            try:
                self._set_up(method, kwargs or {}, timeout)
                return self._roundtrip({"kind": "call", "method": method, "kwargs": kwargs or {}}, "result", timeout)
            finally:
                self.last_used = time.monotonic()

    @property
    def set_up(self) -> list[str]:
        """The names of the setups (registered voices) the current process has done; none when stopped."""
        return sorted({s.name for s in self._done})

    def _set_up(self, method: str, kwargs: dict[str, Any], timeout: float) -> None:
        """Do, in this process, each setup the call relies on that it has not done yet
        (e.g. register a named voice with ``add_speaker``); the caller holds the worker."""
        for setup in self.setups.needed(method, kwargs):
            if setup not in self._done:
                self._log.info("%s(%s) in pid %s before %s", setup.method, setup.name, self.pid, method)
                self._roundtrip(
                    {"kind": "call", "method": setup.method, "kwargs": dict(setup.kwargs)}, "result", timeout
                )
                self._done = self._done | {setup}  # a new set: describe_replicas reads it unlocked

    def ping(self, timeout: float = 5.0) -> float:
        """Round-trip seconds of a ping; starts the worker first if needed."""
        with self._held():
            self._ensure_started()
            t0 = time.perf_counter()
            self._roundtrip({"kind": "ping"}, "pong", timeout)
            return time.perf_counter() - t0

    def _encode(self, msg: dict) -> list[bytes]:
        """The frame for ``msg``, encoded before anything is written, so a value that
        cannot be sent fails as a typed error and leaves the stream (and worker) intact."""
        try:
            return encode(msg)
        except ProtocolError as exc:  # e.g. an argument too large to send
            raise ProtocolError(str(exc), engine=self.name) from None
        except (TypeError, ValueError, OverflowError) as exc:  # msgpack's refusals
            raise ConfigError(self._unsendable(msg, exc)) from None

    def _unsendable(self, msg: dict, exc: BaseException) -> str:
        method = msg.get("method", msg["kind"])
        for key, value in (msg.get("kwargs") or {}).items():
            try:
                wire.pack(value)
            except (TypeError, ValueError, OverflowError) as err:
                return (
                    f"engine {self.name!r}: argument {key!r} of {method}() cannot be sent to the worker "
                    f"({type(err).__name__}: {err}); send str, int (64-bit), float, bool, None, bytes, "
                    "lists, dicts, paths or fanren_worker.Audio"
                )
        return f"engine {self.name!r}: the {method!r} request cannot be encoded ({type(exc).__name__}: {exc})"

    @contextlib.contextmanager
    def _exchange(self, what: str, stage: str, timeout: float) -> Iterator[None]:
        """What can go wrong while frames are in flight, onto the error tree and the worker's fate.

        A timeout, a dead pipe, a crash or a garbled frame: the worker goes and the
        failure counts against the restart budget. The engine's own error: the stream
        is in step and the worker stays. Anything else (Ctrl-C, i.e. KeyboardInterrupt,
        SystemExit): a reply may still be on its way and must never be read as the
        next call's; waiting for it could take as long as the abandoned work, so the
        worker goes (not counted as a failure) and the next call starts a fresh one.
        """
        try:
            yield
        except Deadline:
            self._record_failure()
            self._discard()
            raise WorkerTimeout(
                f"engine {self.name!r}: no answer to {what!r} within {timeout:.0f}s; "
                "the worker was killed and will be restarted on the next call",
                stage=stage,
                timeout=timeout,
                engine=self.name,
                stderr_tail=self.stderr_tail,
            ) from None
        except (BrokenPipeError, ConnectionResetError):
            self._record_failure()
            try:
                self._raise_dead(stage)
            finally:
                self._discard()
        except (WorkerCrashed, ProtocolError):
            self._record_failure()
            self._discard()
            raise
        except RemoteError:
            raise
        except BaseException:
            self._log.warning("call interrupted; stopping the worker so its late reply cannot answer the next call")
            self._discard()
            raise

    def _roundtrip(self, msg: dict, reply: str, timeout: float) -> Any:
        assert self._pipe is not None
        req_id = next(self._ids)
        msg["id"] = req_id
        stage = "call" if msg["kind"] == "call" else msg["kind"]
        parts = self._encode(msg)
        with self._exchange(msg.get("method", msg["kind"]), stage, timeout):
            self._pipe.send_parts(parts, time.monotonic() + timeout)
            answer = self._expect(reply, timeout, stage=stage, req_id=req_id)
        return answer.get("value")

    def stream(
        self, method: str, kwargs: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Generator[Any, None, None]:
        """Run a streaming method (one that yields, such as ``Engine.stream``) and yield its
        pieces as they arrive; each piece re-arms the deadline.

        Stopping early (``break``, closing the iterator, dropping it, or an error in the
        loop) sends ``cancel``: the worker stops after the piece it is making, and the
        leftovers are drained within the call timeout, so the worker stays loaded and
        usable. The stream may be read from any thread, one ``next()`` at a time (as
        Starlette's ``iterate_in_threadpool`` does), and closed or dropped on any thread:
        it holds this worker from its first ``next()`` until it ends, however it ends.
        """
        timeout = timeout or self.config.timeouts.call
        self._take()
        req_id: int | None = None  # set once the call is on its way: only then is there one to cancel
        try:
            self._ensure_started()
            self._set_up(method, kwargs or {}, timeout)
            assert self._pipe is not None
            call_id = next(self._ids)
            parts = self._encode({"kind": "call", "id": call_id, "method": method, "kwargs": kwargs or {}})
            with self._exchange(method, "call", timeout):
                self._pipe.send_parts(parts, time.monotonic() + timeout)
            req_id = call_id
            while True:
                try:
                    with self._exchange(method, "call", timeout):
                        msg = self._expect(("chunk", "result"), timeout, stage="call", req_id=req_id)
                except BaseException:
                    req_id = None  # an error frame ended the call, or _exchange has dealt with the worker
                    raise
                if msg["kind"] == "result":
                    req_id = None
                    return
                yield msg.get("value")
        finally:
            try:
                self.last_used = time.monotonic()
                if req_id is not None and self._pipe is not None:
                    self._cancel(req_id, method, timeout)
            finally:
                self._lock.release()

    def _cancel(self, req_id: int, method: str, timeout: float) -> None:
        """Stop streaming call ``req_id`` and read up to its end, so the stream is in step again."""
        assert self._pipe is not None
        try:
            with self._exchange(method, "call", timeout):
                self._pipe.send({"kind": "cancel", "id": req_id}, time.monotonic() + timeout)
                while self._expect(("chunk", "result"), timeout, stage="call", req_id=req_id)["kind"] != "result":
                    pass
        except RemoteError:
            pass  # the call ended in an engine error while we were leaving: it has ended all the same
        except Exception as exc:  # the worker is already gone (see _exchange); the caller stopped listening
            self._log.warning("cancelling %s: %s", method, exc)

    # ------------------------------------------------------------------ stopping

    def stop(self, timeout: float | None = None) -> None:
        """Stop ladder: shutdown frame, then SIGTERM, then SIGKILL; each wait bounded."""
        timeout = timeout if timeout is not None else self.config.timeouts.shutdown
        if self._lock.acquire(timeout=timeout):
            try:
                self._stop_process(graceful=True, timeout=timeout)
            finally:
                self._lock.release()
        else:  # a call is stuck: do not wait for it
            self._stop_process(graceful=False, timeout=timeout)

    def abort(self) -> bool:
        """Kill the worker now if a call is running, so that call fails at once (a batch that
        is being interrupted); an idle worker stays. Not counted against the restart budget.
        Returns whether it killed."""
        if self._lock.acquire(blocking=False):
            self._lock.release()
            return False
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return False
        self._aborted = True
        signal_group(proc, signal.SIGKILL)  # the calling thread sees EOF, reaps it and raises
        return True

    def stop_if_idle(self, idle_for: float) -> bool:
        """Stop when unused for ``idle_for`` seconds and not busy; True if it stopped."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self.alive and time.monotonic() - self.last_used >= idle_for:
                self._log.info("stopping after %.0fs idle", time.monotonic() - self.last_used)
                self._stop_process(graceful=True, timeout=self.config.timeouts.shutdown)
                return True
            return False
        finally:
            self._lock.release()

    def _stop_process(self, *, graceful: bool, timeout: float | None = None) -> None:
        proc = self._proc
        if proc is None:
            return
        timeout = timeout if timeout is not None else self.config.timeouts.shutdown
        if proc.poll() is None and graceful and self._pipe is not None:
            try:
                deadline = time.monotonic() + timeout
                self._pipe.send({"kind": "shutdown", "id": 0}, deadline)
                proc.wait(max(0.0, deadline - time.monotonic()))
            except (Deadline, OSError, subprocess.TimeoutExpired, ProtocolError):
                pass
        if proc.poll() is None:
            signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(min(timeout, KILL_WAIT))
            except subprocess.TimeoutExpired:
                self._log.warning("ignored SIGTERM for %.1fs; sending SIGKILL", min(timeout, KILL_WAIT))
        self._discard()

    def _discard(self) -> None:
        """Kill the group, reap, close the pipes: the worker is gone for good."""
        self._kill()
        self._cleanup()

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        signal_group(proc, signal.SIGKILL)
        try:
            proc.wait(KILL_WAIT)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process stuck in the kernel
            self._log.error("pid %d survived SIGKILL for %.0fs", proc.pid, KILL_WAIT)
        self._join_stderr()

    def _cleanup(self) -> None:
        proc = self._proc
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
        self._join_stderr()
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
        self._proc = None
        self._pipe = None
        self._done = set()  # what it had registered went with the process


def _forget_inherited_workers() -> None:
    """In a forked copy of the host (multiprocessing's fork): the workers are the real
    host's, so the copy's atexit must not stop them."""
    _LIVE.clear()


os.register_at_fork(after_in_child=_forget_inherited_workers)


@atexit.register
def _stop_all() -> None:
    for worker in list(_LIVE):
        try:
            worker.stop(timeout=2.0)
        except Exception:  # pragma: no cover - best effort at interpreter exit
            pass
