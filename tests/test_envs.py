"""Env builds: completion marker, drift, the build lock, and the committed locks."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ECHO, write_config
from fanren_tts import PROTOCOL_VERSION, ConfigError, EnvNotReady, TTSGenerator, env_status, sync_env
from fanren_tts._envs import MARKER, require_ready, uv_bin
from fanren_tts.config import PROJECT_ROOT


def test_missing_then_ready(tiny_project: Path) -> None:
    status = env_status(tiny_project)
    assert status.state == "missing" and "not built yet" in status.detail
    assert status.fix.endswith(" -m fanren_tts.envs sync tiny")
    with pytest.raises(EnvNotReady, match=" -m fanren_tts.envs sync tiny"):
        require_ready(tiny_project, "tiny")
    ready = sync_env(tiny_project)
    assert ready.ready, ready.detail
    assert ready.marker is not None and ready.marker["python"] == ".".join(map(str, sys.version_info[:3]))
    # the env's own interpreter can import the worker runtime, so wrappers run standalone
    out = subprocess.run(
        [str(ready.python), "-c", "import fanren_worker, msgpack; print(fanren_worker.PROTOCOL_VERSION)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(PROTOCOL_VERSION)


def test_a_half_built_env_is_never_ready(tiny_project: Path) -> None:
    sync_env(tiny_project)
    (tiny_project / ".venv" / MARKER).unlink()
    status = env_status(tiny_project)
    assert status.state == "incomplete" and "half-built" in status.detail
    assert status.fix.endswith("--recreate")
    assert sync_env(tiny_project, recreate=True).ready


def test_a_changed_lock_is_drift(tiny_project: Path) -> None:
    sync_env(tiny_project)
    lock = tiny_project / "uv.lock"
    lock.write_text(lock.read_text() + "\n# edited\n")
    status = env_status(tiny_project)
    assert status.state == "drifted" and "uv.lock" in status.detail
    assert sync_env(tiny_project).ready


def test_a_stale_lock_fails_the_build_with_uv_s_reason(tiny_project: Path) -> None:
    text = (tiny_project / "pyproject.toml").read_text().replace('"msgpack>=1.0"', '"msgpack>=1.0", "filelock"')
    (tiny_project / "pyproject.toml").write_text(text)
    with pytest.raises(Exception, match="building env 'tiny' failed"):
        sync_env(tiny_project)
    assert env_status(tiny_project).state != "ready"


def test_concurrent_builds_wait_for_each_other(tiny_project: Path) -> None:
    code = f"from fanren_tts import sync_env; print(sync_env({str(tiny_project)!r}).state)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert outs == ["ready"] * 3


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (PROJECT_ROOT / "envs").iterdir() if (p / "pyproject.toml").exists())
)
def test_committed_locks_match_their_projects(name: str) -> None:
    subprocess.run([uv_bin(), "lock", "--check", "-q", "--project", str(PROJECT_ROOT / "envs" / name)], check=True)


def test_the_env_not_ready_fix_command_works_from_any_folder(tiny_project: Path, tmp_path: Path) -> None:
    """The engine name means something only in its config: the command must name that file."""
    (tmp_path / "project").mkdir()
    cfg = write_config(tmp_path / "project" / "tts.yaml", {"tiny": {"env": str(tiny_project), "wrapper": str(ECHO)}})
    with pytest.raises(EnvNotReady) as info:
        TTSGenerator(cfg).worker("tiny")
    command = str(info.value).split("Build it with: ", 1)[1]
    assert f"--config {cfg.resolve()}" in command
    out = subprocess.run(shlex.split(command), cwd="/", capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert env_status(tiny_project).ready
    with TTSGenerator(cfg) as gen:
        assert gen.call("tiny", "echo", value=1)["value"] == 1


def test_sync_takes_an_env_under_envs_that_the_config_does_not_name(tmp_path: Path) -> None:
    from fanren_tts.envs import managed_envs

    path = tmp_path / "c.yaml"
    path.write_text("tts:\n  engine: piper\n  piper: {}\n")
    assert managed_envs(str(path), ["vits-tf457"]) == {"vits-tf457": PROJECT_ROOT / "envs" / "vits-tf457"}
    assert managed_envs(str(path), ["piper", "cosyvoice"]) == {
        "cosyvoice": PROJECT_ROOT / "envs" / "cosyvoice",
        "piper": PROJECT_ROOT / "envs" / "piper",
    }
    with pytest.raises(ConfigError, match="no engine named 'nosuch'"):
        managed_envs(str(path), ["nosuch"])


def test_every_env_builds_from_its_lock_alone() -> None:
    """No env's lock or pyproject names a machine-local wheel folder: each builds on any Linux x86_64.

    (vits, vits-tf457 and a flux-cpu env once took torch from /opt/wheels, which exists only on
    this project's machines.)
    """
    import tomllib

    local = []
    for project in sorted((PROJECT_ROOT / "envs").glob("*/pyproject.toml")):
        uv = tomllib.loads(project.read_text(encoding="utf-8")).get("tool", {}).get("uv", {})
        local += [f"{project.parent.name}: find-links {link}" for link in uv.get("find-links", [])]
        lock = tomllib.loads((project.parent / "uv.lock").read_text(encoding="utf-8"))
        for package in lock.get("package", []):
            source = package.get("source", {})
            where = source.get("registry") or source.get("url") or source.get("path") or source.get("git") or ""
            if "virtual" in source or "editable" in source:
                continue  # the env's own project
            if not where.startswith(("https://", "git+https://")):
                local.append(f"{project.parent.name}: {package['name']} from {where or source}")
    assert not local, "envs that build only where a local folder exists:\n" + "\n".join(local)
