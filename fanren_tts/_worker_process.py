"""One worker process, from its spawn to its end, and the one thread that reads its frames.

Protocol 4 lets several calls be in flight on one worker, so no caller may read the
worker's stdout for itself: a reader thread per process reads every frame and routes
it by id to the caller waiting for it (a ``Pending``). When the process ends, the
reader says how, once: every call still in flight gets the same typed error (each its
own instance), and the failure is counted once, whatever the number of calls. A
process killed on purpose (a timeout, Ctrl-C, ``abort``, a stop) is ended by whoever
killed it; that one says what its calls get, and whether it counts.
"""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from ._exceptions import REMOTE_TYPES, ProtocolError, RemoteError, WorkerCrashed, WorkerStartupError, WorkerTimeout
from ._runtime import fanren_worker as wire
from ._termination import KILL_WAIT, Watchdog, describe_exit, signal_group
from ._transport import Deadline, Pipe

__all__ = ["Pending", "Process", "remote_error", "timeout_error"]

#: What the calls still in flight get when a process ends: a fresh exception for each.
Failure = Callable[[], BaseException]
#: How long the reader waits for a frame: it waits for the process, whose end (EOF) wakes it.
_FOREVER = 365 * 86400.0


class Pending:
    """A request in flight (a call, or a ping): the frames the reader routed to it, in order,
    or the exception that ended its process."""

    __slots__ = ("frames", "id", "what")

    def __init__(self, req_id: int, what: str) -> None:
        self.id = req_id
        self.what = what
        self.frames: queue.SimpleQueue[dict[str, Any] | BaseException] = queue.SimpleQueue()


class Process:
    """A started worker process: its pipes, watchdog, stderr reader and frame reader."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        name: str,
        log: logging.Logger,
        tail: collections.deque[str],
        on_failure: Callable[[], None],
        python: str,
    ) -> None:
        self.proc = proc
        self.name = name
        self.log = log
        self.tail = tail
        self.on_failure = on_failure  # counts one failure against the restart budget
        self.watchdog = Watchdog.start(proc, log, python)
        self.pipe = Pipe(proc)
        self.hello: dict[str, Any] = {}
        self.info: dict[str, Any] = {}
        self.load_s: float | None = None
        self.capacity = 1
        self.pending: dict[int, Pending] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._ending: Failure | None = None  # set by whoever ends the process on purpose
        self._over = False  # the end is known: no request may be opened
        self.ended = threading.Event()  # the reader has dealt with the end, clean-up included
        self._reader: threading.Thread | None = None
        self._stderr = threading.Thread(target=self._drain_stderr, name=f"fanren-stderr-{name}", daemon=True)
        self._stderr.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and not self._over

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self.tail)

    # ------------------------------------------------------------------ startup (before the reader)

    def handshake(self, options: dict[str, Any], limits: dict[str, Any], timeout: float) -> None:
        """hello, init, ready, read on this thread; then the reader takes the stream over."""
        hello = self._expect("hello", timeout)
        if hello.get("protocol") != wire.PROTOCOL_VERSION:
            raise WorkerStartupError(
                f"engine {self.name!r}: worker speaks protocol {hello.get('protocol')}, "
                f"this host speaks {wire.PROTOCOL_VERSION}; its fanren_worker is not this host's",
                engine=self.name,
            )
        self.hello = hello
        self.pipe.send({"kind": "init", "options": options, "limits": limits}, time.monotonic() + timeout)
        ready = self._expect("ready", timeout)
        self.info = ready.get("info") or {}
        self.load_s = ready.get("load_s")
        capacity = self.info.get("capacity", 1)
        self.capacity = capacity if isinstance(capacity, int) and capacity > 0 else 1
        self._reader = threading.Thread(target=self._read, name=f"fanren-reader-{self.name}", daemon=True)
        self._reader.start()

    def _expect(self, kind: str, timeout: float) -> dict[str, Any]:
        """The next frame, which must be ``kind``; progress frames re-arm the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.pipe.receive(deadline)
            if msg is None:
                code = self.reap()
                raise WorkerStartupError(
                    f"engine {self.name!r}: worker {describe_exit(code)} during startup",
                    engine=self.name,
                    stderr_tail=self.stderr_tail,
                )
            if msg["kind"] == "progress":
                self.log.info("progress: %s", msg.get("message"))
                deadline = time.monotonic() + timeout
                continue
            if msg["kind"] == "error":
                raise remote_error(self.name, msg)
            if msg["kind"] != kind:
                raise ProtocolError(f"engine {self.name!r}: expected {kind!r}, got {msg['kind']!r}", engine=self.name)
            return msg

    # ------------------------------------------------------------------ requests

    def open(self, what: str) -> Pending:
        """A new request id, registered before its frame goes, so no reply can outrun it."""
        with self._lock:
            pending = Pending(next(self._ids), what)
            if self._over:
                pending.frames.put(self._dead_error())
            else:
                self.pending[pending.id] = pending
        return pending

    def close_request(self, pending: Pending) -> None:
        with self._lock:
            self.pending.pop(pending.id, None)

    def send(self, parts: list[bytes], deadline: float) -> None:
        """Write one encoded frame; frames from several callers never interleave. Deadline: the
        pipe stayed full (or another writer held it) too long; the stream may be mid-frame."""
        if not self._write_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise Deadline
        try:
            self.pipe.send_parts(parts, deadline)
        finally:
            self._write_lock.release()

    # ------------------------------------------------------------------ the reader

    def _read(self) -> None:
        garbled: BaseException | None = None
        try:
            while True:
                msg = self.pipe.receive(time.monotonic() + _FOREVER)
                if msg is None:
                    break
                self._route(msg)
        except (ProtocolError, OSError, ValueError) as exc:
            garbled = exc
        self._end(garbled)

    def _route(self, msg: dict[str, Any]) -> None:
        kind, req_id = msg["kind"], msg.get("id")
        if kind == "bye":
            return
        if kind == "progress" and req_id is None:
            self.log.info("progress: %s", msg.get("message"))
            return
        with self._lock:
            pending = self.pending.get(req_id) if isinstance(req_id, int) else None
            if pending is not None and kind in ("result", "error", "pong"):
                del self.pending[pending.id]
        if pending is None:
            raise ProtocolError(
                f"engine {self.name!r}: the worker sent a {kind!r} frame for id {req_id!r}, "
                "which names no call in flight",
                engine=self.name,
            )
        pending.frames.put(msg)

    def _end(self, garbled: BaseException | None) -> None:
        """The stream ended (EOF) or broke: reap, say how, fail every request in flight."""
        ending = self._ending
        if ending is None:
            if garbled is not None:
                signal_group(self.proc, signal.SIGKILL)
            code = self.reap()
            how = describe_exit(code)
            if garbled is not None:
                message = f"engine {self.name!r}: garbled protocol stream ({garbled}); the worker was killed"

                def ending() -> BaseException:
                    return ProtocolError(message, engine=self.name)
            else:
                if not self.pending:
                    self.log.warning("worker exited while idle (%s)", how)

                def ending() -> BaseException:
                    return WorkerCrashed(
                        f"engine {self.name!r}: worker {how} during a call",
                        returncode=code,
                        engine=self.name,
                        stderr_tail=self.stderr_tail,
                    )

            self.on_failure()
        else:
            self.reap()
        with self._lock:
            self._ending = ending
            self._over = True
            failed, self.pending = list(self.pending.values()), {}
        for pending in failed:
            pending.frames.put(ending())
        self._cleanup()
        self.ended.set()

    def _dead_error(self) -> BaseException:
        ending = self._ending
        if ending is not None:
            return ending()
        return WorkerCrashed(f"engine {self.name!r}: the worker has ended", engine=self.name)

    # ------------------------------------------------------------------ ending it

    def reap(self) -> int | None:
        """Wait (bounded) for the process; kill its group, whose leftovers may hold stderr open."""
        try:
            code = self.proc.wait(KILL_WAIT)
        except subprocess.TimeoutExpired:
            signal_group(self.proc, signal.SIGKILL)
            try:
                code = self.proc.wait(KILL_WAIT)
            except subprocess.TimeoutExpired:  # pragma: no cover - a process stuck in the kernel
                self.log.error("pid %d survived SIGKILL for %.0fs", self.proc.pid, KILL_WAIT)
                code = None
        signal_group(self.proc, signal.SIGKILL)
        self._stderr.join(1.0)
        return code

    def kill(self, ending: Failure) -> bool:
        """End it now: its calls in flight get ``ending()``; nothing is counted here. True for
        the one caller whose kill ended it (several calls may time out at once; one counts)."""
        with self._lock:
            first = self._ending is None and not self._over
            if first:
                self._ending = ending
        signal_group(self.proc, signal.SIGKILL)
        self.wait_ended()
        return first

    def wait_ended(self) -> None:
        """Until the reader has dealt with the end (bounded); without a reader, clean up here."""
        if self._reader is None:
            if not self.ended.is_set():
                self.reap()
                with self._lock:
                    self._over = True
                self._cleanup()
                self.ended.set()
            return
        if not self.ended.wait(2 * KILL_WAIT + 2):  # pragma: no cover - a reader stuck in the kernel
            self.log.error("the reader of pid %d did not finish", self.proc.pid)

    def shutdown(self, timeout: float) -> None:
        """The stop ladder: shutdown frame, then SIGTERM, then SIGKILL; each wait bounded."""
        proc = self.proc

        def stopped() -> BaseException:
            return WorkerCrashed(f"engine {self.name!r}: the worker was stopped", engine=self.name)

        with self._lock:
            if self._ending is None:
                self._ending = stopped
        if proc.poll() is None and not self.ended.is_set():
            try:
                deadline = time.monotonic() + timeout
                self.send(wire.frame_parts({"kind": "shutdown", "id": 0}), deadline)
                proc.wait(max(0.0, deadline - time.monotonic()))
            except (Deadline, OSError, subprocess.TimeoutExpired, ProtocolError):
                pass
        if proc.poll() is None:
            signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(min(timeout, KILL_WAIT))
            except subprocess.TimeoutExpired:
                self.log.warning("ignored SIGTERM for %.1fs; sending SIGKILL", min(timeout, KILL_WAIT))
        signal_group(proc, signal.SIGKILL)
        self.wait_ended()

    def _cleanup(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self._stderr.join(1.0)
        if self.watchdog is not None:
            self.watchdog.stop()
            self.watchdog = None

    def _drain_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            self.tail.append(line)
            self.log.info("%s", line)
        stream.close()


def remote_error(name: str, msg: dict[str, Any]) -> RemoteError:
    """The engine's error frame as our exception; a remote engine's typed errors keep their
    type on this side (REMOTE_TYPES)."""
    error_type = REMOTE_TYPES.get(msg.get("type", ""), RemoteError)
    return error_type(
        engine=name,
        stage=msg.get("stage", "call"),
        remote_type=msg.get("type", "Exception"),
        remote_module=msg.get("module", ""),
        remote_message=msg.get("message", ""),
        remote_traceback=msg.get("traceback", ""),
    )


def timeout_error(name: str, what: str, stage: str, timeout: float, tail: str) -> WorkerTimeout:
    return WorkerTimeout(
        f"engine {name!r}: no answer to {what!r} within {timeout:.0f}s; "
        "the worker was killed and will be restarted on the next call",
        stage=stage,
        timeout=timeout,
        engine=name,
        stderr_tail=tail,
    )
