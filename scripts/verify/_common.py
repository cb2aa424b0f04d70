"""The contract between ``verify_engines.py`` and the per-engine modules.

An engine module ``scripts/verify/<engine>.py`` defines:

``ENGINE``
    the engine kind (``cosyvoice``, ``indextts``, ...).
``SOURCE_VAR``
    the environment variable that names an upstream source checkout
    (``FANREN_TTS_COSYVOICE_SOURCE``), or ``None`` when the code is on PyPI.
``verify(work: Path, source: Path | None) -> EngineRun``
    build the tiny checkpoint(s) under ``work``, run every mode through
    ``TTSGenerator`` and the real wrapper, and report. Raise ``Skip`` with the
    reason when what it needs is not here (no source checkout, env not built);
    any other exception counts as ``failed``.

Noise is the expected audio: a mode is ok when the file has the engine's sample
rate, a non-empty signal and the model was loaded once for all modes.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

import yaml

from fanren_tts._envs import env_status
from fanren_tts.config import PROJECT_ROOT

__all__ = [
    "EngineRun",
    "ModeResult",
    "Skip",
    "build_once",
    "env_python",
    "loaded_once",
    "memory_mb",
    "speak",
    "versions",
    "write_config",
]


class Skip(Exception):
    """What the engine needs is not here; the message says what and how to provide it."""


@dataclasses.dataclass
class ModeResult:
    ok: bool
    seconds: float
    sample_rate: int = 0
    duration: float = 0.0
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "sample_rate": self.sample_rate,
            "duration": round(self.duration, 3),
        }
        if self.error:
            out["error"] = self.error
        return out


@dataclasses.dataclass
class EngineRun:
    status: str  # "ran" | "failed" | "skipped"
    reason: str = ""
    upstream: str = ""  # what ran: a commit of the source checkout, or the PyPI version
    modes: dict[str, ModeResult] = dataclasses.field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "upstream": self.upstream,
            "modes": {name: m.as_json() for name, m in self.modes.items()},
        }

    @classmethod
    def from_modes(cls, upstream: str, modes: dict[str, ModeResult]) -> EngineRun:
        """``ran`` when every mode is ok, else ``failed`` naming the modes that were not."""
        bad = [f"{name}: {m.error}" for name, m in modes.items() if not m.ok]
        if not modes:
            return cls("failed", "no mode ran", upstream, modes)
        return cls("failed" if bad else "ran", "; ".join(bad), upstream, modes)


def _wav_facts(path: Path) -> tuple[int, float, int]:
    """(sample rate, seconds, peak of the first second's s16 samples)."""
    with wave.open(str(path), "rb") as w:
        rate, frames = w.getframerate(), w.getnframes()
        data = w.readframes(min(frames, rate))
        width = w.getsampwidth()
    peak = 0
    if width == 2 and data:
        import array

        samples = array.array("h", data)
        peak = max(abs(s) for s in samples)
    else:
        peak = int(any(data))
    return rate, frames / rate if rate else 0.0, peak


def speak(gen: Any, engine: str, text: str, out: Path, *, sample_rate: int | None = None, **options: Any) -> ModeResult:
    """One ``generate`` through the real wrapper, checked: rate, non-empty, non-silent.

    ``sample_rate`` is the rate the engine is expected to produce (the config for a
    verify run keeps ``output.sample_rate: null`` so the file has the native rate).
    """
    t0 = time.perf_counter()
    try:
        result = gen.generate(text, out, engine, cache=False, **options)
        rate, seconds, peak = _wav_facts(Path(result.path))
    except Exception as exc:  # a verify run reports every failure, it does not stop
        first = str(exc).splitlines()[0] if str(exc) else ""
        return ModeResult(False, time.perf_counter() - t0, error=f"{type(exc).__name__}: {first}")
    elapsed = time.perf_counter() - t0
    problems = []
    if sample_rate is not None and rate != sample_rate:
        problems.append(f"sample rate {rate}, expected {sample_rate}")
    if seconds <= 0:
        problems.append("empty audio")
    elif peak == 0:
        problems.append("silent audio")
    return ModeResult(not problems, elapsed, rate, seconds, "; ".join(problems))


def loaded_once(gen: Any, engine: str, pid: int | None) -> str:
    """'' when ``engine``'s worker is still the process that served the first mode."""
    now = gen.worker(engine).pid
    if pid is None or now == pid:
        return ""
    return f"the worker was restarted (pid {pid} -> {now}): the model did not stay loaded"


def env_python(name: str, size: str) -> Path:
    """The env's interpreter, or Skip saying how to build it (``size``: what the build brings)."""
    status = env_status(PROJECT_ROOT / "envs" / name, name)
    if not status.ready:
        raise Skip(
            f"the {name} env is {status.state} ({status.detail}); `python -m fanren_tts.envs sync {name}` ({size})"
        )
    return status.python


def versions(python: Path, *packages: str) -> list[str]:
    """The installed versions of ``packages`` in the env of ``python``, in order."""
    code = f"import importlib.metadata as m; print(' '.join(m.version(p) for p in {list(packages)!r}))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.split()


def build_once(python: Path, builder: Path, folder: Path, marker: str) -> Path:
    """Run a tiny-checkpoint ``builder`` in the engine's env unless ``folder/marker`` already exists."""
    if not (folder / marker).exists():
        built = subprocess.run([str(python), str(builder), str(folder)], capture_output=True, text=True)
        if built.returncode:
            raise RuntimeError(f"building the tiny checkpoint with {builder.name} failed:\n{built.stderr[-2000:]}")
    return folder


def write_config(work: Path, engines: dict[str, dict[str, Any]]) -> Path:
    """``work/config.yaml`` with these engine blocks (the first is the default), native rate, cache off."""
    doc = {"tts": {"engine": next(iter(engines)), "output": {"sample_rate": None}, "cache": {"enabled": False}}}
    doc["tts"].update(engines)
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def memory_mb(pid: int | None) -> tuple[float, float]:
    """(resident, peak resident) memory of process ``pid`` in MB, from /proc; zeros where it
    is gone or /proc does not say (Linux only)."""
    if pid is None:
        return 0.0, 0.0
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0, 0.0
    fields = dict(line.split(":", 1) for line in lines if ":" in line)

    def mb(key: str) -> float:
        return int(fields.get(key, "0 kB").split()[0]) / 1024

    return mb("VmRSS"), mb("VmHWM")
