"""Starting one worker process: its interpreter, command line and environment, then the handshake.

Kept apart from the worker handle (``_worker``) so what a start needs from the config
and the env (an interpreter that exists, a wrapper, the runtime on the path, the
engine's presets) is in one place, and every way a start fails maps onto the error
tree here: a missing env (``EnvNotReady``, with the command that builds it), an
interpreter that cannot run, a worker that dies or hangs before ``ready``.
"""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ._envs import env_status, require_ready
from ._exceptions import EnvNotReady, WorkerCrashed, WorkerStartupError, WorkerTimeout
from ._runtime import RUNTIME_DIR
from ._transport import Deadline
from ._worker_process import Process
from .config import EngineConfig

__all__ = ["spawn", "worker_command", "worker_environment"]


def worker_environment(config: EngineConfig) -> dict[str, str]:
    """The environment an engine's interpreter runs in: the host's, minus what would
    point it at another Python, plus the engine's presets and env_vars, with the
    worker runtime (and only it, before any PYTHONPATH of the engine's) importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(config.worker_env())
    extra = config.env_vars.get("PYTHONPATH")
    env["PYTHONPATH"] = str(RUNTIME_DIR) + (os.pathsep + extra if extra else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def worker_command(config: EngineConfig) -> list[str]:
    """``python -m fanren_worker WRAPPER`` in the engine's interpreter (never through ``uv run``)."""
    return [
        str(config.interpreter),
        "-u",
        "-m",
        "fanren_worker",
        str(config.wrapper_path),
        "--engine",
        config.name,
        "--device",
        config.device,
        "--host-pid",
        str(os.getpid()),
    ]


def spawn(
    config: EngineConfig,
    config_file: Path | None,
    log: logging.Logger,
    tail: collections.deque[str],
    on_failure: Callable[[], None],
) -> Process:
    """A started, loaded worker process (``ready`` received), or the typed reason why not."""
    name = config.name
    interpreter = config.interpreter
    if not interpreter.exists():
        if config.env_dir is not None:
            require_ready(config.env_dir, name, config_file)  # says how to build it
        raise EnvNotReady(
            f"engine {name!r}: interpreter {interpreter} does not exist"
            + (f". Build its env with: {env_status(config.env_dir, name, config_file).fix}" if config.env_dir else "")
        )
    if not config.wrapper_path.is_file():
        raise WorkerStartupError(f"engine {name!r}: wrapper script not found: {config.wrapper_path}", engine=name)
    command = worker_command(config)
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=worker_environment(config),
            start_new_session=True,  # its own process group, so a kill takes its children too
        )
    except OSError as exc:
        raise WorkerStartupError(
            f"engine {name!r}: cannot run {interpreter}: {exc.strerror or exc}", engine=name
        ) from None
    process = Process(proc, name, log, tail, on_failure, sys.executable or str(interpreter))
    log.debug("started pid %d: %s", proc.pid, " ".join(command))
    timeout = config.timeouts.startup
    try:
        process.handshake(config.resolved_options(), config.limits(), timeout)
    except Deadline:
        process.kill(lambda: WorkerCrashed(f"engine {name!r}: startup timed out", engine=name))
        raise WorkerTimeout(
            f"engine {name!r} was not ready within {timeout:.0f}s (startup timeout)",
            stage="startup",
            timeout=timeout,
            engine=name,
            stderr_tail=process.stderr_tail,
        ) from None
    except BaseException:
        process.kill(lambda: WorkerCrashed(f"engine {name!r}: startup failed", engine=name))
        raise
    return process
