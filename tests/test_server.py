"""The speech server, for real: uvicorn on a free loopback port, the official openai
client for speech, httpx for the rest; engines are real worker processes."""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
import httpx
import openai
import uvicorn

from conftest import TESTS, wait_gone, write_config
from fanren_tts import TTSGenerator
from fanren_tts.server.app import create_app

SERVER_WRAPPER = TESTS / "wrappers" / "server_wrapper.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_config(tmp_path: Path, bare_python: Path, **server: object) -> Path:
    block = {"python": str(bare_python), "wrapper": str(SERVER_WRAPPER)}
    engines = {"a": dict(block), "b": dict(block), "slow": {**block, "delay": 0.4}}
    settings = {"queue_size": 4, "request_timeout": 20, "max_input_chars": 200, **server}
    return write_config(
        tmp_path / "config.yaml", engines, "a", server=settings, voices={"dir": str(tmp_path / "voices")}
    )


class Running:
    def __init__(self, tts: TTSGenerator, api_key: str | None = None) -> None:
        self.tts = tts
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(tts, api_key=api_key), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def served(tmp_path: Path, bare_python: Path) -> Iterator[Running]:
    tts = TTSGenerator(make_config(tmp_path, bare_python, engines={"slow": {"queue_size": 1}}))
    running = Running(tts)
    yield running
    running.stop()
    tts.close()


def client(run: Running, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=run.url + "/v1", api_key=key, max_retries=0, timeout=30)


def read_wav(data: bytes) -> tuple[int, int]:
    with wave.open(io.BytesIO(data)) as w:
        return w.getframerate(), w.getnframes()


def test_openai_client_whole_file_and_stream(served: Running) -> None:
    api = client(served)
    whole = api.audio.speech.create(model="a", input="one two three", voice="default", response_format="wav")
    rate, frames = read_wav(whole.content)
    assert rate == 16000 and frames / rate >= 0.29  # 3 words x 0.1 s at the engine's rate
    streamed = b""
    pieces = 0
    with api.audio.speech.with_streaming_response.create(
        model="a", input="one two three", voice="default", response_format="pcm", stream_format="audio"
    ) as response:
        assert response.headers["content-type"].startswith("audio/pcm")
        assert "x-queue-eta" in response.headers
        for piece in response.iter_bytes():
            streamed += piece
            pieces += 1
    assert abs(len(streamed) // 2 - frames) <= 64
    for fmt in ("flac", "mp3", "opus"):
        data = api.audio.speech.create(model="b", input="one two", voice="default", response_format=fmt).content
        assert len(data) > 100
        assert data[:4] in (b"fLaC", b"OggS") or data[:3] in (b"ID3",) or data[0] == 0xFF


def test_bad_inputs_get_typed_json_errors(served: Running) -> None:
    url = served.url + "/v1/audio/speech"
    cases = [
        ({"model": "nope", "input": "hi", "voice": "default"}, 404, "model_not_found"),
        ({"model": "a", "input": "   ", "voice": "default"}, 400, "empty_input"),
        ({"model": "a", "input": "x" * 201, "voice": "default"}, 413, "input_too_long"),
        ({"model": "a", "input": "hi", "response_format": "ogg"}, 422, "invalid_field"),
        ({"model": "a", "input": "hi BADVALUE", "voice": "default"}, 400, "rejected_by_engine"),
        ({"input": "hi"}, 422, "invalid_field"),
        ({"model": "a", "input": "hi", "response_format": "aac"}, 422, "invalid_field"),  # not advertised either
        ({"model": "a", "input": "hi", "speed": 9}, 422, "invalid_field"),
    ]
    for body, status, code in cases:
        r = httpx.post(url, json=body, timeout=20)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["message"] and r.json()["error"]["type"]
    r = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}, timeout=20)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    with pytest.raises(openai.NotFoundError):
        client(served).audio.speech.create(model="nope", input="hi", voice="default")
    assert httpx.get(served.url + "/health").json()["live"] is True  # still serving


def test_api_key(tmp_path: Path, bare_python: Path) -> None:
    tts = TTSGenerator(make_config(tmp_path, bare_python))
    run = Running(tts, api_key="s3cret")
    try:
        with pytest.raises(openai.AuthenticationError):
            client(run, "wrong").audio.speech.create(model="a", input="hi", voice="default")
        r = httpx.get(run.url + "/v1/models")
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(run.url + "/health").status_code == 200
        ok = client(run, "s3cret").audio.speech.create(model="a", input="hi", voice="default", response_format="wav")
        assert read_wav(ok.content)[1] > 0
        models = client(run, "s3cret").models.list()
        assert [m.id for m in models if getattr(m, "type", None) != "alias"] == ["a", "b", "slow"]
    finally:
        run.stop()
        tts.close()


def test_full_queue_is_429_with_retry_after_and_eta(served: Running) -> None:
    url = served.url + "/v1/audio/speech"
    body = {"model": "slow", "input": "one two three four", "voice": "default", "response_format": "wav"}
    results: list[httpx.Response] = []

    def post() -> None:
        results.append(httpx.post(url, json=body, timeout=30))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
        time.sleep(0.15)
    health = httpx.get(served.url + "/health").json()["engines"]["slow"]["queue"]
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 2 and codes.count(429) == 2, codes  # one running + queue_size 1
    refused = next(r for r in results if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1 and refused.json()["error"]["type"] == "rate_limit_error"
    assert health["queue_size"] == 1 and health["running"] == 1 and health["slots"] == 1
    # the other engines were never blocked, and the ETA learned from the served requests
    assert httpx.post(url, json={**body, "model": "a"}, timeout=10).status_code == 200
    state = httpx.get(served.url + "/health").json()["engines"]["slow"]["queue"]
    assert state["served"] == 2 and state["seconds_per_char"] > 0
    metrics = httpx.get(served.url + "/metrics").text
    assert 'fanren_tts_requests_total{endpoint="speech",engine="slow",status="429"} 2.0' in metrics
    assert "fanren_tts_queue_depth" in metrics and "fanren_tts_request_seconds_bucket" in metrics


def test_worker_killed_mid_request_then_served_again(served: Running) -> None:
    url = served.url + "/v1/audio/speech"
    ok = {"model": "b", "input": "fine", "voice": "default", "response_format": "wav"}
    assert httpx.post(url, json=ok, timeout=20).status_code == 200
    r = httpx.post(url, json={**ok, "input": "please CRASH now"}, timeout=20)
    assert r.status_code == 503 and r.json()["error"]["code"] == "worker_crashed"
    assert httpx.post(url, json={**ok, "input": "served again"}, timeout=20).status_code == 200  # a fresh worker
    assert 'fanren_tts_worker_restarts_total{engine="b"} 1.0' in httpx.get(served.url + "/metrics").text
    # killed from outside while it speaks (as the OOM killer would)
    slow = {"model": "slow", "input": "killed while it speaks", "response_format": "wav"}
    assert httpx.post(url, json={**slow, "input": "warm"}, timeout=20).status_code == 200
    pid = httpx.get(served.url + "/health").json()["engines"]["slow"]["pid"]
    result: list[httpx.Response] = []
    t = threading.Thread(target=lambda: result.append(httpx.post(url, json=slow, timeout=20)))
    t.start()
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    t.join(20)
    assert result[0].status_code == 503 and result[0].json()["error"]["code"] == "worker_crashed"
    assert httpx.post(url, json={**slow, "input": "after the kill"}, timeout=20).status_code == 200
    assert httpx.get(served.url + "/health").json()["engines"]["slow"]["pid"] not in (None, pid)


def test_request_timeout_is_504(tmp_path: Path, bare_python: Path) -> None:
    tts = TTSGenerator(make_config(tmp_path, bare_python, engines={"slow": {"request_timeout": 0.6}}))
    run = Running(tts)
    try:
        body = {"model": "slow", "input": "a b c d e f", "voice": "default", "response_format": "wav"}
        r = httpx.post(run.url + "/v1/audio/speech", json=body, timeout=20)
        assert r.status_code == 504 and r.json()["error"]["type"] == "timeout_error"
        time.sleep(0.5)  # the engine was told to stop after its current piece
        r = httpx.post(run.url + "/v1/audio/speech", json={**body, "input": "a"}, timeout=20)
        assert r.status_code == 200
    finally:
        run.stop()
        tts.close()


def test_websocket_sends_chunks_and_words(served: Running) -> None:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{served.port}/v1/audio/speech/ws") as ws:
        ws.send(json.dumps({"model": "a", "input": "one two three"}))
        assert json.loads(ws.recv())["type"] == "queued"
        audio, words = b"", []
        while True:
            msg = json.loads(ws.recv())
            if msg["type"] == "done":
                break
            assert msg["type"] == "chunk", msg
            words += msg["words"]
            if msg["bytes"]:
                piece = ws.recv()
                assert isinstance(piece, bytes) and len(piece) == msg["bytes"]
                audio += piece
        assert len(audio) > 0 and [w["text"] for w in words] == ["one", "two", "three"]
        ws.send(json.dumps({"model": "nope", "input": "x"}))
        err = json.loads(ws.recv())
        assert err["type"] == "error" and err["status"] == 404


def reference_wav(seconds: float, rate: int = 24000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        w.writeframes(struct.pack(f"<{n}h", *(int(9000 * math.sin(i / 7)) for i in range(n))))
    return buf.getvalue()


def test_voices_persist_across_restart(tmp_path: Path, bare_python: Path) -> None:
    config = make_config(tmp_path, bare_python)
    tts = TTSGenerator(config)
    run = Running(tts)
    try:
        files = {"audio": ("ref.wav", reference_wav(2.0), "audio/wav")}
        r = httpx.post(
            run.url + "/v1/voices", data={"name": "narrator", "engine": "a", "transcript": "hi"}, files=files
        )
        assert r.status_code == 201, r.text
        for bad, why in ((b"not audio at all", "not"), (reference_wav(31), "long"), (reference_wav(1, 8000), "Hz")):
            r = httpx.post(run.url + "/v1/voices", data={"name": "bad", "engine": "a"}, files={"audio": ("x.wav", bad)})
            assert r.status_code == 400 and why in r.json()["error"]["message"], r.text
    finally:
        run.stop()
        tts.close()
    tts = TTSGenerator(config)  # a new server on the same config: the voice is still there
    run = Running(tts)
    try:
        names = [v["name"] for v in httpx.get(run.url + "/v1/voices").json()["data"]]
        assert names == ["narrator"]
        wav = client(run).audio.speech.create(model="a", input="hello", voice="narrator", response_format="wav")
        assert read_wav(wav.content)[1] > 0
        used = tts.call("a", "last_options")
        assert used["ref_text"] == "hi" and Path(used["ref_audio"]).is_file()
        assert httpx.delete(run.url + "/v1/voices/narrator").status_code == 200
        assert httpx.delete(run.url + "/v1/voices/narrator").status_code == 404
    finally:
        run.stop()
        tts.close()


def _serve(config: Path) -> tuple[subprocess.Popen[bytes], str, int]:
    """``python -m fanren_tts serve`` with the slow engine warm; its URL and worker pid."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fanren_tts", "serve", "--config", str(config), "--port", str(port), "--warm", "slow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            health = httpx.get(url + "/health", timeout=2).json()
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.1)
    pid = health["engines"]["slow"]["pid"]
    assert pid
    return proc, url, pid


def test_serve_command_sigterm_is_graceful(tmp_path: Path, bare_python: Path) -> None:
    proc, url, pid = _serve(make_config(tmp_path, bare_python, shutdown_grace=5))
    try:
        result: list[httpx.Response] = []
        body = {"model": "slow", "input": "one two three", "response_format": "wav"}
        t = threading.Thread(target=lambda: result.append(httpx.post(url + "/v1/audio/speech", json=body, timeout=20)))
        t.start()
        time.sleep(0.3)  # in flight
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        t.join(20)
        assert proc.wait(20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
        assert time.monotonic() - t0 < 15
        assert result and result[0].status_code == 200  # the in-flight request finished
        assert wait_gone(pid, 10), "worker outlived the server"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_sigterm_cuts_a_long_stream_after_the_grace(tmp_path: Path, bare_python: Path) -> None:
    """A stream that would take 12 s: the server waits out shutdown_grace (1 s), cancels it,
    stops the worker and exits within a bound."""
    proc, url, pid = _serve(make_config(tmp_path, bare_python, shutdown_grace=1))
    try:
        words = " ".join(f"w{i}" for i in range(30))
        body = {"model": "slow", "input": words, "response_format": "pcm", "stream_format": "audio"}
        got: list[int] = []

        def listen() -> None:
            try:
                with httpx.stream("POST", url + "/v1/audio/speech", json=body, timeout=30) as r:
                    for piece in r.iter_raw():
                        got.append(len(piece))
            except httpx.HTTPError:
                pass  # the server closed it: expected

        t = threading.Thread(target=listen)
        t.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) in (0, -signal.SIGTERM)
        took = time.monotonic() - t0
        t.join(10)
        assert took < 8, took  # grace 1 s + stopping the worker, far short of the 12 s stream
        assert 0 < sum(got) < 30 * 0.1 * 16000 * 2  # some audio came, not all of it
        assert wait_gone(pid, 10), "worker outlived the server"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_stream_format_audio_sends_before_the_end(served: Running) -> None:
    """A slow engine (0.4 s a word): the first bytes come while the rest is still being made
    (a text no other test speaks, so none of it comes from the segment cache)."""
    body = {"model": "slow", "input": "streamed words come apart", "response_format": "wav", "stream_format": "audio"}
    t0 = time.monotonic()
    with httpx.stream("POST", served.url + "/v1/audio/speech", json=body, timeout=30) as r:
        assert r.status_code == 200
        arrivals = [(time.monotonic() - t0, len(piece)) for piece in r.iter_raw() if piece]
    assert arrivals[0][0] < arrivals[-1][0] - 0.6, arrivals  # 3 more words (1.2 s) came after the first bytes
    data = b"".join(b"x" * n for _, n in arrivals)
    assert len(data) > 44


@pytest.mark.usefixtures("default_envs")
def test_real_engines_over_openai_and_websocket(tmp_path: Path) -> None:
    """piper and espeak behind the server: sentence by sentence over the WebSocket, with
    the engines' own word timings; the openai client's streaming response is a playable WAV."""
    from websockets.sync.client import connect

    config = write_config(tmp_path / "config.yaml", {"piper": {}, "espeak": {}}, "piper", cache={"enabled": False})
    tts = TTSGenerator(config)
    run = Running(tts)
    try:
        with client(run).audio.speech.with_streaming_response.create(
            model="piper",
            input="First line. Second line.",
            voice="default",
            response_format="wav",
            stream_format="audio",
        ) as response:
            data = response.read()
        assert data[:4] == b"RIFF" and len(data) > 22050
        for engine, voice in (("piper", "narrator"), ("espeak", "no-such-voice")):  # neither stored nor the engine's
            r = httpx.post(
                run.url + "/v1/audio/speech", json={"model": engine, "input": "Hi.", "voice": voice}, timeout=30
            )
            assert r.status_code == 400 and voice in r.json()["error"]["message"], r.text
        with connect(f"ws://127.0.0.1:{run.port}/v1/audio/speech/ws") as ws:
            ws.send(json.dumps({"model": "espeak", "input": "你好。再见。"}))
            segments, words = set(), []
            while True:
                msg = json.loads(ws.recv())
                if msg["type"] == "done":
                    break
                if msg["type"] == "chunk":
                    segments.add(msg["segment"])
                    words += msg["words"]
                    if msg["bytes"]:
                        ws.recv()
            assert segments == {0, 1} and "".join(w["text"] for w in words).replace("。", "") == "你好再见"
            assert all(a["end"] <= b["start"] + 1e-6 for a, b in itertools.pairwise(words))
    finally:
        run.stop()
        tts.close()


def test_an_unavailable_engine_is_503_and_blocks_no_other(tmp_path: Path, bare_python: Path) -> None:
    block = {"python": str(bare_python), "wrapper": str(SERVER_WRAPPER)}
    broken = {"python": str(tmp_path / "no-such-venv" / "bin" / "python"), "wrapper": str(SERVER_WRAPPER)}
    tts = TTSGenerator(write_config(tmp_path / "config.yaml", {"ok": block, "broken": broken}, "ok"))
    run = Running(tts)
    try:
        url = run.url + "/v1/audio/speech"
        r = httpx.post(url, json={"model": "broken", "input": "hi"}, timeout=20)
        assert r.status_code == 503 and r.json()["error"]["type"] == "engine_unavailable", r.text
        assert "does not exist" in r.json()["error"]["message"]
        health = httpx.get(run.url + "/health").json()
        assert health["ready"] and health["engines"]["broken"]["state"] == "unavailable"
        assert "does not exist" in health["engines"]["broken"]["reason"]
        assert httpx.post(url, json={"model": "ok", "input": "hi", "response_format": "wav"}).status_code == 200
        with pytest.raises(openai.InternalServerError):  # the openai client sees a 5xx it can retry
            client(run).audio.speech.create(model="broken", input="hi", voice="default")
    finally:
        run.stop()
        tts.close()


def test_a_client_that_hangs_up_frees_the_engine(served: Running) -> None:
    """Leaving a 12 s stream after its first bytes stops the engine: the next request to
    the same engine does not wait for the rest."""
    words = " ".join(f"gone{i}" for i in range(30))
    body = {"model": "slow", "input": words, "response_format": "pcm", "stream_format": "audio"}
    with httpx.stream("POST", served.url + "/v1/audio/speech", json=body, timeout=30) as r:
        next(r.iter_raw())
    t0 = time.monotonic()
    r = httpx.post(served.url + "/v1/audio/speech", json={"model": "slow", "input": "next", "response_format": "wav"})
    assert r.status_code == 200 and time.monotonic() - t0 < 6
