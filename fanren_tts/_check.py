"""check-envs: is every engine ready to run, and if not, why and how to fix it.

Each engine is checked in its own thread under its own deadline, and every step
turns its failure into a problem entry, so one broken engine never hides the
report on the others.

JSON schema (``--json``), version ``fanren_tts.check-envs/1``::

    {
      "schema": "fanren_tts.check-envs/1",
      "config": str,                       # the config file checked
      "ok": bool,                          # every checked engine is ready
      "engines": [{
        "engine": str,
        "ready": bool,                     # no problem of severity "error"
        "interpreter": str,
        "python": str | null,              # version the interpreter reports
        "env": {"project": str | null,     # uv project; null for an external interpreter
                "state": "ready" | "missing" | "incomplete" | "drifted" | "external",
                "detail": str},
        "packages": {NAME: {"installed": str | null, "locked": str | null}},
        "accelerator": {"device": str,     # what device "auto" resolves to in that env
                        "cuda": [{"name": str, "memory_gib": float}],
                        "mps_built": bool | null, "mps_available": bool | null,
                        "onnx_providers": [str]},
        "apple_preset": bool | null,       # macOS only: preset variables seen by the worker
        "roundtrip": {"ok": bool, "ready_s": float | null, "ping_ms": float | null},
        "problems": [{"severity": "error" | "warning", "code": str, "message": str, "fix": str}]
      }]
    }
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ._envs import env_status, sync_env, uv_bin
from ._exceptions import FanrenTTSError, ModelNotFound, PlacementError
from ._pins import Problem, known_conflicts, locked_versions
from ._placement import plan_replicas
from ._worker import Worker, worker_environment
from .config import PATH_OPTION, Config, EngineConfig
from .config.paths import _is_apple_silicon, apple_silicon_preset
from .engines import BUILTIN

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - Python 3.10: the same parser as the tomli package
    pass

__all__ = ["KEY_PACKAGES", "SCHEMA", "EngineReport", "Problem", "check_all", "check_engine", "render_table"]

SCHEMA = "fanren_tts.check-envs/1"
KEY_PACKAGES = ("transformers", "torch", "torchaudio", "numpy", "protobuf", "httpx", "onnxruntime")

_PROBE = r"""
import json, os, sys, platform
from importlib import metadata
names = json.loads(sys.argv[1])
def version(n):
    try:
        return metadata.version(n)
    except metadata.PackageNotFoundError:
        return None
out = {"python": platform.python_version(), "packages": {n: version(n) for n in names},
       "env": {k: os.environ.get(k) for k in json.loads(sys.argv[2])},
       "accelerator": {"cuda": [], "mps_built": None, "mps_available": None, "onnx_providers": []}}
acc = out["accelerator"]
if version("torch"):
    try:
        import torch
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(i)
                acc["cuda"].append({"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1)})
        mps = getattr(torch.backends, "mps", None)
        acc["mps_built"] = bool(mps and mps.is_built())
        acc["mps_available"] = bool(mps and mps.is_available())
    except Exception as exc:
        out["torch_error"] = f"{type(exc).__name__}: {exc}"
if version("onnxruntime") or version("onnxruntime-gpu"):
    try:
        import onnxruntime
        acc["onnx_providers"] = list(onnxruntime.get_available_providers())
    except Exception as exc:
        out["onnxruntime_error"] = f"{type(exc).__name__}: {exc}"
acc["device"] = ("cuda" if acc["cuda"] else "mps" if acc["mps_available"] else
                 "cuda" if "CUDAExecutionProvider" in acc["onnx_providers"] else "cpu")
print(json.dumps(out))
"""


@dataclasses.dataclass
class EngineReport:
    engine: str
    interpreter: str
    python: str | None = None
    env: dict[str, Any] = dataclasses.field(default_factory=dict)
    packages: dict[str, dict[str, str | None]] = dataclasses.field(default_factory=dict)
    accelerator: dict[str, Any] = dataclasses.field(default_factory=dict)
    apple_preset: bool | None = None
    roundtrip: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"ok": False, "ready_s": None, "ping_ms": None}
    )
    problems: list[Problem] = dataclasses.field(default_factory=list)
    #: The engine's pool as planned: one entry per replica (device, threads).
    replicas: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def add(self, severity: str, code: str, message: str, fix: str) -> None:
        self.problems.append(Problem(severity, code, message, fix))

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ready"] = self.ready
        return data


# --------------------------------------------------------------------------- one engine


def _probe(cfg: EngineConfig, report: EngineReport, timeout: float) -> dict[str, Any] | None:
    row = BUILTIN.get(cfg.kind)
    names = [*KEY_PACKAGES, "onnx", "sentencepiece", "onnxruntime-gpu", "nvidia-cudnn-cu12"]
    if row is not None:  # its own package and every package its pins name
        names += [n for n in (row.package, *(p.package for p in row.pins)) if n and n not in names]
    env = worker_environment(cfg)
    try:
        proc = subprocess.run(
            [str(cfg.interpreter), "-c", _PROBE, json.dumps(names), json.dumps(sorted(apple_silicon_preset()))],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        report.add(
            "error",
            "probe-timeout",
            f"the interpreter did not answer within {timeout:.0f}s",
            "run it by hand to see where it hangs: " + str(cfg.interpreter),
        )
        return None
    except OSError as exc:
        report.add(
            "error",
            "interpreter-broken",
            f"cannot run {cfg.interpreter}: {exc.strerror}",
            f"python -m fanren_tts.envs sync {cfg.name} --recreate" if cfg.env_dir else "fix tts.<engine>.python",
        )
        return None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        report.add(
            "error",
            "probe-failed",
            f"the interpreter failed a stdlib probe:\n{tail}",
            f"python -m fanren_tts.envs sync {cfg.name} --recreate" if cfg.env_dir else "repair that interpreter",
        )
        return None
    probed: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return probed


def _check_env(cfg: EngineConfig, report: EngineReport, source: Path | None = None) -> None:
    if cfg.env_dir is None:
        report.env = {
            "project": None,
            "state": "external",
            "detail": f"uses the existing interpreter {cfg.interpreter}",
        }
        if not cfg.interpreter.exists():
            report.add(
                "error",
                "interpreter-missing",
                f"interpreter {cfg.interpreter} does not exist",
                f"fix tts.{cfg.name}.python in the config",
            )
        return
    status = env_status(cfg.env_dir, cfg.name, source)  # its fix names the config file, so it runs anywhere
    report.env = {"project": str(cfg.env_dir), "state": status.state, "detail": status.detail}
    if not status.ready:
        report.add("error", f"env-{status.state}", status.detail, status.fix)
        return
    proc = subprocess.run(
        [uv_bin(), "sync", "--locked", "--check", "--project", str(cfg.env_dir)],
        capture_output=True,
        text=True,
        env=dict(os.environ, UV_PROJECT_ENVIRONMENT=str(status.venv)),
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        changes = [
            line.strip()
            for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip().startswith(("+", "-", "~"))
        ]
        report.env["state"] = "drifted"
        report.add(
            "error",
            "env-packages-drifted",
            "installed packages differ from uv.lock: " + (", ".join(changes[:8]) or proc.stderr.strip()[-300:]),
            f"python -m fanren_tts.envs sync {cfg.name} --recreate",
        )


def _check_model(cfg: EngineConfig, report: EngineReport) -> None:
    """The model folder (``model_path``/``model_name``, as the old pipeline resolved them) and,
    for CosyVoice and IndexTTS, the source checkout their code comes from."""
    key = f"tts.{cfg.name}.{cfg.model_key}"
    own = cfg.wrapper is None  # what a folder must hold is the built-in wrapper's need; another wrapper has its own
    row = BUILTIN.get(cfg.kind)
    if row is None:
        return
    weights = row.weights
    try:
        found = cfg.model_location()
    except ModelNotFound as exc:
        report.add("error", "model-missing", str(exc), f"put the model there or correct {key}")
        found = None
    else:
        if own and found is None and weights.needed and not cfg.options.get(cfg.model_key):
            report.add(
                "error",
                "model-missing",
                f"{key} is not set: {cfg.kind} needs a local model folder",
                f"set {key} (and model_name, for a folder inside it)",
            )
    if own and found is not None and found.is_dir() and weights.layout == "folder":
        absent = weights.missing(found)
        if absent:
            report.add(
                "error",
                "model-incomplete",
                f"{key}: {found} has no {', '.join(absent)}: not a complete {cfg.kind} model folder",
                "copy the whole model folder there (every file of the release)",
            )
    # a voice config given apart (piper's config_path) stands in for the one beside the file
    if (
        own
        and found is not None
        and found.is_file()
        and weights.layout == "file"
        and not cfg.options.get("config_path")
    ):
        absent = weights.missing(found)
        if absent:
            report.add(
                "error",
                "model-incomplete",
                f"{key}: {found} has no {', '.join(absent)} beside it (the voice's config)",
                f"put {' and '.join(absent)} beside the {found.suffix} or set tts.{cfg.name}.config_path",
            )
    if own and row.source is not None:
        source = cfg.options.get("source_path")
        where = f"tts.{cfg.name}.source_path"
        first_fix = row.source.files[0][1]
        if not source:
            report.add(
                "error",
                "source-missing",
                f"{where} is not set: {cfg.kind}'s code comes from its source checkout",
                f"{first_fix}, then set {where}",
            )
            return
        root = cfg.resolve_path(str(source))
        if not root.is_dir():
            return  # path-missing says so
        for inside, fix in row.source.files:
            target = root / inside
            if not target.exists() or (target.is_dir() and not any(target.iterdir())):
                report.add(
                    "error",
                    "source-incomplete",
                    f"{where}: {root} has no {inside}",
                    fix.replace("SOURCE", str(root)),
                )


def _check_paths(cfg: EngineConfig, report: EngineReport) -> None:
    if cfg.builtin:
        _check_model(cfg, report)
    for key, value in sorted(cfg.resolved_options().items()):
        if not PATH_OPTION.search(key) or (cfg.builtin and key == cfg.model_key):
            continue
        named = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, path in named:
            if isinstance(path, str) and path and not os.path.exists(path):
                where = f"tts.{cfg.name}.{key}" + (f".{sub}" if sub else "")
                report.add(
                    "error",
                    "path-missing",
                    f"{where}: {path} does not exist",
                    f"put the files there or correct {where}",
                )
    if not cfg.wrapper_path.is_file():
        report.add(
            "error",
            "wrapper-missing",
            f"wrapper script {cfg.wrapper_path} does not exist",
            f"fix tts.{cfg.name}.wrapper",
        )


def _roundtrip(cfg: EngineConfig, report: EngineReport) -> None:
    worker = Worker(cfg.model_copy(update={"max_restarts": 0}))
    t0 = time.perf_counter()
    try:
        worker.start()
        report.roundtrip["ready_s"] = round(time.perf_counter() - t0, 3)
        report.roundtrip["ping_ms"] = round(worker.ping() * 1000, 3)
        report.roundtrip["ok"] = True
        report.accelerator.setdefault("device", (worker.hello or {}).get("device"))
    except FanrenTTSError as exc:
        first = str(exc).splitlines()[0]
        report.add(
            "error",
            "roundtrip-failed",
            f"worker did not start: {type(exc).__name__}: {first}",
            f"python -m fanren_tts say hi -o /tmp/check.wav -e {cfg.name} -vv  (shows the worker's output)",
        )
    finally:
        worker.stop(timeout=min(cfg.timeouts.shutdown, 5.0))


def check_engine(cfg: EngineConfig, source: Path | None = None) -> EngineReport:
    report = EngineReport(engine=cfg.name, interpreter=str(cfg.interpreter))
    try:
        try:
            report.replicas = [
                {"replica": p.index, "device": p.device, "threads": p.threads} for p in plan_replicas(cfg)
            ]
        except PlacementError as exc:
            report.add("error", "placement", str(exc), "lower replicas or memory_gb, or free device memory")
        _check_env(cfg, report, source)
        _check_paths(cfg, report)
        if cfg.interpreter.exists():
            facts = _probe(cfg, report, timeout=cfg.timeouts.startup)
            if facts is not None:
                report.python = facts["python"]
                installed = facts["packages"]
                locked = locked_versions(cfg.env_dir, list(installed)) if cfg.env_dir else dict.fromkeys(installed)
                own_package = BUILTIN[cfg.kind].package if cfg.kind in BUILTIN else None
                shown = [n for n in installed if n in KEY_PACKAGES or n == own_package]
                report.packages = {n: {"installed": installed[n], "locked": locked.get(n)} for n in shown}
                report.accelerator = facts["accelerator"]
                report.problems.extend(known_conflicts(cfg.kind, installed))
                for key in ("torch_error", "onnxruntime_error"):
                    if key in facts:
                        report.add("error", key.replace("_", "-"), facts[key], "rebuild the env; see the import error")
                if sys.platform == "darwin":
                    preset = apple_silicon_preset()
                    report.apple_preset = all(facts["env"].get(k) is not None for k in preset)
                    if _is_apple_silicon() and not report.apple_preset:
                        report.add(
                            "warning",
                            "apple-preset-missing",
                            "the Apple Silicon preset is not in effect",
                            "do not clear PYTORCH_ENABLE_MPS_FALLBACK etc. in env_vars",
                        )
        if report.ready:
            _roundtrip(cfg, report)
    except Exception as exc:  # a bug in one check must not hide the others
        report.add("error", "check-crashed", f"{type(exc).__name__}: {exc}", "please report this")
    return report


def check_all(config: Config, names: list[str] | None = None, *, fix: bool = False) -> list[EngineReport]:
    """Check engines in parallel; with ``fix``, first build envs that are missing or drifted."""
    engines = config.select(names)
    if fix:
        for cfg in engines:
            if cfg.env_dir is not None:
                status = env_status(cfg.env_dir, cfg.name)
                if not status.ready:
                    try:
                        sync_env(cfg.env_dir, cfg.name, recreate=status.state != "missing")
                    except FanrenTTSError:
                        pass  # the check below reports why
    reports: dict[str, EngineReport] = {}

    def run(cfg: EngineConfig) -> None:
        reports[cfg.name] = check_engine(cfg, config.source)

    threads = [
        threading.Thread(target=run, args=(cfg,), name=f"fanren-check-{cfg.name}", daemon=True) for cfg in engines
    ]
    for t in threads:
        t.start()
    for cfg, t in zip(engines, threads, strict=False):
        budget = cfg.timeouts.startup * 2 + 30
        t.join(budget)
        if t.is_alive():
            report = EngineReport(engine=cfg.name, interpreter=str(cfg.interpreter))
            report.add("error", "check-timeout", f"checking took longer than {budget:.0f}s", "run the check with -v")
            reports[cfg.name] = report
    return [reports[cfg.name] for cfg in engines]


# --------------------------------------------------------------------------- rendering


def render_table(reports: list[EngineReport]) -> str:
    head = ("engine", "status", "python", "env", "transformers", "torch", "numpy", "device", "ready in")
    rows = [head]
    for r in reports:

        def pkg(n: str, r: EngineReport = r) -> str:
            return str((r.packages.get(n) or {}).get("installed") or "-")

        acc = r.accelerator or {}
        device = acc.get("device") or "-"
        if acc.get("cuda"):
            device += " (" + ", ".join(f"{c['name']} {c['memory_gib']} GiB" for c in acc["cuda"]) + ")"
        ready_in = f"{r.roundtrip['ready_s']:.2f}s" if r.roundtrip.get("ready_s") is not None else "-"
        rows.append(
            (
                r.engine,
                "ready" if r.ready else "NOT READY",
                r.python or "-",
                r.env.get("state", "-"),
                pkg("transformers"),
                pkg("torch"),
                pkg("numpy"),
                device,
                ready_in,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in reports:
        if len(r.replicas) > 1:
            each = ", ".join(
                f"#{x['replica']} {x['device']}" + (f" ({x['threads']} threads)" if x["threads"] else "")
                for x in r.replicas
            )
            lines.append(f"{r.engine}: {len(r.replicas)} replicas: {each}")
    for r in reports:
        for p in r.problems:
            lines.append(f"{r.engine}: {p.severity}: {p.message}")
            lines.append(f"{' ' * len(r.engine)}  fix: {p.fix}")
    return "\n".join(lines)
