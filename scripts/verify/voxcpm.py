"""VoxCPM2 through the real voxcpm package (PyPI 2.0.3) on a tiny random checkpoint.

The builder (``voxcpm_tiny.py``) runs in envs/voxcpm and writes a folder laid out like
``openbmb/VoxCPM2``; one engine block of kind voxcpm drives it through TTSGenerator and
wrappers/voxcpm_wrapper.py, one worker for every mode:

* zero_shot: text only;
* voice_design: a voice description in parentheses before the text (VoxCPM2's way);
* reference_clone: ``ref_audio`` alone (VoxCPM2's reference_wav_path);
* prompt_clone: ``ref_audio`` + ``ref_text`` (continuation, and the reference too);
* streaming: ``TTSGenerator.stream`` must bring more than one chunk (upstream yields one
  per patch; the tiny model always makes min_len + 2 patches);
* seeded: two takes with one seed are sample-identical, another seed differs.

It also measures load time, time to the first streamed audio, RTF and the worker's peak
memory (``figures`` in the returned run's reason is empty; they go to ``work/figures.json``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from fanren_tts import TTSGenerator

from ._common import EngineRun, ModeResult, build_once, loaded_once, memory_mb, speak, write_config
from .zhtts import env_python, upstream, with_problem

ENGINE = "voxcpm"
SOURCE_VAR = None
RATE = 48000
BUILDER = Path(__file__).resolve().parent / "voxcpm_tiny.py"


def build_model(python: Path, folder: Path) -> Path:
    """The tiny VoxCPM2 folder, built once, in the voxcpm env."""
    return build_once(python, BUILDER, folder, "audiovae.pth")


def config(work: Path, engines: dict[str, dict[str, Any]]) -> Path:
    return write_config(work, engines)


def peak_memory_mb(pid: int | None) -> float:
    """The worker's peak resident memory (VmHWM), in MB; 0 where /proc does not say."""
    return memory_mb(pid)[1]
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def streamed(gen: TTSGenerator, engine: str, text: str, **options: Any) -> tuple[ModeResult, float]:
    """A stream through TTSGenerator: ok with more than one chunk; also the first chunk's delay."""
    t0 = time.perf_counter()
    first = 0.0
    chunks = 0
    seconds = 0.0
    try:
        for chunk in gen.stream(text, engine, cache=False, **options):
            if len(chunk.data):
                chunks += 1
                first = first or time.perf_counter() - t0
                seconds = chunk.start + len(chunk.data) / chunk.sample_rate
    except Exception as exc:
        return ModeResult(False, time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}"), 0.0
    result = ModeResult(chunks > 1, time.perf_counter() - t0, RATE, seconds)
    if chunks <= 1:
        result.error = f"{chunks} chunk(s): upstream streams one per patch"
    return result, first


def seeded(gen: TTSGenerator, engine: str, out: Path) -> ModeResult:
    t0 = time.perf_counter()
    runs = {
        k: speak(gen, engine, "Same seed.", out / f"seed_{k}.wav", sample_rate=RATE, seed=s)
        for k, s in (("a", 7), ("b", 7), ("c", 8))
    }
    bad = [r.error for r in runs.values() if not r.ok]
    if bad:
        return ModeResult(False, time.perf_counter() - t0, error=bad[0])
    a, b, c = ((out / f"seed_{k}.wav").read_bytes() for k in "abc")
    result = ModeResult(True, time.perf_counter() - t0, RATE, runs["a"].duration)
    if a != b:
        return with_problem(result, "two takes with seed 7 differ")
    return with_problem(result, "seed 8 gave the same take as seed 7" if a == c else "")


def verify(work: Path, source: Path | None) -> EngineRun:
    python = env_python("voxcpm", "voxcpm 2.0.3 with CUDA torch 2.6 from PyPI, about 6 GB")
    work.mkdir(parents=True, exist_ok=True)
    model = build_model(python, work / "VoxCPM2-tiny")
    out = work / "out"
    out.mkdir(exist_ok=True)
    block = {"model_path": str(model), "device": "cpu", "timeouts": {"startup": 900, "call": 900}}
    modes: dict[str, ModeResult] = {}
    figures: dict[str, float] = {}
    with TTSGenerator(config(work, {"voxcpm": block})) as gen:
        figures["load_s"] = gen.warm_up(ENGINE).get(ENGINE, 0.0)
        modes["zero_shot"] = speak(gen, ENGINE, "Hello world.", out / "zero.wav", sample_rate=RATE)
        pid = gen.worker(ENGINE).pid
        info = gen.describe(ENGINE)
        problems = [] if info.get("streaming") is True else ["describe() does not say streaming: true"]
        if info.get("sample_rate") != RATE:
            problems.append(f"describe() says sample_rate {info.get('sample_rate')}")
        modes["zero_shot"] = with_problem(modes["zero_shot"], "; ".join(problems))
        if modes["zero_shot"].duration:
            figures["rtf"] = modes["zero_shot"].seconds / modes["zero_shot"].duration
        modes["voice_design"] = speak(
            gen, ENGINE, "(A warm, low voice)Good evening.", out / "design.wav", sample_rate=RATE
        )
        ref = out / "zero.wav"
        modes["reference_clone"] = speak(
            gen, ENGINE, "你好，世界。", out / "ref.wav", sample_rate=RATE, ref_audio=str(ref)
        )
        modes["prompt_clone"] = speak(
            gen,
            ENGINE,
            "Hello again.",
            out / "prompt.wav",
            sample_rate=RATE,
            ref_audio=str(ref),
            ref_text="Hello world.",
        )
        modes["streaming"], figures["first_audio_s"] = streamed(gen, ENGINE, "Streaming text.", min_len=6)
        modes["seeded"] = with_problem(seeded(gen, ENGINE, out), loaded_once(gen, ENGINE, pid))
        figures["worker_peak_mb"] = peak_memory_mb(pid)
    (work / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"    voxcpm figures (tiny checkpoint): {figures}", file=sys.stderr)
    return EngineRun.from_modes(
        upstream(python, "voxcpm", "torch", "transformers").replace("released weights", "tiny random checkpoint"), modes
    )


if __name__ == "__main__":  # python -m verify.voxcpm WORK (from scripts/)
    print(verify(Path(sys.argv[1]).resolve(), None).as_json())
