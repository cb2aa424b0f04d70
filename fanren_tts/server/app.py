"""The OpenAI-compatible speech server: ``create_app(tts)`` gives a FastAPI app.

``POST /v1/audio/speech`` and ``POST /v1/audio/speech/captioned`` (``speech``;
OpenAI's client defaults such as ``tts-1`` and ``alloy`` resolve through ``aliases``),
``GET /v1/models``, ``GET /health`` (live, ready, each engine's state, queue and ETA),
``GET /metrics`` (Prometheus), named voices under ``/v1/voices``, a WebSocket at
``/v1/audio/speech/ws`` (``websocket``), and the API docs at ``/docs`` and ``/redoc``
with their assets served from the installed package (no CDN; open without the key).
Needs the ``[server]`` extra; ``python -m fanren_tts serve`` runs it (``serve``)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Path, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._generator import TTSGenerator
from ..studio import mount_studio
from .access import AccessLog
from .docs import DOCS_ASSETS, OPEN_PATHS, docs_app
from .errors import ApiError, error_body, from_exception, from_http_exception
from .limits import BodyLimit, BodyTooLarge, too_large
from .metrics import Metrics
from .request import SpeechRequest
from .schema import (
    DELETE_VOICE_RESPONSES,
    HEALTH_RESPONSES,
    METRICS_RESPONSES,
    MODELS_RESPONSES,
    VOICE_RESPONSES,
    VOICES_RESPONSES,
)
from .service import SpeechService
from .speech import add_speech_routes
from .websocket import add_websocket

__all__ = ["SpeechRequest", "create_app"]

log = logging.getLogger("fanren_tts.server")


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


def _docs_app(lifespan: Any) -> FastAPI:
    """The app, with ``/docs`` (Swagger UI) and ``/redoc`` loading every file from this
    server (``docs``): no CDN, so the docs work offline."""
    from .. import __version__

    return docs_app(
        lifespan,
        title="fanren_tts",
        version=__version__,
        description="OpenAI-compatible text to speech over local engines, each in its own env. "
        "Errors are OpenAI's shape: `{error: {message, type, param, code}}`.",
    )


def _document_key(app: FastAPI) -> None:
    """Tell the schema that requests need the bearer key, so Swagger UI's Authorize
    button sends it with "Try it out"."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = build()
        if fresh:
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the key given to serve --api-key"}
            }
            schema["security"] = [{"bearer": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    tts: TTSGenerator, *, api_key: str | None = None, close_generator: bool = True, access_log: bool | None = None
) -> FastAPI:
    """A FastAPI app serving ``tts``; closing the app (lifespan end) stops its workers.
    ``access_log`` overrides ``tts.server.access_log`` (``access``)."""
    metrics = Metrics(tts.engines)
    service = SpeechService(tts, tts.config.server, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.draining = True
        service.close()
        if close_generator:
            tts.close()

    app = _docs_app(lifespan)
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
        path = request.url.path
        if api_key and path not in OPEN_PATHS and not path.startswith(DOCS_ASSETS + "/"):
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

    add_speech_routes(app, service)

    @app.get(
        "/v1/models",
        summary="The models: each configured engine, then each model alias",
        responses=MODELS_RESPONSES,
        tags=["models"],
    )
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "fanren_tts", "type": cfg.kind}
                for name, cfg in tts.config.engines.items()
            ]
            + [
                {
                    "id": alias,
                    "object": "model",
                    "created": 0,
                    "owned_by": "fanren_tts",
                    "type": "alias",
                    "alias_of": to,
                }
                for alias, to in tts.config.server.model_aliases.items()
                if alias not in tts.config.engines
            ],
        }

    @app.get(
        "/health",
        summary="Liveness, readiness, and each engine's state and queue",
        description="200 while the server is ready (an engine can serve), 503 otherwise; needs no API key.",
        responses=HEALTH_RESPONSES,
        tags=["operations"],
    )
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

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses=METRICS_RESPONSES,
        tags=["operations"],
    )
    async def prometheus() -> Response:
        for name, queue in service.queues.items():
            metrics.queue_depth.labels(name).set(queue.depth)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post(
        "/v1/voices",
        summary="Store a named voice: reference audio and transcript, or an engine speaker",
        status_code=201,
        responses=VOICE_RESPONSES,
        tags=["voices"],
    )
    async def add_voice(
        name: Annotated[str, Form(description="the voice's name, used as `voice` in speech requests")],
        engine: Annotated[str, Form(description="the engine the voice is for")],
        audio: Annotated[
            UploadFile | None, File(description="reference audio (WAV, FLAC, OGG or MP3), at most max_upload_bytes")
        ] = None,
        transcript: Annotated[str | None, Form(description="what the reference audio says")] = None,
        speaker: Annotated[str | None, Form(description="instead of audio: one of the engine's own speakers")] = None,
    ) -> JSONResponse:
        if engine not in tts.engines:
            raise ApiError(404, f"no engine {engine!r}; configured: {', '.join(tts.engines)}", param="engine")
        data = await audio.read() if audio is not None else None  # at most max_upload_bytes
        try:
            voice = await service.run(lambda: tts.voices.add(name, data, transcript, engine=engine, speaker=speaker))
        except Exception as exc:
            raise from_exception(exc) from None
        return JSONResponse(voice.to_json(), status_code=201)

    @app.get("/v1/voices", summary="The named voices", responses=VOICES_RESPONSES, tags=["voices"])
    async def list_voices() -> dict[str, Any]:
        return {"object": "list", "data": [v.to_json() for v in tts.voices.list()]}

    @app.delete("/v1/voices/{name}", summary="Remove a named voice", responses=DELETE_VOICE_RESPONSES, tags=["voices"])
    async def remove_voice(name: Annotated[str, Path(description="the voice's name")]) -> dict[str, Any]:
        if not tts.voices.remove(name):
            raise ApiError(404, f"no voice named {name!r}", param="name", code="voice_not_found")
        return {"id": name, "object": "voice", "deleted": True}

    add_websocket(app, service, api_key)
    mount_studio(app, service)  # the web studio at / and POST /v1/text/preview (fanren_tts.studio)
    if api_key:
        _document_key(app)
    app.add_middleware(BodyLimit, settings=service.settings)  # counts every body as it is read
    if service.settings.cors_origins:  # off unless configured: no other site's page may read answers
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=service.settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=["X-Request-Id", "X-Queue-Position", "X-Queue-ETA", "Retry-After"],
        )
    # outermost: every answer, a 413 or a CORS preflight included, carries its request id
    app.add_middleware(AccessLog, enabled=service.settings.access_log if access_log is None else access_log)
    return app
