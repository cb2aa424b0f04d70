"""A deterministic stdlib engine that runs several calls at once and counts them.

Each text always gives the same samples (a tone whose pitch comes from the text's CRC,
0.2 s a word) and the same word timings, so a narration made with several calls in
flight can be compared sample for sample with one made one call at a time. ``meet``
(an init option): each call waits, at most 10 s, until that many calls have been in
flight together once, so a test that expects overlap does not depend on timing; ``peak``
says how many ever were.
"""

from __future__ import annotations

import math
import sys
import threading
import zlib
from array import array
from typing import Any

from fanren_worker import Audio, Engine

RATE = 16000
WORD_S = 0.2


class Overlap(Engine):
    max_concurrency = 8

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._peak = 0
        self._met = threading.Event()
        self._meet = int(options.get("meet", 1))

    def synthesize(self, text: str) -> dict[str, Any]:
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            if self._in_flight >= self._meet:
                self._met.set()
        try:
            self._met.wait(10.0)
            words = text.split()
            pitch = 200.0 + zlib.crc32(text.encode()) % 600
            n = int(RATE * WORD_S * max(1, len(words)))
            samples = array("h", (int(9000 * math.sin(2 * math.pi * pitch * i / RATE)) for i in range(n)))
            if sys.byteorder != "little":
                samples.byteswap()
            timed = [{"text": w, "start": i * WORD_S, "end": (i + 1) * WORD_S} for i, w in enumerate(words)]
            return {"audio": Audio(samples.tobytes(), RATE), "words": timed}
        finally:
            with self._lock:
                self._in_flight -= 1

    def peak(self) -> int:
        """The most calls that were in flight at once."""
        return self._peak
