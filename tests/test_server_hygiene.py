"""Server hygiene (issue 19 §6): WebSocket requests in /metrics, request ids and the
access log, no open server beyond loopback by accident, keys compared in constant
time, CORS off unless configured. Engines are real worker processes (test_server.py)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
from starlette.testclient import TestClient
from test_server import make_config

from fanren_tts import ConfigError, TTSGenerator
from fanren_tts.server import app as app_module
from fanren_tts.server import websocket as ws_module
from fanren_tts.server.access import RequestIdFilter, current_request_id
from fanren_tts.server.app import create_app
from fanren_tts.server.errors import ApiError
from fanren_tts.server.serve import check_exposure


def _client(tmp_path: Path, bare_python: Path, api_key: str | None = None, **server: object) -> TestClient:
    tts = TTSGenerator(make_config(tmp_path, bare_python, **server))
    return TestClient(create_app(tts, api_key=api_key))


@pytest.fixture
def client(tmp_path: Path, bare_python: Path) -> Iterator[TestClient]:
    with _client(tmp_path, bare_python, max_body_bytes=4096) as c:
        yield c


def _ws_speak(ws: object, model: str) -> str:
    """One request on ``ws``; the type of its last message (done or error)."""
    ws.send_text(json.dumps({"model": model, "input": "one two"}))  # type: ignore[attr-defined]
    while True:
        msg = ws.receive()  # type: ignore[attr-defined]
        if "text" in msg and json.loads(msg["text"])["type"] in ("done", "error"):
            return str(json.loads(msg["text"])["type"])


def test_websocket_requests_count_in_metrics_with_bounded_labels(client: TestClient) -> None:
    with client.websocket_connect("/v1/audio/speech/ws") as ws:
        assert _ws_speak(ws, "a") == "done"
        for i in range(20):
            assert _ws_speak(ws, f"made-up-{i}") == "error"
    page = client.get("/metrics").text
    lines = [line for line in page.splitlines() if line.startswith("fanren_tts_requests_total{")]
    ws_lines = [line for line in lines if 'endpoint="websocket"' in line]
    assert any('engine="a"' in line and 'status="200"' in line and line.endswith(" 1.0") for line in ws_lines), lines
    assert any('engine="other"' in line and 'status="404"' in line and line.endswith(" 20.0") for line in ws_lines)
    assert "made-up" not in page


def test_every_answer_has_a_request_id_and_an_access_line(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fanren_tts.access")
    r = client.get("/v1/models")
    rid = r.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert client.get("/v1/models").headers["x-request-id"] != rid  # one per request
    assert client.get("/health", headers={"X-Request-Id": "proxy-42"}).headers["x-request-id"] == "proxy-42"
    forged = client.get("/health", headers={"X-Request-Id": 'x" 200 0 "GET /admin'}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", forged)  # a client cannot write into the log line
    too_big = client.post(
        "/v1/audio/speech", content=b"{" + b" " * 8000 + b"}", headers={"content-type": "application/json"}
    )
    assert too_big.status_code == 413 and too_big.headers["x-request-id"]  # answered by the body limit
    lines = [rec for rec in caplog.records if rec.name == "fanren_tts.access"]
    first = lines[0]
    assert '"GET /v1/models" 200' in first.getMessage() and f"id={rid}" in first.getMessage()
    assert first.request_id == rid  # type: ignore[attr-defined]
    assert any('"POST /v1/audio/speech" 413' in rec.getMessage() for rec in lines)
    with client.websocket_connect("/v1/audio/speech/ws") as ws:
        _ws_speak(ws, "a")
    assert any('"WS /v1/audio/speech/ws" 101' in rec.getMessage() for rec in caplog.records)


def test_the_access_log_can_be_turned_off(tmp_path: Path, bare_python: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fanren_tts.access")
    with _client(tmp_path, bare_python, access_log=False) as c:
        assert c.get("/v1/models").headers["x-request-id"]  # the id stays
    assert not [rec for rec in caplog.records if rec.name == "fanren_tts.access"]


def test_log_records_carry_the_request_id_they_were_made_for(
    tmp_path: Path, bare_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = app_module.from_exception

    def spy(exc: BaseException) -> ApiError:
        record = logging.LogRecord("fanren_tts.server", logging.WARNING, __file__, 0, "x", None, None)
        RequestIdFilter().filter(record)
        seen.append(record.request_id)  # type: ignore[attr-defined]
        return real(exc)

    monkeypatch.setattr(app_module, "from_exception", spy)
    with _client(tmp_path, bare_python) as c:
        r = c.post("/v1/audio/speech", json={"model": "nope", "input": "hi"}, headers={"X-Request-Id": "req-7"})
    assert r.status_code == 404 and seen == ["req-7"]
    assert current_request_id() == "-"  # outside a request


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_key(host: str) -> None:
    check_exposure(host, None, False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "tts.example.org"])
def test_beyond_loopback_without_a_key_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="--insecure-no-auth"):
        check_exposure(host, None, False)
    check_exposure(host, "k", False)
    check_exposure(host, None, True)


def test_serve_refuses_an_open_host_before_starting_anything(tmp_path: Path, bare_python: Path) -> None:
    config = make_config(tmp_path, bare_python)
    env = {k: v for k, v in os.environ.items() if k != "FANREN_TTS_API_KEY"}
    cmd = [sys.executable, "-m", "fanren_tts", "serve", "-c", str(config), "--host", "0.0.0.0", "--port", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode != 0 and "--insecure-no-auth" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_keys_are_compared_in_constant_time(tmp_path: Path, bare_python: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def compare(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    assert app_module.hmac is hmac and ws_module.hmac is hmac  # both compare through hmac
    monkeypatch.setattr(hmac, "compare_digest", compare)
    with _client(tmp_path, bare_python, api_key="s3cret") as c:
        assert c.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        with c.websocket_connect("/v1/audio/speech/ws", headers={"Authorization": "Bearer s3cret"}) as ws:
            assert _ws_speak(ws, "a") == "done"
    assert [b for _, b in calls] == [b"Bearer s3cret"] * 3


def test_cors_is_off_unless_configured(tmp_path: Path, bare_python: Path) -> None:
    preflight = {"Origin": "http://studio.example", "Access-Control-Request-Method": "POST"}
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    with _client(tmp_path / "off", bare_python) as c:
        assert "access-control-allow-origin" not in c.options("/v1/audio/speech", headers=preflight).headers
        assert "access-control-allow-origin" not in c.get("/v1/models", headers={"Origin": "http://evil"}).headers
    with _client(tmp_path / "on", bare_python, api_key="k", cors_origins=["http://studio.example"]) as c:
        ok = c.options("/v1/audio/speech", headers={**preflight, "Access-Control-Request-Headers": "authorization"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://studio.example"
        r = c.get("/v1/models", headers={"Origin": "http://studio.example", "Authorization": "Bearer k"})
        assert r.headers["access-control-allow-origin"] == "http://studio.example"
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
        other = c.get("/v1/models", headers={"Origin": "http://evil", "Authorization": "Bearer k"})
        assert "access-control-allow-origin" not in other.headers


def test_the_schema_documents_every_route_field_and_response(client: TestClient) -> None:
    """Issue 19 §2: a summary per route, a description per field and per response, and
    each response's real media type (audio, event stream, Prometheus text, JSON)."""
    schema = client.get("/openapi.json").json()
    for name, model in schema["components"]["schemas"].items():
        if not name.startswith("Body_"):  # FastAPI's name for a form; its fields are described
            assert model.get("description"), f"schema {name} has no description"
        for field, spec in model.get("properties", {}).items():
            assert spec.get("description"), f"{name}.{field} has no description"
    media = {}
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), f"{where} has no summary"
            for param in op.get("parameters", []):
                assert param.get("description"), f"{where}: parameter {param['name']} has no description"
            for code, response in op["responses"].items():
                assert response["description"] != "Successful Response", f"{where} {code} is not described"
                if code.startswith("2"):
                    media[where] = set(response["content"])
                else:
                    assert set(response["content"]) == {"application/json"}, (where, code)
                    shape = "/Health" if path == "/health" else "/ErrorBody"  # a 503 health is still the health
                    assert response["content"]["application/json"]["schema"]["$ref"].endswith(shape), (where, code)
            if path not in ("/health",):
                assert "401" in op["responses"], f"{where} does not say it needs the key"
    assert {"audio/wav", "audio/mpeg", "audio/ogg; codecs=opus", "text/event-stream"} <= media["POST /v1/audio/speech"]
    assert media["GET /metrics"] == {"text/plain"}
    for where in ("GET /v1/models", "GET /health", "GET /v1/voices", "POST /v1/voices", "DELETE /v1/voices/{name}"):
        assert media[where] == {"application/json"}, where


def test_the_engine_thread_logs_with_the_request_id(
    tmp_path: Path, bare_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Synthesis runs on the service's threads: they see the id of the request they serve."""
    from fanren_tts.server.service import SpeechService

    seen: list[str] = []
    real = SpeechService._produce

    def produce(self: SpeechService, *args: Any) -> bool:
        seen.append(current_request_id())
        return real(self, *args)

    monkeypatch.setattr(SpeechService, "_produce", produce)
    with _client(tmp_path, bare_python) as c:
        r = c.post("/v1/audio/speech", json={"model": "a", "input": "hi"}, headers={"X-Request-Id": "req-9"})
    assert r.status_code == 200 and seen == ["req-9"]


def test_the_voice_goes_to_the_generator_as_voice_not_among_the_options(
    tmp_path: Path, bare_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: the server no longer puts the voice into the options for the generator to
    pop back out; a ``voice`` in ``extra`` loses to the request's, as before."""
    from fanren_tts.server.service import SpeechService

    seen: list[tuple[dict[str, Any], str | None]] = []
    real = SpeechService.start

    async def start(
        self: SpeechService, engine: str, text: str, options: dict[str, Any], voice: str | None = None
    ) -> Any:
        seen.append((dict(options), voice))
        return await real(self, engine, text, options, voice)

    monkeypatch.setattr(SpeechService, "start", start)
    with _client(tmp_path, bare_python) as c:
        body = {"model": "a", "input": "hi", "voice": "alloy", "extra": {"voice": "x", "seed": 3}}
        assert c.post("/v1/audio/speech", json=body).status_code == 200
        with c.websocket_connect("/v1/audio/speech/ws") as ws:
            assert _ws_speak(ws, "a") == "done"
    assert seen == [({"seed": 3}, "default"), ({}, "default")]  # alloy: the engine's own voice


def test_serve_writes_each_log_line_once_and_says_where_the_studio_is(tmp_path: Path, bare_python: Path) -> None:
    """The command line's own logging (on the root logger) and serve's handler (with the
    request id) both saw fanren_tts's records: every access line came out twice. And the
    line serve prints at start named only the address, not the page to open there."""
    import signal
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = make_config(tmp_path, bare_python)
    env = {k: v for k, v in os.environ.items() if k != "FANREN_TTS_API_KEY"}
    cmd = [sys.executable, "-m", "fanren_tts", "serve", "-c", str(config), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "serve exited early"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve did not get ready"
            time.sleep(0.2)
        httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"X-Request-Id": "once-only-7"}, timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=10)
    mine = [line for line in err.splitlines() if "once-only-7" in line]
    assert len(mine) == 1, err
    assert '"GET /v1/models" 200' in mine[0]
    # and the first line says where to go: the studio and the API docs
    assert f"studio: http://127.0.0.1:{port}/" in out and f"http://127.0.0.1:{port}/docs" in out, out
