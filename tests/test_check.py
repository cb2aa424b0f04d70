"""check-envs: each failure reported in the table and the JSON, with the right exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ECHO, write_config
from fanren_tts import sync_env
from fanren_tts._envs import uv_bin
from fanren_tts._pins import known_conflicts, version_matches


def check(config: Path, *extra: str) -> tuple[int, str, dict]:
    cmd = [sys.executable, "-m", "fanren_tts.check-envs", "-c", str(config), *extra]
    table = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    js = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=300)
    assert table.returncode == js.returncode, (table.stderr, js.stderr)
    doc = json.loads(js.stdout)
    assert doc["schema"] == "fanren_tts.check-envs/1"
    assert doc["ok"] == (js.returncode == 0)
    return table.returncode, table.stdout, doc


def codes(doc: dict, engine: str) -> list[str]:
    return [p["code"] for e in doc["engines"] if e["engine"] == engine for p in e["problems"]]


def managed(tmp_path: Path, tiny_project: Path, **extra: object) -> Path:
    return write_config(tmp_path / "c.yaml", {"tiny": {"env": str(tiny_project), "wrapper": str(ECHO), **extra}})


def test_ready_env(tmp_path: Path, tiny_project: Path) -> None:
    sync_env(tiny_project, "tiny")
    code, table, doc = check(managed(tmp_path, tiny_project))
    assert code == 0
    engine = doc["engines"][0]
    assert engine["ready"] and engine["env"]["state"] == "ready" and engine["problems"] == []
    assert engine["python"] == ".".join(map(str, sys.version_info[:3]))
    assert engine["roundtrip"]["ok"] and engine["roundtrip"]["ready_s"] > 0 and engine["roundtrip"]["ping_ms"] > 0
    assert engine["accelerator"]["device"] == "cpu"
    assert engine["packages"]["numpy"] == {"installed": None, "locked": None}
    assert "tiny" in table and "ready" in table and "NOT READY" not in table


def test_missing_env(tmp_path: Path, tiny_project: Path) -> None:
    code, table, doc = check(managed(tmp_path, tiny_project))
    assert code == 1
    assert codes(doc, "tiny") == ["env-missing"]
    assert "NOT READY" in table and "-m fanren_tts.envs --config " in table and " sync tiny" in table
    fix = doc["engines"][0]["problems"][0]["fix"]
    assert fix.split(" --config ")[1].startswith(str(tmp_path))  # names the config: runs from any folder


def test_fix_builds_the_missing_env(tmp_path: Path, tiny_project: Path) -> None:
    code, _, doc = check(managed(tmp_path, tiny_project), "--fix")
    assert code == 0 and doc["engines"][0]["env"]["state"] == "ready"


def test_drifted_lock_and_drifted_packages(tmp_path: Path, tiny_project: Path) -> None:
    status = sync_env(tiny_project, "tiny")
    subprocess.run([uv_bin(), "pip", "install", "-q", "--python", str(status.python), "six"], check=True)
    code, table, doc = check(managed(tmp_path, tiny_project))
    assert code == 1 and codes(doc, "tiny") == ["env-packages-drifted"]
    assert "six" in table and "--recreate" in table
    lock = tiny_project / "uv.lock"
    lock.write_text(lock.read_text() + "\n# edited\n")
    code, table, doc = check(managed(tmp_path, tiny_project))
    assert code == 1 and codes(doc, "tiny") == ["env-drifted"]
    assert "uv.lock" in table


def test_wrong_transformers_pin(tmp_path: Path, bare_python: Path) -> None:
    venv = tmp_path / "cosy-venv"
    subprocess.run([uv_bin(), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([uv_bin(), "pip", "install", "-q", "--python", str(python), "msgpack"], check=True)
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    dist = site / "transformers-4.57.3.dist-info"  # metadata is all check-envs reads
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: transformers\nVersion: 4.57.3\n")
    cfg = write_config(tmp_path / "c.yaml", {"cosyvoice": {"python": str(python), "wrapper": str(ECHO)}})
    code, table, doc = check(cfg)
    assert code == 1 and codes(doc, "cosyvoice") == ["transformers-range"]
    engine = doc["engines"][0]
    assert engine["packages"]["transformers"]["installed"] == "4.57.3"
    assert engine["env"]["state"] == "external"
    assert "cosyvoice supports transformers==4.51.3, found transformers 4.57.3" in table
    assert "fix: pin transformers==4.51.3" in table


def test_missing_model_path(tmp_path: Path, bare_python: Path) -> None:
    cfg = write_config(
        tmp_path / "c.yaml",
        {
            "echo": {
                "python": str(bare_python),
                "wrapper": str(ECHO),
                "model_path": "models/nowhere",
                "prompt_speech": "p.wav",
            }
        },
    )
    code, table, doc = check(cfg)
    assert code == 1 and codes(doc, "echo") == ["path-missing", "path-missing"]
    assert "tts.echo.model_path" in table and str(tmp_path / "models" / "nowhere") in table


def test_handshake_failure_and_other_engines_still_reported(tmp_path: Path, bare_python: Path) -> None:
    flag = tmp_path / "die"
    flag.touch()
    cfg = write_config(
        tmp_path / "c.yaml",
        {
            "broken": {"python": str(bare_python), "wrapper": str(ECHO), "die_if_exists": str(flag)},
            "fine": {"python": str(bare_python), "wrapper": str(ECHO)},
        },
    )
    code, table, doc = check(cfg)
    assert code == 1
    assert codes(doc, "broken") == ["roundtrip-failed"] and codes(doc, "fine") == []
    assert [e["ready"] for e in doc["engines"]] == [False, True]
    assert "WorkerStartupError" in table and "exited with code 7" in table
    code, _, doc = check(cfg, "--engine", "fine")
    assert code == 0 and [e["engine"] for e in doc["engines"]] == ["fine"]


def test_bad_config_exits_2(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fanren_tts.check-envs", "-c", str(tmp_path / "none.yaml")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "config file not found" in out.stderr


@pytest.mark.parametrize(
    "version,spec,ok",
    [
        ("4.51.3", "==4.51.3", True),
        ("4.51.4", "==4.51.3", False),
        ("4.57.3", ">=4.57,<5", True),
        ("5.0.0", ">=4.57,<5", False),
        ("4.56.2", ">=4.57,<5", False),
        ("2.3.1+cu121", "<2.4", True),
    ],
)
def test_version_matches(version: str, spec: str, ok: bool) -> None:
    assert version_matches(version, spec) is ok


def test_known_conflicts() -> None:
    assert [p.code for p in known_conflicts("cosyvoice", {"numpy": "2.2.6", "torch": "2.3.1"})] == ["numpy2-old-torch"]
    assert known_conflicts("indextts", {"numpy": "2.2.6", "torch": "2.8.0", "transformers": "4.52.1"}) == []
    assert [p.code for p in known_conflicts("x", {"onnx": "1.16.0", "protobuf": "3.19.6"})] == [
        "protobuf-too-old-for-onnx"
    ]
    assert [p.code for p in known_conflicts("x", {"onnx": "1.12.0", "protobuf": "4.25.0"})] == [
        "protobuf-too-new-for-onnx"
    ]
    assert [p.code for p in known_conflicts("indextts", {"torchaudio": "2.9.0"})] == ["torchaudio-torchcodec"]
    assert known_conflicts("piper", {"torchaudio": "2.9.0"}) == []
    assert [p.code for p in known_conflicts("qwen3", {"transformers": "5.1.0"})] == ["transformers-range"]


@pytest.mark.parametrize(
    ("ort", "torch", "cudnn", "flagged"),
    [
        ("1.18.0", "2.3.1", "8.9.2.26", True),  # PyPI 1.18.0 is CUDA 11.8; torch 2.3.1 is CUDA 12 (the old lock)
        ("1.19.2", "2.3.1", "8.9.2.26", True),  # CUDA 12 but cuDNN 9 vs torch's cuDNN 8
        ("1.19.2", "2.4.1", "9.1.0.70", False),  # the cosyvoice env now
        ("1.18.0", "2.3.1+cu118", None, False),  # both CUDA 11 + cuDNN 8
        ("1.20.1", "2.5.1+cu124", None, False),
        ("1.18.0", "2.3.1+cpu", None, False),  # no CUDA torch: nothing to match
    ],
)
def test_onnxruntime_cuda_mismatch(ort: str, torch: str, cudnn: str | None, flagged: bool) -> None:
    installed = {"onnxruntime-gpu": ort, "torch": torch, "nvidia-cudnn-cu12": cudnn}
    problems = [p for p in known_conflicts("cosyvoice", installed) if p.code == "onnxruntime-cuda-mismatch"]
    assert bool(problems) is flagged
    if problems:
        assert "onnxruntime-gpu==1.19.2" in problems[0].fix and ort in problems[0].message


def test_the_probe_sees_the_worker_s_environment(tmp_path: Path, bare_python: Path) -> None:
    """Packages on an engine's own PYTHONPATH count, exactly as they do in its worker."""
    extra = tmp_path / "extra"
    dist = extra / "transformers-4.51.3.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: transformers\nVersion: 4.51.3\n")
    cfg = write_config(
        tmp_path / "c.yaml",
        {"cosyvoice": {"python": str(bare_python), "wrapper": str(ECHO), "env_vars": {"PYTHONPATH": str(extra)}}},
    )
    code, _, doc = check(cfg)
    assert code == 0, doc
    assert doc["engines"][0]["packages"]["transformers"]["installed"] == "4.51.3"


def test_every_replica_is_listed_and_one_that_cannot_be_placed_is_an_error(tmp_path: Path, tiny_project: Path) -> None:
    sync_env(tiny_project, "tiny")
    code, table, doc = check(managed(tmp_path, tiny_project, replicas=2, device="cpu"))
    assert code == 0
    assert [r["replica"] for r in doc["engines"][0]["replicas"]] == [0, 1]
    assert "tiny: 2 replicas: #0 cpu (" in table and "#1 cpu (" in table
    code, table, doc = check(managed(tmp_path, tiny_project, device="cpu", memory_gb=1e6))
    assert code == 1 and codes(doc, "tiny") == ["placement"] and "needs 1000000.0 GB" in table
