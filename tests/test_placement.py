"""Placement: devices, GPU memory and CPU threads per replica.

This machine has no GPU: GPUs and their free memory come from a stand-in probe, and
the tests check the plan and the worker command line, not a CUDA run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import write_config
from fanren_tts import ConfigError, PlacementError, load_config
from fanren_tts._placement import THREAD_VARS, MachineProbe, plan_replicas
from fanren_tts._worker import Worker


class StandIn:
    """A machine with the given GPUs' free memory (GB); None: the device reports nothing."""

    def __init__(self, free: dict[str, float | None], cpu_free: float | None = None) -> None:
        self.free = free
        self.cpu_free = cpu_free
        self.asked: list[str] = []

    def gpus(self) -> list[str]:
        return list(self.free)

    def free_gb(self, device: str) -> float | None:
        self.asked.append(device)
        return self.cpu_free if device == "cpu" else self.free.get(device)


class NoProbe:
    def gpus(self) -> list[str]:
        raise AssertionError("a plain engine must not probe the machine")

    def free_gb(self, device: str) -> float | None:
        raise AssertionError("a plain engine must not probe the machine")


def engine(tmp_path: Path, **block: object):
    cfg = write_config(tmp_path / "c.yaml", {"echo": {"python": "/usr/bin/python3", "wrapper": "w.py", **block}})
    return load_config(cfg).get("echo")


def test_an_engine_without_pool_settings_is_one_worker_as_before(tmp_path: Path) -> None:
    cfg = engine(tmp_path, device="cpu")
    (plan,) = plan_replicas(cfg, NoProbe())
    assert plan.config is cfg and plan.threads is None and plan.device == "cpu"


def test_one_worker_per_listed_device_and_replicas_per_device(tmp_path: Path) -> None:
    plans = plan_replicas(engine(tmp_path, devices=["cuda:0", "cuda:1"]), StandIn({}))
    assert [p.device for p in plans] == ["cuda:0", "cuda:1"]
    cmd = Worker(plans[1].config)._command()
    assert cmd[cmd.index("--device") + 1] == "cuda:1"  # the worker is told its own GPU
    plans = plan_replicas(engine(tmp_path, devices=["cuda:0", "cuda:1"], replicas=2), StandIn({}))
    assert [p.device for p in plans] == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    assert all(p.threads is None for p in plans)  # GPU replicas keep the engine's threads


def test_devices_all_means_every_visible_gpu(tmp_path: Path) -> None:
    plans = plan_replicas(engine(tmp_path, devices="all"), StandIn({"cuda:0": 80.0, "cuda:1": 80.0, "cuda:2": None}))
    assert [p.device for p in plans] == ["cuda:0", "cuda:1", "cuda:2"]
    with pytest.raises(PlacementError, match="devices: all, but no GPU is visible"):
        plan_replicas(engine(tmp_path, devices="all"), StandIn({}))


def test_replicas_go_where_memory_is_free_and_one_that_does_not_fit_is_refused_with_figures(tmp_path: Path) -> None:
    probe = StandIn({"cuda:0": 10.0, "cuda:1": 6.0})
    plans = plan_replicas(engine(tmp_path, device="cuda", replicas=3, memory_gb=5), probe)
    assert [p.device for p in plans] == ["cuda:0", "cuda:1", "cuda:0"]  # 10/6 -> 5/6 -> 5/1 -> 0/1
    with pytest.raises(PlacementError) as info:
        plan_replicas(engine(tmp_path, device="cuda", replicas=4, memory_gb=5), probe)
    msg = str(info.value)
    assert "replica 3 needs 5.0 GB" in msg and "cuda:0 0.0 GB" in msg and "cuda:1 1.0 GB" in msg
    with pytest.raises(PlacementError, match=r"needs 24.0 GB .* cuda:1 has 6.0 GB free"):
        plan_replicas(engine(tmp_path, devices=["cuda:1"], memory_gb=24), probe)


def test_gpus_that_report_no_memory_are_filled_in_turn(tmp_path: Path) -> None:
    plans = plan_replicas(engine(tmp_path, device="cuda", replicas=3), StandIn({"cuda:0": None, "cuda:1": None}))
    assert [p.device for p in plans] == ["cuda:0", "cuda:1", "cuda:0"]


def test_cpu_replicas_split_the_cores(tmp_path: Path) -> None:
    plans = plan_replicas(engine(tmp_path, device="cpu", replicas=2), StandIn({}), cores=16)
    assert [p.threads for p in plans] == [8, 8]
    assert all(p.config.env_vars[v] == "8" for p in plans for v in THREAD_VARS)
    plans = plan_replicas(engine(tmp_path, device="cpu", replicas=4), StandIn({}), cores=2)
    assert [p.threads for p in plans] == [1, 1, 1, 1]  # never zero
    plans = plan_replicas(engine(tmp_path, device="auto", replicas=2), StandIn({}), cores=4)
    assert [p.threads for p in plans] == [2, 2]  # auto without a GPU is the CPU
    plans = plan_replicas(
        engine(tmp_path, device="cpu", replicas=2, threads=3, env_vars={"OMP_NUM_THREADS": "5"}), StandIn({}), cores=4
    )
    assert [p.threads for p in plans] == [3, 3]
    assert plans[0].config.env_vars["OMP_NUM_THREADS"] == "5"  # the user's own setting wins
    assert plans[0].config.env_vars["FANREN_TTS_THREADS"] == "3"


def test_memory_on_the_cpu_is_checked_against_available_ram(tmp_path: Path) -> None:
    with pytest.raises(PlacementError, match="needs 8.0 GB .* cpu has 3.0 GB free"):
        plan_replicas(engine(tmp_path, device="cpu", memory_gb=8), StandIn({}, cpu_free=3.0))


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"replicas": 0}, "replicas"),
        ({"devices": ["cuda:0", "gpu1"]}, "'gpu1': each device must be"),
        ({"devices": []}, "at least one device"),
        ({"threads": 0}, "threads"),
        ({"memory_gb": -1}, "memory_gb"),
    ],
)
def test_bad_pool_settings_say_what_is_wrong(tmp_path: Path, block: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        engine(tmp_path, **block)


def test_the_machine_probe_reads_nvidia_smi_through_cuda_visible_devices(tmp_path: Path, monkeypatch) -> None:
    # a stand-in nvidia-smi (this machine has no GPU): 3 GPUs with 1000, 20480 and 40960 MiB free
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  --query-gpu=index) printf "0\\n1\\n2\\n" ;;\n'
        '  --query-gpu=memory.free) printf "1000\\n20480\\n40960\\n" ;;\n'
        "esac\n"
    )
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    probe = MachineProbe()
    assert probe.gpus() == ["cuda:0", "cuda:1"]
    assert probe.free_gb("cuda:0") == 40.0  # CUDA's cuda:0 is physical GPU 2 here
    assert probe.free_gb("cuda") == 40.0
    assert probe.free_gb("cuda:1") == pytest.approx(1000 / 1024)
    assert probe.free_gb("cuda:5") is None and probe.free_gb("mps") is None
    free = probe.free_gb("cpu")
    assert free is not None and free > 0  # MemAvailable
    plans = plan_replicas(engine(tmp_path, device="cuda", replicas=2, memory_gb=0.5), probe)
    assert [p.device for p in plans] == ["cuda:0", "cuda:0"]  # 40 GB free beats 1 GB twice over
