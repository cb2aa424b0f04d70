"""What OpenAI clients send by default (tts-1, alloy, instructions, sse), captions over
HTTP, and the offline API docs: uvicorn on loopback, the official openai client, stand-in
engines as real worker processes (see test_server.py)."""

from __future__ import annotations

import base64
import io
import json
import re
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
import itertools

import httpx
import pysubs2
from test_server import SERVER_WRAPPER, Running, client

from conftest import write_config
from fanren_tts import TTSGenerator


def _config(tmp_path: Path, bare_python: Path, **server: object) -> Path:
    block = {"python": str(bare_python), "wrapper": str(SERVER_WRAPPER)}
    engines = {
        "a": dict(block),
        "b": dict(block),
        "q": {**block, "type": "qwen3"},
        "cv": {**block, "type": "cosyvoice"},
    }
    settings = {"queue_size": 4, "request_timeout": 20, **server}
    return write_config(
        tmp_path / "config.yaml", engines, "a", server=settings, voices={"dir": str(tmp_path / "voices")}
    )


@pytest.fixture
def served(tmp_path: Path, bare_python: Path) -> Iterator[Running]:
    tts = TTSGenerator(_config(tmp_path, bare_python, voice_aliases={"nova": {"b": "narrator-b"}}))
    running = Running(tts)
    yield running
    running.stop()
    tts.close()


def wav_frames(data: bytes) -> int:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes()


def test_openai_client_defaults_tts1_and_alloy(served: Running) -> None:
    api = client(served)
    # The openai package's own defaults: mp3, no speed, no stream_format.
    mp3 = api.audio.speech.create(model="tts-1", voice="alloy", input="one two three")
    assert len(mp3.content) > 100
    for model in ("tts-1-hd", "gpt-4o-mini-tts"):
        wav = api.audio.speech.create(model=model, voice="shimmer", input="one two", response_format="wav")
        assert wav_frames(wav.content) > 0
    assert served.tts.call("a", "last_options").get("voice") in (None, "default")  # alloy: the engine's own voice
    r = httpx.post(  # newer clients may send a voice as {"id": NAME}
        served.url + "/v1/audio/speech",
        json={"model": "tts-1", "input": "hi", "voice": {"id": "alloy"}, "response_format": "wav"},
        timeout=20,
    )
    assert r.status_code == 200 and wav_frames(r.content) > 0
    ids = [m.id for m in api.models.list()]
    assert sorted(ids[:4]) == ["a", "b", "cv", "q"] and {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"} <= set(ids)


def test_voice_alias_per_engine_and_model_alias_to_an_engine(tmp_path: Path, bare_python: Path) -> None:
    tts = TTSGenerator(
        _config(tmp_path, bare_python, model_aliases={"tts-1": "b"}, voice_aliases={"nova": {"b": "narrator-b"}})
    )
    run = Running(tts)
    try:
        api = client(run)
        api.audio.speech.create(model="tts-1", voice="nova", input="hello there", response_format="wav")
        assert tts.call("b", "last_options")["voice"] == "narrator-b"  # went to engine b, with b's voice
        api.audio.speech.create(model="b", voice="echo", input="hello", response_format="wav")
        assert tts.call("b", "last_options").get("voice") in (None, "default")
        r = httpx.post(run.url + "/v1/audio/speech", json={"model": "tts-2", "input": "hi"}, timeout=20)
        assert r.status_code == 404 and "model_aliases" in r.json()["error"]["message"]
    finally:
        run.stop()
        tts.close()


def test_instructions_reach_engines_that_take_one(served: Running) -> None:
    api = client(served)
    said = "speak softly, like a bedtime story"
    api.audio.speech.create(model="q", voice="alloy", input="one", instructions=said, response_format="wav")
    assert served.tts.call("q", "last_options")["instruct"] == said
    api.audio.speech.create(model="cv", voice="alloy", input="one", instructions=said, response_format="wav")
    assert served.tts.call("cv", "last_options")["instruct_text"] == said
    api.audio.speech.create(model="a", voice="alloy", input="one", instructions=said, response_format="wav")
    last = served.tts.call("a", "last_options")
    assert "instruct" not in last and "instruct_text" not in last  # an engine without one is not sent it


def _events(lines: Iterator[str]) -> list[dict]:
    return [json.loads(line[len("data:") :]) for line in lines if line.startswith("data:")]


@pytest.mark.parametrize("fmt", ["pcm", "wav", "mp3"])
def test_stream_format_sse_with_the_openai_client(served: Running, fmt: str) -> None:
    api = client(served)
    with api.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input="one two three", response_format=fmt, stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.iter_lines())
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert deltas and events[-1]["type"] == "speech.audio.done"
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * len(deltas)
    usage = events[-1]["usage"]
    assert usage["input_tokens"] == len("one two three") and usage["output_tokens"] == len(deltas)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    if fmt == "pcm":
        assert len(audio) // 2 >= 0.29 * 16000  # 3 words x 0.1 s at the engine's rate
    elif fmt == "wav":
        assert audio[:4] == b"RIFF"
    else:
        assert audio[:3] == b"ID3" or audio[0] == 0xFF


def test_sse_error_before_audio_is_a_plain_http_error(served: Running) -> None:
    r = httpx.post(
        served.url + "/v1/audio/speech",
        json={"model": "a", "input": "hi BADVALUE", "stream_format": "sse", "response_format": "pcm"},
        timeout=20,
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "rejected_by_engine"


def test_captioned_speech_returns_audio_words_and_srt(served: Running) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": "One two three. Four five six."}
    r = httpx.post(served.url + "/v1/audio/speech/captioned", json=body, timeout=30)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["format"] == "wav" and doc["media_type"] == "audio/wav" and doc["subtitle_format"] == "srt"
    audio = base64.b64decode(doc["audio"])
    assert abs(wav_frames(audio) / doc["sample_rate"] - doc["duration"]) < 0.01
    words = doc["words"]
    assert [w["text"] for w in words] == ["One", "two", "three.", "Four", "five", "six."]
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in itertools.pairwise(words))
    subs = pysubs2.SSAFile.from_string(doc["subtitles"], format_="srt")
    assert len(subs) >= 2  # never across sentences
    assert " ".join(e.plaintext for e in subs).split() == [w["text"] for w in words]
    assert subs[-1].end / 1000 <= doc["duration"] + 0.01

    vtt = httpx.post(
        served.url + "/v1/audio/speech/captioned",
        json={**body, "subtitle_format": "vtt", "response_format": "mp3"},
        timeout=30,
    ).json()
    assert vtt["subtitles"].startswith("WEBVTT") and vtt["media_type"] == "audio/mpeg"
    assert len(pysubs2.SSAFile.from_string(vtt["subtitles"], format_="vtt")) >= 2
    bad = httpx.post(served.url + "/v1/audio/speech/captioned", json={**body, "model": "nope"}, timeout=20)
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "model_not_found"


_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_use_only_local_assets(tmp_path: Path, bare_python: Path, page: str) -> None:
    tts = TTSGenerator(_config(tmp_path, bare_python))
    run = Running(tts, api_key="s3cret")  # the docs open without the key; the API still needs it
    try:
        html = httpx.get(run.url + page, timeout=10)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        urls = [a or b for a, b in _ASSET.findall(html.text)]
        assert any(u.endswith(".js") for u in urls), urls
        for url in urls:
            assert not re.match(r"^(https?:)?//", url), f"{page} loads {url} from elsewhere"
            asset = httpx.get(run.url + url, timeout=10)
            assert asset.status_code == 200, url
            assert b"cdn.redoc.ly" not in asset.content, f"{url} fetches ReDoc's logo from its CDN"
        assert httpx.get(run.url + "/v1/models", timeout=10).status_code == 401
        schema = httpx.get(run.url + "/openapi.json", timeout=10).json()  # Swagger's Authorize sends the key
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert schema["security"] == [{"bearer": []}]
    finally:
        run.stop()
        tts.close()


def test_openapi_schema_tells_the_truth(served: Running) -> None:
    schema = httpx.get(served.url + "/openapi.json", timeout=10).json()
    speech = schema["paths"]["/v1/audio/speech"]["post"]
    content = speech["responses"]["200"]["content"]
    assert {"audio/wav", "audio/mpeg", "audio/flac", "audio/pcm", "text/event-stream"} <= set(content)
    assert "application/json" not in content
    request = schema["components"]["schemas"]["SpeechRequest"]
    assert "aac" not in request["properties"]["response_format"]["enum"]  # advertised only what works
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
    for name in ("SpeechRequest", "CaptionedRequest", "CaptionedSpeech"):
        for field, spec in schema["components"]["schemas"][name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"
    captioned = schema["paths"]["/v1/audio/speech/captioned"]["post"]["responses"]["200"]["content"]
    assert "application/json" in captioned
