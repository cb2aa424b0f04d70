"""What eSpeak NG would say for a text, as phonemes: run in the espeak engine's env.

Reads JSON ``[[voice, text], ...]`` on stdin, writes a JSON list of phoneme strings.
Uses espeakng-loader's library through ctypes (``espeak_TextToPhonemes``), the same
library the espeak wrapper speaks with, so "same phonemes" means "sounds the same".
"""

from __future__ import annotations

import ctypes
import json
import sys


def main() -> None:
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    if lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0) <= 0:  # 2: synchronous
        raise SystemExit("espeak_Initialize failed")
    out = []
    for voice, text in json.load(sys.stdin):
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SystemExit(f"no espeak voice {voice!r}")
        buf = ctypes.create_string_buffer(text.encode("utf-8"))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        parts = []
        while ptr.value:
            said = lib.espeak_TextToPhonemes(ctypes.byref(ptr), 1, 0)  # 1: UTF-8 text; 0: ASCII phonemes
            if said:
                parts.append(said.decode("utf-8", "replace"))
        out.append(" ".join(" ".join(parts).split()))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
