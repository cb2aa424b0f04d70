"""A stdlib-only engine for the server tests: streams a sine per word, slowly on request,
dies on request, and remembers the options of its last call."""

from __future__ import annotations

import math
import os
import sys
import time
from array import array
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine


class ServerEcho(Engine):
    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        self.last: dict[str, Any] = {}

    def _tone(self, seconds: float) -> Audio:
        rate = 16000
        samples = array("h", (int(8000 * math.sin(2 * math.pi * 330 * i / rate)) for i in range(int(rate * seconds))))
        if sys.byteorder != "little":
            samples.byteswap()
        return Audio(samples.tobytes(), rate)

    def stream(self, text: str, **options: Any) -> Iterator[Audio]:
        self.last = {"text": text, **options}
        if "CRASH" in text:
            os._exit(3)
        if "BADVALUE" in text:
            raise ValueError("this engine refuses BADVALUE")
        delay = float(options.get("delay", self.options.get("delay", 0.0)))
        for _word in text.split() or [text]:
            if delay:
                time.sleep(delay)
            yield self._tone(0.1)

    def synthesize(self, text: str, **options: Any) -> Audio:
        return Audio.concat(list(self.stream(text, **options)))

    def last_options(self) -> dict[str, Any]:
        return self.last
