"""The web studio at ``/``: a page for trying engines and voices, served by ``fanren-tts serve``.

The page is plain HTML, CSS and JavaScript shipped inside the package (``static/``): no
CDN and no build step, so it works offline and from an installed wheel. It talks to the
same API as any client (``/v1/models``, ``/v1/voices``, ``/health``, the WebSocket, the
captioned speech route) plus one route of its own, ``POST /v1/text/preview``
(``_preview``): each line's segments as the text front end gives them to the engine.

``mount_studio(app, service)`` is the one hook the server calls (``_mount``).
"""

from __future__ import annotations

from ._mount import KEY_PROTOCOL, STATIC, StudioMiddleware, mount_studio

__all__ = ["KEY_PROTOCOL", "STATIC", "StudioMiddleware", "mount_studio"]
