"""Per-engine admission for the server: a bounded queue that knows its position and ETA.

Each engine runs as many requests at once as its pool takes calls (``slots``: replicas x
each worker's capacity, protocol 4) and keeps at most ``queue_size`` more waiting; one
more is refused at once with ``QueueFull`` and a ``retry_after``. Every waiting request
can ask for its position and ETA. The ETA comes from an exponential moving average of
the engine's seconds per input character (``tts.server.eta``: alpha, min_samples, a
prior until then), measured on requests that ran beside others, and is the time the
request would end if every request took that long: each one ahead starts on the first
slot to free, and so does this one.

``slots`` may be a function: a worker's capacity is known only once it has started (its
engine declares it), so the server asks the pool each time rather than once at start.

It sits above the generator and only counts characters and seconds, so it keeps
working whatever the generator does underneath (pools, replicas).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import heapq
import itertools
import time
from collections.abc import Callable

from .._exceptions import QueueFull, QueueTimeout
from .config import EtaConfig

__all__ = ["EngineQueue", "SecondsPerChar", "Ticket"]


class SecondsPerChar:
    """Exponential moving average of seconds per input character."""

    def __init__(self, config: EtaConfig) -> None:
        self.config = config
        self.value = config.prior_seconds_per_char
        self.samples = 0

    def observe(self, seconds: float, chars: int) -> None:
        if chars <= 0 or seconds < 0:
            return
        sample = seconds / chars
        self.samples += 1
        if self.samples == 1:
            self._ema = sample
        else:
            self._ema = self.config.alpha * sample + (1 - self.config.alpha) * self._ema
        if self.samples >= self.config.min_samples:
            self.value = self._ema

    @property
    def measured(self) -> bool:
        return self.samples >= self.config.min_samples


@dataclasses.dataclass(eq=False)
class Ticket:
    """One request's place: ``chars`` of input, arrival time, and the event that lets it run."""

    id: int
    chars: int
    arrived: float
    ready: asyncio.Event
    started: float | None = None


class EngineQueue:
    """One engine's queue; used from the event loop only (no locks needed).

    ``slots`` requests run at once: as many as the engine's worker pool takes calls (a
    pool of four one-at-a-time replicas serves four requests while the fifth waits; one
    worker with ``concurrency: 4`` serves four too). A function is asked each time.
    """

    def __init__(self, engine: str, size: int, eta: EtaConfig, slots: int | Callable[[], int] = 1) -> None:
        self.engine = engine
        self.size = size
        self._slots: Callable[[], int] = slots if callable(slots) else (lambda: slots)
        self.rate = SecondsPerChar(eta)
        self.waiting: collections.deque[Ticket] = collections.deque()
        self.running: list[Ticket] = []
        self._ids = itertools.count(1)
        self.served = 0

    @property
    def slots(self) -> int:
        """Requests that run at once now (at least 1)."""
        return max(1, int(self._slots()))

    @property
    def depth(self) -> int:
        """Requests waiting (not counting the one running)."""
        return len(self.waiting)

    def _left(self, ticket: Ticket, now: float) -> float:
        if ticket.started is None:
            return 0.0
        return max(0.0, ticket.chars * self.rate.value - (now - ticket.started))

    def position(self, ticket: Ticket) -> int:
        """0 while running, else 1 + the number of requests ahead of it."""
        if ticket in self.running:
            return 0
        try:
            return self.waiting.index(ticket) + 1
        except ValueError:
            return 0

    def eta(self, ticket: Ticket | None = None, now: float | None = None) -> float:
        """Seconds until ``ticket`` is done (None: until a new request would start).

        Each slot is free when its running request's expected time is up; each request
        ahead takes the first slot to free for its own expected time, and then so does
        ``ticket``: behind k requests on c slots it waits about ceil((k + 1) / c) turns,
        not k as if they ran one at a time.
        """
        now = time.monotonic() if now is None else now
        if ticket is not None and ticket in self.running:
            return self._left(ticket, now)
        ahead = (
            list(self.waiting) if ticket is None else list(itertools.takewhile(lambda t: t is not ticket, self.waiting))
        )
        free = sorted(self._left(t, now) for t in self.running)[: self.slots]
        free += [0.0] * (self.slots - len(free))
        heapq.heapify(free)
        for t in ahead:
            heapq.heapreplace(free, free[0] + t.chars * self.rate.value)
        return free[0] + (ticket.chars * self.rate.value if ticket is not None else 0.0)

    def enter(self, chars: int) -> Ticket:
        """Take a place, or raise ``QueueFull`` at once."""
        if len(self.waiting) >= self.size and (len(self.running) >= self.slots or self.waiting):
            now = time.monotonic()
            retry = max(1.0, min((self._left(t, now) for t in self.running), default=0.0))  # when a slot frees
            raise QueueFull(
                f"engine {self.engine!r} has {len(self.waiting)} requests waiting (queue_size={self.size}); "
                f"retry in about {retry:.0f}s",
                engine=self.engine,
                retry_after=retry,
            )
        ticket = Ticket(next(self._ids), max(1, chars), time.monotonic(), asyncio.Event())
        self.waiting.append(ticket)
        self._advance()
        return ticket

    def refresh(self) -> None:
        """Start what the slots allow now (the pool's capacity grows once its workers have
        started and declared theirs)."""
        self._advance()

    def _advance(self) -> None:
        while len(self.running) < self.slots and self.waiting:
            ticket = self.waiting.popleft()
            ticket.started = time.monotonic()
            self.running.append(ticket)
            ticket.ready.set()

    async def wait(self, ticket: Ticket, timeout: float) -> None:
        """Wait for ``ticket``'s turn; ``QueueTimeout`` (and the place given up) after ``timeout``."""
        try:
            await asyncio.wait_for(ticket.ready.wait(), max(0.0, timeout))
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            if ticket in self.waiting:
                self.waiting.remove(ticket)
            elif ticket in self.running:
                self.leave(ticket, measure=False)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise QueueTimeout(
                f"engine {self.engine!r}: waited {timeout:.0f}s in the queue (request_timeout); try again later",
                engine=self.engine,
                timeout=timeout,
            ) from None

    def leave(self, ticket: Ticket, *, measure: bool = True) -> None:
        """``ticket`` is done (the engine is free again); a finished request updates the ETA."""
        if ticket in self.running:
            if measure and ticket.started is not None:
                self.rate.observe(time.monotonic() - ticket.started, ticket.chars)
                self.served += 1
            self.running.remove(ticket)
        elif ticket in self.waiting:
            self.waiting.remove(ticket)
        self._advance()

    def state(self) -> dict[str, object]:
        """For ``/health``."""
        return {
            "queue_size": self.size,
            "waiting": self.depth,
            "running": len(self.running),
            "slots": self.slots,
            "eta_s": round(self.eta(), 3),
            "seconds_per_char": round(self.rate.value, 5),
            "eta_measured": self.rate.measured,
            "served": self.served,
        }
