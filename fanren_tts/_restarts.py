"""A worker's restart budget: how many failures in how long before it stops restarting.

Kept apart from the worker so the one rule (``max_restarts`` failures within
``restart_window`` seconds, then no restart until the oldest ages out) lives in one
place, and so a failure is counted once however many calls it fails: a worker that
dies with eight calls in flight is one failure, not eight.
"""

from __future__ import annotations

import collections
import threading
import time

from ._exceptions import WorkerUnavailable

__all__ = ["RestartBudget"]


class RestartBudget:
    """Failures of one worker within the restart window; thread-safe."""

    def __init__(self, name: str, max_restarts: int, window: float) -> None:
        self.name = name
        self.max_restarts = max_restarts
        self.window = window
        self.failures: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def _recent(self, now: float) -> None:
        while self.failures and now - self.failures[0] > self.window:
            self.failures.popleft()

    def record(self) -> None:
        with self._lock:
            self.failures.append(time.monotonic())

    @property
    def spent(self) -> bool:
        with self._lock:
            self._recent(time.monotonic())
            return len(self.failures) > self.max_restarts

    def check(self, stderr_tail: str = "") -> None:
        """WorkerUnavailable while the budget is spent, saying for how long."""
        with self._lock:
            now = time.monotonic()
            self._recent(now)
            if len(self.failures) <= self.max_restarts:
                return
            wait = self.window - (now - self.failures[0])
            count = len(self.failures)
        raise WorkerUnavailable(
            f"engine {self.name!r} failed {count} times in the last {self.window:.0f}s "
            f"(max_restarts={self.max_restarts}); not restarting for another {wait:.0f}s",
            engine=self.name,
            stderr_tail=stderr_tail,
        )
