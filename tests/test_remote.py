"""The ``openai`` remote engine against a real server: our own ``fanren-tts serve`` on
loopback (piper, and the stdlib stand-in that streams a tone per word), in its own
process group so a test can kill it mid-stream. The client side runs the real
wrapper in its own env (envs/openai) behind a TTSGenerator."""

from __future__ import annotations

import logging
import os
import signal
import socket
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

from conftest import TESTS, write_config
from fanren_tts import (
    RemoteEngineError,
    RemoteError,
    RemoteFailed,
    RemoteRejected,
    RemoteUnreachable,
    TTSGenerator,
    sync_env,
)
from fanren_tts.config import PROJECT_ROOT

SERVER_WRAPPER = TESTS / "wrappers" / "server_wrapper.py"
KEY = "sk-test-4f9c1e-never-in-logs"
KEY_ENV = "FANREN_TEST_REMOTE_KEY"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m fanren_tts serve`` in a new session (killpg takes its workers too)."""

    def __init__(self, tmp_path: Path, bare_python: Path) -> None:
        block = {"python": str(bare_python), "wrapper": str(SERVER_WRAPPER)}
        config = write_config(
            tmp_path / "server.yaml",
            {"piper": {}, "slow": {**block, "delay": 0.3}},
            "piper",
            cache={"enabled": False},
            server={"request_timeout": 60},
            voices={"dir": str(tmp_path / "server-voices")},
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "fanren_tts", "serve", "--warm", "slow", "--config", str(config), "--port", str(self.port)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "FANREN_TTS_API_KEY": KEY},
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and self.proc.poll() is None, "server did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(20)


@pytest.fixture(scope="module")
def openai_env() -> None:
    status = sync_env(PROJECT_ROOT / "envs" / "openai", "openai")
    assert status.ready, status.detail


@pytest.fixture
def server(tmp_path: Path, bare_python: Path) -> Iterator[Server]:
    run = Server(tmp_path, bare_python)
    yield run
    run.kill()


def remote(tmp_path: Path, base_url: str, **options: object) -> TTSGenerator:
    block = {
        "type": "openai",
        "base_url": base_url + "/v1",
        "api_key_env": KEY_ENV,
        "model": "piper",
        "voice": "default",
        "response_format": "wav",
        "timeout": 30,
        "max_retries": 0,
        "backoff": 0,
        **options,
    }
    config = write_config(tmp_path / "client.yaml", {"remote": block}, cache={"enabled": False})
    return TTSGenerator(config)


def test_whole_file_stream_and_key(
    server: Server, tmp_path: Path, openai_env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A file through the remote piper (WAV answer, word timings estimated here), then the
    stand-in's tones streamed as raw PCM piece by piece; the key travels as Bearer (the
    server refuses anything else) and shows in no log line and no describe()."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_ENV, KEY)
    tts = remote(tmp_path, server.url)
    try:
        out = tmp_path / "out" / "hello.wav"
        out.parent.mkdir()
        result = tts.generate("Hello there. This came over HTTP.", out)
        with wave.open(str(out)) as w:
            assert w.getnframes() / w.getframerate() > 1.0
        assert result.word_timing == "estimated" and [w.text for w in result.words][:2] == ["Hello", "there."]
        assert len(result.segments) == 2

        pieces = [c for c in tts.stream("one two three four", model="slow", response_format="pcm", sample_rate=16000)]
        audio = [c for c in pieces if len(c.data)]
        assert len(audio) >= 4  # a tone per word, each as it came, not one blob at the end
        assert sum(len(c.data) for c in audio) == pytest.approx(0.4 * audio[0].sample_rate, rel=0.02)

        info = tts.describe("remote")
        text = repr(info)
        assert info["api_key_env"] == KEY_ENV and info["api_key"] == "set"
    finally:
        tts.close()
    assert KEY not in text
    assert KEY not in caplog.text
    assert KEY not in out.read_bytes().decode("latin-1")


def test_wrong_key_and_unknown_voice_are_rejected_once(
    server: Server, tmp_path: Path, openai_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4xx: RemoteRejected with the server's status and message, not retried even with retries left."""
    monkeypatch.setenv(KEY_ENV, "wrong-key")
    tts = remote(tmp_path, server.url, max_retries=3, backoff=0.01)
    try:
        with pytest.raises(RemoteRejected) as info:
            tts.generate("Hello.", tmp_path / "a.wav")
        assert info.value.status == 401 and "API key" in str(info.value)
        assert "wrong-key" not in str(info.value)
    finally:
        tts.close()
    monkeypatch.setenv(KEY_ENV, KEY)
    tts = remote(tmp_path, server.url, max_retries=3, backoff=0.01)
    try:
        with pytest.raises(RemoteRejected) as info:
            tts.generate("Hello.", tmp_path / "b.wav", voice="narrator")
        assert info.value.status == 400 and "narrator" in str(info.value)
        assert isinstance(info.value, RemoteEngineError) and isinstance(info.value, RemoteError)
        assert not (tmp_path / "b.wav").exists()
    finally:
        tts.close()
    metrics = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).text
    rejected = [line for line in metrics.splitlines() if 'status="400"' in line and line.startswith("fanren")]
    assert rejected and rejected[0].endswith(" 1.0"), rejected  # asked once, with 3 retries left


def test_a_5xx_is_remote_failed_after_bounded_retries(
    server: Server, tmp_path: Path, openai_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in behind the server dies on CRASH: the server answers 503 each time; asked
    again once (max_retries 1), then RemoteFailed with the status and the server's message."""
    monkeypatch.setenv(KEY_ENV, KEY)
    tts = remote(tmp_path, server.url, model="slow", response_format="pcm", sample_rate=16000, max_retries=1)
    try:
        with pytest.raises(RemoteFailed) as info:
            tts.generate("CRASH now.", tmp_path / "a.wav")
        assert info.value.status == 503 and "HTTP 503" in str(info.value)
        worker = tts.worker("remote")
        deadline = time.monotonic() + 10
        while "retry 1/1" not in worker.stderr_tail and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "retry 1/1" in worker.stderr_tail and "retry 2/" not in worker.stderr_tail
    finally:
        tts.close()
    assert not (tmp_path / "a.wav").exists()


def test_each_request_has_its_own_timeout(
    server: Server, tmp_path: Path, openai_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in takes 0.3 s a word (6 s here) before the server answers a whole-file
    request; with timeout 0.5 the request gives up: RemoteUnreachable, no answer in time."""
    monkeypatch.setenv(KEY_ENV, KEY)
    tts = remote(tmp_path, server.url, model="slow", response_format="pcm", sample_rate=16000, timeout=0.5)
    try:
        with pytest.raises(RemoteUnreachable) as info:
            tts.generate(" ".join(["word"] * 20) + ".", tmp_path / "a.wav")
        assert "no answer within the timeout (0.5s)" in str(info.value)
    finally:
        tts.close()


def test_fit_to_slot_goes_through_the_remote_speed(
    server: Server, tmp_path: Path, openai_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """target_duration on a remote piper: the request's speed moves first, then the stretch."""
    monkeypatch.setenv(KEY_ENV, KEY)
    tts = remote(tmp_path, server.url)
    try:
        natural = tts.generate("This sentence is read at its own pace.", tmp_path / "a.wav").duration
        faster = tts.generate("This sentence is read at its own pace.", tmp_path / "c.wav", speed=1.5).duration
        assert faster < natural * 0.8  # the remote reads speed (piper behind it divides length_scale)
        fitted = tts.generate(
            "This sentence is read at its own pace.", tmp_path / "b.wav", target_duration=natural * 0.7
        )
        assert fitted.duration == pytest.approx(natural * 0.7, rel=0.01)
    finally:
        tts.close()
    metrics = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).text
    served = [line for line in metrics.splitlines() if 'engine="piper",status="200"' in line and "_total" in line]
    assert served and served[0].endswith(" 4.0"), served  # the fit asked again with a new speed before stretching


def test_missing_key_variable_fails_at_load(tmp_path: Path, openai_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    tts = remote(tmp_path, "http://127.0.0.1:9")
    try:
        with pytest.raises(RemoteError) as info:
            tts.generate("Hello.", tmp_path / "a.wav")
        assert info.value.stage == "load" and KEY_ENV in str(info.value)
    finally:
        tts.close()


def test_connection_refused_is_unreachable_after_bounded_retries(
    tmp_path: Path, openai_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    port = free_port()  # bound then closed: nothing listens there
    tts = remote(tmp_path, f"http://127.0.0.1:{port}", max_retries=2, backoff=0.01, timeout=5)
    try:
        with pytest.raises(RemoteUnreachable) as info:
            tts.generate("Hello.", tmp_path / "a.wav")
        assert info.value.status is None and f"127.0.0.1:{port}" in str(info.value)
        worker = tts.worker("remote")
        deadline = time.monotonic() + 10  # the worker's stderr (its retry lines) arrives on its own pipe
        while "retry 2/2" not in worker.stderr_tail and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "retry 1/2" in worker.stderr_tail and "retry 2/2" in worker.stderr_tail
        assert "retry 3/" not in worker.stderr_tail
        stream = tts.stream("Hello.")
        with pytest.raises(RemoteUnreachable):
            next(stream)
    finally:
        tts.close()
    assert not (tmp_path / "a.wav").exists()


def test_server_dies_mid_stream(
    server: Server, tmp_path: Path, openai_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server killed while its answer streams: RemoteFailed, not a short success."""
    monkeypatch.setenv(KEY_ENV, KEY)
    tts = remote(tmp_path, server.url, model="slow", response_format="pcm", sample_rate=16000)
    try:
        stream = tts.stream(" ".join(["word"] * 40))  # 40 tones, 0.3 s apart on the server
        first = next(c for c in stream if len(c.data))
        assert len(first.data)
        server.kill()
        with pytest.raises(RemoteFailed) as info:
            for _ in stream:
                pass
        assert "broke off" in str(info.value)
    finally:
        tts.close()


def test_server_dies_mid_file_leaves_no_file(
    server: Server, tmp_path: Path, openai_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the first sentence was written: a typed error and no output file, no temp file."""
    monkeypatch.setenv(KEY_ENV, KEY)
    tts = remote(tmp_path, server.url, model="slow", response_format="pcm", sample_rate=16000)
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "long.wav"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            tts.generate("One two. " + " ".join(["word"] * 30) + ". Three four.", out)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    try:
        thread.start()
        deadline = time.monotonic() + 30
        while not any(folder.iterdir()):  # the first sentence is in the temp file
            assert time.monotonic() < deadline and thread.is_alive(), errors
            time.sleep(0.02)
        server.kill()
        thread.join(60)
        assert not thread.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], (RemoteFailed, RemoteUnreachable)), errors
        assert list(folder.iterdir()) == []
    finally:
        thread.join(60)
        tts.close()


def test_a_server_in_front_of_a_remote_engine_answers_400_or_502() -> None:
    """fanren-tts serve with an openai engine: the remote's refusal is the client's 400; a
    remote that is down or failing is a 502 (bad gateway), not a 500 of our own."""
    from fanren_tts.server.errors import from_exception

    def make(cls: type[RemoteError], message: str) -> RemoteError:
        return cls(
            engine="remote",
            stage="call",
            remote_type=cls.__name__,
            remote_module="openai_wrapper",
            remote_message=message,
            remote_traceback="",
        )

    assert from_exception(make(RemoteRejected, "HTTP 404 from x: no model")).status == 400
    assert from_exception(make(RemoteUnreachable, "x: cannot connect")).status == 502
    failed = from_exception(make(RemoteFailed, "HTTP 503 from x: busy"))
    assert failed.status == 502 and failed.headers.get("Retry-After") == "1"
    assert make(RemoteFailed, "HTTP 503 from x: busy").status == 503  # type: ignore[attr-defined]


def test_runs_on_the_hosts_interpreter_without_an_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """stdlib only: use_subprocess false runs the wrapper on the host's own Python (no envs/openai)."""
    monkeypatch.setenv(KEY_ENV, KEY)
    tts = remote(tmp_path, f"http://127.0.0.1:{free_port()}", use_subprocess=False, timeout=5)
    try:
        assert tts.describe("remote")["api_key"] == "set"
        with pytest.raises(RemoteUnreachable):
            tts.generate("Hello.", tmp_path / "a.wav")
    finally:
        tts.close()
