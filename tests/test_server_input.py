"""The server against hostile input: bodies past their limits (memory stays bounded), bodies
that are not UTF-8 or nest too deep, names that are not file names, WebSocket messages
that are not requests, and made-up model names on /metrics. Every error in OpenAI's shape."""

from __future__ import annotations

import json
import select
import socket
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
import httpx
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from test_server import Running, make_config, reference_wav

from fanren_tts import TTSGenerator
from fanren_tts.server.app import create_app

MiB = 2**20


@pytest.fixture
def small(tmp_path: Path, bare_python: Path) -> Iterator[Running]:
    """A server with small body limits: 64 KiB for JSON, 1 MiB for uploads."""
    tts = TTSGenerator(make_config(tmp_path, bare_python, max_body_bytes=64 * 1024, max_upload_bytes=MiB))
    running = Running(tts)
    yield running
    running.stop()
    tts.close()


def is_openai_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}, body  # never {"detail": ...}
    assert set(body["error"]) == {"message", "type", "param", "code"} and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def _recv_response(sock: socket.socket) -> tuple[int, dict]:
    """Status and JSON body of the HTTP response on ``sock`` (read until it closes or is complete)."""
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not piece:
            break
        data += piece
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")]
            if length and len(rest) >= length[0]:
                break
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head, "no response at all"
    return int(head.split()[1]), json.loads(rest)


def chunked_post(
    port: int, path: str, content_type: str, head: bytes, total: int, tail: bytes = b""
) -> tuple[int, dict, int]:
    """POST ``head``, zeros up to ``total`` bytes and ``tail``, chunked (no Content-Length),
    stopping as soon as the server answers; the status, JSON body and how many bytes were sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    piece = b"\0" * (256 * 1024)
    sent = 0
    with sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        try:
            sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
            sent += len(head)
            while sent < total:
                if select.select([sock], [], [], 0)[0]:  # the answer came: stop sending
                    break
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            else:
                sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail) if tail else b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server stopped reading: its answer is waiting
        status, body = _recv_response(sock)
    return status, body, sent


def test_a_chunked_json_body_past_the_limit_is_413_and_memory_stays_bounded(small: Running) -> None:
    tracemalloc.start()
    try:
        status, body, sent = chunked_post(
            small.port, "/v1/audio/speech", "application/json", b'{"model": "a", "input": "', 24 * MiB, b'"}'
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 413 and body["error"]["code"] == "body_too_large", body
    assert "max_body_bytes" in body["error"]["message"]
    assert peak < 8 * MiB, f"the server grew by {peak / MiB:.0f} MiB for a body cut at 64 KiB ({sent} sent)"
    assert httpx.get(small.url + "/health").json()["live"] is True


def test_a_chunked_upload_past_the_limit_is_413_and_memory_stays_bounded(small: Running) -> None:
    boundary = "fanrenboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nnarr\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="engine"\r\n\r\na\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="r.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    tracemalloc.start()
    try:
        status, body, sent = chunked_post(
            small.port,
            "/v1/voices",
            f"multipart/form-data; boundary={boundary}",
            head,
            80 * MiB,
            f"\r\n--{boundary}--\r\n".encode(),
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 413 and "max_upload_bytes" in body["error"]["message"], body
    assert peak < 8 * MiB, f"the server grew by {peak / MiB:.0f} MiB for an upload cut at 1 MiB ({sent} sent)"
    # an upload under the limit still works
    files = {"audio": ("ref.wav", reference_wav(1.0), "audio/wav")}
    r = httpx.post(small.url + "/v1/voices", data={"name": "narr", "engine": "a", "transcript": "hi"}, files=files)
    assert r.status_code == 201, r.text


def test_a_content_length_past_the_limit_is_413_before_the_body_is_read(small: Running) -> None:
    with socket.create_connection(("127.0.0.1", small.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n"
        )
        status, body = _recv_response(sock)  # nothing of the body was sent
    assert status == 413 and body["error"]["code"] == "body_too_large", body
    r = httpx.post(small.url + "/v1/audio/speech", json={"model": "a", "input": "x" * 100_000}, timeout=20)
    is_openai_error(r, 413, "body_too_large")


def test_every_error_is_in_the_openai_shape(small: Running) -> None:
    url = small.url + "/v1/audio/speech"
    headers = {"content-type": "application/json"}
    error = is_openai_error(httpx.post(url, content=b'{"model": "a", "input": "\xff\xfe"}', headers=headers), 400)
    assert error["code"] == "invalid_json" and "UTF-8" in error["message"]
    deep = '{"model": "a", "input": "hi", "extra": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"
    is_openai_error(httpx.post(url, content=deep.encode(), headers=headers), 400, "too_deep")
    deeper_than_options = {"model": "a", "input": "hi", "extra": {"x": json.loads("[" * 40 + "]" * 40)}}
    error = is_openai_error(httpx.post(url, json=deeper_than_options), 422, "invalid_field")
    assert "extra" in error["message"]
    is_openai_error(httpx.post(url, content=b"[1, 2]", headers=headers), 422, "invalid_field")
    is_openai_error(httpx.get(small.url + "/v1/nothing-here"), 404, "not_found")
    is_openai_error(httpx.get(url), 405, "method_not_allowed")
    is_openai_error(httpx.post(small.url + "/v1/voices", content=b"not a form"), 422)
    is_openai_error(httpx.delete(small.url + "/v1/voices/nobody"), 404, "voice_not_found")
    assert httpx.post(url, json={"model": "a", "input": "hi", "response_format": "wav"}).status_code == 200


def test_a_voice_name_with_a_newline_is_refused(small: Running) -> None:
    files = {"audio": ("ref.wav", reference_wav(1.0), "audio/wav")}
    for name in ("evil\n", "CON", "nul.txt", "a."):
        r = httpx.post(small.url + "/v1/voices", data={"name": name, "engine": "a", "transcript": "hi"}, files=files)
        assert "not allowed" in is_openai_error(r, 400)["message"], name
    assert httpx.get(small.url + "/v1/voices").json()["data"] == []


def test_metrics_label_only_configured_engines(small: Running) -> None:
    for i in range(200):
        r = httpx.post(small.url + "/v1/audio/speech", json={"model": f"made-up-{i}", "input": "hi"})
        assert r.status_code == 404
    assert httpx.post(small.url + "/v1/audio/speech", json={"model": "a", "input": "hi"}).status_code == 200
    page = httpx.get(small.url + "/metrics").text
    assert "made-up" not in page
    lines = [line for line in page.splitlines() if line.startswith("fanren_tts_requests_total{")]
    assert any('engine="other"' in line and 'status="404"' in line and line.endswith(" 200.0") for line in lines)
    assert any('engine="a"' in line and 'status="200"' in line for line in lines)
    assert {line.split('engine="')[1].split('"')[0] for line in lines} == {"a", "other"}


@pytest.fixture
def ws_client(tmp_path: Path, bare_python: Path) -> Iterator[TestClient]:
    tts = TTSGenerator(make_config(tmp_path, bare_python, max_body_bytes=4096))
    with TestClient(create_app(tts)) as client:
        yield client


def _speak(ws: object) -> None:
    """One good request on ``ws``, read to its end."""
    ws.send_text(json.dumps({"model": "a", "input": "one two"}))  # type: ignore[attr-defined]
    assert ws.receive_json()["type"] == "queued"  # type: ignore[attr-defined]
    while True:
        msg = ws.receive()  # type: ignore[attr-defined]
        if "text" in msg and json.loads(msg["text"])["type"] == "done":
            return
        assert "bytes" in msg or json.loads(msg["text"])["type"] == "chunk", msg


def test_websocket_messages_that_are_not_requests(ws_client: TestClient) -> None:
    with ws_client.websocket_connect("/v1/audio/speech/ws") as ws:
        for raw in ("[1,2]", "null", '"str"', "42", "{not json", "[" * 3000):
            ws.send_text(raw)
            err = ws.receive_json()
            assert err["type"] == "error" and err["status"] == 400, (raw, err)
            assert err["error"]["code"] in ("invalid_message", "invalid_json"), (raw, err)
        _speak(ws)  # the connection kept working
        ws.send_bytes(b"\x00\x01")
        err = ws.receive_json()
        assert err["status"] == 400 and err["error"]["code"] == "binary_message"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1003
    with ws_client.websocket_connect("/v1/audio/speech/ws") as ws:
        ws.send_text(json.dumps({"model": "a", "input": "x" * 5000}))
        assert ws.receive_json()["error"]["code"] == "message_too_large"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1009
    with ws_client.websocket_connect("/v1/audio/speech/ws") as ws:
        _speak(ws)  # the next connection works
