"""``fanren-tts serve --ray`` as a user runs it: no address, so it starts a one-machine
cluster, deploys, answers the openai client, and on SIGTERM deletes the application and
shuts the cluster down (its engine worker with it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import wait_gone, write_config

pytest.importorskip("ray.serve", reason="needs ray[serve] (the [ray] extra)")
pytest.importorskip("fastapi")
pytest.importorskip("aiohttp", reason="Ray Serve's proxy needs ray[serve]'s dependencies")

import httpx
import openai

pytestmark = [pytest.mark.usefixtures("default_envs"), pytest.mark.slow]


def test_serve_ray_starts_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = write_config(
        tmp_path / "config.yaml",
        {"espeak": {"voice": "en-us", "serve": {"min_replicas": 1, "max_replicas": 1}}},
        cache={"enabled": False},
        voices={"dir": str(tmp_path / "voices")},
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fanren_tts",
            "serve",
            "--ray",
            "-c",
            str(config),
            "--port",
            str(port),
            "--api-key",
            "k",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        health: dict = {}
        while not health.get("ready"):
            assert server.poll() is None, server.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "serve --ray did not come up"
            try:
                health = httpx.get(url + "/health", timeout=5).json()
            except (httpx.HTTPError, ValueError):
                time.sleep(1)
        api = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0, timeout=60)
        audio = api.audio.speech.create(model="espeak", input="Hello.", voice="default", response_format="wav")
        assert audio.content[:4] == b"RIFF"
        (replica,) = health["engines"]["espeak"]["replicas"]
        lines: list[str] = []
        stdout = server.stdout
        assert stdout is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
        reader.start()
        while not any("through Ray Serve" in line for line in list(lines)):  # deployed: serve.run returned
            assert time.monotonic() < deadline and server.poll() is None, "".join(lines)[-3000:]
            time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        server.wait(90)
        reader.join(30)
        assert server.returncode == 0, "".join(lines)[-3000:]
        assert wait_gone(replica["pid"], 30)  # the replica (and the worker it ran) is gone
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(30)
