"""The speech server on Ray Serve against the local server (a section of scripts/bench.py).

- latency: one short line, warm, cache off, whole WAV over HTTP, p50/p99, on the local
  server (``fanren-tts serve``) and on the Ray-served one (``fanren_tts.rayserve``), calls
  interleaved; with espeak, and with the near-instant stand-in engine (a 0.1 s tone) so the
  row is the serving path alone. "Added" is Ray's p50/p99 minus the local server's.
- throughput: 16 concurrent clients on espeak, requests per second, for 2 Serve replicas
  (min = max = 2) against the local server with ``replicas: 2``; rounds alternated.
- CPU per request: during the throughput rounds, the CPU time (user + system) of every
  process this bench started, by role (the local server and its workers; Serve's HTTP
  proxy, the ingress replica, the engine replicas, their workers, and the rest of Ray:
  GCS, raylet, Serve's controller, agents), divided by the requests served. On a machine
  whose cores are all busy, throughput follows CPU per request.
- floor: what Ray Serve itself costs, with the same client in the same run. ``floor`` is
  a bare Serve deployment answering each POST with the bytes of the instant engine's WAV,
  against a bare Starlette app under uvicorn doing the same; ``floor2`` adds the hop ours
  makes: an ingress deployment that streams the bytes from a second deployment through a
  handle. Their "added" is Ray's own share on this machine, the floor for ours.

Both servers run at once on this machine and share its cores; Ray is a one-node cluster
(``ray.init(num_cpus=4)``, the head's proxy on loopback). The clients are httpx threads of
this process.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from _bench_server import _start_server, closed_loop, summarize

SHORT = "Hello there, how are you?"
LINES = [
    "The river runs past the old mill.",
    "Every morning the baker opens at six.",
    "She packed the map and a torch.",
    "The train was late again today.",
]


def _config(tmp: Path, root: Path) -> Path:
    two = {"min_replicas": 2, "max_replicas": 2}
    doc = {
        "tts": {
            "engine": "espeak",
            "cache": {"enabled": False},
            "server": {"queue_size": 64, "request_timeout": 120},
            "espeak": {
                "env": str(root / "envs" / "espeak"),
                "voice": "en-us",
                "replicas": 2,
                "threads": 1,
                "serve": two,
            },
            "instant": {
                "python": str(root / "envs" / "espeak" / ".venv" / "bin" / "python"),
                "wrapper": str(root / "tests" / "wrappers" / "server_wrapper.py"),
                "threads": 1,
                "serve": {"min_replicas": 1, "max_replicas": 1},
            },
        }
    }
    path = tmp / "serve-ray-bench.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


_FLOOR_APP = """
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = Path(__file__).with_suffix(".bin").read_bytes()


async def hello(request):
    await request.body()
    return Response(BODY, media_type="audio/wav")


app = Starlette(routes=[Route("/floor", hello, methods=["POST"])])
"""


def _start_floor(tmp: Path, body: bytes) -> tuple[subprocess.Popen[bytes], str]:
    """The local floor: a bare Starlette app under uvicorn answering ``body``."""
    import httpx

    (tmp / "floor_app.py").write_text(_FLOOR_APP)
    (tmp / "floor_app.bin").write_bytes(body)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["floor_app:app", "--app-dir", str(tmp), "--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.post(url + "/floor", timeout=2).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the floor app did not come up") from None
            time.sleep(0.1)


def _floor_apps(body: bytes) -> dict[str, Any]:
    """Ray Serve's floor: ``floor`` one deployment; ``floor2`` an ingress streaming from a
    second deployment through a handle, as ours does. Classes made here, so Ray ships them."""
    from ray import serve
    from starlette.responses import Response

    class Floor:
        async def __call__(self, request: Any) -> Response:
            await request.body()
            return Response(body, media_type="audio/wav")

    class Part:
        async def speak(self, text: str) -> Any:
            yield {"last": [body]}

    class Front:
        def __init__(self, part: Any) -> None:
            self.part = part

        async def __call__(self, request: Any) -> Response:
            text = (await request.body()).decode()
            parts: list[bytes] = []
            async for message in self.part.options(stream=True).speak.remote(text):
                parts += message["last"]
            return Response(b"".join(parts), media_type="audio/wav")

    def deploy(name: str, cls: type) -> Any:
        return serve.deployment(name=name, ray_actor_options={"num_cpus": 0.0})(cls)

    return {"floor": deploy("floor", Floor).bind(), "floor2": deploy("floor2", Front).bind(deploy("part", Part).bind())}


def _poster(url: str, path: str = "/v1/audio/speech") -> Any:
    import httpx

    local = threading.local()

    def post(text: str, engine: str) -> bytes:
        http = getattr(local, "client", None)
        if http is None:
            http = local.client = httpx.Client(timeout=120)
        r = http.post(url + path, json={"model": engine, "input": text, "response_format": "wav"})
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
        return r.content

    return post


def _role(proc: Any, local_pid: int) -> str:
    """Which part of which server a process of this bench is (see the module docstring)."""
    chain = [proc, *proc.parents()]
    pids = [p.pid for p in chain]
    if local_pid in pids:
        return "local: server" if proc.pid == local_pid else "local: engine workers"
    titles = [" ".join(p.cmdline()) for p in chain]
    if "ProxyActor" in titles[0]:
        return "ray: HTTP proxy"
    if "ServeReplica" in titles[0]:
        return "ray: ingress replica" if ":ingress" in titles[0] else "ray: engine replicas"
    if any("ServeReplica" in t and "engine-" in t for t in titles[1:]):
        return "ray: engine workers"
    if any("ray" in t for t in titles):
        return "ray: the rest (GCS, raylet, controller, agents)"
    return "other"


def _cpu(local_pid: int) -> dict[str, float]:
    """CPU seconds so far of each role among this process's descendants."""
    import ray

    assert ray  # imported first: ray puts its own copy of psutil (ray/thirdparty_files) on the path
    import psutil

    seen: dict[str, float] = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            times = proc.cpu_times()
            role = _role(proc, local_pid)
        except psutil.Error:
            continue
        seen[role] = seen.get(role, 0.0) + times.user + times.system
    return seen


def _throughput(post: Any, clients: int, per_client: int) -> tuple[float, int, int]:
    return closed_loop(lambda i, j: post(f"{LINES[(i + j) % 4]} {i}-{j}", "espeak"), clients, per_client)


def bench_serve_ray(root: Path, tmp: Path, runs: int, clients: int = 16, per_client: int = 4) -> dict[str, Any]:
    import ray
    from ray import serve

    from fanren_tts.rayserve.app import APP_NAME, LOGGING, build

    config = _config(tmp, root)
    n = max(40, runs * 10)
    server, local_url = _start_server(config)
    procs = [server]
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        serve.start(  # as fanren-tts serve --ray does
            proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port}, logging_config=dict(LOGGING)
        )
        serve.run(build({"config": str(config)}), name=APP_NAME, route_prefix="/")
        ray_url = f"http://127.0.0.1:{port}"
        posts = {"local": _poster(local_url), "ray": _poster(ray_url)}
        body = posts["local"](SHORT, "instant")  # the floor answers with as many bytes
        floor, floor_url = _start_floor(tmp, body)
        procs.append(floor)
        for name, app in _floor_apps(body).items():
            serve.run(app, name=name, route_prefix=f"/{name}")
        floors = {
            "floor": {"local": _poster(floor_url, "/floor"), "ray": _poster(ray_url, "/floor")},
            "floor2": {"ray": _poster(ray_url, "/floor2")},
        }
        lat: dict[str, list[float]] = {}
        for engine, calls in (("espeak", posts), ("instant", posts), *floors.items()):
            for _ in range(5):
                for post in calls.values():
                    post(SHORT, engine)
            for _ in range(n):
                for name, post in calls.items():
                    t0 = time.perf_counter()
                    post(SHORT, engine)
                    lat.setdefault(f"{engine}: {name}", []).append(time.perf_counter() - t0)
        rounds: dict[str, list[tuple[float, int, int]]] = {"local": [], "ray": []}
        cpu: dict[str, dict[str, float]] = {"local": {}, "ray": {}}
        for _ in range(3):
            for name, post in posts.items():
                before = _cpu(server.pid)
                rounds[name].append(_throughput(post, clients, per_client))
                after = _cpu(server.pid)
                for role, seconds in after.items():
                    if role.startswith(f"{name}:"):
                        cpu[name][role] = cpu[name].get(role, 0.0) + seconds - before.get(role, 0.0)
            for name, post in (("floor: local", floors["floor"]["local"]), ("floor2: ray", floors["floor2"]["ray"])):
                rounds.setdefault(name, []).append(_throughput(post, clients, per_client))
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
            for proc in procs:
                proc.terminate()
                proc.wait(30)
    return {
        **summarize(lat, rounds, n, clients, per_client),
        "cpu_ms_per_request": {
            name: {role: 1000 * seconds / max(1, sum(r[1] for r in rounds[name])) for role, seconds in roles.items()}
            for name, roles in cpu.items()
        },
    }


def markdown(results: dict[str, Any]) -> list[str]:
    if "serve_ray" not in results:
        return []
    r = results["serve_ray"]
    lat, thr = r["latency"], r["throughput"]
    n = next(iter(lat.values()))["n"]
    lines = [
        "",
        f"**Ray Serve against the local server**: a short line, warm, cache off; {n} calls each, interleaved",
        "",
        "| engine: server | p50 | p99 | added at p50 | added at p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, v in lat.items():
        engine, how = name.split(": ")
        base = lat.get(f"{engine}: local") or lat["floor: local"]
        add50 = f"{v['p50_ms'] - base['p50_ms']:+.1f} ms" if how == "ray" else ""
        add99 = f"{v['p99_ms'] - base['p99_ms']:+.1f} ms" if how == "ray" else ""
        lines.append(f"| {name} | {v['p50_ms']:.1f} ms | {v['p99_ms']:.1f} ms | {add50} | {add99} |")
    lines += [
        "",
        "floor: a bare Starlette app (local) and a bare Serve deployment (ray) answering the same bytes; "
        "floor2: a Serve ingress streaming them from a second deployment (added: over the local floor).",
        "",
        f"| {r['clients']} clients on espeak (3 rounds of {r['requests_per_round']}, alternated) "
        "| requests/s (median) | each round | ok | errors | vs local |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    labels = {"local": "local server, replicas: 2", "ray": "Ray Serve, 2 replicas"}
    for name, v in thr.items():
        label = labels.get(name, name)
        each = ", ".join(f"{x:.1f}" for x in v["rounds"])
        base = thr["floor: local"] if name.startswith("floor") else thr["local"]
        ratio = v["rps"] / base["rps"] if base["rps"] else 0.0
        lines.append(f"| {label} | {v['rps']:.1f} | {each} | {v['ok']} | {v['errors']} | {ratio:.2f}x |")
    cpu = r.get("cpu_ms_per_request")
    if cpu:
        lines += ["", "| CPU per request in those rounds, by process | ms |", "|---|---:|"]
        for name in ("local", "ray"):
            roles = cpu.get(name, {})
            for role, ms in sorted(roles.items()):
                lines.append(f"| {role} | {ms:.1f} |")
            lines.append(f"| **{name}: total** | **{sum(roles.values()):.1f}** |")
    return lines
