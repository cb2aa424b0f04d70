"""fanren_calls: how a worker runs the calls it holds: one at a time, on threads, or in batches.

Protocol 4 lets the host keep up to a worker's *capacity* calls in flight, each
named by its id. An engine uses that capacity in one of two ways (or both):

- **Concurrency**: ``concurrency`` runner threads each run calls over the one
  model, for engines whose upstream is thread-safe and works outside the GIL.
- **Batching**: ``synthesize`` calls wait up to ``batch_window_ms`` (or until
  ``max_batch`` are waiting) and go to the engine's ``synthesize_batch`` together;
  only calls whose ``batch_keys`` options agree share a batch, and an item that
  failed fails alone (a batch that raised is retried one call at a time).

Fairness: the next call is always taken from the next caller in turn (the call
frame's ``caller``), so one long narration cannot starve short requests.
A streaming call sends at most ``window`` pieces ahead of the host's ``more``
frames, so a host that reads slowly holds at most that many pieces in memory.
Stdlib only.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

try:  # in the host, a module of fanren_tts._runtime
    from .fanren_wire import error_frame
except ImportError:  # in a worker, whose sys.path holds the runtime folder itself
    from fanren_wire import error_frame  # type: ignore[no-redef]

__all__ = ["Call", "Executor", "Limits", "is_stream", "send_stream"]

#: Pieces a streaming call may send ahead of the host's ``more`` frames, when the call names none.
DEFAULT_WINDOW = 8


class Limits:
    """How many calls a worker holds, and how: what the config asked, capped by what the engine declares."""

    def __init__(self, asked: dict[str, Any], *, batches: bool, max_concurrency: int, default_max_batch: int) -> None:
        def number(key: str, default: float) -> float:
            value = asked.get(key)
            return default if value is None else float(value)

        self.max_batch = max(1, int(number("max_batch", default_max_batch))) if batches else 1
        self.batch_window_s = max(0.0, number("batch_window_ms", 10.0)) / 1000.0 if self.max_batch > 1 else 0.0
        self.concurrency = max(1, min(int(number("concurrency", 1)), max(1, max_concurrency)))
        self.asked_concurrency = int(number("concurrency", 1))

    @property
    def capacity(self) -> int:
        return self.concurrency * self.max_batch

    def describe(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "max_batch": self.max_batch,
            "batch_window_ms": self.batch_window_s * 1000.0,
            "concurrency": self.concurrency,
        }


class Call:
    """One call in flight: its frame, and the host's cancel and flow control for it."""

    __slots__ = ("arrived", "caller", "cancelled", "cond", "credit", "id", "kwargs", "method", "window")

    def __init__(self, msg: dict[str, Any]) -> None:
        self.id: int = msg["id"]
        self.method: str = msg.get("method", "")
        self.kwargs: dict[str, Any] = dict(msg.get("kwargs") or {})
        self.caller: Any = msg.get("caller")
        window = msg.get("window")
        self.window = window if isinstance(window, int) and window > 0 else DEFAULT_WINDOW
        self.credit = 0  # pieces the host has taken (its ``more`` frames)
        self.cancelled = False
        self.arrived = time.monotonic()
        self.cond = threading.Condition()

    def cancel(self) -> None:
        with self.cond:
            self.cancelled = True
            self.cond.notify_all()

    def grant(self, n: int) -> None:
        with self.cond:
            self.credit += n
            self.cond.notify_all()


def is_stream(value: Any) -> bool:
    """An iterator to send piece by piece (not a value that merely is iterable)."""
    return isinstance(value, Iterator) and not isinstance(value, (str, bytes, bytearray, dict, list, tuple))


#: ``poll(call, block)``: take in the host's frames for ``call`` (cancel, more); ``block``: wait for one.
Poll = Callable[[Call, bool], None]


def send_stream(
    send: Callable[[dict[str, Any]], None], call: Call, pieces: Iterator[Any], poll: Poll
) -> dict[str, Any]:
    """Send each piece as a chunk frame, at most ``call.window`` ahead of the host, and stop
    early on its cancel (looked for after every piece). The summary ends it."""
    sent = 0
    try:
        for piece in pieces:
            send({"kind": "chunk", "id": call.id, "value": piece})
            sent += 1
            poll(call, False)
            while not call.cancelled and sent - call.credit >= call.window:
                poll(call, True)
            if call.cancelled:
                return {"chunks": sent, "cancelled": True}
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # a generator's own cleanup (its finally blocks) runs now, not at GC
    return {"chunks": sent, "cancelled": False}


class Executor:
    """Runner threads over one engine, with the batcher in front of ``synthesize_batch``."""

    def __init__(
        self,
        engine: Any,
        methods: dict[str, Callable[..., Any]],
        limits: Limits,
        send: Callable[[dict[str, Any]], None],
        done: Callable[[Call], None],
        on_thread: Callable[[Any], None],
    ) -> None:
        self.engine = engine
        self.methods = methods
        self.limits = limits
        self.send = send
        self.done = done  # the session forgets the call
        self.on_thread = on_thread  # which call this thread serves (for progress frames)
        self.cond = threading.Condition()
        self.waiting: collections.OrderedDict[Any, collections.deque[Call]] = collections.OrderedDict()
        self.keys = tuple(getattr(engine, "batch_keys", ()) or ())
        self._last: dict[Any, int] = {}  # caller -> the turn it was last served in
        self.gathering: dict[str, list[Call]] = {}  # batch key -> the batch a runner is gathering
        self._turn = 0
        #: No threads at capacity 1: the session runs each call on the main thread (``run_one``).
        self.threads = [
            threading.Thread(target=self._run, name=f"fanren-runner-{i}", daemon=True)
            for i in range(limits.concurrency if limits.capacity > 1 else 0)
        ]
        for t in self.threads:
            t.start()

    # ------------------------------------------------------------------ queue

    def submit(self, call: Call) -> None:
        with self.cond:
            self.waiting.setdefault(call.caller, collections.deque()).append(call)
            self.cond.notify_all()

    def _take(self, fits: Callable[[Call], bool]) -> Call | None:
        """The first waiting call that ``fits``, from the caller served longest ago (one never
        served first, in order of arrival)."""
        for caller in sorted(self.waiting, key=lambda c: self._last.get(c, -1)):
            queue = self.waiting[caller]
            for call in queue:
                if fits(call):
                    queue.remove(call)
                    if not queue:
                        del self.waiting[caller]
                    self._turn += 1
                    self._last[caller] = self._turn
                    if len(self._last) > 4096:  # forget callers that wait for nothing
                        self._last = {c: t for c, t in self._last.items() if c in self.waiting}
                    return call
        return None

    def _count(self, fits: Callable[[Call], bool]) -> int:
        return sum(fits(c) for queue in self.waiting.values() for c in queue)

    def _batchable(self, call: Call) -> bool:
        return self.limits.max_batch > 1 and call.method == "synthesize" and "text" in call.kwargs

    def _key(self, call: Call) -> str:
        return repr([call.kwargs.get(k) for k in self.keys])

    def _next(self) -> list[Call]:
        """The next call, or the next batch: waits up to the window for partners to arrive.

        A call whose batch is already being gathered by another runner joins that one,
        so two runners never each hold one half of what should be one batch.
        """
        with self.cond:
            while True:
                while not self.waiting:
                    self.cond.wait()
                first = self._take(lambda c: True)
                assert first is not None
                if not self._batchable(first):
                    return [first]
                key = self._key(first)
                gathering = self.gathering.get(key)
                if gathering is not None and len(gathering) < self.limits.max_batch:
                    gathering.append(first)
                    self.cond.notify_all()
                    continue
                return self._gather(first, key)

    def _gather(self, first: Call, key: str) -> list[Call]:
        """``first`` and its partners (same ``batch_keys``), up to ``max_batch``; holds the lock."""

        def partner(c: Call) -> bool:
            return self._batchable(c) and self._key(c) == key

        batch = [first]
        self.gathering[key] = batch
        try:
            until = first.arrived + self.limits.batch_window_s
            while len(batch) + self._count(partner) < self.limits.max_batch:
                left = until - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            while len(batch) < self.limits.max_batch:
                more = self._take(partner)
                if more is None:
                    break
                batch.append(more)
        finally:
            del self.gathering[key]
        return batch

    # ------------------------------------------------------------------ running

    def _run(self) -> None:
        while True:
            batch = self._next()
            try:
                if len(batch) == 1:
                    self.run_one(batch[0])
                else:
                    self._run_batch(batch)
            except BaseException as exc:  # never lose a runner thread
                for call in batch:
                    self._answer_error(call, exc)

    def run_one(self, call: Call, poll: Poll | None = None) -> None:
        """Run one call and answer it; ``poll`` takes in the host's frames during a stream."""
        self.on_thread(call.id)
        try:
            method = self.methods.get(call.method)
            if method is None:
                raise AttributeError(
                    f"engine has no callable method {call.method!r}; available: {', '.join(sorted(self.methods))}"
                )
            value = method(**call.kwargs)
            if is_stream(value):
                value = send_stream(self.send, call, value, poll or self._wait_credit)
            self._answer(call, value)
        except Exception as exc:
            self._answer_error(call, exc)
        finally:
            self.on_thread(None)

    @staticmethod
    def _wait_credit(call: Call, block: bool) -> None:
        """The reading thread takes in the host's frames; a runner waits for its more or
        cancel (re-checked each second; the host's death ends the whole process)."""
        if block:
            with call.cond:
                if not call.cancelled:
                    call.cond.wait(1.0)

    def _run_batch(self, batch: list[Call]) -> None:
        self.on_thread(batch[0].id)
        try:
            results = self.engine.synthesize_batch([dict(c.kwargs) for c in batch])
            if not isinstance(results, list) or len(results) != len(batch):
                raise TypeError(f"synthesize_batch answered {len(batch)} requests with {type(results).__name__}")
        except Exception:
            for call in batch:  # one bad request must fail alone: each on its own
                self.run_one(call)
            return
        finally:
            self.on_thread(None)
        for call, value in zip(batch, results):  # noqa: B905 - same length, checked above; 3.9 has no strict=
            if isinstance(value, Exception):
                self._answer_error(call, value)
            else:
                self._answer(call, value)

    def _answer(self, call: Call, value: Any) -> None:
        """The result frame. The call is forgotten first: the host may send its next call
        the moment the result lands, and that one must find the capacity free."""
        self.done(call)
        try:
            self.send({"kind": "result", "id": call.id, "value": value})
        except Exception as exc:  # e.g. a value msgpack cannot encode, or over the frame limit
            self.send(error_frame(call.id, "call", exc))

    def _answer_error(self, call: Call, exc: BaseException) -> None:
        self.done(call)
        self.send(error_frame(call.id, "call", exc))
