"""A stdlib-only engine that, as piper does, makes no audio for text without a letter or
digit (a run of combining marks, a stray "……"), and remembers every text it was given."""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine


class Letters(Engine):
    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        self.texts: list[str] = []

    def stream(self, text: str, **options: Any) -> Iterator[Audio]:
        self.texts.append(text)
        for word in text.split():
            if any(ch.isalnum() for ch in word):
                yield self._tone(0.1)

    def synthesize(self, text: str, **options: Any) -> Audio:
        parts = list(self.stream(text, **options))
        return Audio.concat(parts) if parts else Audio(b"", 16000)

    def said(self) -> list[str]:
        return self.texts

    def _tone(self, seconds: float) -> Audio:
        rate = 16000
        samples = array("h", (int(8000 * math.sin(2 * math.pi * 330 * i / rate)) for i in range(int(rate * seconds))))
        if sys.byteorder != "little":
            samples.byteswap()
        return Audio(samples.tobytes(), rate)
