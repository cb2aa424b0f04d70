"""MiniCPM-o 4.5 speech: upstream's own model code on a tiny random checkpoint, through the real wrapper.

The model code (modeling_minicpmo.py & co.) is not on PyPI; it ships with the model. SOURCE is a
folder that holds it: a clone of OpenBMB/minicpm-o-4_5-pytorch-simple-demo (its ``MiniCPMO45/``
folder carries the same files as the model repo) or a download of openbmb/MiniCPM-o-4_5 without
the weights. ``minicpmo_tiny.py`` (run with the minicpmo env's interpreter) copies those files into
a folder laid out like the release and adds tiny random weights and a tiny CosyVoice2 vocoder.

Modes: the voice clone with ref_audio from the config, with a per-call ref_audio (24 kHz stereo, so
librosa resamples and downmixes), the same seed twice (the takes must be identical), and a stream
through upstream's own ``init_tts(streaming=True)``, ``streaming_prefill`` and ``streaming_generate``
(files on the same engine are covered by the stand-in tests: the open LLM below cannot
make one). Upstream's streaming vocoder, Step-Audio2's Token2wav
(minicpmo-utils), puts itself on CUDA; without a GPU the stream mode runs with a CPU stand-in for
Token2wav alone (``T2W_STANDIN``, on the worker's PYTHONPATH), and its name says so: everything
before the vocoder (the LLM's chunked generation, the TTS head's streaming tokens) is upstream's.
The stream runs on a second engine, a copy of the tiny model whose LLM never closes its speech
span (``minicpmo_tiny.py --open``): upstream's chunk_generate() cannot take a terminator as the
very first token, which the closed tiny LLM always gives.
"""

from __future__ import annotations

import array
import json
import math
import os
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

from verify._common import EngineRun, ModeResult, Skip, loaded_once, speak

ENGINE = "minicpmo"
SOURCE_VAR = "FANREN_TTS_MINICPMO_SOURCE"
ROOT = Path(__file__).resolve().parents[2]
ENV = ROOT / "envs" / "minicpmo"
BUILDER = Path(__file__).resolve().parent / "minicpmo_tiny.py"
SAMPLE_RATE = 24000


def _code_folder(source: Path) -> Path:
    for candidate in (source, source / "MiniCPMO45"):
        if (candidate / "modeling_minicpmo.py").is_file():
            return candidate
    raise Skip(
        f"{source} holds no modeling_minicpmo.py (nor MiniCPMO45/modeling_minicpmo.py); "
        "clone OpenBMB/minicpm-o-4_5-pytorch-simple-demo and point FANREN_TTS_MINICPMO_SOURCE at it"
    )


def _env_python() -> Path:
    from fanren_tts._envs import env_status

    status = env_status(ENV, ENGINE)
    if not status.ready:
        raise Skip(
            f"the minicpmo env is not ready ({status.detail}); build it with "
            ".venv/bin/python -c \"from fanren_tts._envs import sync_env; sync_env('envs/minicpmo')\" "
            "(torch 2.8 CUDA wheels, about 7 GB; they run on the CPU too)"
        )
    return Path(status.python)


def _write_tone(path: Path, rate: int, channels: int, seconds: float = 2.0) -> Path:
    """A voiced-ish test prompt (two partials plus a little deterministic noise), PCM16, stdlib only."""
    frames = int(rate * seconds)
    data = array.array("h")
    state = 12345
    for i in range(frames):
        state = (1103515245 * state + 12345) % 2**31
        noise = (state / 2**31 - 0.5) * 0.05
        t = i / rate
        value = 0.3 * math.sin(2 * math.pi * 180 * t) + 0.1 * math.sin(2 * math.pi * 360 * t) + noise
        data.extend([int(value * 32767)] * channels)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


def _upstream(source: Path, python: Path) -> str:
    commit = "unknown commit"
    try:
        out = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
        )
        if out.returncode == 0:
            commit = out.stdout.strip()
    except OSError:
        pass
    probe = (
        "from importlib.metadata import version as v; "
        "print(v('minicpmo-utils'), v('cosyvoice-minicpmo'), v('transformers'), v('torch'))"
    )
    versions = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    return (
        f"MiniCPM-o 4.5 model code @ {commit}; minicpmo-utils {versions[0]}, cosyvoice-minicpmo {versions[1]}, "
        f"transformers {versions[2]}, torch {versions[3]}"
    )


#: A CPU stand-in for ``stepaudio2.Token2wav`` (upstream's is CUDA only): the calls MiniCPM-o makes
#: (set_stream_cache, whose caches MiniCPM-o clones as tensors; stream), 960 samples of quiet noise per
#: fresh token (25 Hz tokens at 24 kHz), as (1, n) float32.
T2W_STANDIN = """
import numpy as np
import torch


class Token2wav:
    def __init__(self, model_path, float16=False, n_timesteps=10):
        self.sample_rate, self.cache, self.stream_cache, self.hift_cache_dict = 24000, {}, None, {}
        self.rng = np.random.default_rng(0)

    def set_stream_cache(self, prompt_wav):
        self.stream_cache, self.hift_cache_dict = {"step": torch.zeros(1)}, {"first_chunk": torch.ones(1)}
        return self.stream_cache, self.hift_cache_dict

    def stream(self, generated_speech_tokens, prompt_wav=None, last_chunk=False, return_waveform=False):
        if self.stream_cache is None:
            raise ValueError("Call set_stream_cache(prompt_wav) before stream()")
        fresh = len(generated_speech_tokens) - (0 if last_chunk else 3)
        return (0.05 * self.rng.standard_normal((1, max(fresh, 0) * 960))).astype(np.float32)
"""


def _t2w_standin(work: Path) -> Path:
    """A folder to put first on the worker's PYTHONPATH: ``stepaudio2`` is the CPU stand-in."""
    root = work / "t2w_standin"
    (root / "stepaudio2").mkdir(parents=True, exist_ok=True)
    (root / "stepaudio2" / "__init__.py").write_text(T2W_STANDIN)
    (work / "token2wav").mkdir(exist_ok=True)  # the folder the wrapper hands to init_tts(streaming=True)
    return root


STREAM_ENGINE = "minicpmo_stream"


def _stream(gen: Any, text: str, out: Path) -> ModeResult:
    """One stream through upstream's streaming path: several 24 kHz chunks, then a file again."""
    t0 = time.perf_counter()
    try:
        pieces = [c for c in gen.stream(text, STREAM_ENGINE, cache=False) if len(c.data)]
        info = gen.describe(STREAM_ENGINE)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        return ModeResult(False, time.perf_counter() - t0, error=f"{type(exc).__name__}: {first}")
    seconds = sum(len(p.data) / p.sample_rate for p in pieces)
    rate = pieces[0].sample_rate if pieces else 0
    sizes = [round(len(p.data) / p.sample_rate, 2) for p in pieces]
    print(f"[verify] minicpmo stream: {len(pieces)} chunks {sizes} s", file=sys.stderr)
    result = ModeResult(True, time.perf_counter() - t0, rate, seconds)
    if not info.get("streaming"):
        result.ok, result.error = False, f"describe() says streaming is off: {info.get('vocoder')}"
    elif len(pieces) < 2 or rate != SAMPLE_RATE:
        result.ok, result.error = False, f"{len(pieces)} chunk(s) at {rate} Hz: not streamed"
    return result


def _has_cuda(python: Path) -> bool:
    probe = "import torch; print(torch.cuda.is_available())"
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=300)
    return out.stdout.strip() == "True"


def _config(work: Path, python: Path, model: Path, ref: Path, hf_home: Path, cuda: bool) -> Path:
    import yaml

    block: dict[str, Any] = {
        "python": str(python),
        "model_path": str(model),
        "ref_audio": str(ref),
        "max_new_tokens": 16,  # the tiny LLM closes its speech span at once; keep its span short
        "env_vars": {"HF_HOME": str(hf_home)},
        "timeouts": {"startup": 900, "call": 900},
    }
    stream: dict[str, Any] = {
        **block,
        "type": ENGINE,
        "model_path": f"{model}-open",
        "max_new_tokens": 20,  # the open LLM writes exactly this many tokens: two of upstream's 10-token chunks
        "streaming": True,
        "env_vars": {"HF_HOME": str(hf_home)},
    }
    if not cuda:
        stream["token2wav_path"] = str(work / "token2wav")
        stream["env_vars"]["PYTHONPATH"] = str(_t2w_standin(work))
    engines = {ENGINE: block, STREAM_ENGINE: stream}
    doc = {"tts": {"engine": ENGINE, "output": {"sample_rate": None}, "cache": {"enabled": False}, **engines}}
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def verify(work: Path, source: Path | None) -> EngineRun:
    if source is None:
        raise Skip(
            f"no MiniCPM-o model code: set {SOURCE_VAR} (or --source minicpmo=PATH) to a clone of "
            "OpenBMB/minicpm-o-4_5-pytorch-simple-demo or a copy of openbmb/MiniCPM-o-4_5 without weights"
        )
    code = _code_folder(source)
    python = _env_python()
    work.mkdir(parents=True, exist_ok=True)
    model, hf_home = work / "MiniCPM-o-4_5", work / "hf"
    env = dict(os.environ, HF_HOME=str(hf_home), HF_HUB_OFFLINE="1")
    subprocess.run([str(python), str(BUILDER), str(code), str(model)], check=True, env=env, stdout=sys.stderr)
    shutil.rmtree(f"{model}-open", ignore_errors=True)
    shutil.copytree(model, f"{model}-open")
    subprocess.run([str(python), str(BUILDER), "--open", f"{model}-open"], check=True, env=env, stdout=sys.stderr)
    ref = _write_tone(work / "ref16k.wav", 16000, 1)
    ref_stereo = _write_tone(work / "ref24k_stereo.wav", 24000, 2)
    upstream = _upstream(source, python)

    from fanren_tts import TTSGenerator

    modes: dict[str, ModeResult] = {}
    cuda = _has_cuda(python)
    with TTSGenerator(_config(work, python, model, ref, hf_home, cuda)) as gen:
        modes["clone"] = speak(gen, ENGINE, "你好，世界。", work / "clone.wav", sample_rate=SAMPLE_RATE)
        pid = gen.worker(ENGINE).pid
        modes["clone_per_call_ref"] = speak(
            gen, ENGINE, "Hello there.", work / "ref.wav", sample_rate=SAMPLE_RATE, ref_audio=str(ref_stereo)
        )
        first = speak(gen, ENGINE, "同一句话。", work / "seed_a.wav", sample_rate=SAMPLE_RATE, seed=5)
        second = speak(gen, ENGINE, "同一句话。", work / "seed_b.wav", sample_rate=SAMPLE_RATE, seed=5)
        same = first.ok and second.ok and (work / "seed_a.wav").read_bytes() == (work / "seed_b.wav").read_bytes()
        error = first.error or second.error or ("" if same else "two takes with seed 5 differ")
        modes["seed_repeatable"] = ModeResult(
            first.ok and second.ok and same, first.seconds + second.seconds, first.sample_rate, first.duration, error
        )
        stream_mode = "stream" if cuda else "stream (Token2wav CPU stand-in)"
        modes[stream_mode] = _stream(gen, "你好，欢迎收听今天的节目。", work)
        restarted = loaded_once(gen, ENGINE, pid)
    (work / "modes.json").write_text(json.dumps({k: m.as_json() for k, m in modes.items()}, indent=2))
    run = EngineRun.from_modes(upstream, modes)
    if restarted:
        return EngineRun("failed", restarted, upstream, modes)
    return run
