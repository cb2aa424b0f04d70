"""Request ids and the access log.

Every HTTP request and WebSocket connection gets an id: the client's own
``X-Request-Id`` when it is a short token (so a proxy's id follows the request
through), else a fresh one. It goes back in the ``X-Request-Id`` response header (on
a WebSocket, in the upgrade's answer), into every log record made while the request
runs (``RequestIdFilter`` reads it from a context variable, so the server's own
warnings carry it too), and into the access log: one line per request on the
``fanren_tts.access`` logger, with the method, path, status, bytes sent and seconds.
The access log is on by default; ``tts.server.access_log: false`` (or ``serve
--no-access-log``) turns it off; the ids stay.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["REQUEST_ID_HEADER", "AccessLog", "RequestIdFilter", "current_request_id"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = "X-Request-Id"
#: A client's id is kept only if it is this: no spaces, quotes or newlines to forge log lines with.
_GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("fanren_tts_request_id", default="-")
log = logging.getLogger("fanren_tts.access")


def current_request_id() -> str:
    """The id of the request this code runs for; ``-`` outside any."""
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Stamps ``record.request_id`` (for a ``%(request_id)s`` format) on every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


def _request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            given = bytes(value).decode("latin-1")
            if _GOOD_ID.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


class AccessLog:
    """ASGI middleware: a request id for each request, and its access log line."""

    def __init__(self, app: ASGIApp, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = _request_id_of(scope)
        token = _request_id.set(rid)
        header = (REQUEST_ID_HEADER.lower().encode(), rid.encode())
        status = 0
        sent = 0
        t0 = time.monotonic()

        async def stamped(message: Message) -> None:
            nonlocal status, sent
            kind = message["type"]
            if kind == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), header]
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "websocket.accept":
                status = 101
                message["headers"] = [*message.get("headers", ()), header]
            elif kind == "websocket.close" and not status:
                status = 403  # refused before it was accepted (a wrong key)
            elif kind == "websocket.send":
                sent += len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        finally:
            if self.enabled:
                client = scope.get("client")
                method = scope.get("method", "WS")
                log.info(
                    '%s "%s %s" %s %d %.3fs id=%s',  # status "-": the client left before an answer
                    f"{client[0]}:{client[1]}" if client else "-",
                    method,
                    scope.get("path", ""),
                    status or "-",
                    sent,
                    time.monotonic() - t0,
                    rid,
                    extra={"request_id": rid},
                )
            _request_id.reset(token)
