"""IndexTTS 2 and 1.5: the real ``indextts/infer_v2.py::IndexTTS2`` and
``indextts/infer.py::IndexTTS`` on tiny random checkpoints.

The checkpoints are built by ``indextts_tiny.py`` and ``indextts_tiny_v15.py`` inside
the indextts env (they need torch and upstream's module classes). Every mode goes
through ``TTSGenerator`` and ``wrappers/indextts_wrapper.py``, one worker per version.

The worker runs with networking switched off: a ``sitecustomize`` on its PYTHONPATH
makes every inet connect / DNS lookup raise and logs it, and the run fails if
anything was logged. That is the proof that nothing downloads (upstream's
``ensure_models_available`` probes huggingface.co and modelscope.cn whatever
HF_HUB_OFFLINE says; the wrapper never lets it run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from fanren_tts import TTSGenerator
from fanren_tts._envs import env_status
from fanren_tts.config import PROJECT_ROOT

from ._common import EngineRun, ModeResult, Skip, loaded_once, speak

ENGINE = "indextts"
SOURCE_VAR = "FANREN_TTS_INDEXTTS_SOURCE"
ENV = PROJECT_ROOT / "envs" / "indextts"
BUILDER = Path(__file__).with_name("indextts_tiny.py")
BUILDER_V15 = Path(__file__).with_name("indextts_tiny_v15.py")
RATE = 22050
RATE_V15 = 24000
TEXT = "你好世界，今天天气很好。HELLO WORLD."
SEED = 1234

# Loaded first thing by every interpreter that has this folder on PYTHONPATH.
NO_NETWORK = '''"""Verify runs: any inet connection or DNS lookup raises and is logged to $FANREN_VERIFY_NETLOG."""
import os
import socket

_LOG = os.environ.get("FANREN_VERIFY_NETLOG")


def _note(what, args):
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {what} {args!r}\\n")
    raise OSError(f"network access is disabled in this verify run ({what} {args!r})")


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _note("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _note("connect_ex", address)
    return _connect_ex(self, address)


def getaddrinfo(*args, **kwargs):
    _note("getaddrinfo", args[:2])


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = getaddrinfo
'''


def _env_python() -> Path:
    status = env_status(ENV, ENGINE)
    if not status.ready:
        raise Skip(
            f"the indextts env is not ready ({status.detail}); build it: python -m fanren_tts.envs sync indextts"
        )
    return status.venv / "bin" / "python"


def _upstream(source: Path) -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"index-tts checkout {source} (no git revision)"
    return f"index-tts/index-tts@{rev}"


def _build(python: Path, source: Path, out: Path) -> None:
    """Build the tiny checkpoints once per work folder (the marker is written last)."""
    marker = out / ".built"
    if marker.is_file():
        return
    for builder in (BUILDER, BUILDER_V15):
        subprocess.run([str(python), str(builder), str(source), str(out)], check=True)
    marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def _guard(work: Path, python: Path) -> dict[str, str]:
    """The worker's env vars that switch networking off; checked once that they do."""
    folder = work / "no_network"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(NO_NETWORK, encoding="utf-8")
    log = work / "network_attempts.log"
    env = {"PYTHONPATH": str(folder), "FANREN_VERIFY_NETLOG": str(log)}
    probe = "import socket\ntry:\n    socket.create_connection(('huggingface.co', 443), timeout=3)\nexcept OSError:\n    pass"
    subprocess.run([str(python), "-c", probe], env={**os.environ, **env}, check=True)
    if not log.is_file() or "huggingface.co" not in log.read_text(encoding="utf-8"):
        raise RuntimeError(f"the no-network guard in {folder} did not catch a test connection")
    log.unlink()
    return env


def _same_take_twice(gen: TTSGenerator, work: Path) -> ModeResult:
    """Two takes with one seed must be the same bytes; a third with another seed must differ."""
    t0 = time.perf_counter()
    takes = []
    for name, seed in (("seed_a", SEED), ("seed_b", SEED), ("seed_c", SEED + 1)):
        m = speak(gen, ENGINE, TEXT, work / f"{name}.wav", sample_rate=RATE, seed=seed)
        if not m.ok:
            return m
        takes.append((work / f"{name}.wav").read_bytes())
    elapsed = time.perf_counter() - t0
    a, b, c = takes
    if a != b:
        return ModeResult(False, elapsed, m.sample_rate, m.duration, error=f"two takes with seed {SEED} differ")
    if a == c:
        return ModeResult(False, elapsed, m.sample_rate, m.duration, error="another seed gave the same audio")
    return ModeResult(True, elapsed, m.sample_rate, m.duration)


def _fit(gen: TTSGenerator, out: Path, natural: float) -> ModeResult:
    """``target_duration`` 1.3x a natural take: IndexTTS 2 has no rate control (only 2.5 has
    duration_factor), so the wrapper must report none and the fit is a time-stretch to within 3 %."""
    t0 = time.perf_counter()
    target = round(max(natural, 0.5) * 1.3, 3)
    try:
        result = gen.generate(TEXT, out / "fit.wav", ENGINE, cache=False, target_duration=target)
        info = gen.describe(ENGINE)
    except Exception as exc:  # reported as the mode's failure
        first = str(exc).splitlines()[0] if str(exc) else ""
        return ModeResult(False, time.perf_counter() - t0, error=f"{type(exc).__name__}: {first}")
    mode = ModeResult(True, time.perf_counter() - t0, result.sample_rate, result.duration)
    if info.get("rate_control") is not None or info.get("target_duration") != "time-stretch only":
        mode.ok, mode.error = False, f"IndexTTS 2 reports rate_control {info.get('rate_control')!r}"
    elif abs(result.duration / target - 1) > 0.03:
        mode.ok, mode.error = False, f"{result.duration:.3f} s for a target of {target} s"
    return mode


def verify(work: Path, source: Path | None) -> EngineRun:
    if source is None:
        raise Skip(f"no IndexTTS source: clone index-tts/index-tts and set {SOURCE_VAR} (or --source indextts=PATH)")
    if not (source / "indextts" / "infer_v2.py").is_file():
        raise Skip(f"{source} is not an index-tts checkout (indextts/infer_v2.py missing)")
    python = _env_python()
    work.mkdir(parents=True, exist_ok=True)
    tiny = work / "tiny"
    _build(python, source, tiny)
    env_vars = _guard(work, python)
    aux = tiny / "aux"
    block: dict[str, Any] = {
        "device": "cpu",
        "env_vars": env_vars,
        "timeouts": {"startup": 600, "call": 600},
        "source_path": str(source),
        "model_dir": str(tiny / "checkpoints"),
        "version": "2",
        "use_qwen_emo": True,  # QwenEmotion on the tiny Qwen3 (indextts_tiny.build_qwen_emotion)
        "aux_paths": {
            "w2v_bert": str(aux / "w2v-bert-2.0"),
            "semantic_codec": str(aux / "semantic_codec" / "model.safetensors"),
            "campplus": str(aux / "campplus_cn_common.bin"),
            "bigvgan": str(aux / "bigvgan"),
        },
        "spk_audio_prompt": str(tiny / "prompts" / "voice.wav"),
        "max_mel_tokens": 20,  # the tiny GPT never stops on its own (see indextts_tiny.py)
    }
    v15 = {
        "type": ENGINE,
        "device": "cpu",
        "env_vars": env_vars,
        "timeouts": {"startup": 600, "call": 600},
        "source_path": str(source),
        "model_dir": str(tiny / "checkpoints_v15"),
        "version": "1.5",
        "spk_audio_prompt": str(tiny / "prompts" / "voice.wav"),
        "max_mel_tokens": 20,
    }
    config = work / "config.yaml"
    doc = {
        "tts": {
            "engine": ENGINE,
            "output": {"sample_rate": None},
            "cache": {"enabled": False},
            ENGINE: block,
            "indextts15": v15,
        }
    }
    config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    out = work / "out"
    out.mkdir(exist_ok=True)
    modes: dict[str, ModeResult] = {}
    with TTSGenerator(config) as gen:
        modes["speaker prompt"] = speak(gen, ENGINE, TEXT, out / "speaker.wav", sample_rate=RATE)
        pid = gen.worker(ENGINE).pid
        modes["emotion by audio"] = speak(
            gen,
            ENGINE,
            TEXT,
            out / "emo_audio.wav",
            sample_rate=RATE,
            emo_audio_prompt=str(tiny / "prompts" / "emo.wav"),
            emo_alpha=0.7,
        )
        modes["emotion by vector"] = speak(
            gen, ENGINE, TEXT, out / "emo_vector.wav", sample_rate=RATE, emo_vector=[0, 0, 0.6, 0, 0, 0, 0, 0.3]
        )
        modes["emotion by text"] = speak(
            gen, ENGINE, TEXT, out / "emo_text.wav", sample_rate=RATE, use_emo_text=True, emo_text="我今天很开心"
        )
        placed = gen.describe(ENGINE).get("emotion_model_device")
        if placed != "cpu":
            modes["emotion by text"].ok = False
            modes["emotion by text"].error = f"QwenEmotion is on {placed}, the configured device is cpu"
        modes["same seed, same take"] = _same_take_twice(gen, out)
        modes["target_duration (stretch only)"] = _fit(gen, out, modes["speaker prompt"].duration)
        restarted = loaded_once(gen, ENGINE, pid)
        if restarted:
            for m in modes.values():
                m.ok, m.error = False, m.error or restarted
        modes["1.5 speaker prompt"] = speak(gen, "indextts15", TEXT, out / "v15.wav", sample_rate=RATE_V15)
    log = Path(env_vars["FANREN_VERIFY_NETLOG"])
    attempts = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    modes["no network attempted"] = ModeResult(
        not attempts, 0.0, error=f"{len(attempts)} attempt(s), first: {attempts[0]}" if attempts else ""
    )
    return EngineRun.from_modes(_upstream(source), modes)


if __name__ == "__main__":  # pragma: no cover - handy while working on this engine alone
    sys.exit("run: python scripts/verify_engines.py indextts --source indextts=PATH")
