"""``/v1/audio/speech/ws``: text in, audio chunks and word timings out, as they are made.

Client → server, one JSON text message per request (any number per connection)::

    {"model": "piper", "input": "Hello.", "voice": "default", "speed": 1.0, "extra": {}}

(the fields of ``POST /v1/audio/speech``, ``instructions`` and the model and voice aliases
included: ``request``, ``aliases``).

Server → client, per chunk a JSON text message then the chunk's PCM (little-endian,
``bit_depth`` bits, interleaved) as one binary message::

    {"type": "chunk", "start": 0.0, "segment": 0, "sample_rate": 22050, "channels": 1,
     "bit_depth": 16, "bytes": 4410, "words": [{"text": "Hello", "start": 0.05, "end": 0.4}]}

then ``{"type": "done", "duration": 1.2}``; a failure is ``{"type": "error", "status": 400,
"error": {...}}`` (OpenAI's error shape) and the connection stays open for the next request.
That includes a text message that is not a JSON object (``[1,2]``, ``null``, ``42``, bad
JSON): it is answered with an error (400 ``invalid_message`` or ``invalid_json``) and the
connection keeps working. Two things close it with a close code: a binary message (an
error message, then 1003, unsupported data: requests are JSON text) and a text message over
``tts.server.max_body_bytes`` (1009, message too big: under ``serve`` uvicorn's
``ws_max_size`` closes it before it is assembled; any other ASGI server, here, after an
error message).
With an API key, send it as ``Authorization: Bearer KEY`` on the upgrade request.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from ..audio.encode import Encoder
from .errors import ApiError, error_body, from_exception
from .request import SpeechRequest, check_input, speech_options
from .service import SpeechService

__all__ = ["add_websocket"]

_JSON_KIND = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}
_BINARY = "binary messages are not requests: send each request as one JSON text message"


async def _refuse(ws: WebSocket, code: int, err: ApiError) -> None:
    """Say what was wrong, then close with ``code`` (the reason is cut to fit a close frame)."""
    await ws.send_text(json.dumps({"type": "error", "status": err.status, **error_body(err)}))
    await ws.close(code=code, reason=err.message.encode()[:120].decode(errors="ignore"))


def add_websocket(app: FastAPI, service: SpeechService, api_key: str | None) -> None:
    tts = service.tts

    @app.websocket("/v1/audio/speech/ws")
    async def speech_ws(ws: WebSocket) -> None:
        if api_key:
            given = ws.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                await ws.close(code=1008, reason="missing or wrong API key")
                return
        await ws.accept()
        limit = service.settings.max_body_bytes
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                raw = message.get("text")
                if raw is None:  # a binary frame: requests are JSON text
                    await _refuse(ws, 1003, ApiError(400, _BINARY, code="binary_message"))
                    return
                if len(raw) > limit:
                    why = f"the message is over {limit} characters (tts.server.max_body_bytes): send less"
                    await _refuse(ws, 1009, ApiError(413, why, code="message_too_large"))
                    return
                await _one(ws, raw)
        except WebSocketDisconnect:
            return

    async def _one(ws: WebSocket, raw: str) -> None:
        """One request on the connection; counted in /metrics as endpoint ``websocket``."""
        t0 = time.monotonic()
        label = ""
        try:
            try:
                fields = json.loads(raw)
            except (json.JSONDecodeError, RecursionError) as exc:
                why = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
                raise ApiError(400, f"the message is not valid JSON: {why}", code="invalid_json") from None
            if isinstance(fields, dict) and isinstance(fields.get("model"), str):
                label = fields["model"]  # unknown names are counted as "other" (metrics.label)
            if not isinstance(fields, dict):
                raise ApiError(
                    400,
                    f"the message is a JSON {_JSON_KIND.get(type(fields), 'value')}, not an object; send one JSON object per request, "
                    'like {"model": "piper", "input": "Hello."}',
                    code="invalid_message",
                )
            try:
                body = SpeechRequest.model_validate({"model": "", "input": "", **fields})
            except ValidationError as exc:
                first = exc.errors()[0]
                raise ApiError(
                    422, f"{'.'.join(map(str, first['loc']))}: {first['msg']}", code="invalid_field"
                ) from None
            engine = check_input(tts, service, body.model, body.input)
            label = engine
            options = speech_options(tts, engine, body)
            job = await service.start(engine, body.input, options)
        except Exception as exc:
            err = from_exception(exc)
            service.metrics.observe("websocket", label, err.status, time.monotonic() - t0)
            await ws.send_text(json.dumps({"type": "error", "status": err.status, **error_body(err)}))
            return
        await ws.send_text(json.dumps({"type": "queued", "position": job.position, "eta": round(job.eta, 3)}))
        end = 0.0
        encoder: Encoder | None = None
        try:
            async for chunk in job.chunks():
                encoder = encoder or Encoder("pcm", chunk.bit_depth)
                data = encoder.feed(chunk.data, chunk.sample_rate)
                words: list[dict[str, Any]] = [
                    {"text": w.text, "start": round(w.start, 4), "end": round(w.end, 4)} for w in chunk.words
                ]
                head = {
                    "type": "chunk",
                    "start": round(chunk.start, 4),
                    "segment": chunk.segment,
                    "sample_rate": chunk.sample_rate,
                    "channels": chunk.data.shape[1],
                    "bit_depth": chunk.bit_depth,
                    "bytes": len(data),
                    "words": words,
                }
                await ws.send_text(json.dumps(head, ensure_ascii=False))
                if data:
                    await ws.send_bytes(data)
                end = chunk.start + chunk.duration
        except WebSocketDisconnect:
            raise
        except Exception as exc:
            err = from_exception(exc)
            service.metrics.observe("websocket", label, err.status, time.monotonic() - t0)
            await ws.send_text(json.dumps({"type": "error", "status": err.status, **error_body(err)}))
            return
        service.metrics.observe("websocket", label, 200, time.monotonic() - t0)
        await ws.send_text(json.dumps({"type": "done", "duration": round(end, 4)}))
