"""Qwen3-TTS through the real qwen-tts package, on tiny random checkpoints of all three kinds.

The code is PyPI qwen-tts 0.1.1 (= github QwenLM/Qwen3-TTS at 022e286), installed in
envs/qwen3; there is no source checkout to point at (SOURCE_VAR is None). The builder
(``qwen3_tiny.py``) runs in that env and writes CustomVoice, Base and VoiceDesign folders
laid out like Qwen/Qwen3-TTS-12Hz-*; each one becomes an engine block of kind qwen3 and is
driven through TTSGenerator and wrappers/qwen3_wrapper.py:

* custom_voice: a named speaker, then the same speaker with an instruct;
* voice_clone: ICL (ref_audio + ref_text) over two sentences, then x-vector only;
* voice_design: a voice from an instruct;
* seeded: two custom-voice takes with the same seed must be sample-identical, and a
  take with another seed must differ (so the seed, not chance, made them equal).

Every engine must keep one worker (one model load) for all its modes, and describe()
must put the codec on the model's device and say there is no streaming.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from fanren_tts import TTSGenerator

from ._common import EngineRun, ModeResult, build_once, loaded_once, speak, versions, write_config
from ._common import env_python as _env_python

ENGINE = "qwen3"
SOURCE_VAR = None
RATE = 24000
BUILDER = Path(__file__).resolve().parent / "qwen3_tiny.py"


def env_python() -> Path:
    return _env_python("qwen3", "qwen-tts 0.1.1, CUDA torch 2.8 from PyPI: several GB")


def _upstream(python: Path) -> str:
    out = versions(python, "qwen-tts", "transformers")
    return f"qwen-tts {out[0]} (PyPI), transformers {out[1]}"


def _config(work: Path, models: Path) -> Path:
    """One engine block per checkpoint, all of kind qwen3 on the qwen3 env."""
    common: dict[str, Any] = {"type": "qwen3", "timeouts": {"startup": 600, "call": 600}}
    engines = {
        "qwen3_custom": {**common, "model_path": str(models / "custom_voice"), "speaker": "Vivian"},
        "qwen3_base": {
            **common,
            "model_path": str(models / "base"),
            "ref_audio": str(models / "ref.wav"),
            "ref_text": "参考音频的文本。",
        },
        "qwen3_design": {**common, "model_path": str(models / "voice_design")},
    }
    return write_config(work, engines)


def _describe_problems(gen: TTSGenerator, engine: str) -> str:
    info = gen.describe(engine)
    problems = []
    if info.get("codec_device") != info.get("device"):
        problems.append(f"codec on {info.get('codec_device')}, model on {info.get('device')}")
    if info.get("streaming") is not False:
        problems.append("describe() does not say streaming: false")
    return "; ".join(problems)


def _with(result: ModeResult, problem: str) -> ModeResult:
    if problem:
        result.ok = False
        result.error = "; ".join(p for p in (result.error, problem) if p)
    return result


def _seeded(gen: TTSGenerator, out: Path) -> ModeResult:
    """Two takes with one seed: upstream samples (do_sample) so only the seed makes them equal."""
    t0 = time.perf_counter()
    first = speak(gen, "qwen3_custom", "同一个种子。", out / "seed_a.wav", sample_rate=RATE, seed=1234)
    second = speak(gen, "qwen3_custom", "同一个种子。", out / "seed_b.wav", sample_rate=RATE, seed=1234)
    other = speak(gen, "qwen3_custom", "同一个种子。", out / "seed_c.wav", sample_rate=RATE, seed=4321)
    if not (first.ok and second.ok and other.ok):
        return ModeResult(False, time.perf_counter() - t0, error=first.error or second.error or other.error)
    a, b, c = ((out / f"seed_{x}.wav").read_bytes() for x in "abc")
    result = ModeResult(True, time.perf_counter() - t0, first.sample_rate, first.duration)
    if a != b:
        return _with(result, "two takes with seed 1234 differ")
    # the check above means something only if the seed matters at all
    return _with(result, "seed 4321 gave the same take as seed 1234" if a == c else "")


def build_models(python: Path, models: Path) -> Path:
    """The three tiny checkpoints (and ref.wav) under ``models``, built once, in the qwen3 env."""
    return build_once(python, BUILDER, models, "voice_design/speech_tokenizer/model.safetensors")


def verify(work: Path, source: Path | None) -> EngineRun:
    python = env_python()
    work.mkdir(parents=True, exist_ok=True)
    models = build_models(python, work / "models")
    out = work / "out"
    out.mkdir(exist_ok=True)
    modes: dict[str, ModeResult] = {}
    with TTSGenerator(_config(work, models)) as gen:
        modes["custom_voice"] = speak(gen, "qwen3_custom", "你好，世界。", out / "custom.wav", sample_rate=RATE)
        pid = gen.worker("qwen3_custom").pid
        modes["custom_voice"] = _with(modes["custom_voice"], _describe_problems(gen, "qwen3_custom"))
        modes["custom_voice+instruct"] = speak(
            gen, "qwen3_custom", "今天天气很好。", out / "instruct.wav", sample_rate=RATE, instruct="用开心的语气说"
        )
        modes["seeded"] = _with(_seeded(gen, out), loaded_once(gen, "qwen3_custom", pid))

        modes["voice_clone"] = speak(
            gen, "qwen3_base", "第一句话。第二句话。", out / "clone.wav", sample_rate=RATE, language="Chinese"
        )
        pid = gen.worker("qwen3_base").pid
        modes["voice_clone"] = _with(modes["voice_clone"], _describe_problems(gen, "qwen3_base"))
        modes["voice_clone x-vector"] = _with(
            speak(gen, "qwen3_base", "Hello there.", out / "xvec.wav", sample_rate=RATE, x_vector_only_mode=True),
            loaded_once(gen, "qwen3_base", pid),
        )

        modes["voice_design"] = speak(
            gen, "qwen3_design", "Hello world.", out / "design.wav", sample_rate=RATE, instruct="A warm, low voice."
        )
        pid = gen.worker("qwen3_design").pid
        modes["voice_design"] = _with(modes["voice_design"], _describe_problems(gen, "qwen3_design"))
        modes["voice_design again"] = _with(
            speak(gen, "qwen3_design", "再说一遍。", out / "design2.wav", sample_rate=RATE, instruct="一个年轻的声音"),
            loaded_once(gen, "qwen3_design", pid),
        )
    return EngineRun.from_modes(_upstream(python), modes)


if __name__ == "__main__":  # python -m verify.qwen3 WORK (from scripts/)
    print(verify(Path(sys.argv[1]).resolve(), None).as_json())
