"""Making a narration's segments: an engine's reply read as audio and words, and many
segments made at once on a pool's replicas and handed on in their order.

Why a module of its own: the generator splits text and writes the result; how the
segments are made when an engine has several replicas (the fan-out) is a concern of
its own, and keeping it here keeps the generator readable.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ._cache import SegmentCache
from ._exceptions import ProtocolError
from ._pool import Pool
from ._runtime.fanren_worker import Audio
from ._stream import Chunk, Timeline
from ._worker import Worker
from .audio import convert as _audio
from .text import Rewritten

__all__ = ["Stats", "fan_out", "replies", "speakable", "speech", "take"]

#: A letter or a digit (``\w``): without one, no engine has anything to say.
_SPEAKABLE = re.compile(r"\w")

#: One segment as made: its pieces (quantized audio) with the words each reported.
Takes = list[tuple[Audio, list[Any] | None]]


@dataclasses.dataclass
class Stats:
    """Where one narration's time went, and how much came from the cache."""

    start_s: float = 0.0
    synth_s: float = 0.0
    cached: int = 0


def speakable(pieces: list[str]) -> list[str]:
    """The segments worth sending to an engine: those with a letter or digit in them.

    Whatever splits the text, a piece of only punctuation, symbols or combining marks
    (zalgo text cut past its letter) can come out of it; engines make no audio for
    such a piece (piper's stream gives nothing, and the narration failed with
    ProtocolError, a 503 from the server). It is dropped here, where segments are made,
    for every splitter; its text is spoken by no engine anyway.
    """
    return [piece for piece in pieces if _SPEAKABLE.search(piece)]


def speech(engine: str, reply: Any) -> tuple[Audio, list[Any] | None]:
    """A ``synthesize`` reply: ``Audio``, or ``{"audio": Audio, "words": [{text, start, end}]}``
    from an engine that reports its own word timings (seconds into the segment)."""
    if isinstance(reply, Audio):
        return reply, None
    if isinstance(reply, dict) and isinstance(reply.get("audio"), Audio):
        words = reply.get("words")
        ok = isinstance(words, list) and all(isinstance(w, dict) and {"text", "start", "end"} <= set(w) for w in words)
        return reply["audio"], words if ok and words else None
    raise ProtocolError(
        f"engine {engine!r}: synthesize returned {type(reply).__name__}, expected fanren_worker.Audio "
        '(or {"audio": Audio, "words": [{"text", "start", "end"}, ...]})',
        engine=engine,
    )


def replies(worker: Worker, kwargs: dict[str, Any], live: bool) -> Iterator[Any]:
    """The engine's replies for one segment: its own stream when someone listens (``live``),
    else one ``synthesize`` call, the engine's best take for a file."""
    return worker.stream("stream", kwargs) if live else iter([worker.call("synthesize", kwargs)])


def take(pool: Pool, name: str, piece: str, options: dict[str, Any], bit_depth: int, live: bool) -> Takes:
    """One segment made whole on a free replica: its pieces, quantized, with their words."""
    with pool.acquire() as worker:
        return [
            (_audio.quantize(raw, bit_depth), words)
            for raw, words in (speech(name, r) for r in replies(worker, {"text": piece, **options}, live))
        ]


def fan_out(
    pool: Pool,
    pieces: list[Rewritten],
    key_of: Callable[[str], str],
    name: str,
    options: dict[str, Any],
    bit_depth: int,
    cache: SegmentCache | None,
    timeline: Timeline,
    stats: Stats,
    *,
    live: bool,
) -> Iterator[Chunk]:
    """Segments made on many replicas at once, fed to the timeline in their order, so
    segment and word timings are those of a sequential run. At most two segments per
    replica are ahead of the one being written: memory stays bounded for any length.
    ``cache`` None means the cache is not used. ``stats.synth_s`` is the wall time
    spent waiting for segments."""
    window = 2 * pool.size
    ahead: deque[tuple[int, Rewritten, str, Audio | None, Future[Takes] | None]] = deque()
    todo = iter(enumerate(pieces))
    with ThreadPoolExecutor(pool.size, thread_name_prefix=f"fanren-fanout-{name}") as executor:

        def refill() -> None:
            for index, piece in todo:
                key = key_of(piece.spoken)
                audio = cache.get(key) if cache is not None else None
                job = (
                    None
                    if audio is not None
                    else executor.submit(take, pool, name, piece.spoken, options, bit_depth, live)
                )
                ahead.append((index, piece, key, audio, job))
                if len(ahead) >= window:
                    return

        try:
            if not any(w.alive for w in pool.replicas):
                stats.start_s += pool.start(min(pool.size, len(pieces)))
            refill()
            while ahead:
                index, piece, key, audio, job = ahead.popleft()
                refill()
                yield from timeline.open(index, piece.original, piece)
                if job is None:
                    assert audio is not None and cache is not None
                    stats.cached += 1
                    yield from timeline.feed(audio, cache.get_words(key))
                else:
                    ts = time.perf_counter()
                    takes = job.result()
                    stats.synth_s += time.perf_counter() - ts
                    if not takes:
                        raise ProtocolError(f"engine {name!r}: stream gave no audio for {piece.spoken!r}", engine=name)
                    said: list[Any] = []
                    offset = 0.0
                    for made, words in takes:
                        said += [{**w, "start": w["start"] + offset, "end": w["end"] + offset} for w in words or []]
                        offset += made.duration
                        yield from timeline.feed(made, words)
                    if cache is not None:
                        cache.put(key, Audio.concat([t for t, _ in takes]), said or None)
                yield from timeline.close()
        finally:
            for *_, job in ahead:
                if job is not None:
                    job.cancel()  # what has not started never will; what runs ends within its timeouts
