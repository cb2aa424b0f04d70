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

A chunk is never held past half of the audio a real-time listener still has buffered
(the audio already sent, less the time since the first chunk left): an engine slower than
real time gets each chunk sent on arrival, as before, and a streaming client never runs
dry because of the coalescing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["END", "HOLD_S", "coalesce"]

#: The longest a chunk waits for others to travel with it.
HOLD_S = 0.02
#: What the producer puts last on the queue (an error dict or an exception also end it).
END = object()


def _seconds(batch: list[Any]) -> float:
    return float(sum(getattr(chunk, "duration", 0.0) for chunk in batch))


async def coalesce(out: asyncio.Queue[Any], hold: float = HOLD_S) -> AsyncIterator[Any]:
    """Lists of chunks from ``out``, the last one as ``{"last": [...]}`` once ``END`` comes;
    an ``{"error": ...}`` dict is yielded last as it is; an exception put on ``out`` is raised."""
    loop = asyncio.get_running_loop()
    first_sent: float | None = None
    sent = 0.0  # seconds of audio sent so far
    done = False
    while not done:
        item = await out.get()
        opened = loop.time()
        if first_sent is None:
            deadline = opened  # the first message: whatever is ready, now
        else:
            buffered = sent - (opened - first_sent)  # what a real-time listener has left to play
            deadline = opened + min(hold, max(0.0, buffered / 2))
        batch: list[Any] = []
        while True:
            if item is END or isinstance(item, dict):
                done = True
                break
            if isinstance(item, BaseException):
                raise item
            batch.append(item)
            if not out.empty():
                item = out.get_nowait()
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                item = await asyncio.wait_for(out.get(), left)
            except asyncio.TimeoutError:
                break
        if item is END:
            yield {"last": batch}
            return
        if batch:
            yield batch
            sent += _seconds(batch)
            if first_sent is None:
                first_sent = loop.time()
        if isinstance(item, dict):
            yield item
