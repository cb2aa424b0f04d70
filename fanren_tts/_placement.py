"""Where each replica of an engine runs: its device, its share of the CPU cores, and
whether it fits in the memory its device has free.

Why a module of its own: the pool (``_pool``) only runs workers; deciding where they
go needs the machine's figures (visible GPUs, free memory, cores), which are read here
through a ``DeviceProbe`` so tests can stand one in for a GPU this machine lacks.

Threads: onnxruntime and torch each use every core by default, so two unpartitioned
workers on one CPU fight (measured: two piper workers on 2 cores ran at 0.8x the speed
of one). Each CPU replica therefore gets ``cores / replicas`` threads through
``OMP_NUM_THREADS`` & co. and ``FANREN_TTS_THREADS``, which the worker runtime applies
to torch and the piper wrapper to its onnxruntime session.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from typing import Protocol

from ._exceptions import PlacementError
from .config import EngineConfig

__all__ = ["THREAD_VARS", "DeviceProbe", "MachineProbe", "ReplicaPlan", "cpu_cores", "plan_replicas", "require_device"]

log = logging.getLogger("fanren_tts.placement")

#: Variables that cap a worker's CPU threads; FANREN_TTS_THREADS is read by the worker
#: runtime (torch.set_num_threads) and by wrappers (onnxruntime intra-op threads).
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "FANREN_TTS_THREADS",
)
_PROBE_TIMEOUT = 10.0


class DeviceProbe(Protocol):
    """What placement needs to know about the machine."""

    def gpus(self) -> list[str]:
        """Visible CUDA devices as ``cuda:N`` (N as the worker will see it)."""
        ...

    def free_gb(self, device: str) -> float | None:
        """Free memory of ``device`` in GB, or None where the device does not report it."""
        ...


def cpu_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


class MachineProbe:
    """The real machine: ``nvidia-smi`` for GPUs (each query bounded), /proc/meminfo for RAM."""

    def __init__(self) -> None:
        self._smi = shutil.which("nvidia-smi")

    def _query(self, field: str) -> list[str]:
        if self._smi is None:
            return []
        try:
            out = subprocess.run(
                [self._smi, f"--query-gpu={field}", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=_PROBE_TIMEOUT,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("nvidia-smi failed (%s); treating GPUs as not reporting", exc)
            return []
        return [line.strip() for line in out.splitlines() if line.strip()]

    def _visible(self) -> list[int]:
        """Physical indices of the GPUs CUDA will show, in the order it numbers them."""
        physical = list(range(len(self._query("index"))))
        mask = os.environ.get("CUDA_VISIBLE_DEVICES")
        if mask is None:
            return physical
        chosen = [int(p) for p in mask.split(",") if p.strip().isdigit()]
        return [p for p in chosen if p in physical]

    def gpus(self) -> list[str]:
        return [f"cuda:{n}" for n in range(len(self._visible()))]

    def free_gb(self, device: str) -> float | None:
        if device == "cpu":
            try:
                with open("/proc/meminfo", encoding="ascii") as f:
                    for line in f:
                        if line.startswith("MemAvailable:"):
                            return int(line.split()[1]) / 1024**2
            except OSError:
                return None
            return None
        m = re.fullmatch(r"cuda(?::(\d+))?", device)
        if m is None:
            return None
        visible = self._visible()
        n = int(m.group(1) or 0)
        free = self._query("memory.free")
        if n >= len(visible) or visible[n] >= len(free):
            return None
        try:
            return float(free[visible[n]]) / 1024  # MiB -> GB
        except ValueError:
            return None


def _no_nvidia_driver() -> bool:
    """True when this machine plainly has no NVIDIA GPU: no nvidia-smi, no /dev/nvidia0 and
    no /proc/driver/nvidia (files only: no process is started)."""
    return shutil.which("nvidia-smi") is None and not any(
        os.path.exists(p) for p in ("/dev/nvidia0", "/proc/driver/nvidia/gpus")
    )


def require_device(cfg: EngineConfig, probe: DeviceProbe | None = None) -> None:
    """Refuse an engine set to ``cuda`` (or listing CUDA devices) where no GPU is visible, so
    ``--device cuda`` on a CPU machine fails clearly instead of running on the CPU.

    Without a probe this reads files only (no nvidia-smi driver, no device nodes), and
    ``FANREN_TTS_SKIP_GPU_CHECK=1`` turns it off (the test suite's stand-ins fake a GPU in
    the worker that the host cannot see); a given probe is always asked for its GPUs.
    """
    wanted = [
        d for d in ([cfg.device] + (cfg.devices if isinstance(cfg.devices, list) else [])) if d.startswith("cuda")
    ]
    if not wanted:
        return
    if probe is None:
        if os.environ.get("FANREN_TTS_SKIP_GPU_CHECK", "") not in ("", "0") or not _no_nvidia_driver():
            return  # a GPU driver is there: which device exists is the pool's (and CUDA's) to say
        gpus: list[str] = []
    else:
        gpus = probe.gpus()
    missing = [d for d in wanted if not gpus or (d != "cuda" and d not in gpus)]
    if missing:
        seen = ", ".join(gpus) if gpus else "none (no NVIDIA driver or nvidia-smi on this machine)"
        mask = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise PlacementError(
            f"engine {cfg.name!r}: device {missing[0]} asked for, but no such GPU is visible (GPUs: {seen}"
            + (f", CUDA_VISIBLE_DEVICES={mask!r}" if mask is not None else "")
            + "); use --device cpu (or device: cpu / auto in config.yaml), or run where the GPU is",
            engine=cfg.name,
        )


@dataclasses.dataclass(frozen=True)
class ReplicaPlan:
    """One replica: its index, device, CPU threads (None: the engine's default) and config."""

    index: int
    device: str
    threads: int | None
    config: EngineConfig


def _slots(cfg: EngineConfig, probe: DeviceProbe) -> list[str]:
    """The device of each replica before placement: one per listed device (times
    ``replicas``), else ``replicas`` on the engine's device."""
    if cfg.devices == "all":
        gpus = probe.gpus()
        if not gpus:
            raise PlacementError(
                f"engine {cfg.name!r}: devices: all, but no GPU is visible (nvidia-smi found none"
                + (
                    f", CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r}"
                    if "CUDA_VISIBLE_DEVICES" in os.environ
                    else ""
                )
                + "); list devices, or use replicas: N on the CPU",
                engine=cfg.name,
            )
        return [d for d in gpus for _ in range(cfg.replicas)]
    if cfg.devices:
        return [d for d in cfg.devices for _ in range(cfg.replicas)]
    return [cfg.device] * cfg.replicas


def _place(cfg: EngineConfig, slots: Sequence[str], probe: DeviceProbe) -> list[str]:
    """Unindexed GPU slots (``cuda``, or ``auto`` on a GPU machine) go to the GPU with the
    most memory left; with ``memory_gb`` every replica must fit where it goes."""
    gpus = probe.gpus()
    need = cfg.memory_gb or 0.0
    free: dict[str, float | None] = {}
    taken: dict[str, float] = {}

    def left(device: str) -> float | None:
        if device not in free:
            free[device] = probe.free_gb(device)
        f = free[device]
        return None if f is None else f - taken.get(device, 0.0)

    placed: list[str] = []
    for i, slot in enumerate(slots):
        device = slot
        if slot in ("cuda", "auto") and gpus and (len(slots) > 1 or need):
            reporting = [(g, left(g)) for g in gpus]
            known = [(g, f) for g, f in reporting if f is not None]
            if known:
                device = max(known, key=lambda gf: gf[1])[0]
            else:  # no figures: spread evenly
                device = gpus[i % len(gpus)]
        if need:
            f = left("cpu" if device == "auto" and not gpus else device)
            if f is not None and f < need:
                figures = ", ".join(
                    f"{d} {v:.1f} GB"
                    for d, v in ((d, left(d)) for d in dict.fromkeys(gpus or [device]))
                    if v is not None
                )
                raise PlacementError(
                    f"engine {cfg.name!r}: replica {i} needs {need:.1f} GB (memory_gb) but {device} has {f:.1f} GB free"
                    + (f" after {i} replica(s) placed" if i else "")
                    + f" (free now: {figures or 'not reported'}); lower replicas, add devices or free memory",
                    engine=cfg.name,
                )
            taken[device] = taken.get(device, 0.0) + need
        placed.append(device)
    return placed


def plan_replicas(cfg: EngineConfig, probe: DeviceProbe | None = None, cores: int | None = None) -> list[ReplicaPlan]:
    """Every replica of ``cfg``: device, threads and the config its worker runs with.

    A pool of one on its configured device, with no ``threads``, is planned as-is, so
    an engine without pool settings runs exactly as before (and probes nothing).
    """
    if cfg.replicas == 1 and not cfg.devices and cfg.threads is None and cfg.memory_gb is None:
        return [ReplicaPlan(0, cfg.device, None, cfg)]
    probe = probe or MachineProbe()
    devices = _place(cfg, _slots(cfg, probe), probe)
    cores = cores or cpu_cores()
    on_cpu = [d == "cpu" or (d == "auto" and not probe.gpus()) for d in devices]
    n_cpu = sum(on_cpu)
    if cfg.threads is None and n_cpu > cores:
        log.warning(
            "engine %r: %d CPU replicas on %d cores; each gets 1 thread and they will share cores",
            cfg.name,
            n_cpu,
            cores,
        )
    plans = []
    for i, (device, cpu) in enumerate(zip(devices, on_cpu, strict=True)):
        threads = cfg.threads or (max(1, cores // n_cpu) if cpu and n_cpu > 1 else None)
        env = dict.fromkeys(THREAD_VARS, str(threads)) if threads else {}
        env.update(cfg.env_vars)  # the user's own settings win
        update = {"device": device, "env_vars": env, "replicas": 1, "devices": None}
        plans.append(ReplicaPlan(i, device, threads, cfg.model_copy(update=update)))
    return plans
