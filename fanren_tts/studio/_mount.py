"""How the studio hangs on the server: one ASGI middleware and one route.

The middleware sits outside the API key check, on purpose and narrowly:

- it serves the page (``/``) and its files (``/studio/NAME``) from ``static/``, which a
  browser fetches without a bearer header (it cannot send one for a page load); the
  files are the same for everyone and hold nothing of the server's;
- a browser cannot set headers on a WebSocket either, so the page sends its key as a
  subprotocol, ``fanren.bearer.HEX`` (the key's UTF-8 bytes in hex) next to ``fanren``;
  for ``/v1/audio/speech/ws`` the middleware turns that into the ``Authorization``
  header the server checks, drops it from the subprotocols and accepts with ``fanren``
  (a browser fails a handshake whose offered subprotocols get no answer). The key is
  checked by the server exactly as for any client; nothing here compares keys.

Everything else passes through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from ._preview import add_preview_route

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..server.service import SpeechService

__all__ = ["KEY_PROTOCOL", "STATIC", "StudioMiddleware", "mount_studio"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The folder of the page's files, shipped in the package.
STATIC = Path(__file__).with_name("static")
#: The subprotocol the page offers (and the server accepts with) on the WebSocket.
PROTOCOL = "fanren"
#: Prefix of the subprotocol that carries the key, as hex: ``fanren.bearer.6b6579``.
KEY_PROTOCOL = "fanren.bearer."
_WS_PATH = "/v1/audio/speech/ws"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
#: The page loads only its own files and talks only to this server (blob: for the audio it builds).
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob: data:; "
    "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
}


def _routes(folder: Path) -> dict[str, Path]:
    """URL path -> file: ``/`` is ``index.html``; every other file is ``/studio/NAME``
    (a fixed table built once, so no request path ever becomes a file path)."""
    files = {f"/studio/{p.name}": p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in _TYPES}
    if "/studio/index.html" in files:
        files["/"] = files["/studio/index.html"]
    return files


def _key_header(scope: Scope, send: Send) -> tuple[Scope, Send]:
    """The WebSocket scope with the key from a ``fanren.bearer.HEX`` subprotocol moved to
    ``Authorization`` (an explicit header wins), and a send that accepts with ``fanren``."""
    offered: list[str] = list(scope.get("subprotocols") or [])
    if PROTOCOL not in offered:
        return scope, send
    headers = list(scope.get("headers") or [])
    carried = [p[len(KEY_PROTOCOL) :] for p in offered if p.startswith(KEY_PROTOCOL)]
    if carried and not any(name.lower() == b"authorization" for name, _ in headers):
        try:
            key = bytes.fromhex(carried[0]).decode("utf-8")
        except ValueError:  # not hex, or not UTF-8: no key, so the server's check refuses it
            key = ""
        if key:
            headers.append((b"authorization", f"Bearer {key}".encode()))
    scope = {**scope, "headers": headers, "subprotocols": [p for p in offered if not p.startswith(KEY_PROTOCOL)]}

    async def answer(message: Message) -> None:
        if message.get("type") == "websocket.accept" and not message.get("subprotocol"):
            message = {**message, "subprotocol": PROTOCOL}
        await send(message)

    return scope, answer


class StudioMiddleware:
    """Serves the studio's files and carries the page's WebSocket key (see the module doc)."""

    def __init__(self, app: ASGIApp, folder: Path = STATIC) -> None:
        self.app = app
        self.files = _routes(folder)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") and scope["path"] in self.files:
            path = self.files[scope["path"]]
            response = Response(path.read_bytes(), media_type=_TYPES[path.suffix], headers=_HEADERS)
            await response(scope, receive, send)
            return
        if scope["type"] == "websocket" and scope.get("path") == _WS_PATH:
            scope, send = _key_header(scope, send)
        await self.app(scope, receive, send)


def mount_studio(app: FastAPI, service: SpeechService) -> None:
    """The studio on ``app``: its page and files, its WebSocket key carrier, and ``POST /v1/text/preview``."""
    add_preview_route(app, service)
    app.add_middleware(StudioMiddleware)
