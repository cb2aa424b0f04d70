"""The studio's server side, without a browser: its files at ``/`` and ``/studio/``, the key
the page sends over the WebSocket as a subprotocol, and ``POST /v1/text/preview``.
(The page itself runs in a real browser in test_studio_browser.py.)"""

from __future__ import annotations

import json
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from conftest import TESTS, write_config
from fanren_tts import TTSGenerator
from fanren_tts._envs import uv_bin
from fanren_tts.server.app import create_app
from fanren_tts.studio import KEY_PROTOCOL, STATIC

KEY = "s3cret key+/=~"  # spaces and symbols: not a valid subprotocol token, hence the hex


@pytest.fixture
def tts(tmp_path: Path, bare_python: Path) -> Iterator[TTSGenerator]:
    block = {"python": str(bare_python), "wrapper": str(TESTS / "wrappers" / "server_wrapper.py")}
    config = write_config(
        tmp_path / "config.yaml",
        {"a": dict(block), "b": dict(block)},
        "a",
        voices={"dir": str(tmp_path / "voices")},
    )
    generator = TTSGenerator(config)
    yield generator
    generator.close()


@pytest.fixture
def client(tts: TTSGenerator) -> Iterator[TestClient]:
    with TestClient(create_app(tts, api_key=KEY, close_generator=False)) as c:
        yield c


def test_the_page_and_its_files_need_no_key_and_load_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.text == (STATIC / "index.html").read_text(encoding="utf-8")
    for name in ("api.js", "formats.js", "voices.js", "studio.js", "studio.css", "index.html"):
        assert client.get(f"/studio/{name}").status_code == 200
    assert client.get("/studio/studio.js").headers["content-type"].startswith("text/javascript")
    for url in ("/studio/../_server.py", "/studio/nope.js", "/studio/"):
        assert client.get(url).status_code == 401  # not a studio file: the API's own rules (the key) apply
    assert client.get("/v1/models").status_code == 401
    for file in sorted(STATIC.iterdir()):
        text = file.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, file.name  # no CDN, nothing fetched elsewhere


def test_the_files_ship_in_the_wheel(tmp_path: Path) -> None:
    """The page must work from an installed wheel, not only from a checkout."""
    root = Path(__file__).resolve().parents[1]
    subprocess.run([uv_bin(), "build", "-q", "--wheel", "-o", str(tmp_path), str(root)], check=True, timeout=300)
    (wheel,) = tmp_path.glob("fanren_tts-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"fanren_tts/studio/static/{p.name}" for p in STATIC.iterdir()}
    assert shipped >= {f"fanren_tts/studio/static/{n}" for n in ("index.html", "api.js", "studio.js", "studio.css")}
    assert shipped <= names, shipped - names


def _protocols(key: str | None) -> list[str]:
    return ["fanren", *([KEY_PROTOCOL + key.encode().hex()] if key is not None else [])]


def test_the_websocket_takes_the_key_as_a_subprotocol(client: TestClient) -> None:
    with client.websocket_connect("/v1/audio/speech/ws", subprotocols=_protocols(KEY)) as ws:
        assert ws.accepted_subprotocol == "fanren"  # never the one carrying the key
        ws.send_text(json.dumps({"model": "a", "input": "one two"}))
        kinds = []
        while True:
            message = ws.receive()
            if message.get("text"):
                kinds.append(json.loads(message["text"])["type"])
                if kinds[-1] in ("done", "error"):
                    break
        assert kinds[0] == "queued" and "chunk" in kinds and kinds[-1] == "done"
    for protocols in (_protocols("wrong"), _protocols(None), ["fanren", KEY_PROTOCOL + "zz-not-hex"]):
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect("/v1/audio/speech/ws", subprotocols=protocols),
        ):
            pass
        assert closed.value.code == 1008


def test_an_explicit_authorization_header_wins_over_the_subprotocol(client: TestClient) -> None:
    headers = {"Authorization": "Bearer wrong"}
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/v1/audio/speech/ws", subprotocols=_protocols(KEY), headers=headers),
    ):
        pass
    assert closed.value.code == 1008


def test_preview_shows_each_line_its_engine_and_what_the_engine_reads(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    body = {"input": "The GUI costs $3.50.\n\n  Second line.  \n"}
    lines = client.post("/v1/text/preview", json=body, headers=auth).json()["data"]
    assert [line["text"] for line in lines] == ["The GUI costs $3.50.", "Second line."]
    assert [line["line"] for line in lines] == [0, 1]
    assert {line["engine"] for line in lines} == {"a"}  # the default engine
    spoken = lines[0]["segments"][0]["spoken"]
    assert "three dollars and fifty cents" in spoken
    assert lines[0]["segments"][0]["text"] == "The GUI costs $3.50."

    picked = client.post("/v1/text/preview", json={**body, "model": "b"}, headers=auth).json()["data"]
    assert {line["engine"] for line in picked} == {"b"}
    missing = client.post("/v1/text/preview", json={**body, "model": "nope"}, headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    assert client.post("/v1/text/preview", json=body).status_code == 401


def test_without_a_key_the_page_s_websocket_is_accepted_with_its_subprotocol(tts: TTSGenerator) -> None:
    with TestClient(create_app(tts, close_generator=False)) as open_client:
        assert open_client.get("/").status_code == 200
        with open_client.websocket_connect("/v1/audio/speech/ws", subprotocols=["fanren"]) as ws:
            assert ws.accepted_subprotocol == "fanren"  # a browser fails a handshake that leaves it unanswered
            ws.send_text(json.dumps({"model": "a", "input": "one"}))
            assert json.loads(ws.receive_text())["type"] == "queued"
        with open_client.websocket_connect("/v1/audio/speech/ws") as ws:  # other clients: untouched
            assert ws.accepted_subprotocol is None
