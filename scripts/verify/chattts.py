"""ChatTTS through the real ChatTTS package, on a tiny random checkpoint.

The code is PyPI ChatTTS 0.2.5 (= github 2noise/ChatTTS v0.2.5), installed in envs/chattts;
there is no source checkout to point at (SOURCE_VAR is None). The builder
(``chattts_tiny.py``) runs in that env and writes a folder laid out like 2Noise/ChatTTS
(``asset/``); one engine block drives it through TTSGenerator and wrappers/chattts_wrapper.py:

* speaker_seed: a voice drawn from a seed, refine pass off;
* refine: upstream's text refinement with oral/laugh/break in its prompt;
* spk_emb: the embedding ``sample_speaker`` returns, passed back as a voice;
* reference: ``ref_audio`` + ``ref_text`` (DVAE codes of the recording as spk_smp);
* named_voice: a stored voice (recording + transcript) through ``voices.add`` and ``voice=``;
* named_speaker: a stored speaker voice "2" (the registry's rule: digits are a speaker seed),
  sample-identical to ``speaker_seed=2``;
* stream: upstream's streaming decode, more than one piece;
* seeded: two takes with one seed are sample-identical, another seed differs.

The model must stay loaded (one worker) for every mode.
"""

from __future__ import annotations

import sys
import time
import wave
from pathlib import Path
from typing import Any

from fanren_tts import TTSGenerator

from ._common import EngineRun, ModeResult, build_once, loaded_once, speak, versions, write_config
from ._common import env_python as _env_python

ENGINE = "chattts"
SOURCE_VAR = None
RATE = 24000
BUILDER = Path(__file__).resolve().parent / "chattts_tiny.py"
#: Few GPT steps: the tiny GPT is random, so it speaks until max_new_token (see the builder).
FAST = {"max_new_token": 40, "refine_max_new_token": 8}


def env_python() -> Path:
    return _env_python("chattts", "ChatTTS 0.2.5, transformers 4.41, torch 2.8: several GB")


def _upstream(python: Path) -> str:
    out = versions(python, "ChatTTS", "transformers")
    return f"ChatTTS {out[0]} (PyPI), transformers {out[1]}"


def block(models: Path) -> dict[str, Any]:
    """The engine block around the tiny checkpoint in ``models`` (also used by verify/blocks.py)."""
    return {
        "type": "chattts",
        "model_path": str(models),
        "timeouts": {"startup": 900, "call": 900},
        **FAST,
    }


def _config(work: Path, models: Path) -> Path:
    return write_config(work, {"chattts": block(models)})


def build_models(python: Path, models: Path) -> Path:
    return build_once(python, BUILDER, models, "asset/gpt/model.safetensors")


def _ref_wav(path: Path) -> Path:
    """Two seconds of a 24 kHz rising tone (s16), for the reference mode."""
    import math

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        frames = bytearray()
        for n in range(2 * RATE):
            value = int(8000 * math.sin(2 * math.pi * (200 + n / 200) * n / RATE))
            frames += value.to_bytes(2, "little", signed=True)
        w.writeframes(bytes(frames))
    return path


def _with(result: ModeResult, problem: str) -> ModeResult:
    if problem:
        result.ok = False
        result.error = "; ".join(p for p in (result.error, problem) if p)
    return result


def _seeded(gen: TTSGenerator, out: Path) -> ModeResult:
    t0 = time.perf_counter()
    takes = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        r = speak(
            gen, "chattts", "同一个种子。", out / f"seed_{name}.wav", sample_rate=RATE, seed=seed, refine_text=False
        )
        if not r.ok:
            return ModeResult(False, time.perf_counter() - t0, error=r.error)
        takes.append((out / f"seed_{name}.wav").read_bytes())
    result = ModeResult(True, time.perf_counter() - t0, RATE, r.duration)
    if takes[0] != takes[1]:
        return _with(result, "two takes with seed 7 differ")
    return _with(result, "seed 8 gave the same take as seed 7" if takes[0] == takes[2] else "")


def _same_as(named: Path, gen: TTSGenerator, plain: Path) -> str:
    """'' when the stored speaker voice "2" speaks as speaker_seed 2 does (the rule maps it so)."""
    r = speak(gen, "chattts", "种子声音。", plain, sample_rate=RATE, speaker_seed=2, seed=4)
    if not r.ok:
        return r.error
    return "" if named.read_bytes() == plain.read_bytes() else "voice '2' did not speak as speaker_seed 2"


def _stream(gen: TTSGenerator) -> ModeResult:
    t0 = time.perf_counter()
    try:
        pieces = list(gen.stream("流式输出。", "chattts", seed=3, refine_text=False, max_new_token=96))
    except Exception as exc:
        return ModeResult(False, time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}")
    sounding = [p for p in pieces if len(p.data)]
    seconds = sum(len(p.data) for p in sounding) / RATE
    rates = {p.sample_rate for p in sounding}
    result = ModeResult(True, time.perf_counter() - t0, RATE, seconds)
    if rates != {RATE}:
        return _with(result, f"stream sample rates {sorted(rates)}")
    return _with(result, "" if len(sounding) > 1 else f"{len(sounding)} piece(s); upstream streams every 24 steps")


def verify(work: Path, source: Path | None) -> EngineRun:
    python = env_python()
    work.mkdir(parents=True, exist_ok=True)
    models = build_models(python, work / "models")
    out = work / "out"
    out.mkdir(exist_ok=True)
    ref = _ref_wav(work / "ref.wav")
    modes: dict[str, ModeResult] = {}
    with TTSGenerator(_config(work, models)) as gen:
        modes["speaker_seed"] = speak(
            gen, "chattts", "你好，世界。", out / "seed.wav", sample_rate=RATE, speaker_seed=2, refine_text=False
        )
        pid = gen.worker("chattts").pid
        info = gen.describe("chattts")
        if info.get("streaming") is not True or info.get("sample_rate") != RATE:
            modes["speaker_seed"] = _with(modes["speaker_seed"], f"describe() says {info}")
        modes["refine"] = speak(
            gen, "chattts", "今天天气很好。", out / "refine.wav", sample_rate=RATE, oral_level=2, laugh_level=0
        )
        emb = gen.call("chattts", "sample_speaker", seed=5)
        modes["spk_emb"] = speak(gen, "chattts", "Hello world.", out / "emb.wav", sample_rate=RATE, spk_emb=emb)
        modes["reference"] = speak(
            gen,
            "chattts",
            "第一句话。",
            out / "ref.wav",
            sample_rate=RATE,
            ref_audio=str(ref),
            ref_text="参考音频的文本。",
        )
        gen.voices.add("verify-chattts", ref, "参考音频的文本。", engine="chattts")
        modes["named_voice"] = speak(
            gen,
            "chattts",
            "存下的声音。",
            out / "named.wav",
            sample_rate=RATE,
            voice="verify-chattts",
            refine_text=False,
        )
        gen.voices.add("verify-seed", engine="chattts", speaker="2")
        modes["named_speaker"] = _with(
            speak(gen, "chattts", "种子声音。", out / "named_seed.wav", sample_rate=RATE, voice="verify-seed", seed=4),
            _same_as(out / "named_seed.wav", gen, out / "seed2.wav"),
        )
        modes["stream"] = _stream(gen)
        modes["seeded"] = _with(_seeded(gen, out), loaded_once(gen, "chattts", pid))
    return EngineRun.from_modes(_upstream(python), modes)


if __name__ == "__main__":  # python -m verify.chattts WORK (from scripts/)
    print(verify(Path(sys.argv[1]).resolve(), None).as_json())
