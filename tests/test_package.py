"""fanren_tts as a package: the built wheel installs, ships its envs and wrappers, and speaks."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
import zipfile
from pathlib import Path

import pytest

import fanren_tts
from fanren_tts._envs import uv_bin
from fanren_tts.config import PROJECT_ROOT


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_speaks(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(PROJECT_ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("fanren_tts-*.whl")
    with zipfile.ZipFile(wheel) as zf:  # typed (PEP 561), and one version: the wheel's is __version__
        assert "fanren_tts/py.typed" in zf.namelist()
        metadata = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        assert f"\nVersion: {fanren_tts.__version__}\n" in zf.read(metadata).decode()
    venv = tmp_path / "venv"
    uv = uv_bin()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheel)], check=True)
    data = tmp_path / "data"
    work = tmp_path / "work"  # no config.yaml here: the wheel's own is used
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FANREN_TTS_", "VIRTUAL_ENV"))}
    env.update(FANREN_TTS_DATA=str(data), UV_PYTHON_DOWNLOADS="never", FANREN_TTS_CACHE_DIR=str(tmp_path / "cache"))
    cli = str(venv / "bin" / "fanren-tts")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([cli, *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)

    synced = run("envs", "sync", "piper")
    assert synced.returncode == 0, synced.stderr
    venvs = list((data / "envs").glob("piper-*/.venv"))
    assert len(venvs) == 1, "the env is built in the user data folder, not in site-packages"
    site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import fanren_tts, pathlib; print(pathlib.Path(fanren_tts.__file__).parent)",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=work,
    ).stdout.strip()
    assert not list(Path(site).rglob(".venv")) and not list(Path(site).rglob(".fanren"))
    said = run("say", "Hello from an installed wheel.", "-o", str(work / "hello.wav"), "-e", "piper")
    assert said.returncode == 0, said.stderr
    with wave.open(str(work / "hello.wav"), "rb") as w:
        assert w.getnframes() > 10000
    checked = run("check-envs", "-e", "piper", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert '"ok": true' in checked.stdout
    helped = run("--help")
    assert all(word in helped.stdout for word in ("say", "batch", "envs", "check-envs", "cache"))
    assert run("--version").stdout.strip().startswith("fanren-tts ")
    init = run("init")  # an installed user's config to edit: the template from inside the wheel
    assert init.returncode == 0, init.stderr
    assert (work / "config.yaml").read_bytes() == (PROJECT_ROOT / "config.yaml").read_bytes()
    assert (
        run("init").returncode == 2
        and (work / "config.yaml").read_bytes() == (PROJECT_ROOT / "config.yaml").read_bytes()
    )
    status = run("envs", "status", "piper", "-c", "config.yaml")
    assert status.returncode == 0 and "ready" in status.stdout, status.stdout + status.stderr
