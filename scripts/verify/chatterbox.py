"""Chatterbox through the real chatterbox-tts package (PyPI 0.1.7) on random-weight checkpoints.

The builder (``chatterbox_tiny.py``) runs in envs/chatterbox and writes the English and
multilingual folders laid out like ``ResembleAI/chatterbox`` and the Turbo folder laid out
like ``ResembleAI/chatterbox-turbo`` (full-size tensors: upstream hard-codes its sizes; see
the builder). Three engine blocks drive them through TTSGenerator and
wrappers/chatterbox_wrapper.py, one worker each (Turbo's in a second TTSGenerator, after
the first two workers have exited: three full-size models at once would be ~20 GB):

* builtin: the English model with its built-in voice (conds.pt);
* clone: the English model cloning ref.wav (``ref_audio``);
* builtin after clone: the built-in voice again, seeded, must equal a seeded take made
  before any clone (upstream keeps the last clone as model state; the wrapper must not);
* seeded: two takes with one seed are sample-identical, another seed differs;
* multilingual fr / ja / zh: ``language`` picks the language (ja runs pykakasi, zh the
  Cangjie step, both upstream's);
* turbo builtin: ``ChatterboxTurboTTS`` with its built-in voice (seed 5);
* turbo seeded: the same line and seed again is sample-identical;
* turbo clone: clones ref_long.wav (6 s); ref.wav (3 s) must be refused with the
  wrapper's ValueError (upstream asserts a reference is longer than 5 s).

Also measures load time, first audio, RTF and the worker's peak memory (``figures.json``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from fanren_tts import TTSGenerator

from ._common import EngineRun, ModeResult, loaded_once, speak
from .voxcpm import config, peak_memory_mb
from .zhtts import env_python, upstream, with_problem

ENGINE = "chatterbox"
SOURCE_VAR = None
RATE = 24000
BUILDER = Path(__file__).resolve().parent / "chatterbox_tiny.py"


def build_models(python: Path, folder: Path, *, turbo: bool = False) -> Path:
    """The English and multilingual folders and ref.wav (~5 GB), or with ``turbo`` the Turbo
    folder and ref_long.wav (~3 GB), built once, in the chatterbox env (a few minutes each)."""
    if not (folder / ("turbo.json" if turbo else "built.json")).exists():
        args = [str(python), str(BUILDER), str(folder), *(["--turbo"] if turbo else [])]
        built = subprocess.run(args, capture_output=True, text=True)
        if built.returncode:
            raise RuntimeError(f"building the Chatterbox checkpoints failed:\n{built.stderr[-2000:]}")
    return folder


def verify_turbo(work: Path, models: Path, figures: dict[str, float]) -> dict[str, ModeResult]:
    """Turbo's modes in their own TTSGenerator (the Turbo folder is built first if missing)."""
    build_models(env_python("chatterbox", "chatterbox-tts 0.1.7, about 6 GB"), models, turbo=True)
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    block = {"device": "cpu", "timeouts": {"startup": 1200, "call": 1200}, "model": "turbo"}
    engines = {"chatterbox_turbo": {**block, "type": "chatterbox", "model_path": str(models / "turbo")}}
    name, modes = "chatterbox_turbo", {}
    with TTSGenerator(config(work, engines)) as gen:
        figures["turbo_load_s"] = gen.warm_up(name).get(name, 0.0)
        first = out / "turbo_builtin.wav"
        modes["turbo builtin"] = speak(gen, name, "The same line.", first, sample_rate=RATE, seed=5)
        pid = gen.worker(name).pid
        if modes["turbo builtin"].duration:
            figures["turbo_rtf"] = modes["turbo builtin"].seconds / modes["turbo builtin"].duration
        info = gen.describe(name)
        if (info.get("model"), info.get("languages"), info.get("sample_rate")) != ("turbo", ["en"], RATE):
            problem = f"describe(): model {info.get('model')}, languages {info.get('languages')}"
            modes["turbo builtin"] = with_problem(modes["turbo builtin"], problem)
        modes["turbo seeded"] = _equal(gen, out, "turbo_seed_again", first, engine=name, seed=5)
        short = speak(gen, name, "Too short.", out / "turbo_short.wav", ref_audio=str(models / "ref.wav"))
        clone = speak(
            gen,
            name,
            "Cloned voice.",
            out / "turbo_clone.wav",
            sample_rate=RATE,
            ref_audio=str(models / "ref_long.wav"),
        )
        refused = "" if not short.ok and "longer than 5 s" in short.error else f"a 3 s reference: {short}"
        modes["turbo clone"] = with_problem(clone, "; ".join(p for p in (refused, loaded_once(gen, name, pid)) if p))
        figures["turbo_worker_peak_mb"] = peak_memory_mb(pid)
    return modes


def _equal(gen: TTSGenerator, out: Path, name: str, first: Path, engine: str = ENGINE, **options: object) -> ModeResult:
    result = speak(gen, engine, "The same line.", out / f"{name}.wav", sample_rate=RATE, **options)
    if result.ok and (out / f"{name}.wav").read_bytes() != first.read_bytes():
        return with_problem(result, f"differs from {first.name}")
    return result


def verify(work: Path, source: Path | None) -> EngineRun:
    python = env_python("chatterbox", "chatterbox-tts 0.1.7 with CUDA torch 2.6 from PyPI, about 6 GB")
    work.mkdir(parents=True, exist_ok=True)
    models = build_models(python, work / "models")
    out = work / "out"
    out.mkdir(exist_ok=True)
    common = {"device": "cpu", "timeouts": {"startup": 1200, "call": 1200}}
    engines = {
        "chatterbox": {**common, "model_path": str(models / "english"), "model": "english"},
        "chatterbox_mtl": {
            **common,
            "type": "chatterbox",
            "model_path": str(models / "multilingual"),
            "model": "multilingual",
        },
    }
    ref = models / "ref.wav"
    modes: dict[str, ModeResult] = {}
    figures: dict[str, float] = {}
    with TTSGenerator(config(work, engines)) as gen:
        figures["load_s"] = gen.warm_up(ENGINE).get(ENGINE, 0.0)
        t0 = time.perf_counter()
        modes["builtin"] = speak(gen, ENGINE, "Hello world.", out / "builtin.wav", sample_rate=RATE)
        figures["first_audio_s"] = time.perf_counter() - t0  # no streaming: first audio is the whole take
        if modes["builtin"].duration:
            figures["rtf"] = modes["builtin"].seconds / modes["builtin"].duration
        pid = gen.worker(ENGINE).pid
        info = gen.describe(ENGINE)
        problems = [] if info.get("streaming") is False else ["describe() does not say streaming: false"]
        if info.get("languages") != ["en"] or info.get("sample_rate") != RATE:
            problems.append(f"describe(): languages {info.get('languages')}, rate {info.get('sample_rate')}")
        modes["builtin"] = with_problem(modes["builtin"], "; ".join(problems))
        before = out / "before.wav"
        modes["seeded"] = speak(gen, ENGINE, "The same line.", before, sample_rate=RATE, seed=5)
        if modes["seeded"].ok:
            modes["seeded"] = _equal(gen, out, "seed_again", before, seed=5)
            other = speak(gen, ENGINE, "The same line.", out / "seed_other.wav", sample_rate=RATE, seed=6)
            if other.ok and (out / "seed_other.wav").read_bytes() == before.read_bytes():
                modes["seeded"] = with_problem(modes["seeded"], "seed 6 gave the same take as seed 5")
        modes["clone"] = speak(gen, ENGINE, "Cloned voice.", out / "clone.wav", sample_rate=RATE, ref_audio=str(ref))
        modes["builtin after clone"] = with_problem(
            _equal(gen, out, "after_clone", before, seed=5), loaded_once(gen, ENGINE, pid)
        )
        figures["worker_peak_mb"] = peak_memory_mb(pid)

        mtl = "chatterbox_mtl"
        modes["multilingual fr"] = speak(gen, mtl, "Bonjour le monde.", out / "fr.wav", sample_rate=RATE, language="fr")
        pid = gen.worker(mtl).pid
        info = gen.describe(mtl)
        if "zh" not in info.get("languages", []) or len(info.get("languages", [])) != 23:
            modes["multilingual fr"] = with_problem(
                modes["multilingual fr"], f"describe() languages: {info.get('languages')}"
            )
        modes["multilingual ja"] = speak(gen, mtl, "こんにちは。", out / "ja.wav", sample_rate=RATE, language="ja")
        modes["multilingual zh"] = with_problem(
            speak(gen, mtl, "你好，世界。", out / "zh.wav", sample_rate=RATE, language="zh", ref_audio=str(ref)),
            loaded_once(gen, mtl, pid),
        )
        figures["mtl_worker_peak_mb"] = peak_memory_mb(pid)
    modes.update(verify_turbo(work / "turbo", models, figures))
    (work / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"    chatterbox figures (random-weight full-size checkpoint): {figures}", file=sys.stderr)
    versions = upstream(python, "chatterbox-tts", "torch", "transformers", "numpy")
    return EngineRun.from_modes(versions.replace("released weights", "random-weight checkpoint"), modes)


if __name__ == "__main__":  # python -m verify.chatterbox WORK (from scripts/)
    print(verify(Path(sys.argv[1]).resolve(), None).as_json())
