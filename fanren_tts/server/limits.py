"""Request body limits, enforced while the body is read, so the server's memory stays
bounded whatever a client sends.

``BodyLimit`` is a plain ASGI middleware around the app's routes. A ``Content-Length``
over the path's limit is refused with 413 before one byte of the body is read; a body
without one (chunked) is counted as it arrives, and the read that passes the limit
raises ``BodyTooLarge`` instead of handing more bytes to the app, so nothing past the
limit is ever buffered. Voice uploads (``POST /v1/voices``, multipart) have their own,
larger limit (``tts.server.max_upload_bytes``); every other body has
``tts.server.max_body_bytes``. Starlette spools an upload's file part to disk past
1 MiB, so an upload in flight holds at most that in memory, and the handler reads at
most the limit.

Why not FastAPI's own ``max_body_size`` (0.165+): with a Content-Length over the limit it
swaps whatever response the app sends for a plain-text 413, and every error here is in
OpenAI's JSON shape (``server.errors``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

from .config import ServerConfig
from .errors import ApiError, error_body

__all__ = ["UPLOAD_PATHS", "BodyLimit", "BodyTooLarge", "too_large"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths whose bodies are uploads (reference audio), under ``max_upload_bytes``.
UPLOAD_PATHS = frozenset({"/v1/voices"})


class BodyTooLarge(HTTPException):
    """The body passed its limit while it was read. An HTTPException, so FastAPI's body
    parsing lets it through (it turns other errors there into a 400) to the handler
    (FastAPI's own subclass: Starlette's would be turned into that 400)."""

    def __init__(self, limit: int, setting: str) -> None:
        self.limit = limit
        self.setting = setting
        super().__init__(413, too_large(limit, setting).message)


def too_large(limit: int, setting: str) -> ApiError:
    """The 413 of a body over ``limit`` (``tts.server.<setting>``).

    The connection is not closed: the server (uvicorn) drops the rest of the body as it
    arrives, without keeping it, so a client that sends its whole body before it reads
    (httpx, requests) still gets this answer instead of a reset connection."""
    return ApiError(
        413,
        f"the request body is over {limit} bytes, the limit here (tts.server.{setting}): send less",
        code="body_too_large",
    )


class BodyLimit:
    """ASGI middleware: 413 for a body over its path's limit, counted as it is read."""

    def __init__(self, app: ASGIApp, settings: ServerConfig) -> None:
        self.app = app
        self.settings = settings

    def limit_of(self, path: str) -> tuple[int, str]:
        if path.rstrip("/") in UPLOAD_PATHS:
            return self.settings.max_upload_bytes, "max_upload_bytes"
        return self.settings.max_body_bytes, "max_body_bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.limit_of(scope["path"])
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _reply(send, too_large(limit, setting))
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:  # read outside FastAPI's handlers: answer here
            if started:
                raise
            await _reply(send, too_large(exc.limit, exc.setting))


async def _reply(send: Send, err: ApiError) -> None:
    body = json.dumps(error_body(err)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
