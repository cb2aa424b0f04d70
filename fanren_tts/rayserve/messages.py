"""How an engine replica's chunks become Serve messages: the first at once, the rest coalesced.

Why: every message of a Serve streaming response costs a serialization, an RPC and a
wake-up of the ingress's thread, about a millisecond of CPU each on a small machine,
while a fast engine makes a chunk in a fraction of that (espeak: 56 chunks for a short
line in ~11 ms). Sent one per chunk, a warm short line paid ~50 ms for its messages
(measured per hop, README "Serving past one machine"). So the first chunk leaves as soon as
it is made (time to first audio is unchanged), and later chunks wait up to ``HOLD_S`` to
travel together; the last message leaves as soon as the engine ends, so a whole line
made within the hold costs two messages. The last is marked (``{"last": [...]}``), so the
ingress answers without waiting for Serve's end-of-stream message (it drains that on the
side: ``remote.ServeGenerator``).

The chunks reach the event loop through an ``Outbox``, which wakes the loop only when the
consumer waits for what was put (any chunk at the start of a message, only the end while
it holds one open), so a held chunk costs no wake-up either.

A chunk is never held past half of the audio a real-time listener still has buffered
(the audio already sent, less the time since the first chunk left): an engine slower than
real time gets each chunk sent on arrival, as before, and a streaming client never runs
dry because of the coalescing.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["END", "HOLD_S", "Outbox", "coalesce"]

#: The longest a chunk waits for others to travel with it.
HOLD_S = 0.02
#: What the producer puts last (an ``{"error": ...}`` dict or an exception also end it).
END = object()


def _final(item: Any) -> bool:
    return item is END or isinstance(item, (dict, BaseException))


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Outbox:
    """Items from a producer thread to one consumer on the event loop ``loop``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: collections.deque[Any] = collections.deque()
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        self._any = True

    def put(self, item: Any) -> None:
        """From any thread. Order matters: the item, then the end flag, then the waiter is read
        (the consumer sets its waiter before it looks at the items: one of the two sees the other)."""
        self._items.append(item)
        if _final(item):
            self._ended = True
        waiter = self._waiter
        if waiter is not None and (self._any or self._ended):
            self._loop.call_soon_threadsafe(_wake, waiter)

    async def wait(self, timeout: float | None, any_item: bool) -> None:
        """Until there is an item (``any_item``) or the last one, or ``timeout`` has passed."""
        waiter = self._loop.create_future()
        self._any = any_item
        self._waiter = waiter
        try:
            if self._items and (any_item or self._ended):
                return
            await asyncio.wait([waiter], timeout=timeout)
        finally:
            self._waiter = None

    def take(self) -> list[Any]:
        """Every item put so far."""
        items = []
        while self._items:
            items.append(self._items.popleft())
        return items


def _seconds(batch: list[Any]) -> float:
    return float(sum(getattr(chunk, "duration", 0.0) for chunk in batch))


async def coalesce(out: Outbox, hold: float = HOLD_S) -> AsyncIterator[Any]:
    """Lists of chunks from ``out``, the last one as ``{"last": [...]}`` once ``END`` comes;
    an ``{"error": ...}`` dict is yielded last as it is; an exception put on ``out`` is raised.
    Unbounded waits here are bounded by the producer, which always ends with one of those
    (the worker's own call timeout bounds it)."""
    loop = asyncio.get_running_loop()
    first_sent: float | None = None
    sent = 0.0  # seconds of audio sent so far
    while True:
        await out.wait(None, any_item=True)
        if first_sent is not None:  # the first message goes at once; later ones may wait
            played = loop.time() - first_sent
            buffered = sent - played  # what a real-time listener has left to play
            left = min(hold, max(0.0, buffered / 2))
            if left > 0:
                await out.wait(left, any_item=False)  # early only when the line ends
        chunks: list[Any] = []
        for item in out.take():
            if item is END:
                yield {"last": chunks}
                return
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, dict):
                if chunks:
                    yield chunks
                yield item
                return
            chunks.append(item)
        if chunks:
            yield chunks
            sent += _seconds(chunks)
            if first_sent is None:
                first_sent = loop.time()
