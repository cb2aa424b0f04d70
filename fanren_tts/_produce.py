"""The one segment producer: a stretch's segments made on its engine's pool, handed on in order.

One replica or many, ``generate`` or ``stream``, every segment goes through ``Producer``:
it takes it from the cache or has the engine make it, shifts the engine's word timings
onto the segment, refuses a segment without audio, writes the cache, and feeds the
``Timeline`` that turns pieces into output chunks. (Before, one path served one replica
and another served several, and they behaved differently.)

How it yields, on purpose:

- up to ``pool.capacity`` segments are made at once (one per replica today; the pool
  decides which worker serves each), on threads of the producer's own, asked for in
  order; with one replica, on the caller's thread, one after the other;
- segment k's pieces are handed on as its engine makes them, whatever the number of
  replicas: a listener hears k's first piece as soon as it exists;
- later segments, made meanwhile on other replicas, are buffered in order and come out
  when k is done; at most two per other replica are ahead of the one handed on, so
  memory stays bounded for any length of text (with one replica nothing is made ahead);
- segment and word timings are those of a sequential run (the timeline is fed in order).

Leaving early (closing the generator, as a listener that hangs up does): nothing new
starts, the segments in the making stop after the piece they are on (a live stream is
cancelled, its worker stays loaded; on a producer thread that is noticed after its next
piece), and every replica is free when ``close()`` returns.
On an error the rest is dropped the same way, without waiting for it; on Ctrl-C the
workers serving this narration are killed, as a call interrupted on the host kills its
worker, so no late reply can answer the next call.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ._cache import SegmentCache
from ._exceptions import ProtocolError
from ._pool import Pool
from ._runtime.fanren_worker import Audio
from ._segments import Stats, replies, speech
from ._stream import Chunk, Timeline
from ._worker import Worker
from .audio import convert as _audio
from .text import Rewritten

__all__ = ["Producer"]

#: Seconds between looks at a segment's job while waiting for its next piece (the job's
#: own calls are bounded by the worker's timeouts; this only keeps the wait bounded too).
_POLL_S = 0.5
_END = object()

#: One piece as made: quantized audio with the words the engine reported for it.
Piece = tuple[Audio, list[Any] | None]


@dataclasses.dataclass
class _Segment:
    index: int
    text: Rewritten
    key: str
    cached: Audio | None = None
    pieces: queue.SimpleQueue[Any] = dataclasses.field(default_factory=queue.SimpleQueue)
    job: Future[None] | None = None


class Producer:
    """The segments of one engine's stretch, as chunks in order (see the module docstring).

    ``key_of(spoken)`` gives a segment's cache key; ``cache`` None means the cache is not
    used. ``live`` asks the engine for its own stream (pieces as it decodes them, for a
    listener); otherwise each segment is one ``synthesize`` call, the engine's best take
    for a file. ``stats`` gathers where the time went: ``start_s`` starting workers,
    ``synth_s`` waiting for the engine.
    """

    def __init__(
        self,
        pool: Pool,
        options: dict[str, Any],
        *,
        bit_depth: int,
        live: bool,
        cache: SegmentCache | None,
        key_of: Callable[[str], str],
        stats: Stats,
    ) -> None:
        self.pool = pool
        self.name = pool.name
        self.options = options
        self.bit_depth = bit_depth
        self.live = live
        self.cache = cache
        self.key_of = key_of
        self.stats = stats
        self._stop = threading.Event()  # set when the consumer is gone: jobs stop after their piece
        self._serving: set[Worker] = set()  # the workers this producer's jobs hold now

    def chunks(self, pieces: list[Rewritten], timeline: Timeline, first: int, pause: bool) -> Iterator[Chunk]:
        """Every segment in ``pieces`` fed to ``timeline`` in order (``first``: the index of the
        first one in the narration; ``pause``: whether a pause goes before it)."""
        width = max(1, self.pool.capacity)
        window = 1 + 2 * (width - 1)  # the segment handed on, and two per other replica ahead of it
        ahead: deque[_Segment] = deque()
        todo = iter(enumerate(pieces, first))
        executor = ThreadPoolExecutor(width, thread_name_prefix=f"fanren-produce-{self.name}")

        def refill() -> None:
            for index, text in todo:
                key = self.key_of(text.spoken) if self.cache is not None else ""
                segment = _Segment(index, text, key, self.cache.get(key) if self.cache is not None else None)
                if segment.cached is None:
                    if not any(w.alive for w in self.pool.replicas):  # all at once, not one by one
                        self.stats.start_s += self.pool.start(min(self.pool.size, len(pieces)))
                    if width > 1:  # on the producer's threads, in order (the pool serves them first come)
                        segment.job = executor.submit(self._make, segment)
                ahead.append(segment)
                if len(ahead) >= window:
                    return

        closed = False
        try:
            refill()
            while ahead:
                segment = ahead[0]
                yield from timeline.open(
                    segment.index, segment.text.original, segment.text, pause=pause or segment.index > first
                )
                yield from self._feed(segment, timeline)
                yield from timeline.close()
                ahead.popleft()
                refill()
        except GeneratorExit:
            closed = True
            raise
        except KeyboardInterrupt:  # as for a call interrupted on the host: its workers are killed, so
            for worker in list(self._serving):  # no late reply answers the next call (the next restarts)
                worker.abort()
            raise
        finally:
            self._stop.set()
            for segment in ahead:
                if segment.job is not None:
                    segment.job.cancel()  # what has not started never will
            # left early: wait for what runs (it stops after its piece), so the replicas are free
            executor.shutdown(wait=closed, cancel_futures=True)

    def _feed(self, segment: _Segment, timeline: Timeline) -> Iterator[Chunk]:
        """One segment into the timeline: from the cache, or its pieces as they arrive."""
        if segment.cached is not None:
            assert self.cache is not None
            self.stats.cached += 1
            yield from timeline.feed(segment.cached, self.cache.get_words(segment.key))
            return
        made: list[Audio] = []
        said: list[Any] = []
        offset = 0.0
        for take, words in self._arrivals(segment):
            said += [{**w, "start": w["start"] + offset, "end": w["end"] + offset} for w in words or []]
            offset += take.duration
            made.append(take)
            yield from timeline.feed(take, words)
        if not made:
            raise ProtocolError(
                f"engine {self.name!r}: stream gave no audio for {segment.text.spoken!r}", engine=self.name
            )
        if self.cache is not None:
            self.cache.put(segment.key, Audio.concat(made), said or None)

    def _arrivals(self, segment: _Segment) -> Iterator[Piece]:
        """The segment's pieces as they are made: on this thread when it has no job (one
        replica; closing this generator then cancels the engine at once), else from its job."""
        if segment.job is None:
            made = self._made(segment)
            try:
                while True:
                    ts = time.perf_counter()
                    try:
                        piece = next(made)
                    except StopIteration:
                        return
                    finally:
                        self.stats.synth_s += time.perf_counter() - ts
                    yield piece
            finally:
                made.close()
        while True:
            ts = time.perf_counter()
            try:
                item = segment.pieces.get(timeout=_POLL_S)
            except queue.Empty:
                self.stats.synth_s += time.perf_counter() - ts
                if segment.job.done() and segment.pieces.empty():  # cannot happen: the job always ends with _END
                    raise ProtocolError(f"engine {self.name!r}: a segment's job ended without a word") from None
                continue
            self.stats.synth_s += time.perf_counter() - ts
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _made(self, segment: _Segment) -> Generator[Piece, None, None]:
        """One segment on a free worker, its pieces as the engine makes them (quantized: the
        cache and the output see the same samples)."""
        with self.pool.acquire() as worker:
            if self._stop.is_set():  # the listener left while this waited for a worker
                return
            if not worker.alive:
                worker.start()
            self._serving.add(worker)
            stream = replies(worker, {"text": segment.text.spoken, **self.options}, self.live)
            try:
                for reply in stream:
                    raw, words = speech(self.name, reply)
                    yield _audio.quantize(raw, self.bit_depth), words
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # on the thread that reads it: cancels the engine's rest
                self._serving.discard(worker)

    def _make(self, segment: _Segment) -> None:
        """On a producer thread: a segment made ahead, each piece put as it comes."""
        made = self._made(segment)
        try:
            for piece in made:
                segment.pieces.put(piece)
                if self._stop.is_set():
                    break
        except BaseException as exc:
            segment.pieces.put(exc)
        finally:
            made.close()
            segment.pieces.put(_END)
