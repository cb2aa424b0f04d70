"""A narration's segments as an engine sees them: which are worth sending, how one is
asked for (``replies``) and how a reply reads as audio and words (``speech``).

The producer (``_produce``) makes the segments with these; ``Stats`` is where one
narration's time went.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

from ._exceptions import ProtocolError
from ._runtime.fanren_worker import Audio
from ._worker import Worker

__all__ = ["Stats", "replies", "speakable", "speech"]

#: A letter or a digit (``\w``): without one, no engine has anything to say.
_SPEAKABLE = re.compile(r"\w")


@dataclasses.dataclass
class Stats:
    """Where one narration's time went, and how much came from the cache."""

    start_s: float = 0.0  # starting workers
    synth_s: float = 0.0  # waiting for the engine's pieces
    cached: int = 0
    planned: int = 0  # segments in the narration


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
