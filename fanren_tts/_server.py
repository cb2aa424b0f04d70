"""The OpenAI-compatible speech server: ``create_app(tts)`` gives a FastAPI app.

``POST /v1/audio/speech`` (OpenAI's request: model = an engine, input, voice,
response_format, speed; engine options in ``extra``; ``stream_format: "audio"`` streams
wav/pcm as it is made), ``GET /v1/models``, ``GET /health`` (live, ready, each engine's
state, queue and ETA), ``GET /metrics`` (Prometheus), named voices under
``/v1/voices`` and a WebSocket at ``/v1/audio/speech/ws`` (``_server_ws``).
Needs the ``[server]`` extra; ``python -m fanren_tts serve`` runs it (``_serve``).
"""

from __future__ import annotations

import hmac
import io
import logging
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ._encode import Encoder
from ._generator import TTSGenerator
from ._metrics import Metrics
from ._server_errors import ApiError, error_body, from_exception, from_http_exception
from ._server_limits import BodyLimit, BodyTooLarge, too_large
from ._server_request import SpeechRequest, check_input, speech_options
from ._server_ws import add_websocket
from ._speech import SpeechService
from ._wavout import encode_pcm

__all__ = ["SpeechRequest", "create_app"]

_OPEN_PATHS = ("/health",)  # probes need no key
log = logging.getLogger("fanren_tts.server")


def _wav_file(parts: list[bytes], rate: int, channels: int, bit_depth: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(bit_depth // 8)
        w.setframerate(rate)
        w.writeframes(b"".join(parts))
    return buf.getvalue()


def _body_too_large(exc: BaseException) -> BodyTooLarge | None:
    """The ``BodyTooLarge`` behind ``exc``: FastAPI turns an error while it reads the body
    into a 400 raised from it, and the auth middleware's task group wraps it in a group."""
    todo: list[BaseException] = [exc]
    for _ in range(64):  # a cause chain or group is short; never loop on a cycle
        if not todo:
            break
        e = todo.pop()
        if isinstance(e, BodyTooLarge):
            return e
        todo.extend(getattr(e, "exceptions", ()))  # an exception group
        if e.__cause__ is not None:
            todo.append(e.__cause__)
    return None


def create_app(tts: TTSGenerator, *, api_key: str | None = None, close_generator: bool = True) -> FastAPI:
    """A FastAPI app serving ``tts``; closing the app (lifespan end) stops its workers."""
    metrics = Metrics(tts.engines)
    service = SpeechService(tts, tts.config.server, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.draining = True
        service.close()
        if close_generator:
            tts.close()

    app = FastAPI(title="fanren_tts", version="1", lifespan=lifespan)
    app.state.service = service
    app.state.tts = tts

    def error_response(exc: BaseException) -> JSONResponse:
        err = from_exception(exc)
        return JSONResponse(error_body(err), status_code=err.status, headers=err.headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(ApiError(400, "the request body is not valid JSON", code="invalid_json"))
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(
            ApiError(
                422, f"{where or 'body'}: {first.get('msg', 'invalid')}", param=where or None, code="invalid_field"
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        over = _body_too_large(exc)
        if over is not None:
            return error_response(too_large(over.limit, over.setting))
        return error_response(from_http_exception(exc))

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        return error_response(ApiError(400, "the request is nested too deep", code="too_deep"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    @app.middleware("http")
    async def auth(request: Request, call_next: Any) -> Response:
        if api_key and request.url.path not in _OPEN_PATHS:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return error_response(
                    ApiError(
                        401,
                        "missing or wrong API key: send 'Authorization: Bearer KEY'",
                        code="invalid_api_key",
                        headers={"WWW-Authenticate": "Bearer"},
                    )
                )
        response: Response = await call_next(request)
        return response

    @app.post("/v1/audio/speech", response_model=None)
    async def speech(body: SpeechRequest) -> Response:
        t0 = time.monotonic()
        try:
            check_input(tts, service, body.model, body.input)
            if body.stream_format == "sse":
                raise ApiError(400, 'stream_format "sse" is not supported; use "audio"', param="stream_format")
            if body.response_format == "aac":  # in OpenAI's list; no well-kept encoder here
                raise ApiError(400, "aac is not supported; use wav, pcm, flac, mp3 or opus", param="response_format")
            fmt = body.response_format
            encoder = Encoder(fmt, tts.config.output.bit_depth)
            options = speech_options(tts, body.model, body.voice, body.speed, body.extra)
            job = await service.start(body.model, body.input, options)
            headers = {"X-Queue-Position": str(job.position), "X-Queue-ETA": f"{job.eta:.2f}"}
            if body.stream_format == "audio" and encoder.streams:

                async def stream() -> AsyncIterator[bytes]:
                    code = 200
                    try:
                        async for chunk in job.chunks():
                            data = encoder.feed(chunk.data, chunk.sample_rate)
                            if data:
                                yield data
                    except Exception as exc:  # the status line is gone: the body ends short
                        code = from_exception(exc).status
                        log.warning("speech stream from %r ended early: %s", body.model, str(exc).splitlines()[0])
                    finally:
                        metrics.observe("speech", body.model, code, time.monotonic() - t0)

                return StreamingResponse(stream(), media_type=encoder.media_type, headers=headers)
            parts: list[bytes] = []
            first = job.first
            async for chunk in job.chunks():
                parts.append(
                    encoder.feed(chunk.data, chunk.sample_rate)
                    if fmt != "wav"
                    else encode_pcm(chunk.data, chunk.bit_depth)
                )
            if fmt == "wav":
                assert first is not None
                data = _wav_file(parts, first.sample_rate, first.data.shape[1], first.bit_depth)
            else:
                data = b"".join(parts) + encoder.close()
            metrics.observe("speech", body.model, 200, time.monotonic() - t0)
            return Response(data, media_type=encoder.media_type, headers=headers)
        except Exception as exc:  # a cancelled request (client gone, shutdown) is not an error: it propagates
            err = from_exception(exc)
            metrics.observe("speech", body.model, err.status, time.monotonic() - t0)
            raise err from None

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "fanren_tts", "type": cfg.kind}
                for name, cfg in tts.config.engines.items()
            ],
        }

    @app.get("/health")
    async def health() -> JSONResponse:
        engines: dict[str, Any] = {}
        for name, cfg in tts.config.engines.items():
            state, reason, pid = "idle", None, None
            try:
                worker = tts.worker(name) if not cfg.unavailable else None
                if worker is None:
                    state, reason = "unavailable", cfg.unavailable
                elif worker.alive:
                    state, pid = "ready", worker.pid
                    metrics.saw_worker(name, pid)
                elif cfg.python and not cfg.interpreter.exists():  # would fail at its first request
                    state, reason = "unavailable", f"interpreter {cfg.interpreter} does not exist"
            except Exception as exc:  # env missing, half-built or drifted; no wrapper
                state, reason = "unavailable", str(exc).splitlines()[0]
            engines[name] = {"state": state, "pid": pid, "reason": reason, "queue": service.queues[name].state()}
        ready = not service.draining and any(e["state"] != "unavailable" for e in engines.values())
        body = {"live": True, "ready": ready, "engines": engines}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        for name, queue in service.queues.items():
            metrics.queue_depth.labels(name).set(queue.depth)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post("/v1/voices")
    async def add_voice(
        name: Annotated[str, Form()],
        engine: Annotated[str, Form()],
        audio: Annotated[UploadFile | None, File()] = None,
        transcript: Annotated[str | None, Form()] = None,
        speaker: Annotated[str | None, Form()] = None,
    ) -> JSONResponse:
        if engine not in tts.engines:
            raise ApiError(404, f"no engine {engine!r}; configured: {', '.join(tts.engines)}", param="engine")
        data = await audio.read() if audio is not None else None  # at most max_upload_bytes
        try:
            voice = await service.run(lambda: tts.voices.add(name, data, transcript, engine=engine, speaker=speaker))
        except Exception as exc:
            raise from_exception(exc) from None
        return JSONResponse(voice.to_json(), status_code=201)

    @app.get("/v1/voices")
    async def list_voices() -> dict[str, Any]:
        return {"object": "list", "data": [v.to_json() for v in tts.voices.list()]}

    @app.delete("/v1/voices/{name}")
    async def remove_voice(name: str) -> dict[str, Any]:
        if not tts.voices.remove(name):
            raise ApiError(404, f"no voice named {name!r}", param="name", code="voice_not_found")
        return {"id": name, "object": "voice", "deleted": True}

    add_websocket(app, service, api_key)
    app.add_middleware(BodyLimit, settings=service.settings)  # counts every body as it is read
    return app
