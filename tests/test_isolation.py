"""Two transformers versions in one TTSGenerator: the point of fanren_tts, shown for real.

The vits envs pin transformers 4.51.3 and 4.57.x on one torch (2.8.0 from PyPI); a tiny
random VITS checkpoint saved here is loaded by both through the real
``from_pretrained`` path, and both synthesize at the same time.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from conftest import TESTS, write_config
from fanren_tts import ModelNotFound, TTSGenerator, sync_env
from fanren_tts._runtime.fanren_worker import read_wav
from fanren_tts.config import PROJECT_ROOT

ENVS = {"vits-451": "vits", "vits-457": "vits-tf457"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for env in ENVS.values():
        assert sync_env(PROJECT_ROOT / "envs" / env, env).ready
    out = tmp_path_factory.mktemp("vits") / "tiny-vits"
    python = PROJECT_ROOT / "envs" / "vits" / ".venv" / "bin" / "python"
    subprocess.run([str(python), str(TESTS / "data" / "build_tiny_vits.py"), str(out)], check=True, capture_output=True)
    return out


@pytest.fixture
def vits_config(tmp_path: Path, checkpoint: Path) -> Path:
    engines = {
        name: {
            "env": env,
            "wrapper": str(PROJECT_ROOT / "wrappers" / "vits_wrapper.py"),
            "model_path": str(checkpoint),
            "seed": 0,
        }
        for name, env in ENVS.items()
    }
    return write_config(tmp_path / "c.yaml", engines, cache={"enabled": False})


def test_each_worker_reports_its_own_transformers(vits_config: Path) -> None:
    with TTSGenerator(vits_config) as gen:
        gen.warm_up()
        old, new = (gen.worker(n).hello or {} for n in ENVS)
        assert old["packages"]["transformers"] == "4.51.3"
        assert new["packages"]["transformers"].startswith("4.57.")
        assert old["packages"]["torch"] == new["packages"]["torch"] == "2.8.0"
        assert old["pid"] != new["pid"] and all(gen.worker(n).alive for n in ENVS)
        assert gen.describe("vits-451")["transformers"] == "4.51.3"


def test_both_versions_synthesize_at_once(vits_config: Path, tmp_path: Path) -> None:
    results: dict[str, object] = {}
    with TTSGenerator(vits_config) as gen:
        gen.warm_up()

        def speak(name: str) -> None:
            results[name] = gen.generate(
                "hello from two worlds, at the same time.", tmp_path / f"{name}.wav", engine=name
            )

        threads = [threading.Thread(target=speak, args=(n,)) for n in ENVS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert set(results) == set(ENVS)
    for name in ENVS:
        audio = read_wav(tmp_path / f"{name}.wav")
        assert audio.sample_rate == 16000 and audio.duration > 0.05 and audio.peak() > 0.01


def test_missing_checkpoint_is_a_clear_load_error(tmp_path: Path, checkpoint: Path) -> None:
    from fanren_tts import RemoteError

    cfg = write_config(tmp_path / "c.yaml", {"vits": {"model_path": str(tmp_path / "nowhere")}})
    with pytest.raises(ModelNotFound, match="nowhere"):  # found on the host, before any process
        TTSGenerator(cfg)
    (tmp_path / "empty").mkdir()  # there, but no checkpoint in it: the wrapper says so
    cfg = write_config(tmp_path / "c.yaml", {"vits": {"model_path": str(tmp_path / "empty")}})
    with TTSGenerator(cfg) as gen, pytest.raises(RemoteError) as info:
        gen.worker("vits").start()
    assert "empty" in info.value.remote_message
