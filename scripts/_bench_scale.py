"""bench.py sections for scaling: worker pools on one machine, and the Ray backend.

pool: a 20-line piper batch (generate_many, cache off, workers warm) with one worker,
  a pool whose replicas each use every core (what two workers did before thread
  partitioning), and pools that split the cores; ``--pool-replicas 1,2,4,8`` on a
  larger machine gives the scaling table.
ray: a 50-line piper batch through the local backend and through Ray on a local
  cluster (``ray.init(num_cpus=cores)``, its start excluded); both start their
  workers inside the timed run.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from fanren_tts import TTSGenerator
from fanren_tts._placement import cpu_cores


def _config(tmp: Path, name: str, piper: dict[str, Any]) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"tts": {"engine": "piper", "piper": {"device": "cpu", **piper}}}))
    return path


def _batch_s(config: Path, lines: list[str], out: Path) -> float:
    with TTSGenerator(config) as gen:
        gen.warm_up("piper")
        t0 = time.perf_counter()
        result = gen.generate_many(lines, out, cache=False, subtitles=False)
        elapsed = time.perf_counter() - t0
    assert result.ok, result.failures
    return elapsed


def bench_pool(tmp: Path, sentences: list[str], runs: int, replicas: tuple[int, ...]) -> dict[str, dict[str, float]]:
    cores = cpu_cores()
    setups: dict[str, dict[str, Any]] = {}
    for n in replicas:
        if n == 1:
            setups["1 worker (every core)"] = {}
        else:
            setups[f"pool of {n}, unpartitioned ({cores} threads each)"] = {"replicas": n, "threads": cores}
            setups[f"pool of {n}, cores split ({max(1, cores // n)} threads each)"] = {"replicas": n}
    times: dict[str, list[float]] = {k: [] for k in setups}
    for run in range(runs):
        for i, (name, piper) in enumerate(setups.items()):  # interleaved, so drift hits every setup alike
            times[name].append(_batch_s(_config(tmp, f"pool{i}", piper), sentences, tmp / f"pool{run}-{i}"))
    base = statistics.median(next(iter(times.values())))
    return {
        name: {"total_s": statistics.median(t), "vs_one_worker": statistics.median(t) / base, "lines": len(sentences)}
        for name, t in times.items()
    }


def bench_ray(tmp: Path, sentences: list[str], runs: int, lines: int = 50) -> dict[str, dict[str, float]]:
    import ray

    script = [sentences[i % len(sentences)] for i in range(lines)]
    cores = cpu_cores()
    config = _config(tmp, "ray", {"replicas": cores})
    ray.init(num_cpus=cores, include_dashboard=False, object_store_memory=100 * 1024**2, log_to_driver=False)
    times: dict[str, list[float]] = {"local backend": [], "ray backend (local cluster)": []}
    try:
        for run in range(runs):
            for backend, name in (("local", "local backend"), ("ray", "ray backend (local cluster)")):
                with TTSGenerator(config) as gen:  # workers (and Ray's actors) start inside the timed run
                    t0 = time.perf_counter()
                    result = gen.generate_many(script, tmp / f"ray{run}-{backend}", cache=False, backend=backend)
                    times[name].append(time.perf_counter() - t0)
                assert result.ok, result.failures
    finally:
        ray.shutdown()
    base = statistics.median(times["local backend"])
    return {
        name: {"total_s": statistics.median(t), "vs_local": statistics.median(t) / base, "lines": lines}
        for name, t in times.items()
    }


def markdown(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "pool" in results:
        p = results["pool"]
        n = next(iter(p.values()))["lines"]
        lines += [
            "",
            f"**Worker pools**: a {n}-line piper batch, workers warm, on {cpu_cores()} cores",
            "",
            "| setup | total | vs 1 worker |",
            "|---|---:|---:|",
        ]
        lines += [f"| {k} | {v['total_s']:.2f} s | {v['vs_one_worker']:.2f}x |" for k, v in p.items()]
    if "ray" in results:
        r = results["ray"]
        n = next(iter(r.values()))["lines"]
        lines += [
            "",
            f"**Ray backend**: a {n}-line piper batch, {cpu_cores()} replicas, cluster start excluded",
            "",
            "| backend | total | vs local |",
            "|---|---:|---:|",
        ]
        lines += [f"| {k} | {v['total_s']:.2f} s | {v['vs_local']:.2f}x |" for k, v in r.items()]
    return lines
