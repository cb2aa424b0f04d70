"""A stdlib stand-in shaped like the CosyVoice wrapper's zero-shot speakers, for tests that
run many replicas without torch or weights.

As upstream's ``add_zero_shot_spk``, ``add_speaker`` keeps the speaker in this process's
memory only; ``synthesize`` in zero_shot mode refuses a speaker this process never
registered, with the real wrapper's message. Each ``add_speaker`` appends a JSON line
with the process id to $STANDIN_LOG, so a test sees which process registered what.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fanren_worker import Audio, Engine


class ZeroShot(Engine):
    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        self.zero_shot: dict[str, str] = {}  # speaker -> its prompt audio

    def add_speaker(self, speaker: str, prompt_speech: str, prompt_text: str) -> list[str]:
        path = os.environ.get("STANDIN_LOG")
        if path:
            with open(path, "a", encoding="utf-8") as f:
                entry = {"event": "add_speaker", "pid": os.getpid(), "speaker": speaker, "prompt_speech": prompt_speech}
                f.write(json.dumps(entry) + "\n")
        self.zero_shot[speaker] = prompt_speech
        return sorted(self.zero_shot)

    def synthesize(self, text: str, mode: str = "sft", speaker: str | None = None, **_: Any) -> Audio:
        if mode in ("zero_shot", "cross_lingual") and speaker and speaker not in self.zero_shot:
            raise ValueError(
                f"speaker {speaker!r} is not a zero-shot speaker (add_speaker); zero-shot speakers: "
                f"{sorted(self.zero_shot) or 'none'}"
            )
        return Audio(b"\x00\x10" * 1600 * max(1, len(text.split())), 16000)

    def crash_now(self) -> None:
        os.abort()

    def describe(self) -> dict[str, Any]:
        return {"zero_shot_speakers": sorted(self.zero_shot)}
