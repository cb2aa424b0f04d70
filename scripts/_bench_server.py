"""The speech server against the library, side by side (a section of scripts/bench.py).

- latency: one short line with piper (and with a near-instant stand-in engine), p50/p99 over HTTP (``POST /v1/audio/speech``,
  wav, whole file) against the same work on the library (``TTSGenerator.stream`` collected
  into WAV bytes, which is what the server does), both warm, cache off;
- throughput: 16 concurrent clients over two engines (piper and espeak, alternating),
  requests per second and errors, against 16 threads sharing one ``TTSGenerator``.

The server runs as ``python -m fanren_tts serve`` in its own process on loopback; the
HTTP clients are httpx in threads of this process. Both share this machine's cores.
"""

from __future__ import annotations

import io
import socket
import statistics
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

SHORT = "Hello there, how are you?"
LINES = [
    "The river runs past the old mill.",
    "Every morning the baker opens at six.",
    "She packed the map and a torch.",
    "The train was late again today.",
]
ZH_LINES = ["今天天气很好。", "我们明天见。", "火车又晚点了。", "她带上了地图。"]


def _config(tmp: Path, root: Path) -> Path:
    doc = {
        "tts": {
            "engine": "piper",
            "cache": {"enabled": False},
            "server": {"queue_size": 64, "request_timeout": 120},
            "piper": {"env": str(root / "envs" / "piper")},
            "espeak": {"env": str(root / "envs" / "espeak")},
            # a near-instant stand-in engine (a 0.1 s tone): the HTTP cost without synthesis around it
            "instant": {
                "python": str(root / "envs" / "espeak" / ".venv" / "bin" / "python"),
                "wrapper": str(root / "tests" / "wrappers" / "server_wrapper.py"),
            },
        }
    }
    path = tmp / "server-bench.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _wav(tts: Any, text: str, engine: str) -> bytes:
    parts, first = [], None
    for chunk in tts.stream(text, engine):
        first = first or chunk
        parts.append(chunk.audio.pcm)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        assert first is not None
        w.setnchannels(first.data.shape[1])
        w.setsampwidth(2)
        w.setframerate(first.sample_rate)
        w.writeframes(b"".join(parts))
    return buf.getvalue()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def closed_loop(request: Callable[[int, int], object], clients: int, per_client: int) -> tuple[float, int, int]:
    """``clients`` threads each make ``per_client`` requests back to back (``request(i, j)``):
    (requests per second, requests done, requests failed). The Ray Serve bench uses it too."""
    done, errors = [0], [0]
    lock = threading.Lock()

    def client(i: int) -> None:
        for j in range(per_client):
            try:
                request(i, j)
                with lock:
                    done[0] += 1
            except BaseException:
                with lock:
                    errors[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - t0), done[0], errors[0]


def _throughput(call: Any, clients: int, per_client: int) -> tuple[float, int, int]:
    """Piper and espeak lines alternating, each client's piper lines its own (no cache hits)."""

    def request(i: int, j: int) -> None:
        engine = "piper" if (i + j) % 2 == 0 else "espeak"
        text = (LINES if engine == "piper" else ZH_LINES)[(i + j) % 4]
        call(f"{text} {i}-{j}" if engine == "piper" else text, engine)

    return closed_loop(request, clients, per_client)


def _start_server(config: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "fanren_tts", "serve", "--config", str(config), "--port", str(port), "--warm"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise RuntimeError("the server did not come up")
        time.sleep(0.1)


def bench_server(root: Path, tmp: Path, runs: int, clients: int = 16, per_client: int = 4) -> dict[str, Any]:
    """Library and server side by side: both warm at once, calls interleaved (one library
    call, one HTTP call, ...) and throughput rounds alternated, so drift hits both alike."""
    import httpx

    from fanren_tts import TTSGenerator

    config = _config(tmp, root)
    n = max(40, runs * 10)
    server, url = _start_server(config)
    local = threading.local()

    def post(text: str, engine: str) -> bytes:
        http = getattr(local, "client", None)
        if http is None:
            http = local.client = httpx.Client(timeout=120)
        r = http.post(url + "/v1/audio/speech", json={"model": engine, "input": text, "response_format": "wav"})
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
        return r.content

    try:
        with TTSGenerator(config) as tts:
            tts.warm_up()

            def lib(text: str, engine: str) -> bytes:
                return _wav(tts, text, engine)

            lat: dict[str, list[float]] = {}
            for engine in ("piper", "instant"):
                for _ in range(5):
                    lib(SHORT, engine)
                    post(SHORT, engine)
                for _ in range(n):
                    for name, call in (("library", lib), ("HTTP", post)):
                        t0 = time.perf_counter()
                        call(SHORT, engine)
                        lat.setdefault(f"{engine}: {name}", []).append(time.perf_counter() - t0)
            rounds: dict[str, list[tuple[float, int, int]]] = {"library": [], "HTTP": []}
            for _ in range(3):
                for name, call in (("library", lib), ("HTTP", post)):
                    rounds[name].append(_throughput(call, clients, per_client))
    finally:
        server.terminate()
        server.wait(30)
    return summarize(lat, rounds, n, clients, per_client)


def summarize(
    lat: dict[str, list[float]],
    rounds: dict[str, list[tuple[float, int, int]]],
    n: int,
    clients: int,
    per_client: int,
) -> dict[str, Any]:
    """Latency (p50/p99 of each way's calls) and throughput (the median of its rounds of
    ``closed_loop``) as the server and Ray Serve benches report them."""
    return {
        "latency": {
            name: {"p50_ms": statistics.median(v) * 1000, "p99_ms": _pct(v, 0.99) * 1000, "n": n}
            for name, v in lat.items()
        },
        "throughput": {
            name: {
                "rps": statistics.median(r[0] for r in rs),
                "ok": sum(r[1] for r in rs),
                "errors": sum(r[2] for r in rs),
                "rounds": [r[0] for r in rs],
            }
            for name, rs in rounds.items()
        },
        "clients": clients,
        "requests_per_round": clients * per_client,
    }


def markdown(results: dict[str, Any]) -> list[str]:
    if "server" not in results:
        return []
    r = results["server"]
    lat, thr = r["latency"], r["throughput"]
    n = next(iter(lat.values()))["n"]
    lines = [
        "",
        f"**Speech server**: a short line, warm, cache off; {n} calls each, library and HTTP interleaved",
        "",
        "| engine: how | p50 | p99 | added at p50 |",
        "|---|---:|---:|---:|",
    ]
    for name, v in lat.items():
        engine, how = name.split(": ")
        base = lat[f"{engine}: library"]["p50_ms"]
        added = f"{v['p50_ms'] - base:+.1f} ms" if how == "HTTP" else ""
        lines.append(f"| {name} | {v['p50_ms']:.1f} ms | {v['p99_ms']:.1f} ms | {added} |")
    lines += [
        "",
        "(instant: a stand-in engine that returns 0.1 s of tone at once, so the row is the HTTP path alone.)",
        "",
        f"| {r['clients']} concurrent clients, piper + espeak (3 rounds of {r['requests_per_round']}, alternated) "
        "| requests/s (median) | each round | ok | errors | vs library |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, v in thr.items():
        each = ", ".join(f"{x:.1f}" for x in v.get("rounds", []))
        lines.append(
            f"| {name} | {v['rps']:.1f} | {each} | {v['ok']} | {v['errors']} | {v['rps'] / thr['library']['rps']:.2f}x |"
        )
    return lines
