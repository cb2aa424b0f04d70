"""espeak engine: eSpeak NG through the library and data that the PyPI package
espeakng-loader ships (no system install). Its ``cmn`` voice reads Mandarin correctly.

Word timings come from eSpeak NG itself: its synth callback reports a word event
(character position and audio position) for every word it speaks, so
``synthesize`` returns the audio with ``words`` measured by the engine.

Standalone: envs/espeak/.venv/bin/python wrappers/espeak_wrapper.py --text "你好" --out nihao.wav
"""

from __future__ import annotations

import ctypes
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
        self._samples: list[bytes] = []
        self._events: list[tuple[int, int, float]] = []
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
        if wav and count > 0:
            self._samples.append(ctypes.string_at(wav, count * 2))
        i = 0
        while events and events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type == _EVENT_WORD:
                self._events.append((e.text_position, e.length, e.audio_position / 1000.0))
            i += 1
        return 0

    def _words(self, text: str, seconds: float) -> list[dict[str, Any]]:
        """The word events as text spans on the audio's timeline.

        A word runs from its event's character position to the next word's, so text
        that eSpeak NG speaks as one word without an event of its own (好 in 很好)
        stays with it; events inside the previous word (a number read as several
        words) extend that word instead of starting one.
        """
        merged: list[list[Any]] = []  # [position, end position, start seconds]
        for pos, length, start in self._events:
            if merged and pos < merged[-1][1]:
                continue  # still inside the word before: it just lasts longer
            merged.append([pos, pos + max(length, 1), start])
        words = []
        for n, (pos, _, start) in enumerate(merged):
            last = n + 1 == len(merged)
            stop = len(text) + 1 if last else merged[n + 1][0]
            end = seconds if last else merged[n + 1][2]
            piece = text[pos - 1 : stop - 1].strip()
            if piece:
                words.append({"text": piece, "start": start, "end": max(end, start)})
        return words

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

    def synthesize(
        self,
        text: str,
        voice: str | None = None,
        rate: int | None = None,
        pitch: int | None = None,
        speed: float | None = None,
    ) -> dict[str, Any]:
        """The audio and the words eSpeak NG reported: ``{"audio": Audio, "words": [...]}``."""
        self._select(voice or self.defaults["voice"])
        words_per_minute = float(rate or self.defaults["rate"]) * (speed if speed is not None else 1.0)
        # the pipeline's speed multiplies the rate, within what eSpeak NG accepts
        self.lib.espeak_SetParameter(_RATE, int(min(max(words_per_minute, 80), 450)), 0)
        self.lib.espeak_SetParameter(_PITCH, int(pitch if pitch is not None else self.defaults["pitch"]), 0)
        data = text.encode("utf-8")
        self._samples = []
        self._events = []
        status = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
        self.lib.espeak_Synchronize()
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        audio = Audio(b"".join(self._samples), self.sample_rate)
        return {"audio": audio, "words": self._words(text, audio.duration)}

    def describe(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "voice": self.defaults["voice"],
            "voices": sorted(self.voices),
            "options": ["voice", "rate", "pitch"],
        }


if __name__ == "__main__":
    raise SystemExit(main(Espeak))
