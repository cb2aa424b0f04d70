"""The speech server on Ray Serve, on a two-node Ray cluster on this machine.

``ray.cluster_utils.Cluster``: a head (1 CPU, custom resource ``head``) and a second node
(2 CPUs, ``node2``), loopback only, shut down by the module fixture. The ingress is pinned
to the head and the espeak deployment to the second node, so every request crosses nodes
and a voice added through the ingress is used by a replica on the other node. Real espeak
workers (the env quickstart builds), the official ``openai`` client, no mocks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("ray", reason="needs the [ray] extra (scripts/quickstart.py installs it)")
pytest.importorskip("ray.serve", reason="needs ray[serve] (the [ray] extra)")
pytest.importorskip("aiohttp", reason="Ray Serve's proxy needs ray[serve]'s dependencies")

import httpx
import openai
import ray
from ray import serve
from ray.cluster_utils import Cluster

from conftest import wait_gone, write_config
from fanren_tts.config import PROJECT_ROOT
from fanren_tts.rayserve.app import APP_NAME, build, deployment_name

pytestmark = pytest.mark.usefixtures("default_envs")

KEY = "sesame"
AUTH = {"Authorization": f"Bearer {KEY}"}
ENGINE = deployment_name("espeak")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, url: str, config: Path, voices: Path, cluster: Cluster) -> None:
        self.url = url
        self.config = config
        self.voices = voices
        self.cluster = cluster

    def client(self, key: str = KEY, timeout: float = 60) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=timeout)


def _wait(what: str, check: Any, timeout: float) -> float:
    """Poll ``check`` until true; seconds it took (fails the test past ``timeout``)."""
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout, f"{what}: not within {timeout:.0f}s"
        time.sleep(0.25)
    return time.monotonic() - t0


def _running(deployment: str) -> int:
    status = serve.status().applications[APP_NAME].deployments[deployment]
    from ray.serve._private.common import ReplicaState

    return int(status.replica_states.get(ReplicaState.RUNNING, 0))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, default_envs: None) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("rayserve")
    voices = tmp / "voices"
    espeak = {
        "voice": "en-us",
        "threads": 1,
        "serve": {"min_replicas": 1, "max_replicas": 2, "upscale_delay_s": 0.0, "downscale_delay_s": 2.0},
    }
    config = write_config(
        tmp / "config.yaml",
        {"espeak": espeak},
        "espeak",
        cache={"enabled": False},
        server={"queue_size": 32, "request_timeout": 60},
        voices={"dir": str(voices)},
    )
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "resources": {"head": 1},
            "include_dashboard": False,
            "object_store_memory": 80 * 1024**2,
        },
    )
    try:
        cluster.add_node(num_cpus=2, resources={"node2": 2}, object_store_memory=80 * 1024**2)
        ray.init(address=cluster.address, log_to_driver=False)
        port = free_port()
        serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
        app = build(
            {
                "config": str(config),
                "api_key": KEY,
                "engines": ["espeak"],
                "engine_actor_options": {"resources": {"node2": 0.5}},
                "ingress_actor_options": {"resources": {"head": 0.5}},
            }
        )
        serve.run(app, name=APP_NAME, route_prefix="/")
        yield Served(f"http://127.0.0.1:{port}", config, voices, cluster)
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
            cluster.shutdown()


def read_wav(data: bytes) -> tuple[int, int]:
    import io

    with wave.open(io.BytesIO(data)) as w:
        return w.getframerate(), w.getnframes()


def test_openai_client_whole_file_and_stream(served: Served) -> None:
    api = served.client()
    whole = api.audio.speech.create(model="espeak", input="one two three", voice="default", response_format="wav")
    rate, frames = read_wav(whole.content)
    assert rate > 0 and frames > rate // 4
    streamed = b""
    with api.audio.speech.with_streaming_response.create(
        model="espeak", input="one two three", voice="default", response_format="pcm", stream_format="audio"
    ) as response:
        for piece in response.iter_bytes():
            streamed += piece
    assert abs(len(streamed) // 2 - frames) <= 64  # the same audio, as raw 16-bit PCM


def test_websocket_and_sse_through_the_ingress(served: Served) -> None:
    from websockets.sync.client import connect

    port = served.url.rsplit(":", 1)[1]
    with connect(f"ws://127.0.0.1:{port}/v1/audio/speech/ws", additional_headers=AUTH) as ws:
        ws.send(json.dumps({"model": "espeak", "input": "one two three"}))
        assert json.loads(ws.recv())["type"] == "queued"
        audio = b""
        while True:
            msg = json.loads(ws.recv())
            if msg["type"] == "done":
                break
            assert msg["type"] == "chunk", msg
            if msg["bytes"]:
                piece = ws.recv()
                assert isinstance(piece, bytes)
                audio += piece
        assert audio
    body = {"model": "espeak", "input": "Hello there.", "response_format": "pcm", "stream_format": "sse"}
    r = httpx.post(served.url + "/v1/audio/speech", json=body, headers=AUTH, timeout=60)
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert r.status_code == 200 and events[-1]["type"] == "speech.audio.done", r.text
    assert any(e["type"] == "speech.audio.delta" for e in events)


def test_named_voice_added_on_one_node_is_used_on_the_other(served: Served) -> None:
    """The ingress (head node) stores the voice in the shared folder; the espeak replica
    (second node) reads it through Serve's multiplexing, keyed by the voice's hash."""
    for name, speaker in (("narrator", "de"), ("other", "en-us")):
        r = httpx.post(
            served.url + "/v1/voices", data={"name": name, "engine": "espeak", "speaker": speaker}, headers=AUTH
        )
        assert r.status_code == 201, r.text
    assert (served.voices / "narrator.json").exists()
    api = served.client()
    text = "Guten Tag, wie geht es Ihnen heute?"
    german = api.audio.speech.create(model="espeak", input=text, voice="narrator", response_format="wav").content
    english = api.audio.speech.create(model="espeak", input=text, voice="other", response_format="wav").content
    assert read_wav(german)[1] != read_wav(english)[1]  # each request spoke with its own stored voice
    # the replica that spoke is on the other node and holds both voices warm (multiplexing)
    replica = serve.get_deployment_handle(ENGINE, app_name=APP_NAME).where.remote().result(timeout_s=30)
    head = ray.get_runtime_context().get_node_id()  # the driver is on the head, as the ingress is
    assert replica["node"] != head
    keys = {k.split("@")[0] for k in replica["voices"]}
    assert {"narrator", "other"} <= keys, replica
    r = httpx.delete(served.url + "/v1/voices/narrator", headers=AUTH)
    assert r.status_code == 200
    r = httpx.post(
        served.url + "/v1/audio/speech", json={"model": "espeak", "input": text, "voice": "narrator"}, headers=AUTH
    )
    assert r.status_code == 400 and "narrator" in r.json()["error"]["message"], r.text


def test_health_lists_replicas_per_node(served: Served) -> None:
    r = httpx.get(served.url + "/health", timeout=30)  # no key needed, as locally
    body = r.json()
    assert r.status_code == 200 and body["ready"] and body["ray_serve"], body
    engine = body["engines"]["espeak"]
    assert engine["state"] == "ready" and engine["replicas"], engine
    nodes = body["nodes"]
    listed = [(r["engine"], r["replica_id"]) for node in nodes.values() for r in node["replicas"]]
    assert ("espeak", engine["replicas"][0]["replica_id"]) in listed
    running = [n for n in nodes.values() if any(r["state"].endswith("RUNNING") for r in n["replicas"])]
    assert running and all(n["node_ip"] for n in running), nodes


def test_auth_on_every_route(served: Served) -> None:
    from websockets.exceptions import InvalidStatus, WebSocketException
    from websockets.sync.client import connect

    routes = [
        ("GET", "/v1/models", None),
        ("POST", "/v1/audio/speech", {"model": "espeak", "input": "hi"}),
        ("POST", "/v1/audio/speech/captioned", {"model": "espeak", "input": "hi"}),
        ("GET", "/v1/voices", None),
        ("DELETE", "/v1/voices/x", None),
        ("GET", "/metrics", None),
    ]
    for method, path, body in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = httpx.request(method, served.url + path, json=body, headers=headers, timeout=30)
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["error"]["code"] == "invalid_api_key" and r.headers["www-authenticate"] == "Bearer"
    with pytest.raises(openai.AuthenticationError):
        served.client(key="wrong").audio.speech.create(model="espeak", input="hi", voice="default")
    assert httpx.get(served.url + "/v1/models", headers=AUTH).status_code == 200
    assert httpx.get(served.url + "/health").status_code == 200
    port = served.url.rsplit(":", 1)[1]
    refused = False
    try:
        with connect(f"ws://127.0.0.1:{port}/v1/audio/speech/ws") as ws:
            ws.send(json.dumps({"model": "espeak", "input": "hi"}))
            msg = json.loads(ws.recv())
            refused = msg.get("type") == "error" and msg.get("status") == 401
    except (InvalidStatus, WebSocketException):
        refused = True
    assert refused


def test_errors_are_the_local_servers(served: Served) -> None:
    """Bad input gets the same status and body as from ``fanren-tts serve``."""
    from fastapi.testclient import TestClient

    from fanren_tts import TTSGenerator
    from fanren_tts.server.app import create_app

    deep = '{"model": "espeak", "input": "hi", "extra": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/v1/audio/speech", {"model": "nope", "input": "hi"}),
        ("POST", "/v1/audio/speech", {"model": "espeak", "input": ""}),
        ("POST", "/v1/audio/speech", {"model": "espeak", "input": "x" * 5000}),
        ("POST", "/v1/audio/speech", {"model": "espeak", "input": "x" * 200_000}),  # past max_body_bytes: 413
        ("POST", "/v1/audio/speech", {"model": "espeak", "input": "hi", "speed": "fast"}),
        ("POST", "/v1/audio/speech", {"model": "espeak", "input": "hi", "voice": "nobody-stored"}),
        ("POST", "/v1/audio/speech", b"{not json"),
        ("POST", "/v1/audio/speech", b'{"model": "espeak", "input": "\xff\xfe"}'),
        ("POST", "/v1/audio/speech", deep.encode()),
        ("POST", "/v1/audio/speech", b"[1, 2]"),
        ("POST", "/v1/audio/speech/captioned", {"model": "espeak", "input": "hi", "subtitle_format": "ass"}),
        ("GET", "/v1/audio/speech", None),
        ("GET", "/v1/nowhere", None),
        ("POST", "/v1/voices", b"not a form"),
        ("POST", "/v1/voices", {"form": {"name": "evil\n", "engine": "espeak", "speaker": "de"}}),
        ("POST", "/v1/voices", {"form": {"name": "x", "engine": "nope", "speaker": "de"}}),
        ("DELETE", "/v1/voices/nobody", None),
    ]
    json_type = {"content-type": "application/json"}
    with TTSGenerator(served.config) as tts, TestClient(create_app(tts, api_key=KEY)) as local:
        for method, path, body in cases:
            kw: dict[str, Any]
            if isinstance(body, bytes):
                kw = {"content": body, "headers": {**AUTH, **json_type}}
            elif isinstance(body, dict) and "form" in body:
                kw = {"data": body["form"], "headers": AUTH}
            else:
                kw = {"json": body, "headers": AUTH}
            mine = local.request(method, path, **kw)
            theirs = httpx.request(method, served.url + path, timeout=30, **kw)
            assert mine.status_code >= 400, (path, body)
            assert (theirs.status_code, theirs.json()) == (mine.status_code, mine.json()), (path, str(body)[:80])
            assert theirs.headers.get("retry-after") == mine.headers.get("retry-after")


def _busy_replica(served: Served) -> dict[str, Any]:
    """A running espeak replica, once the ingress has a request in flight (every running
    replica is busy under the test's load)."""
    health: dict[str, Any] = {}

    def ready() -> bool:
        health.update(httpx.get(served.url + "/health", timeout=30).json())
        return bool(health["engines"]["espeak"]["queue"]["running"])

    _wait("a request in flight", ready, 30)
    running = [r for r in health["engines"]["espeak"]["replicas"] if r["state"].endswith("RUNNING")]
    assert running, health
    return running[0]


def _speak_with_retries(served: Served, text: str, outcome: dict[str, Any], tries: int = 6) -> None:
    """One client that honours Retry-After: up to ``tries`` tries; records each status."""
    statuses: list[Any] = []
    for _ in range(tries):
        try:
            r = httpx.post(
                served.url + "/v1/audio/speech",
                json={"model": "espeak", "input": text, "response_format": "wav"},
                headers=AUTH,
                timeout=90,
            )
        except httpx.HTTPError as exc:  # a lost request: the test fails on it
            statuses.append(type(exc).__name__)
            break
        statuses.append(r.status_code)
        if r.status_code == 200:
            outcome["audio"] = r.content
            break
        if r.status_code != 503 or "retry-after" not in r.headers:
            break
        time.sleep(float(r.headers["retry-after"]))
    outcome["statuses"] = statuses


def test_16_clients_while_a_replica_is_killed_lose_nothing(served: Served) -> None:
    """Every request succeeds, or gets 503 + Retry-After and then succeeds on a retry."""
    _wait("one replica before the test", lambda: _running(ENGINE) == 1, 120)
    first = serve.get_deployment_handle(ENGINE, app_name=APP_NAME).where.remote().result(timeout_s=30)
    text = "This sentence keeps a replica busy for a little while, so that the kill lands mid-request. " * 16
    outcomes: list[dict[str, Any]] = [{} for _ in range(16)]
    threads = [threading.Thread(target=_speak_with_retries, args=(served, text, o), daemon=True) for o in outcomes]
    for t in threads:
        t.start()
    victim = _busy_replica(served)
    ray.kill(
        ray.get_actor(victim["actor_name"], namespace="serve"), no_restart=True
    )  # a replica with a request in flight (every one is busy)
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "a client hung"
    for o in outcomes:
        assert "audio" in o and o["audio"][:4] == b"RIFF", o.get("statuses")
        assert all(s in (200, 503) for s in o["statuses"]), o["statuses"]
    retried = sum(len(o["statuses"]) > 1 for o in outcomes)
    assert retried >= 1  # the kill cut a request, which got its 503 and succeeded on the retry
    print(f"\n16 clients, one replica killed: {retried} retried after a 503, 0 lost")
    if victim["pid"] == first["pid"]:  # its worker went with it (the watchdog ends an orphan)
        assert wait_gone(first["worker_pid"], 15)
    # Serve brings the replica back
    _wait("a replacement replica", lambda: _running(ENGINE) >= 1, 120)


def test_autoscales_from_1_to_2_under_load_and_back(served: Served) -> None:
    _wait("back to 1 replica before the test", lambda: _running(ENGINE) == 1, 120)
    stop = threading.Event()
    text = "A longer line keeps the engine busy, so that requests pile up behind the single replica."

    def load() -> None:
        while not stop.is_set():
            httpx.post(
                served.url + "/v1/audio/speech", json={"model": "espeak", "input": text}, headers=AUTH, timeout=90
            )

    clients = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for t in clients:
        t.start()
    try:
        up = _wait("scale up to 2 replicas", lambda: _running(ENGINE) == 2, 150)
    finally:
        stop.set()
        for t in clients:
            t.join(120)
    down = _wait("scale down to 1 replica when idle", lambda: _running(ENGINE) == 1, 120)
    print(f"\nautoscaling: 1 -> 2 replicas {up:.1f}s after load began; 2 -> 1 {down:.1f}s after it stopped")


def test_unreachable_ray_address_fails_clearly_within_15s(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = {**os.environ, "FANREN_TTS_CONFIG": str(PROJECT_ROOT / "config.yaml")}
    done = subprocess.run(
        [sys.executable, "-m", "fanren_tts", "serve", "--ray", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=15,  # the promise: a clear error within 15 s, not Ray's minutes of retrying
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert f"cannot reach the Ray cluster at '127.0.0.1:{port}'" in done.stderr
    assert "ray start --head" in done.stderr


def test_a_lost_node_fails_only_its_requests(served: Served) -> None:
    """The second node goes away with a busy replica on it (a spare node can take its place):
    the requests it held get 503 and succeed on a retry; none is lost or hangs."""
    served.cluster.add_node(num_cpus=2, resources={"node2": 2}, object_store_memory=80 * 1024**2)
    _wait("one replica before the test", lambda: _running(ENGINE) == 1, 120)
    text = "This sentence keeps a replica busy for a little while, so that the loss lands mid-request. " * 16
    outcomes: list[dict[str, Any]] = [{} for _ in range(16)]
    threads = [threading.Thread(target=_speak_with_retries, args=(served, text, o, 60), daemon=True) for o in outcomes]
    for t in threads:
        t.start()
    victim = _busy_replica(served)
    (node,) = [n for n in served.cluster.worker_nodes if n.node_id == victim["node_id"]]
    served.cluster.remove_node(node, allow_graceful=False)
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "a client hung"
    for o in outcomes:
        assert "audio" in o and o["audio"][:4] == b"RIFF", o.get("statuses")
        assert all(s in (200, 503) for s in o["statuses"]), o["statuses"]
    retried = sum(len(o["statuses"]) > 1 for o in outcomes)
    assert retried >= 1
    print(f"\n16 clients, a node lost: {retried} retried after a 503, 0 lost")
