"""espeak engine: eSpeak NG through the library and data that the PyPI package
espeakng-loader ships (no system install). Its ``cmn`` voice reads Mandarin correctly.

Word timings come from eSpeak NG itself: its synth callback reports a word event
(character position and audio position) for every word it speaks, so
``synthesize`` returns the audio with ``words`` measured by the engine.

Standalone: envs/espeak/.venv/bin/python wrappers/espeak_wrapper.py --text "你好" --out nihao.wav
"""

from __future__ import annotations

import ctypes
import queue
import threading
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine, main

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_RATE, _PITCH = 1, 3
_EVENT_LIST_TERMINATED, _EVENT_WORD = 0, 1


class _Event(ctypes.Structure):
    """espeak_EVENT from speak_lib.h."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # characters from the start of the text, 1-based
        ("length", ctypes.c_int),  # characters in the word
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def _relative(word: dict[str, Any], offset: float) -> dict[str, Any]:
    return {**word, "start": word["start"] - offset, "end": word["end"] - offset}


class Espeak(Engine):
    name = "espeak"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        self.sample_rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
        )
        if self.sample_rate <= 0:
            raise RuntimeError(
                f"espeak_Initialize failed ({self.sample_rate}) with data at {espeakng_loader.get_data_path()}"
            )
        self._queue: queue.Queue[tuple[bytes, list[tuple[int, int, float]]] | None] = queue.Queue()
        self._abort = threading.Event()
        self._callback = _CALLBACK(self._collect)  # keep a reference: C holds only the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self.voices = self._list_voices()
        self.defaults = {
            "voice": options.get("voice", "cmn"),
            "rate": options.get("rate", 175),
            "pitch": options.get("pitch", 50),
        }
        self._select(self.defaults["voice"])

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        """eSpeak NG's synth callback (on the synthesis thread): hand the buffer and its word
        events to the stream; returning 1 asks eSpeak NG to stop (the host cancelled)."""
        pcm = ctypes.string_at(wav, count * 2) if wav and count > 0 else b""
        found = []
        i = 0
        while events and events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type == _EVENT_WORD:
                found.append((e.text_position, e.length, e.audio_position / 1000.0))
            i += 1
        if pcm or found:
            self._queue.put((pcm, found))
        return 1 if self._abort.is_set() else 0

    @staticmethod
    def _merge(events: list[tuple[int, int, float]]) -> list[tuple[int, float]]:
        """(character position, start seconds) per word. Events inside the word before (a
        number read as several words) extend that word instead of starting one."""
        merged: list[tuple[int, float]] = []
        end = 0
        for pos, length, start in events:
            if merged and pos < end:
                continue
            merged.append((pos, start))
            end = pos + max(length, 1)
        return merged

    @staticmethod
    def _span(text: str, merged: list[tuple[int, float]], n: int, seconds: float) -> dict[str, Any] | None:
        """Word ``n`` as text and time: it runs to the next word's position and start, so text
        spoken without an event of its own (好 in 很好) stays with the word before it."""
        pos, start = merged[n]
        last = n + 1 == len(merged)
        stop = len(text) + 1 if last else merged[n + 1][0]
        end = seconds if last else merged[n + 1][1]
        piece = text[pos - 1 : stop - 1].strip()
        return {"text": piece, "start": start, "end": max(end, start)} if piece else None

    def _list_voices(self) -> dict[str, str]:
        """language code -> voice name; espeak_SetVoiceByName accepts either."""
        voices = {}
        table = self.lib.espeak_ListVoices(None)
        i = 0
        while table[i]:
            v = table[i].contents
            language = (v.languages or b"")[1:].decode(errors="replace")  # first byte is a priority
            if language:
                voices[language] = (v.name or b"").decode(errors="replace")
            i += 1
        return voices

    def _select(self, voice: str) -> None:
        # espeak_SetVoiceByName quietly falls back to a default for many unknown names
        known = voice in self.voices or voice in self.voices.values()
        if not known or self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r}; use a language code such as cmn, en-us, yue, ja")

    def stream(
        self,
        text: str,
        voice: str | None = None,
        rate: int | None = None,
        pitch: int | None = None,
        speed: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Each buffer as eSpeak NG's callback delivers it, with the words it completes
        (a word is complete when the next one starts; the last comes with an empty piece)."""
        self._select(voice or self.defaults["voice"])
        words_per_minute = float(rate or self.defaults["rate"]) * (speed if speed is not None else 1.0)
        # the pipeline's speed multiplies the rate, within what eSpeak NG accepts
        self.lib.espeak_SetParameter(_RATE, int(min(max(words_per_minute, 80), 450)), 0)
        self.lib.espeak_SetParameter(_PITCH, int(pitch if pitch is not None else self.defaults["pitch"]), 0)
        data = text.encode("utf-8")
        self._queue = queue.Queue()
        self._abort.clear()
        status: list[int] = []

        def run() -> None:  # ctypes lets go of the GIL while eSpeak NG synthesizes
            try:
                status.append(
                    self.lib.espeak_Synth(
                        data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
                    )
                )
                self.lib.espeak_Synchronize()
            finally:
                self._queue.put(None)

        thread = threading.Thread(target=run, name="espeak-synth", daemon=True)
        thread.start()
        events: list[tuple[int, int, float]] = []
        said = 0  # words already sent
        elapsed = 0.0  # seconds of audio already sent
        try:
            while (item := self._queue.get()) is not None:
                pcm, found = item
                events += found
                merged = self._merge(events)
                done = [self._span(text, merged, n, 0.0) for n in range(said, len(merged) - 1)]
                said = max(said, len(merged) - 1)
                piece = Audio(pcm, self.sample_rate)
                yield {"audio": piece, "words": [_relative(w, elapsed) for w in done if w]}
                elapsed += piece.duration
            if status and status[0] != 0:
                raise RuntimeError(f"espeak_Synth failed with status {status[0]}")
            merged = self._merge(events)
            rest = [self._span(text, merged, n, elapsed) for n in range(said, len(merged))]
            yield {"audio": Audio(b"", self.sample_rate), "words": [_relative(w, elapsed) for w in rest if w]}
        finally:
            self._abort.set()  # a cancelled stream: the callback tells eSpeak NG to stop
            thread.join(30)

    def synthesize(
        self,
        text: str,
        voice: str | None = None,
        rate: int | None = None,
        pitch: int | None = None,
        speed: float | None = None,
    ) -> dict[str, Any]:
        """The audio and the words eSpeak NG reported: ``{"audio": Audio, "words": [...]}``."""
        # not ``join_pieces``: a buffer here may complete no word while still inside one, so
        # a piece without words says nothing about the take's timings being partial
        parts: list[Audio] = []
        words: list[dict[str, Any]] = []
        for piece in self.stream(text, voice, rate, pitch, speed):
            offset = sum(p.duration for p in parts)
            words += [{**w, "start": w["start"] + offset, "end": w["end"] + offset} for w in piece["words"]]
            parts.append(piece["audio"])
        return {"audio": Audio.concat(parts), "words": words}

    def describe(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "voice": self.defaults["voice"],
            "voices": sorted(self.voices),
            "options": ["voice", "rate", "pitch"],
        }


if __name__ == "__main__":
    raise SystemExit(main(Espeak))
