"""F5-TTS through the real f5-tts package, on a tiny random checkpoint and vocoder.

The code is PyPI f5-tts 1.1.22 (= github SWivid/F5-TTS 1.1.22), installed in envs/f5tts;
there is no source checkout to point at (SOURCE_VAR is None). The builder (``f5tts_tiny.py``)
runs in that env and writes F5TTS_v1_Base/ (checkpoint + vocab.txt, like SWivid/F5-TTS), a
Vocos folder (like charactr/vocos-mel-24khz), the tiny architecture's yaml and a reference
recording. One engine block drives it through TTSGenerator and wrappers/f5tts_wrapper.py:

* clone_zh / clone_en: a Chinese and an English line in the reference's voice;
* two_chunks: a sentence upstream cuts at its comma into two chunks (slow speed: short
  chunks), generated apart and cross-faded;
* stream: upstream's streaming path, more than one piece;
* named_voice: a stored voice (recording + transcript) through ``voices.add`` and ``voice=``;
* seeded: two takes with one seed are sample-identical, another seed differs;
* no_transcript: a call without ref_text is refused (upstream would fetch Whisper).

The model must stay loaded (one worker) for every mode.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from fanren_tts import TTSGenerator

from ._common import EngineRun, ModeResult, build_once, loaded_once, speak, versions, write_config
from ._common import env_python as _env_python

ENGINE = "f5tts"
SOURCE_VAR = None
RATE = 24000
BUILDER = Path(__file__).resolve().parent / "f5tts_tiny.py"
FAST = {"nfe_step": 4}  # flow-matching steps (upstream: 32); the weights are random anyway


def env_python() -> Path:
    return _env_python("f5tts", "f5-tts 1.1.22, torch 2.8: several GB")


def _upstream(python: Path) -> str:
    out = versions(python, "f5-tts", "vocos")
    return f"f5-tts {out[0]} (PyPI), vocos {out[1]}"


def block(models: Path) -> dict[str, Any]:
    """The engine block around the tiny checkpoint in ``models`` (also used by verify/blocks.py)."""
    return {
        "type": "f5tts",
        "model_path": str(models / "F5TTS_v1_Base"),
        "model_cfg": str(models / "tiny.yaml"),
        "vocoder_path": str(models / "vocos"),
        "ref_audio": str(models / "ref.wav"),
        "ref_text": "参考音频的文本。",
        "timeouts": {"startup": 900, "call": 900},
        **FAST,
    }


def _config(work: Path, models: Path) -> Path:
    return write_config(work, {"f5tts": block(models)})


def build_models(python: Path, models: Path) -> Path:
    return build_once(python, BUILDER, models, "ref.wav")


def _with(result: ModeResult, problem: str) -> ModeResult:
    if problem:
        result.ok = False
        result.error = "; ".join(p for p in (result.error, problem) if p)
    return result


def _seeded(gen: TTSGenerator, out: Path) -> ModeResult:
    t0 = time.perf_counter()
    takes = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        r = speak(gen, "f5tts", "同一个种子。", out / f"seed_{name}.wav", sample_rate=RATE, seed=seed)
        if not r.ok:
            return ModeResult(False, time.perf_counter() - t0, error=r.error)
        takes.append((out / f"seed_{name}.wav").read_bytes())
    result = ModeResult(True, time.perf_counter() - t0, RATE, r.duration)
    if takes[0] != takes[1]:
        return _with(result, "two takes with seed 7 differ")
    return _with(result, "seed 8 gave the same take as seed 7" if takes[0] == takes[2] else "")


def _stream(gen: TTSGenerator) -> ModeResult:
    t0 = time.perf_counter()
    try:
        pieces = list(gen.stream("流式输出的一句话。", "f5tts", seed=3, stream_chunk_size=4096))
    except Exception as exc:
        return ModeResult(False, time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}")
    sounding = [p for p in pieces if len(p.data)]
    result = ModeResult(True, time.perf_counter() - t0, RATE, sum(len(p.data) for p in sounding) / RATE)
    if {p.sample_rate for p in sounding} != {RATE}:
        return _with(result, "stream sample rate is not 24000")
    return _with(result, "" if len(sounding) > 1 else f"{len(sounding)} piece(s)")


def _refused(gen: TTSGenerator, out: Path) -> ModeResult:
    t0 = time.perf_counter()
    r = speak(gen, "f5tts", "没有文本。", out / "refused.wav", ref_text="")
    if r.ok:
        return ModeResult(False, time.perf_counter() - t0, error="an empty ref_text was accepted")
    ok = "ref_text" in r.error
    return ModeResult(ok, time.perf_counter() - t0, RATE, 0.0, "" if ok else f"wrong error: {r.error}")


def verify(work: Path, source: Path | None) -> EngineRun:
    python = env_python()
    work.mkdir(parents=True, exist_ok=True)
    models = build_models(python, work / "models")
    out = work / "out"
    out.mkdir(exist_ok=True)
    modes: dict[str, ModeResult] = {}
    with TTSGenerator(_config(work, models)) as gen:
        modes["clone_zh"] = speak(gen, "f5tts", "你好，世界。", out / "zh.wav", sample_rate=RATE)
        pid = gen.worker("f5tts").pid
        info = gen.describe("f5tts")
        if info.get("streaming") is not True or info.get("sample_rate") != RATE:
            modes["clone_zh"] = _with(modes["clone_zh"], f"describe() says {info}")
        modes["clone_en"] = speak(gen, "f5tts", "Hello world, this is a test.", out / "en.wav", sample_rate=RATE)
        modes["two_chunks"] = speak(
            gen,
            "f5tts",
            "第一段话很长很长很长，第二段话也很长很长很长。",
            out / "two.wav",
            sample_rate=RATE,
            speed=0.25,
        )
        modes["stream"] = _stream(gen)
        gen.voices.add("verify-f5", models / "ref.wav", "参考音频的文本。", engine="f5tts")
        modes["named_voice"] = speak(
            gen, "f5tts", "存下的声音。", out / "named.wav", sample_rate=RATE, voice="verify-f5"
        )
        modes["seeded"] = _seeded(gen, out)
        modes["no_transcript"] = _with(_refused(gen, out), loaded_once(gen, "f5tts", pid))
    return EngineRun.from_modes(_upstream(python), modes)


if __name__ == "__main__":  # python -m verify.f5tts WORK (from scripts/)
    print(verify(Path(sys.argv[1]).resolve(), None).as_json())
