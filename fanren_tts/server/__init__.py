"""The OpenAI-compatible speech server (needs the ``[server]`` extra).

``create_app(tts)`` (``app``) gives the FastAPI app; ``python -m fanren_tts serve``
(``serve``) runs it under uvicorn. One concept per module:

- ``app``: the app, its error handlers, auth, models, health, metrics and voice routes;
- ``speech``: ``POST /v1/audio/speech`` and ``/captioned``; ``websocket``: the WebSocket;
- ``request``: the request body and its checks; ``aliases``: OpenAI's model and voice names;
- ``errors``: every failure in OpenAI's error shape; ``limits``: body size limits;
- ``schema``: what the OpenAPI schema says the responses are;
- ``queue``: per-engine admission with position and ETA; ``metrics``: Prometheus;
- ``config``: the ``tts.server`` and ``tts.voices`` config sections (pydantic only, so
  the config layer loads them without the extra).

This file imports nothing eagerly: the config layer imports ``server.config``, and that
must not pull in FastAPI (an optional extra) or the generator (above the config layer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app as create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """``fanren_tts.server.create_app``, imported on first use (see the module docstring)."""
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
