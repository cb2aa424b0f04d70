"""Benchmark section ``batch``: many requests on one model (protocol 4), used by scripts/bench.py.

For piper (the real joe voice) and Qwen3-TTS (qwen-tts's real code on the tiny
CustomVoice checkpoint of scripts/verify/qwen3_tiny.py), both on the CPU, side by side:

- ``one-at-a-time``: one worker, capacity 1 (what every engine did before protocol 4);
- ``replicas: 2``: two such workers, each with its own copy of the model;
- ``batched`` (qwen3: ``max_batch: 8``) or ``concurrent`` (piper: ``concurrency: 2``, one
  call per core, and ``concurrency: 4``): one worker that holds several calls at once over
  one model.

At 1, 4, 8 and 16 concurrent clients (each a thread calling ``synthesize`` in a
closed loop through the pool): throughput in seconds of audio per wall second, p50
and p99 latency per request, the workers' memory (peak RSS, summed over replicas) and
their CPU seconds per second of audio (utime + stime over every round: what a shared
machine's load does not change much). An engine's variants are all loaded at once and
take turns at each client count, ``ROUNDS`` times, so they meet the same load; each
cell is the round with the best throughput (the one least disturbed by other work). For qwen3 the same 8 texts also go through upstream in-process, as 8
``generate_custom_voice`` calls and as one call with a list of 8, so the cost of
going through a worker shows. Nothing asserts: the README states the goals as
ratios against the one-at-a-time worker of the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from verify._common import memory_mb

from fanren_tts import TTSGenerator
from fanren_tts._envs import env_status

CLIENTS = (1, 4, 8, 16)
QWEN_TEXTS = [
    "今天天气很好。",
    "我们一起去公园散步。",
    "湖边的柳树发芽了。",
    "孩子们在草地上放风筝。",
    "傍晚的时候我们回家。",
    "晚饭以后大家聊天。",
    "月亮升起来了。",
    "明天还要早起。",
]
#: Tiny random weights rarely sample eos: every take is cut here, so takes are alike in length.
QWEN_TOKENS = 32

IN_PROCESS = r"""
import json, sys, time
import torch
from qwen_tts import Qwen3TTSModel
torch.set_num_threads(int(sys.argv[3]))
tts = Qwen3TTSModel.from_pretrained(sys.argv[1], dtype=torch.float32, attn_implementation="sdpa", device_map="cpu")
texts = json.loads(sys.argv[2])
kw = {"max_new_tokens": int(sys.argv[4])}
tts.generate_custom_voice(text=texts[0], speaker="Vivian", **kw)  # warm
t0 = time.perf_counter()
single = [tts.generate_custom_voice(text=t, speaker="Vivian", **kw) for t in texts]
t1 = time.perf_counter()
wavs, sr = tts.generate_custom_voice(text=texts, speaker=["Vivian"] * len(texts), **kw)
t2 = time.perf_counter()
audio_single = sum(len(w[0][0]) for w in single) / sr
audio_batch = sum(len(w) for w in wavs) / sr
print(json.dumps({"separate_s": t1 - t0, "batched_s": t2 - t1, "audio_separate_s": audio_single,
                  "audio_batched_s": audio_batch}))
"""


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` so far (0 when it is gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_clients(gen: TTSGenerator, engine: str, texts: list[str], clients: int, extra: dict) -> dict[str, float]:
    """``clients`` threads, each calling synthesize in turn until the round's requests are made."""
    total = max(8, clients)
    pool = gen.pool(engine)
    latencies: list[float] = []
    audio = [0.0]
    lock = threading.Lock()
    counter = iter(range(total))

    def client() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t0 = time.perf_counter()
            reply = pool.call("synthesize", {"text": texts[i % len(texts)], **extra})
            took = time.perf_counter() - t0
            take = reply["audio"] if isinstance(reply, dict) else reply
            with lock:
                latencies.append(took)
                audio[0] += take.duration

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ordered = sorted(latencies)
    return {
        "throughput": audio[0] / wall,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "requests": float(total),
        "audio_s": audio[0],
    }


#: FANREN_BENCH_THREADS=N: every worker (and the in-process run) uses N CPU threads, so a
#: loaded machine's oversubscription does not decide the comparison (default: as configured);
#: ``qwen3=1`` (comma-separated ``engine=N``): only that engine's workers.
_THREADS_SPEC = os.environ.get("FANREN_BENCH_THREADS", "") or ""


def _threads(engine: str) -> int:
    if "=" not in _THREADS_SPEC:
        return int(_THREADS_SPEC or 0)
    pairs = dict(item.split("=", 1) for item in _THREADS_SPEC.split(",") if "=" in item)
    return int(pairs.get(engine, 0) or 0)


#: Turns each variant takes at each client count (the best is kept).
ROUNDS = int(os.environ.get("FANREN_BENCH_ROUNDS", "2") or 2)


def _config(tmp: Path, engine: str, block: dict) -> Path:
    threads = _threads(engine)
    if threads:
        block = {**block, "threads": threads}
    cfg = tmp / f"batch-{engine}-{abs(hash(json.dumps(block, sort_keys=True)))}.yaml"
    doc = {"tts": {"engine": engine, "cache": {"enabled": False}, "output": {"sample_rate": None}, engine: block}}
    cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return cfg


def _variants(tmp: Path, engine: str, blocks: dict[str, dict], texts: list[str], extra: dict) -> dict[str, Any]:
    """Every variant of ``engine`` loaded at once; at each client count they take turns."""
    gens = {name: TTSGenerator(str(_config(tmp, engine, block))) for name, block in blocks.items()}
    out: dict[str, dict[str, Any]] = {name: {} for name in blocks}
    try:
        for name, gen in gens.items():
            gen.warm_up(engine)
            pool = gen.pool(engine)
            for worker in pool.replicas:  # every replica loaded and warm before timing
                worker.call("synthesize", {"text": texts[0], **extra})
            out[name]["capacity"] = pool.capacity
            out[name]["cpu0"] = sum(_cpu_s(w.pid) for w in pool.replicas)
        audio = dict.fromkeys(blocks, 0.0)
        for n in CLIENTS:
            for _ in range(ROUNDS):
                for name, gen in gens.items():
                    r = _run_clients(gen, engine, texts, n, extra)
                    audio[name] += r["audio_s"]
                    best = out[name].get(str(n))
                    if best is None or r["throughput"] > best["throughput"]:
                        out[name][str(n)] = r
        for name, gen in gens.items():
            pool = gen.pool(engine)
            out[name]["memory_mb"] = sum(memory_mb(w.pid)[1] for w in pool.replicas)
            cpu = sum(_cpu_s(w.pid) for w in pool.replicas) - out[name].pop("cpu0")
            out[name]["cpu_per_audio"] = cpu / audio[name] if audio[name] else 0.0
    finally:
        for gen in gens.values():
            gen.close()
    return out


def _narration(tmp: Path, blocks: dict[str, dict], texts: list[str]) -> dict[str, Any]:
    """One 40-sentence text through ``generate`` per worker kind: wall seconds, whether the
    segments came out in the same order as the first kind's, and with the same timings (the
    tiny checkpoint's takes vary from run to run, so only a deterministic engine can match)."""
    text = "".join(texts[i % len(texts)] for i in range(40))
    out: dict[str, Any] = {}
    first: list[tuple[str, float, float]] | None = None
    for name, block in blocks.items():
        cfg = _config(tmp, "qwen3", block)
        with TTSGenerator(str(cfg)) as gen:
            gen.warm_up("qwen3")
            t0 = time.perf_counter()
            result = gen.generate(text, tmp / f"narration-{abs(hash(name))}.wav")
            wall = time.perf_counter() - t0
        segments = [(s.text, round(s.start, 6), round(s.end, 6)) for s in result.segments]
        first = first if first is not None else segments
        out[name] = {
            "wall_s": wall,
            "segments": len(segments),
            "same_order": [t for t, _, _ in segments] == [t for t, _, _ in first],
            "same_as_first": segments == first,
        }
    return out


def _in_process(python: Path, model: Path) -> dict[str, float]:
    threads = str(_threads("qwen3") or os.cpu_count() or 1)
    proc = subprocess.run(
        [
            str(python),
            "-c",
            IN_PROCESS,
            str(model),
            json.dumps(QWEN_TEXTS, ensure_ascii=False),
            threads,
            str(QWEN_TOKENS),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def bench_batch(root: Path, tmp: Path, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "skipped": [],
        "load": os.getloadavg()[0],
        "threads": _THREADS_SPEC or "as configured",
        "rounds": ROUNDS,
        "cores": len(os.sched_getaffinity(0)),
    }
    piper = root / "envs" / "piper"
    if env_status(piper, "piper").ready:
        from bench import SENTENCES

        base: dict[str, Any] = {"device": "cpu"}
        blocks: dict[str, dict[str, Any]] = {
            "one-at-a-time": base,
            "replicas: 2": {**base, "replicas": 2},
            "concurrency: 2": {**base, "concurrency": 2},
            "concurrency: 4": {**base, "concurrency": 4},
        }
        out["piper"] = _variants(tmp, "piper", blocks, SENTENCES, {})
    else:
        out["skipped"].append("piper (python scripts/quickstart.py)")
    if env_status(root / "envs" / "qwen3", "qwen3").ready:
        from verify import qwen3 as verify_qwen3

        python = verify_qwen3.env_python()
        # kept between runs: building the tiny checkpoints costs minutes on a small machine
        models = verify_qwen3.build_models(python, Path(tempfile.gettempdir()) / "fanren-bench-qwen3-models")
        model = models / "custom_voice"
        base = {"type": "qwen3", "model_path": str(model), "speaker": "Vivian", "device": "cpu"}
        extra = {"max_new_tokens": QWEN_TOKENS}
        blocks = {
            "one-at-a-time": {**base, "max_batch": 1},
            "replicas: 2": {**base, "max_batch": 1, "replicas": 2},
            "max_batch: 8": {**base, "max_batch": 8},
        }
        out["qwen3 tiny"] = _variants(tmp, "qwen3", blocks, QWEN_TEXTS, extra)
        out["qwen3 in-process"] = _in_process(python, model)
        with_tokens = {**base, "max_new_tokens": QWEN_TOKENS}
        out["qwen3 narration"] = _narration(
            tmp,
            {"one-at-a-time": {**with_tokens, "max_batch": 1}, "max_batch: 8": {**with_tokens, "max_batch": 8}},
            QWEN_TEXTS,
        )
    else:
        out["skipped"].append("qwen3 (python -m fanren_tts.envs sync qwen3)")
    return out


def markdown(results: dict[str, Any]) -> list[str]:
    b = results.get("batch")
    if not b:
        return []
    lines = [
        "",
        f"**Many requests, one model** (protocol 4; {b.get('cores', '?')} cores; load average {b['load']:.1f} at "
        f"the start; CPU threads per worker: {b.get('threads') or 'as configured'}; best of "
        f"{b.get('rounds', 1)} interleaved rounds): throughput in seconds of audio per wall second, p50 / p99 "
        "latency per request, at 1, 4, 8, 16 concurrent clients; memory: the workers' peak RSS, summed; "
        "CPU: the workers' CPU seconds per second of audio, over every round",
        "",
        "| engine | worker | capacity | " + " | ".join(f"{n} clients" for n in CLIENTS) + " | memory | CPU |",
        "|---|---|---:|" + "---:|" * len(CLIENTS) + "---:|---:|",
    ]
    for engine in ("piper", "qwen3 tiny"):
        variants = b.get(engine)
        if not variants:
            continue
        first = next(iter(variants.values()))
        for name, v in variants.items():
            cells = []
            for n in CLIENTS:
                r = v[str(n)]
                ratio = r["throughput"] / first[str(n)]["throughput"]
                cells.append(f"{r['throughput']:.2f} ({ratio:.2f}×), {r['p50_ms']:.0f} / {r['p99_ms']:.0f} ms")
            cpu = v.get("cpu_per_audio")
            lines.append(
                f"| {engine} | {name} | {v['capacity']} | "
                + " | ".join(cells)
                + f" | {v['memory_mb']:.0f} MB | {'' if cpu is None else f'{cpu:.3f}'} |"
            )
    q = b.get("qwen3 in-process")
    if q:
        speedup = q["separate_s"] / q["batched_s"]
        lines += [
            "",
            f"qwen3 tiny in-process (upstream alone, the same 8 texts): 8 calls {q['separate_s']:.2f} s, "
            f"one call with a list of 8 {q['batched_s']:.2f} s: {speedup:.2f}× "
            f"({q['audio_separate_s'] / q['separate_s']:.2f} vs {q['audio_batched_s'] / q['batched_s']:.2f} "
            "s of audio per second).",
        ]
    n = b.get("qwen3 narration")
    if n:
        base = next(iter(n.values()))["wall_s"]
        lines += [
            "",
            "qwen3 tiny, one 40-sentence narration through `generate` (the producer sends up to "
            "`pool.capacity` segments at once): "
            + "; ".join(
                f"{k} {v['wall_s']:.2f} s ({base / v['wall_s']:.2f}×, {v['segments']} segments, "
                f"{'same order' if v['same_order'] else 'ORDER DIFFERS'}, "
                f"{'same timings' if v['same_as_first'] else 'other timings'})"
                for k, v in n.items()
            )
            + ".",
        ]
    if b["skipped"]:
        lines += ["", "Skipped (env not built): " + ", ".join(b["skipped"])]
    return lines
