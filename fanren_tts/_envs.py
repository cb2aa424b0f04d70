"""Engine envs: one uv project per engine, built into its own venv.

A build runs ``uv sync --locked`` under a per-env file lock, then writes a
completion marker last (lock hash, Python version, protocol version). No marker
means half-built; a marker whose lock hash differs from ``uv.lock`` means drift.
Either way the env is not used until it is synced again.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import filelock

from ._exceptions import EnvError, EnvNotReady
from ._runtime import RUNTIME_DIR
from ._runtime.fanren_worker import PROTOCOL_VERSION
from .config import venv_dir, venv_python

__all__ = ["MARKER", "EnvStatus", "env_status", "require_ready", "sync_env", "uv_bin"]

log = logging.getLogger("fanren_tts.envs")

MARKER = ".fanren-ready.json"
State = Literal["ready", "missing", "incomplete", "drifted"]


@dataclasses.dataclass(frozen=True)
class EnvStatus:
    """Where an env stands, and in ``detail`` why, in words a user can act on."""

    name: str
    project: Path
    venv: Path
    state: State
    detail: str
    marker: dict[str, Any] | None = None
    #: The config file that names this engine; the fix command points at it.
    config: Path | None = None

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def python(self) -> Path:
        return venv_python(self.venv)

    @property
    def fix(self) -> str:
        """The command that builds this env, runnable from any folder.

        The engine name means something only in its config file, so that file is
        passed by absolute path; the interpreter is this one (plain ``python``
        when that is what PATH finds), since fanren_tts must be importable.
        """
        flag = " --recreate" if self.state == "incomplete" else ""
        config = f" --config {shlex.quote(str(self.config.absolute()))}" if self.config is not None else ""
        return f"{_python_command()} -m fanren_tts.envs{config} sync {self.name}{flag}"


def _python_command() -> str:
    """``python`` when PATH finds this very interpreter, else its absolute path."""
    found = shutil.which("python")
    if found and Path(found).absolute() == Path(sys.executable).absolute():
        return "python"
    return shlex.quote(sys.executable) if sys.executable else "python"


def uv_bin() -> str:
    """The uv that came with fanren_tts (the ``uv`` PyPI package), else the one on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise EnvError("uv is not installed: pip install uv (fanren_tts depends on it)") from None
        return found


def lock_hash(project: Path) -> str:
    return hashlib.sha256((project / "uv.lock").read_bytes()).hexdigest()


def _venv(project: Path) -> Path:
    return venv_dir(project)


def env_status(project: Path, name: str | None = None, config: Path | None = None) -> EnvStatus:
    """Where the env of ``project`` stands; ``config`` is the file naming the engine (for the fix)."""
    project = Path(project)
    name = name or project.name
    venv = _venv(project)

    def status(state: State, detail: str, marker: dict[str, Any] | None = None) -> EnvStatus:
        return EnvStatus(name, project, venv, state, detail, marker, config)

    if not (project / "pyproject.toml").is_file():
        return status("missing", f"{project} is not a uv project (no pyproject.toml)")
    if not (project / "uv.lock").is_file():
        return status("missing", f"{project} has no uv.lock; run `uv lock --project {project}` and commit it")
    if not venv.is_dir():
        return status("missing", f"env {name!r} is not built yet")
    try:
        marker = json.loads((venv / MARKER).read_text())
    except (FileNotFoundError, ValueError):
        return status("incomplete", f"env {name!r} at {venv} has no completion marker: half-built or made by hand")
    python = venv_python(venv)
    if not python.exists():
        return status("incomplete", f"env {name!r} has no interpreter at {python}", marker)
    if marker.get("lock_sha256") != lock_hash(project):
        return status("drifted", f"uv.lock of env {name!r} changed since the env was built", marker)
    if marker.get("protocol") != PROTOCOL_VERSION:
        return status(
            "drifted",
            f"env {name!r} was built for protocol {marker.get('protocol')}, this is {PROTOCOL_VERSION}",
            marker,
        )
    return status("ready", f"built {marker.get('built_at', '?')} with Python {marker.get('python', '?')}", marker)


def require_ready(project: Path, name: str, config: Path | None = None) -> EnvStatus:
    status = env_status(project, name, config)
    if not status.ready:
        raise EnvNotReady(f"{status.detail}. Build it with: {status.fix}")
    return status


def _run(cmd: list[str], env: dict[str, str], what: str, *, live: bool = False) -> str:
    """Run ``cmd``; its output goes into the error if it fails. ``live``: its stderr goes
    straight to ours as it runs instead (uv's downloads, with sizes, and its progress bars
    on a terminal), so a build of several GB is not silent."""
    log.debug("running %s", " ".join(cmd))
    if live:
        proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise EnvError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)} (its output is above)")
        return proc.stdout
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise EnvError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _check_cache_filesystem(uv: str, venv: Path, env: dict[str, str]) -> None:
    """uv links from its cache only on the same filesystem; elsewhere it copies every torch."""
    try:
        cache = Path(
            subprocess.run([uv, "cache", "dir"], env=env, capture_output=True, text=True, check=True).stdout.strip()
        )
        cache_dev = (cache if cache.exists() else cache.parent).stat().st_dev
        if cache_dev != venv.parent.stat().st_dev:
            log.warning(
                "uv cache %s is on another filesystem than %s: packages are copied, not linked. "
                "Set UV_CACHE_DIR to a folder on the same filesystem.",
                cache,
                venv.parent,
            )
    except (OSError, subprocess.CalledProcessError):
        pass


def sync_env(
    project: Path,
    name: str | None = None,
    *,
    recreate: bool = False,
    lock_timeout: float = 1800,
    progress: bool = False,
) -> EnvStatus:
    """Build (or rebuild) an env from its committed lock; safe to call from many processes.

    ``progress``: uv's own report (what it downloads, how big, how far) goes to stderr
    as it builds; ``envs sync`` asks for it."""
    project = Path(project).resolve()
    name = name or project.name
    status = env_status(project, name)
    if not (project / "uv.lock").is_file():
        raise EnvError(status.detail)
    venv = _venv(project)
    uv = uv_bin()
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(venv))
    env.pop("VIRTUAL_ENV", None)
    venv.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(venv.parent / ".fanren-sync.lock"))
    try:
        lock.acquire(timeout=lock_timeout)
    except filelock.Timeout:
        raise EnvError(f"another process has been building env {name!r} for over {lock_timeout:.0f}s") from None
    try:
        if not recreate:
            current = env_status(project, name)  # another process may have built it while we waited
            if current.ready:
                return current
        (venv / MARKER).unlink(missing_ok=True)
        if recreate and venv.exists():
            shutil.rmtree(venv)
        log.info("building env %r in %s", name, venv)
        _run([uv, "sync", "--locked", "--project", str(project)], env, f"building env {name!r}", live=progress)
        _check_cache_filesystem(uv, venv, env)
        python = venv_python(venv)
        facts = json.loads(
            _run(
                [
                    str(python),
                    "-c",
                    "import json, platform, sysconfig; "
                    "print(json.dumps({'python': platform.python_version(), 'purelib': sysconfig.get_paths()['purelib']}))",
                ],
                env,
                f"inspecting env {name!r}",
            )
        )
        # Lets the env's interpreter import fanren_worker on its own, so wrapper
        # scripts run standalone; the host also sets PYTHONPATH for workers.
        (Path(facts["purelib"]) / "fanren_worker.pth").write_text(str(RUNTIME_DIR) + "\n")
        _run([str(python), "-c", "import fanren_worker, msgpack"], env, f"checking env {name!r}")
        marker = {
            "lock_sha256": lock_hash(project),
            "python": facts["python"],
            "protocol": PROTOCOL_VERSION,
            "built_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "host_python": sys.version.split()[0],
        }
        tmp = venv / (MARKER + ".tmp")
        tmp.write_text(json.dumps(marker, indent=2))
        os.replace(tmp, venv / MARKER)
    finally:
        lock.release()
    return env_status(project, name)
