"""A pool of worker replicas for one engine: the layer between one process and the generator.

One worker per engine makes every call to that engine queue behind the one before;
a pool runs ``replicas`` workers (or one per listed device, see ``_placement``) and
hands each call to an idle one. Waiting calls are served first come, first served
(a ticket queue), so a busy batch cannot starve a single ``generate``.

Each replica is a plain ``Worker`` with its own process, restart budget and idle
clock: one replica's crash fails only the call it was serving, and idle eviction
stops replicas one by one while the others stay loaded.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from ._exceptions import WorkerTimeout
from ._placement import DeviceProbe, ReplicaPlan, plan_replicas
from ._setups import Setups
from ._worker import Worker
from .config import EngineConfig

__all__ = ["Pool"]


class Pool:
    """The replicas of one engine; thread-safe. ``size == 1`` behaves as a single worker."""

    def __init__(self, config: EngineConfig, config_file: Path | None = None, probe: DeviceProbe | None = None) -> None:
        self.config = config
        self.name = config.name
        self.plans: list[ReplicaPlan] = plan_replicas(config, probe)
        #: What calls need done first in a replica's process (named voices to register), for every replica.
        self.setups = Setups()
        self.replicas: list[Worker] = [Worker(p.config, config_file, self.setups) for p in self.plans]
        self._cond = threading.Condition()
        self._busy: set[int] = set()
        self._queue: collections.deque[object] = collections.deque()

    @property
    def size(self) -> int:
        return len(self.replicas)

    @property
    def capacity(self) -> int:
        """How many calls this pool can serve at once: replicas x calls per worker (1 for now).
        The one answer to "how many in flight" that the producer, the batch and the server ask."""
        return self.size

    def __repr__(self) -> str:
        alive = sum(w.alive for w in self.replicas)
        return f"<Pool {self.name!r} {alive}/{self.size} running, {len(self._busy)} busy, {len(self._queue)} waiting>"

    # ------------------------------------------------------------------ handing out replicas

    def _pick(self) -> int | None:
        """An idle replica: a running one first (no model load), else one to start.

        None (wait) while every idle replica has spent its restart budget and a busy one
        can still serve: it will be free soon, and failing now would fail a call that a
        healthy replica can make. Only when no replica can serve is a spent one handed
        out, so that its start raises WorkerUnavailable with the reason.
        """
        idle = [i for i in range(self.size) if i not in self._busy]
        running = [i for i in idle if self.replicas[i].alive]
        if running:
            return min(running, key=lambda i: self.replicas[i].last_used)  # spread load evenly
        ready = [i for i in idle if self.replicas[i].restartable]
        if ready:
            return ready[0]
        if idle and not any(self._can_serve(i) for i in self._busy):
            return idle[0]
        return None

    def _can_serve(self, index: int) -> bool:
        worker = self.replicas[index]
        return worker.alive or worker.restartable

    def _queue_timeout(self, waiting: int) -> float:
        """How long a call may wait for a replica: every call ahead of it is bounded by
        the startup and call timeouts, shared among the replicas."""
        t = self.config.timeouts
        return t.startup + t.call * (waiting // self.size + 1)

    @contextlib.contextmanager
    def acquire(self, timeout: float | None = None) -> Iterator[Worker]:
        """An idle replica for the length of the ``with`` block; waits its turn (FIFO)."""
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            limit = timeout if timeout is not None else self._queue_timeout(len(self._queue) - 1)
            deadline = time.monotonic() + limit
            try:
                while True:
                    index = self._pick() if self._queue[0] is ticket else None
                    if index is not None:
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise WorkerTimeout(
                            f"engine {self.name!r}: no replica of {self.size} became free within {limit:.0f}s "
                            "(every one stayed busy); raise replicas or timeouts.call",
                            stage="queue",
                            timeout=limit,
                            engine=self.name,
                        )
                    self._cond.wait(left)
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the next in line may be served now
            self._busy.add(index)
        try:
            yield self.replicas[index]
        finally:
            with self._cond:
                self._busy.discard(index)
                self._cond.notify_all()

    # ------------------------------------------------------------------ calls

    def call(self, method: str, kwargs: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """``method(**kwargs)`` on an idle replica (started first if needed)."""
        with self.acquire() as worker:
            return worker.call(method, kwargs, timeout=timeout)

    def stream(
        self, method: str, kwargs: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Generator[Any, None, None]:
        """A streaming method on one replica, which stays taken until the stream ends, however it
        ends (read to the end, closed or dropped on any thread, failed); read it from any thread."""
        with self.acquire() as worker:
            yield from worker.stream(method, kwargs, timeout=timeout)

    # ------------------------------------------------------------------ lifecycle

    def start(self, count: int | None = None) -> float:
        """Start ``count`` replicas (default: all) in parallel; seconds until all were ready.

        Every replica gets its chance; the first failure (by replica index) is raised
        once all have finished.
        """
        chosen = self.replicas[: self.size if count is None else max(0, min(count, self.size))]
        errors: dict[int, BaseException] = {}

        def run(i: int, worker: Worker) -> None:
            try:
                worker.start()
            except BaseException as exc:
                errors[i] = exc

        t0 = time.perf_counter()
        threads = [
            threading.Thread(target=run, args=(i, w), name=f"fanren-start-{self.name}-{i}")
            for i, w in enumerate(chosen)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[min(errors)]
        return time.perf_counter() - t0

    def stop(self, timeout: float | None = None) -> None:
        """Stop every replica in parallel (each by the worker's bounded stop ladder)."""
        threads = [
            threading.Thread(target=w.stop, args=(timeout,), name=f"fanren-stop-{self.name}-{i}")
            for i, w in enumerate(self.replicas)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def abort(self) -> int:
        """Kill every replica that is serving a call (``Worker.abort``); how many were killed."""
        return sum(w.abort() for w in self.replicas)

    def stop_idle(self, idle_for: float) -> int:
        """Stop each replica unused for ``idle_for`` seconds; how many stopped."""
        return sum(w.stop_if_idle(idle_for) for w in self.replicas)

    def describe_replicas(self) -> list[dict[str, Any]]:
        """Every replica as ``describe()`` and ``check-envs`` show it."""
        return [
            {
                "replica": p.index,
                "device": p.device,
                "threads": p.threads,
                "running": w.alive,
                "pid": w.pid if w.alive else None,
                "load_s": w.load_s,
                "voices": w.set_up,  # registered in this replica's process (``_setups``)
            }
            for p, w in zip(self.plans, self.replicas, strict=True)
        ]
