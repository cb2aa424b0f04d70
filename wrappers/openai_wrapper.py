"""openai engine: somebody else's server. Each segment goes to an OpenAI-compatible
``POST {base_url}/audio/speech`` (OpenAI itself, a vLLM-Omni or sglang-omni server with
its own batching, another ``fanren-tts serve``); our narration layer (splitting, cache,
estimated word timings, subtitles, fit to slot, output format) runs on top.

Why a wrapper in a worker like every other engine, and not the host's interpreter:
it keeps one code path for every engine (timeouts, cancel, restart budget, pools,
``describe()``), and a hung socket can never block the host. The cost is one tiny env
(envs/openai: msgpack only), since this file needs nothing beyond the stdlib.

* Streaming: ``response_format: pcm`` (raw little-endian s16 mono at ``sample_rate``,
  24 kHz as OpenAI defines it) is yielded piece by piece as the chunks arrive; ``wav``
  is read from its header (rate, channels, s16 or f32), so a server with another rate
  needs no setting.
* Every request has its own ``timeout`` (connecting, and each read of the answer).
  A refused or timed-out connection and a 5xx are retried ``max_retries`` times with
  backoff (``backoff`` seconds, doubling, at most 8x); a 4xx is not (408 and 429 are).
  A stream that has already yielded audio is never retried: its pieces are out.
* Errors are ``RemoteUnreachable`` / ``RemoteRejected`` / ``RemoteFailed``; the host
  gives them the same names in fanren_tts._exceptions (it maps by type name).
* The API key is read from the environment variable that ``api_key_env`` names, sent
  as ``Authorization: Bearer``, and never put in a message, a log line or ``describe()``.

Standalone: envs/openai/.venv/bin/python wrappers/openai_wrapper.py --option base_url=http://127.0.0.1:8000/v1 \\
    --option model=piper --text "Hello." --out hello.wav
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import struct
import sys
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine, main

#: Largest answer read into memory for one segment (an hour of 24 kHz s16 mono is 173 MB).
MAX_BODY = 256 * 1024 * 1024
#: Largest error body read, and how much of it a message keeps.
_MAX_ERROR_BODY = 64 * 1024
_MAX_ERROR_TEXT = 500
_READ = 64 * 1024
#: 4xx statuses that mean "try again later", not "this request is wrong".
_RETRY_4XX = (408, 429)
#: Call options that shape the request body; connection settings come from config only.
_BODY_OPTIONS = ("model", "voice", "speed", "instructions", "response_format", "sample_rate", "extra")


class RemoteEngineError(Exception):
    """The remote server failed; the host raises fanren_tts.RemoteEngineError."""


class RemoteUnreachable(RemoteEngineError):
    """No connection (refused, no route, no answer within the timeout)."""


class RemoteRejected(RemoteEngineError):
    """The server answered 4xx: the request is wrong; not retried."""


class RemoteFailed(RemoteEngineError):
    """The server answered 5xx, or broke off mid-answer."""


def _broken(message: str) -> RemoteFailed:
    """An answer that broke off: worth asking again (``_tries`` has already retried the rest)."""
    error = RemoteFailed(message)
    error.broken = True  # type: ignore[attr-defined]
    return error


class _Retry(Exception):
    """A failure worth another try; ``error`` is what to raise when the tries run out."""

    def __init__(self, error: RemoteEngineError, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


class _Wav:
    """A WAV stream's header read as it arrives, then its samples passed through."""

    def __init__(self) -> None:
        self.buf = b""
        self.format: tuple[int, str, int] | None = None  # rate, sample format, channels
        self.in_data = False

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        while not self.in_data:
            if len(self.buf) > 1024 * 1024:
                raise RemoteFailed("the server's WAV header is over 1 MiB; ask for response_format pcm")
            if len(self.buf) < 12:
                return b""
            if self.buf[:4] != b"RIFF" or self.buf[8:12] != b"WAVE":
                raise RemoteFailed("the server's answer is not a WAV file (no RIFF/WAVE header)")
            pos = 12
            while len(self.buf) >= pos + 8:
                cid, size = self.buf[pos : pos + 4], struct.unpack("<I", self.buf[pos + 4 : pos + 8])[0]
                if cid == b"data":
                    self.buf, self.in_data = self.buf[pos + 8 :], True
                    break
                if len(self.buf) < pos + 8 + size:
                    return b""
                if cid == b"fmt ":
                    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", self.buf[pos + 8 : pos + 24])
                    fmt = {(1, 16): "s16", (3, 32): "f32", (0xFFFE, 16): "s16", (0xFFFE, 32): "f32"}.get((tag, bits))
                    if fmt is None:
                        raise RemoteFailed(
                            f"the server's WAV is format {tag} at {bits} bits; only s16 and f32 are read"
                        )
                    self.format = (rate, fmt, channels)
                pos += 8 + size + (size & 1)
            else:
                return b""
            if self.format is None:
                raise RemoteFailed("the server's WAV has no fmt chunk before its data")
        out, self.buf = self.buf, b""
        return out


class OpenAISpeech(Engine):
    name = "openai"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        url = urllib.parse.urlsplit(str(options.get("base_url", "https://api.openai.com/v1")).rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port]/path, got scheme {url.scheme!r}")
        self.https = url.scheme == "https"
        self.host = url.hostname
        self.port = url.port or (443 if self.https else 80)
        self.path = (url.path or "") + "/audio/speech"
        # userinfo and query never shown: they may hold credentials
        self.url = f"{url.scheme}://{self.host}{'' if url.port is None else f':{url.port}'}{self.path}"
        self.key_env = options.get("api_key_env")
        self._key: str | None = None
        if self.key_env:
            self._key = os.environ.get(self.key_env) or None
            if self._key is None:
                raise ValueError(
                    f"api_key_env names {self.key_env}, which is not set in the environment: "
                    f"export {self.key_env}=... before starting fanren_tts (the key never goes in config)"
                )
        self.timeout = float(options.get("timeout", 60.0))
        self.max_retries = int(options.get("max_retries", 2))
        self.backoff = float(options.get("backoff", 0.5))
        self.defaults = {k: options[k] for k in _BODY_OPTIONS if options.get(k) is not None}
        self.defaults.setdefault("model", "tts-1")
        self.defaults.setdefault("voice", "alloy")
        self.defaults.setdefault("response_format", "pcm")
        self.stream_format = options.get("stream_format", "audio")
        self.model_map: dict[str, str] = dict(options.get("model_map") or {})
        self.voice_map: dict[str, str] = dict(options.get("voice_map") or {})

    # ------------------------------------------------------------------ requests
    def _body(self, text: str, options: dict[str, Any], streaming: bool) -> tuple[dict[str, Any], str, int]:
        o = {**self.defaults, **{k: v for k, v in options.items() if k in _BODY_OPTIONS and v is not None}}
        model, voice = str(o["model"]), str(o["voice"])
        fmt = str(o["response_format"])
        body: dict[str, Any] = dict(o.get("extra") or {})
        body.update(
            model=self.model_map.get(model, model),
            voice=self.voice_map.get(voice, voice),
            input=text,
            response_format=fmt,
        )
        for key in ("speed", "instructions"):
            if o.get(key) is not None:
                body[key] = o[key]
        if streaming and self.stream_format:
            body["stream_format"] = self.stream_format
        return body, fmt, int(o.get("sample_rate", 24000))

    def _connection(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _open(self, body: dict[str, Any]) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """One request: the connection and its 200 response, or a typed error (``_Retry`` if worth another)."""
        headers = {"Content-Type": "application/json", "Accept": "audio/*, application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        conn = self._connection()
        try:
            conn.connect()
        except OSError as exc:  # refused, no route, DNS, connect timeout (socket.timeout is an OSError)
            conn.close()
            raise _Retry(
                RemoteUnreachable(
                    f"{self.url}: cannot connect (timeout {self.timeout:g}s): {type(exc).__name__}: {exc}; "
                    "is the server running, and is base_url right?"
                )
            ) from None
        try:
            conn.request("POST", self.path, body=json.dumps(body).encode(), headers=headers)
            resp = conn.getresponse()
        except TimeoutError:
            conn.close()
            raise _Retry(RemoteUnreachable(f"{self.url}: no answer within the timeout ({self.timeout:g}s)")) from None
        except (OSError, http.client.HTTPException) as exc:  # connected, then dropped before answering
            conn.close()
            raise _Retry(
                RemoteFailed(f"{self.url}: the connection closed before an answer: {type(exc).__name__}: {exc}")
            ) from None
        if resp.status == 200:
            return conn, resp
        try:
            detail = _error_text(resp.read(_MAX_ERROR_BODY))
        except (OSError, http.client.HTTPException):
            detail = "(the error body could not be read)"
        finally:
            conn.close()
        message = f"HTTP {resp.status} from {self.url} (model {body['model']!r}, voice {body['voice']!r}): {detail}"
        if 400 <= resp.status < 500 and resp.status not in _RETRY_4XX:
            raise RemoteRejected(message)
        error: RemoteEngineError = RemoteFailed(message) if resp.status >= 500 else RemoteRejected(message)
        raise _Retry(error, _retry_after(resp.getheader("Retry-After")))

    def _tries(self, body: dict[str, Any]) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """``_open`` with bounded retries and exponential backoff (capped at 8x ``backoff``)."""
        for attempt in range(self.max_retries + 1):
            try:
                return self._open(body)
            except _Retry as retry:
                if attempt == self.max_retries:
                    raise retry.error from None
                wait = min(self.backoff * 2**attempt, self.backoff * 8)
                if retry.wait is not None:
                    wait = min(max(wait, retry.wait), 30.0)
                sys.stderr.write(f"openai: {retry.error}; retry {attempt + 1}/{self.max_retries} in {wait:.2f}s\n")
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _pieces(self, body: dict[str, Any], fmt: str, rate: int) -> Iterator[Audio]:
        """The answer's audio as it arrives (whole frames only)."""
        conn, resp = self._tries(body)
        wav = _Wav() if fmt == "wav" else None
        left = b""
        total = 0
        try:
            while True:
                try:
                    data = resp.read1(_READ)
                except (OSError, http.client.HTTPException) as exc:
                    raise _broken(
                        f"{self.url}: the answer broke off after {total} bytes: {type(exc).__name__}: {exc}"
                    ) from None
                if not data:
                    if resp.length:  # Content-Length promised more
                        raise _broken(f"{self.url}: the answer broke off after {total} bytes")
                    break
                total += len(data)
                if total > MAX_BODY:
                    raise RemoteFailed(f"{self.url}: the answer is over {MAX_BODY} bytes for one segment")
                if wav is not None:
                    data = wav.feed(data)
                    if wav.format is None:
                        continue
                    rate, sample_format, channels = wav.format
                else:
                    sample_format, channels = "s16", 1
                data = left + data
                frame = (2 if sample_format == "s16" else 4) * channels
                cut = len(data) - len(data) % frame
                left = data[cut:]
                if cut:
                    yield Audio(data[:cut], rate, sample_format, channels)
            if wav is not None and wav.format is None:
                raise RemoteFailed(f"{self.url}: the answer ended inside its WAV header")
        finally:
            conn.close()

    # ------------------------------------------------------------------ engine API
    def stream(self, text: str, **options: Any) -> Iterator[Audio]:
        """Each piece as the server sends it. Retried only until the first piece is out."""
        body, fmt, rate = self._body(text, options, streaming=True)
        for attempt in range(self.max_retries + 1):
            sent = False
            try:
                for piece in self._pieces(body, fmt, rate):
                    sent = True
                    yield piece
                return
            except RemoteFailed as exc:
                if sent or attempt == self.max_retries or not getattr(exc, "broken", False):
                    raise
                sys.stderr.write(f"openai: {exc}; retrying the stream\n")
                time.sleep(min(self.backoff * 2**attempt, self.backoff * 8))

    def synthesize(self, text: str, **options: Any) -> Audio:
        """The whole answer; one that breaks off is asked for again (bounded)."""
        body, fmt, rate = self._body(text, options, streaming=False)
        for attempt in range(self.max_retries + 1):
            try:
                parts = list(self._pieces(body, fmt, rate))
                break
            except RemoteFailed as exc:
                if attempt == self.max_retries or not getattr(exc, "broken", False):
                    raise
                sys.stderr.write(f"openai: {exc}; retrying\n")
                time.sleep(min(self.backoff * 2**attempt, self.backoff * 8))
        if not parts:
            raise RemoteFailed(f"{self.url}: the server answered 200 with no audio")
        return Audio.concat(parts)

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "model": self.defaults["model"],
            "voice": self.defaults["voice"],
            "response_format": self.defaults["response_format"],
            "sample_rate": int(self.defaults.get("sample_rate", 24000)),
            "api_key_env": self.key_env,
            "api_key": "set" if self._key else "none",
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "voices": sorted(self.voice_map),
            "models": sorted(self.model_map),
            "options": list(_BODY_OPTIONS),
        }


def _error_text(raw: bytes) -> str:
    """The server's own error message: OpenAI's ``{"error": {"message", "type"}}`` or its text."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
        err = doc.get("error", doc) if isinstance(doc, dict) else doc
        if isinstance(err, dict) and err.get("message"):
            kind = f"{err.get('type')}: " if err.get("type") else ""
            text = f"{kind}{err['message']}"
        elif isinstance(doc, dict) and isinstance(doc.get("detail"), str):  # FastAPI's own shape
            text = doc["detail"]
    except ValueError:
        pass
    return text[:_MAX_ERROR_TEXT] + ("..." if len(text) > _MAX_ERROR_TEXT else "") or "(empty body)"


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


if __name__ == "__main__":
    raise SystemExit(main(OpenAISpeech))
