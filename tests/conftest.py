"""Shared fixtures: real venvs, real worker processes, no mocks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import yaml

os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
# stand-ins fake a GPU inside the worker that the host cannot see: no host-side GPU check
# (tests/test_pipeline_settings.py turns it back on where it tests it)
os.environ.setdefault("FANREN_TTS_SKIP_GPU_CHECK", "1")

from fanren_tts import sync_env
from fanren_tts._envs import uv_bin
from fanren_tts.config import PROJECT_ROOT

TESTS = Path(__file__).resolve().parent
ECHO = TESTS / "wrappers" / "echo_wrapper.py"


def import_from(name: str, *folders: Path) -> ModuleType:
    """Import ``name`` with ``folders`` first on sys.path for the import only: wrappers and
    the verify scripts are not packages of the project."""
    import importlib

    sys.path[:0] = [str(f) for f in folders]
    try:
        return importlib.import_module(name)
    finally:
        del sys.path[: len(folders)]


def import_wrapper(engine: str) -> ModuleType:
    """``wrappers/<engine>_wrapper.py`` in the test process, importing the runtime as a worker does."""
    return import_from(f"{engine}_wrapper", PROJECT_ROOT / "wrappers", PROJECT_ROOT / "fanren_tts" / "_runtime")


def import_verify(engine: str) -> tuple[ModuleType, ModuleType]:
    """(``scripts/verify/_common``, ``scripts/verify/<engine>``)."""
    scripts = PROJECT_ROOT / "scripts"
    return import_from("verify._common", scripts), import_from(f"verify.{engine}", scripts)


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interpreter whose venv holds msgpack and nothing else."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    uv = uv_bin()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "--python", str(python), "msgpack"], check=True)
    return python


@pytest.fixture(scope="session")
def default_envs() -> None:
    """The embedded default engines, built from their committed locks."""
    for name in ("piper", "espeak"):
        status = sync_env(PROJECT_ROOT / "envs" / name, name)
        assert status.ready, status.detail


@pytest.fixture(scope="session")
def locked_tiny_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A uv project whose env holds msgpack only, locked once per session."""
    project = tmp_path_factory.mktemp("envs") / "tiny"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        dedent(
            """
            [project]
            name = "tiny"
            version = "0"
            requires-python = ">=3.10"
            dependencies = ["msgpack>=1.0"]

            [tool.uv]
            package = false
            """
        )
    )
    subprocess.run([uv_bin(), "lock", "-q", "--project", str(project)], check=True)
    return project


@pytest.fixture
def tiny_project(locked_tiny_project: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny project, not yet built."""
    copy = tmp_path / "tiny"
    shutil.copytree(locked_tiny_project, copy, ignore=shutil.ignore_patterns(".venv"))
    return copy


@pytest.fixture(scope="session")
def torch_python() -> Path:
    """The vits env's interpreter: CPU torch 2.13, transformers 4.51.3, numpy."""
    status = sync_env(PROJECT_ROOT / "envs" / "vits", "vits")
    assert status.ready, status.detail
    return status.python


def write_config(path: Path, engines: dict, default: str | None = None, **top: object) -> Path:
    doc = {"tts": {"engine": default or next(iter(engines)), **top, **engines}}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


@pytest.fixture
def echo_config(tmp_path: Path, bare_python: Path):
    """Factory: a config of echo engines on the bare interpreter, with per-engine overrides."""

    def make(**engines: dict) -> Path:
        blocks = {}
        for name, extra in (engines or {"echo": {}}).items():
            block = {"python": str(bare_python), "wrapper": str(ECHO), "label": name}
            block.update(extra)
            blocks[name] = block
        return write_config(tmp_path / "config.yaml", blocks)

    return make


def pid_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except FileNotFoundError:
        return True


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_gone(pid):
            return True
        time.sleep(0.05)
    return pid_gone(pid)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()


# Every test run gets its own segment cache, so results never depend on an earlier run.
os.environ["FANREN_TTS_CACHE_DIR"] = __import__("tempfile").mkdtemp(prefix="fanren-test-cache-")


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_raises() -> Iterator[None]:
    """A shell starts background jobs with SIGINT ignored, and pytest inherits that; the
    Ctrl-C tests need Python's own handler (KeyboardInterrupt), as in a terminal."""
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each test gets the process environment the one before it started with. Wrapper tests
    that load an engine in-process (``use_subprocess: false``) run its ``__init__`` here, and
    wrappers set variables such as HF_HUB_OFFLINE=1 for their own worker process; without
    this, that setting would reach every later test's subprocesses (the hub tests failed so)."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
