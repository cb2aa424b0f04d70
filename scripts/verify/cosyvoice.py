"""CosyVoice 2 and 3: upstream's real loader and inference on tiny random checkpoints.

Needs a recursive clone of FunAudioLLM/CosyVoice (``FANREN_TTS_COSYVOICE_SOURCE`` or
``--source cosyvoice=PATH``; its third_party/Matcha-TTS submodule checked out) and
the cosyvoice env (``python -m fanren_tts.envs sync cosyvoice``). The model folders
are built by ``cosyvoice_tiny.py`` inside that env, then every mode runs through
``TTSGenerator`` and wrappers/cosyvoice_wrapper.py: sft, zero_shot, cross_lingual,
instruct2, a speaker registered with ``add_speaker`` and reused, two takes with
one seed that must be identical, and three streams in a row (``stream_hop``) whose
first chunks must be the same size: upstream grows the model's ``token_hop_len`` on
every chunk and never resets it, so without the wrapper's fix the 2nd and 3rd
streams start with up to 4x the audio.
"""

from __future__ import annotations

import math
import os
import random
import struct
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

from verify._common import EngineRun, ModeResult, Skip, loaded_once, speak

ENGINE = "cosyvoice"
SOURCE_VAR = "FANREN_TTS_COSYVOICE_SOURCE"

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BUILDER = HERE / "cosyvoice_tiny.py"
MODELS = {"cv2": ("2", "CosyVoice2-0.5B"), "cv3": ("3", "Fun-CosyVoice3-0.5B")}
SPEAKER = "中文女"  # the sft speaker cosyvoice_tiny.py puts in spk2info.pt
PROMPT_TEXT = "希望你以后能够做的比我还好呦。"
#: Every mode run for each model, in order.
MODES = ("sft", "zero_shot", "cross_lingual", "instruct2", "zero_shot_speaker", "seed", "stream_hop")
#: Long enough for several stream chunks on the tiny models (2 speech tokens per text token at least).
STREAM_TEXT = "你好，欢迎收看今天的节目，我们一起看看天气。"


def _git(source: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.strip() or "?"


def _checkout(source: Path | None) -> Path:
    """The source checkout, or Skip saying how to get one."""
    if source is None:
        raise Skip(
            f"no CosyVoice source: git clone --recursive https://github.com/FunAudioLLM/CosyVoice, then set "
            f"{SOURCE_VAR}=<that folder> (or --source cosyvoice=PATH)"
        )
    if not (source / "cosyvoice" / "cli" / "cosyvoice.py").is_file():
        raise Skip(f"{source} is not a CosyVoice checkout (cosyvoice/cli/cosyvoice.py missing)")
    if not (source / "third_party" / "Matcha-TTS" / "matcha" / "__init__.py").is_file():
        raise Skip(f"{source}/third_party/Matcha-TTS is empty: git -C {source} submodule update --init --recursive")
    return source


def _env_python() -> Path:
    """The cosyvoice env's interpreter, or Skip naming the sync command."""
    sys.path.insert(0, str(ROOT))
    from fanren_tts._envs import env_status

    status = env_status(ROOT / "envs" / "cosyvoice", "cosyvoice")
    if not status.ready:
        raise Skip(f"the cosyvoice env is not ready ({status.state}): python -m fanren_tts.envs sync cosyvoice")
    return status.python


def _prompt_wav(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    """A 16 kHz voiced-ish prompt (a sweeping tone plus noise), written with the stdlib."""
    rng = random.Random(7)
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        value = 0.3 * math.sin(2 * math.pi * (180 + 40 * t) * t) + 0.03 * rng.uniform(-1, 1)
        frames += struct.pack("<h", int(value * 32767))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path


def _build(python: Path, source: Path, out: Path) -> None:
    """Run the builder in the env (it needs torch); a failure shows its last lines."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}
    cmd = [str(python), str(BUILDER), str(source), str(out), "2", "3"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"building the tiny CosyVoice checkpoints failed ({proc.returncode}):\n{tail}")


def _write_config(work: Path, python: Path, source: Path, models: Path) -> Path:
    import yaml

    blocks: dict[str, Any] = {}
    for name, (_, folder) in MODELS.items():
        blocks[name] = {
            "type": "cosyvoice",
            "python": str(python),
            "source_path": str(source),
            "model_path": str(models / folder),
            "mode": "zero_shot",
            "timeouts": {"startup": 900, "call": 900, "shutdown": 20},
        }
    doc = {"tts": {"engine": "cv2", "output": {"sample_rate": None}, "cache": {"enabled": False}, **blocks}}
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _same_seed(gen: Any, name: str, out: Path, **options: Any) -> ModeResult:
    """Two takes with one seed: both must be ok and byte-identical."""
    t0 = time.perf_counter()
    first = speak(gen, name, "你好。", out / f"{name}_seed_a.wav", sample_rate=24000, seed=1234, **options)
    second = speak(gen, name, "你好。", out / f"{name}_seed_b.wav", sample_rate=24000, seed=1234, **options)
    result = ModeResult(first.ok and second.ok, time.perf_counter() - t0, first.sample_rate, first.duration)
    if not result.ok:
        result.error = first.error or second.error
    elif (out / f"{name}_seed_a.wav").read_bytes() != (out / f"{name}_seed_b.wav").read_bytes():
        result.ok, result.error = False, "two takes with seed=1234 differ"
    return result


def _first_chunks(gen: Any, name: str, **options: Any) -> ModeResult:
    """Three streams of one line on the loaded model: each must start with the same first chunk
    (upstream's own hop, 25 tokens for CosyVoice 2/3), and the first must come in several chunks
    so the hop was exercised. ``duration`` is the first chunk of the third stream."""
    t0 = time.perf_counter()
    firsts: list[float] = []
    counts: list[int] = []
    rate = 0
    try:
        for _ in range(3):
            pieces = [c for c in gen.stream(STREAM_TEXT, name, cache=False, seed=1234, **options) if len(c.data)]
            rate = pieces[0].sample_rate
            firsts.append(round(len(pieces[0].data) / rate, 3))
            counts.append(len(pieces))
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        return ModeResult(False, time.perf_counter() - t0, error=f"{type(exc).__name__}: {first}")
    print(f"[verify] {name} stream_hop: first chunks {firsts} s, chunks per stream {counts}", file=sys.stderr)
    result = ModeResult(True, time.perf_counter() - t0, rate, firsts[-1])
    if counts[0] < 2:
        result.ok, result.error = (
            False,
            f"the first stream came in one chunk ({firsts[0]} s): the hop was not exercised",
        )
    elif len(set(firsts)) != 1:
        result.ok, result.error = False, f"first chunks of three streams differ: {firsts} s (chunks {counts})"
    return result


def _run_model(gen: Any, name: str, prompt: Path, out: Path) -> dict[str, ModeResult]:
    modes: dict[str, ModeResult] = {}
    p = {"prompt_speech": str(prompt), "prompt_text": PROMPT_TEXT}
    modes["sft"] = speak(gen, name, "你好。", out / f"{name}_sft.wav", sample_rate=24000, mode="sft", speaker=SPEAKER)
    pid = gen.worker(name).pid
    modes["zero_shot"] = speak(gen, name, "你好。", out / f"{name}_zero_shot.wav", sample_rate=24000, **p)
    modes["cross_lingual"] = speak(
        gen, name, "<|en|>Hello.", out / f"{name}_cross.wav", sample_rate=24000, mode="cross_lingual", **p
    )
    modes["instruct2"] = speak(
        gen,
        name,
        "你好。",
        out / f"{name}_instruct2.wav",
        sample_rate=24000,
        mode="instruct2",
        instruct_text="用四川话说这句话",
        prompt_speech=str(prompt),
    )
    t0 = time.perf_counter()
    try:
        speakers = gen.call(name, "add_speaker", speaker="my_voice", prompt_speech=str(prompt), prompt_text=PROMPT_TEXT)
        added = "my_voice" in speakers
    except Exception as exc:  # reported as the mode's failure
        added, speakers = False, [f"{type(exc).__name__}: {exc}"]
    if added:
        reused = speak(gen, name, "你好。", out / f"{name}_speaker.wav", sample_rate=24000, speaker="my_voice")
        reused.seconds = time.perf_counter() - t0  # add_speaker + the take
        modes["zero_shot_speaker"] = reused
    else:
        modes["zero_shot_speaker"] = ModeResult(False, time.perf_counter() - t0, error=f"add_speaker: {speakers}")
    modes["seed"] = _same_seed(gen, name, out, mode="zero_shot", **p)
    modes["stream_hop"] = _first_chunks(gen, name, mode="zero_shot", **p)
    problem = loaded_once(gen, name, pid)
    if problem:
        for m in modes.values():
            m.ok, m.error = False, m.error or problem
    return modes


def verify(work: Path, source: Path | None) -> EngineRun:
    """Build both tiny models, then run every mode of each through the real wrapper."""
    source = _checkout(source)
    python = _env_python()
    from fanren_tts import TTSGenerator

    work.mkdir(parents=True, exist_ok=True)
    models = work / "models"
    _build(python, source, models)
    prompt = _prompt_wav(work / "prompt.wav")
    out = work / "out"
    out.mkdir(exist_ok=True)
    cfg = _write_config(work, python, source, models)
    modes: dict[str, ModeResult] = {}
    with TTSGenerator(cfg) as gen:
        for name in MODELS:
            for mode, result in _run_model(gen, name, prompt, out).items():
                modes[f"{name}:{mode}"] = result
    upstream = (
        f"FunAudioLLM/CosyVoice {_git(source, 'rev-parse', '--short=12', 'HEAD')} "
        f"(Matcha-TTS {_git(source / 'third_party' / 'Matcha-TTS', 'rev-parse', '--short=12', 'HEAD')})"
    )
    return EngineRun.from_modes(upstream, modes)
