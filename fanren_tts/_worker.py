"""The host's handle on one persistent worker: calls in, typed errors out, restarts as needed.

A ``Worker`` starts its engine's interpreter directly (never through ``uv run``),
checks the hello, loads the engine once (``_worker_process``), then keeps up to the
engine's *capacity* calls in flight (protocol 4; an engine that declares nothing has
capacity 1, one call at a time as before). Every wait has a deadline, per call; a
timeout kills the worker's whole process group; a crash fails every call in flight
with the exit status and the tail of its stderr, counted once against the restart
budget (``_restarts``), and the next call starts a fresh worker unless it is spent.

A call interrupted on the host (Ctrl-C, i.e. KeyboardInterrupt, or any other
exception that is not the engine's own error) kills the worker too: the abandoned
work could take as long as it takes, and the next call should not wait for it. So
the generator is usable at once; the next call pays a restart (model load), and the
interrupt does not count against the restart budget.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from ._exceptions import (
    ConfigError,
    ProtocolError,
    RemoteError,
    WorkerCrashed,
    WorkerStartupError,
    WorkerTimeout,
)
from ._restarts import RestartBudget
from ._runtime import fanren_worker as wire
from ._setups import Setup, Setups
from ._termination import describe_exit
from ._transport import Deadline, encode
from ._worker_process import Pending, Process, remote_error, timeout_error
from ._worker_spawn import spawn, worker_command, worker_environment
from .config import EngineConfig

__all__ = ["Worker", "worker_environment"]

log = logging.getLogger("fanren_tts.worker")

_LIVE: weakref.WeakSet[Worker] = weakref.WeakSet()
_TAIL_LINES = 60
#: Pieces of a stream the worker may send ahead of what its reader has taken.
STREAM_WINDOW = 8


class Worker:
    """One engine's worker process; thread-safe, up to ``capacity`` calls in flight."""

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
        self.budget = RestartBudget(self.name, config.max_restarts, config.restart_window)
        self._process: Process | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._cond = threading.Condition()
        self._in_flight = 0  # calls and streams holding a slot
        self._paused = False  # a stop is under way: no new call may take a slot
        self._start_lock = threading.Lock()
        self._setup_lock = threading.Lock()
        self._log = logging.getLogger(f"fanren_tts.worker.{self.name}")
        _LIVE.add(self)

    # ------------------------------------------------------------------ state

    @property
    def alive(self) -> bool:
        process = self._process  # read once: another thread may clear it meanwhile
        return process is not None and process.alive

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    @property
    def capacity(self) -> int:
        """Calls this worker takes at once: what its engine declared (1 until it has started)."""
        process = self._process
        return process.capacity if process is not None else 1

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._tail)

    @property
    def _failures(self) -> collections.deque[float]:
        return self.budget.failures

    @property
    def restartable(self) -> bool:
        """False while the restart budget is spent (a start would raise WorkerUnavailable)."""
        return not self.budget.spent

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.alive else "stopped"
        return f"<Worker {self.name!r} {state}, {self._in_flight}/{self.capacity} in flight>"

    # ------------------------------------------------------------------ slots

    def _take(self) -> None:
        """A slot for one call or stream; bounded by a start plus a call, the most that a call
        holding a slot may take (a stream nobody reads holds its slot until closed)."""
        limit = self.config.timeouts.startup + self.config.timeouts.call
        deadline = time.monotonic() + limit
        with self._cond:
            while self._paused or self._in_flight >= self.capacity:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkerTimeout(
                        f"engine {self.name!r}: the worker stayed taken by other calls or streams for {limit:.0f}s; "
                        "read every stream to its end or close it, or use replicas for calls at once",
                        stage="queue",
                        timeout=limit,
                        engine=self.name,
                    )
                self._cond.wait(left)
            self._in_flight += 1

    def _give(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self.last_used = time.monotonic()
            self._cond.notify_all()

    # ------------------------------------------------------------------ starting

    def start(self) -> None:
        """Start and load the engine unless it is already running."""
        self._take()
        try:
            self._started()
        finally:
            self._give()

    def _started(self) -> Process:
        """The running process, started first if needed (one thread starts; others wait)."""
        limit = self.config.timeouts.startup + self.config.timeouts.call
        if not self._start_lock.acquire(timeout=limit):
            raise WorkerTimeout(
                f"engine {self.name!r}: another thread's start of the worker took over {limit:.0f}s",
                stage="startup",
                timeout=limit,
                engine=self.name,
            )
        try:
            process = self._process
            if process is not None and process.alive:
                return process
            if process is not None:  # ended: its reader has counted it (or it ended on purpose)
                process.wait_ended()
                self._process = None
                self._done = set()
            self.budget.check(self.stderr_tail)
            try:
                process = self._spawn_and_handshake()
            except (WorkerStartupError, WorkerTimeout, ProtocolError, RemoteError):
                self.budget.record()
                raise
            self._process = process
            with self._cond:
                self._cond.notify_all()  # the capacity may be more than one now
            return process
        finally:
            self._start_lock.release()

    def _command(self) -> list[str]:
        return worker_command(self.config)

    def _spawn_and_handshake(self) -> Process:
        self._tail.clear()
        self._done = set()  # a new process: every setup (a registered voice) must be done again
        t0 = time.monotonic()
        process = spawn(self.config, self.config_file, self._log, self._tail, self.budget.record)
        self.hello, self.info, self.load_s = process.hello, process.info, process.load_s
        self.started_at = time.monotonic()
        self.last_used = self.started_at
        self._log.info(
            "ready in %.2fs (pid %d, python %s, device %s, capacity %d)",
            self.started_at - t0,
            process.pid,
            process.hello.get("python"),
            process.hello.get("device"),
            process.capacity,
        )
        return process

    # ------------------------------------------------------------------ calls

    def call(
        self, method: str, kwargs: dict[str, Any] | None = None, *, timeout: float | None = None, caller: Any = None
    ) -> Any:
        """Run ``method(**kwargs)`` in the worker, starting it first if needed. ``caller`` names
        who asks (default: this thread): a batching worker takes from each caller in turn."""
        timeout = timeout or self.config.timeouts.call
        self._take()
        try:
            process = self._started()
            self._set_up(process, method, kwargs or {}, timeout)
            return self._roundtrip(process, "call", method, {"method": method, "kwargs": kwargs or {}}, timeout, caller)
        finally:
            self._give()

    @property
    def set_up(self) -> list[str]:
        """The names of the setups (registered voices) the current process has done; none when stopped."""
        return sorted({s.name for s in self._done}) if self.alive else []

    def _set_up(self, process: Process, method: str, kwargs: dict[str, Any], timeout: float) -> None:
        """Do, in this process, each setup the call relies on that it has not done yet
        (e.g. register a named voice with ``add_speaker``); once, whatever the calls at once."""
        needed = [s for s in self.setups.needed(method, kwargs) if s not in self._done]
        if not needed:
            return
        with self._setup_lock:
            for setup in needed:
                if setup not in self._done:
                    self._log.info("%s(%s) in pid %s before %s", setup.method, setup.name, self.pid, method)
                    body = {"method": setup.method, "kwargs": dict(setup.kwargs)}
                    self._roundtrip(process, "call", setup.method, body, timeout, None)
                    self._done = self._done | {setup}  # a new set: describe_replicas reads it unlocked

    def ping(self, timeout: float = 5.0) -> float:
        """Round-trip seconds of a ping; starts the worker first if needed."""
        self._take()
        try:
            process = self._started()
            t0 = time.perf_counter()
            self._roundtrip(process, "ping", "ping", {}, timeout, None)
            return time.perf_counter() - t0
        finally:
            self._give()

    def _encode(self, msg: dict[str, Any]) -> list[bytes]:
        """The frame for ``msg``, encoded before anything is written, so a value that
        cannot be sent fails as a typed error and leaves the stream (and worker) intact."""
        try:
            return encode(msg)
        except ProtocolError as exc:  # e.g. an argument too large to send
            raise ProtocolError(str(exc), engine=self.name) from None
        except (TypeError, ValueError, OverflowError) as exc:  # msgpack's refusals
            raise ConfigError(self._unsendable(msg, exc)) from None

    def _unsendable(self, msg: dict[str, Any], exc: BaseException) -> str:
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

    def _open(
        self, process: Process, kind: str, what: str, body: dict[str, Any], timeout: float, caller: Any
    ) -> Pending:
        """Register a request and send its frame; what cannot be encoded fails before anything is sent."""
        pending = process.open(what)
        msg = {"kind": kind, "id": pending.id, **body}
        if kind == "call":
            msg["caller"] = _caller_key(caller)
            msg["window"] = STREAM_WINDOW
        try:
            parts = self._encode(msg)
        except BaseException:
            process.close_request(pending)
            raise
        with self._exchange(process, what, timeout):
            try:
                process.send(parts, time.monotonic() + timeout)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the worker is gone: its reader fails this request with how it ended
        return pending

    def _await(self, process: Process, pending: Pending, timeout: float) -> dict[str, Any]:
        """The request's next frame (progress re-arms the deadline); its error raised."""
        import queue

        with self._exchange(process, pending.what, timeout):
            deadline = time.monotonic() + timeout
            while True:
                try:
                    item = pending.frames.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise Deadline from None
                if isinstance(item, BaseException):
                    raise item
                if item["kind"] == "progress":
                    self._log.info("progress: %s", item.get("message"))
                    deadline = time.monotonic() + timeout
                    continue
                if item["kind"] == "error":
                    raise remote_error(self.name, item)
                return item

    def _roundtrip(
        self, process: Process, kind: str, what: str, body: dict[str, Any], timeout: float, caller: Any
    ) -> Any:
        pending = self._open(process, kind, what, body, timeout, caller)
        return self._await(process, pending, timeout).get("value")

    @contextlib.contextmanager
    def _exchange(self, process: Process, what: str, timeout: float) -> Iterator[None]:
        """What can go wrong while a request is in flight, onto the error tree and the worker's fate.

        A timeout: the worker goes (with every call in flight) and it counts once. A
        crash or a garbled stream: the reader has already failed every call and counted
        it. The engine's own error: the worker stays. Anything else (Ctrl-C, i.e.
        KeyboardInterrupt, SystemExit): the worker goes, not counted, and the next call
        starts a fresh one rather than wait for the abandoned work.
        """
        stage = "call" if what != "ping" else "ping"
        try:
            yield
        except Deadline:
            tail = self.stderr_tail
            if process.kill(lambda: timeout_error(self.name, f"{what} (another call timed out)", stage, timeout, tail)):
                self.budget.record()
            raise timeout_error(self.name, what, stage, timeout, self.stderr_tail) from None
        except (WorkerCrashed, WorkerTimeout, ProtocolError, RemoteError):
            raise
        except BaseException:
            self._log.warning("call interrupted; stopping the worker so the abandoned work does not hold it")
            process.kill(lambda: WorkerCrashed(f"engine {self.name!r}: stopped because a call was interrupted"))
            raise

    def stream(
        self,
        method: str,
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        caller: Any = None,
    ) -> Generator[Any, None, None]:
        """Run a streaming method (one that yields, such as ``Engine.stream``) and yield its
        pieces as they arrive; each piece re-arms the deadline.

        Stopping early (``break``, closing the iterator, dropping it, or an error in the
        loop) sends ``cancel``: the worker stops after the piece it is making, and the
        leftovers are drained within the call timeout, so the worker stays loaded and
        usable. The stream may be read from any thread, one ``next()`` at a time, and
        closed or dropped on any thread: it holds a slot from its first ``next()`` until
        it ends, however it ends. The worker sends at most ``STREAM_WINDOW`` pieces ahead
        of the reader, so a slow reader holds a bounded number in memory.
        """
        timeout = timeout or self.config.timeouts.call
        self._take()
        pending: Pending | None = None  # set once the call is on its way: only then is there one to cancel
        process: Process | None = None
        try:
            process = self._started()
            self._set_up(process, method, kwargs or {}, timeout)
            body = {"method": method, "kwargs": kwargs or {}}
            opened = self._open(process, "call", method, body, timeout, caller)
            pending = opened
            while True:
                try:
                    msg = self._await(process, opened, timeout)
                except BaseException:
                    pending = None  # an error ended the call, or _exchange has dealt with the worker
                    raise
                if msg["kind"] == "result":
                    pending = None
                    return
                yield msg.get("value")
                with self._exchange(process, method, timeout):
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        process.send(wire.frame_parts({"kind": "more", "id": opened.id, "n": 1}), _soon(timeout))
        finally:
            try:
                if pending is not None and process is not None:
                    self._cancel(process, pending, method, timeout)
            finally:
                self._give()

    def _cancel(self, process: Process, pending: Pending, method: str, timeout: float) -> None:
        """Stop streaming call ``pending`` and read up to its end, so its slot is free again."""
        try:
            with self._exchange(process, method, timeout):
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    process.send(wire.frame_parts({"kind": "cancel", "id": pending.id}), _soon(timeout))
            while self._await(process, pending, timeout)["kind"] != "result":
                pass
        except RemoteError:
            pass  # the call ended in an engine error while we were leaving: it has ended all the same
        except Exception as exc:  # the worker is already gone (see _exchange); the caller stopped listening
            self._log.warning("cancelling %s: %s", method, exc)

    # ------------------------------------------------------------------ stopping

    def stop(self, timeout: float | None = None) -> None:
        """Stop ladder: shutdown frame, then SIGTERM, then SIGKILL; each wait bounded. Calls in
        flight get up to ``timeout`` to finish; then they are ended with the worker."""
        timeout = timeout if timeout is not None else self.config.timeouts.shutdown
        deadline = time.monotonic() + timeout
        with self._cond:
            self._paused = True
            while self._in_flight and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
        try:
            process = self._process
            if process is not None:
                process.shutdown(timeout if not self._in_flight else 0.0)
                self._process = None
                self._done = set()  # what it had registered went with the process
        finally:
            with self._cond:
                self._paused = False
                self._cond.notify_all()

    def abort(self) -> bool:
        """Kill the worker now if a call is running, so that call fails at once (a batch that
        is being interrupted); an idle worker stays. Not counted against the restart budget.
        Returns whether it killed."""
        process = self._process
        if not self._in_flight or process is None or not process.alive:
            return False
        process.kill(
            lambda: WorkerCrashed(
                f"engine {self.name!r}: worker {describe_exit(-9)} (aborted)", returncode=-9, engine=self.name
            )
        )
        self._log.info("aborted")
        return True

    def stop_if_idle(self, idle_for: float) -> bool:
        """Stop when unused for ``idle_for`` seconds and not busy; True if it stopped."""
        with self._cond:
            if self._in_flight or self._paused or not self.alive:
                return False
            if time.monotonic() - self.last_used < idle_for:
                return False
            self._paused = True
        try:
            self._log.info("stopping after %.0fs idle", time.monotonic() - self.last_used)
            process = self._process
            if process is not None:
                process.shutdown(self.config.timeouts.shutdown)
                self._process = None
                self._done = set()
            return True
        finally:
            with self._cond:
                self._paused = False
                self._cond.notify_all()


def _caller_key(caller: Any) -> Any:
    """What the batcher's fairness goes by: the caller given, else this thread."""
    if caller is None:
        return threading.get_ident()
    return caller if isinstance(caller, (int, str)) else repr(caller)


def _soon(timeout: float) -> float:
    return time.monotonic() + timeout


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
