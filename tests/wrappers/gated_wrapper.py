"""A stdlib-only engine whose stream waits, between its two pieces, for a file (the gate).

For tests of when pieces reach a listener: a test opens the gate once it has the first
piece; if the gate stays shut (the host held the first piece back until the segment was
done), the engine goes on after ``wait_s`` and leaves ``GATE.late`` to say so.
"""

from __future__ import annotations

import math
import os
import sys
import time
from array import array
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine


def _tone(seconds: float, rate: int = 16000) -> Audio:
    n = int(rate * seconds)
    samples = array("h", (int(9000 * math.sin(2 * math.pi * 330 * i / rate)) for i in range(n)))
    if sys.byteorder != "little":
        samples.byteswap()
    return Audio(samples.tobytes(), rate)


class Gated(Engine):
    def synthesize(self, text: str, gate: str = "", wait_s: float = 15.0) -> Audio:
        return _tone(0.4)

    def stream(self, text: str, **options: Any) -> Iterator[Audio | dict[str, Any]]:
        gate, wait_s = str(options.get("gate", "")), float(options.get("wait_s", 15.0))
        yield _tone(0.2)
        deadline = time.monotonic() + wait_s
        while gate and not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
        if gate and not os.path.exists(gate):
            open(gate + ".late", "w").close()
        yield _tone(0.2)
