"""The API docs, ``/docs`` (Swagger UI) and ``/redoc``, whole without a network.

``fastapi-offline`` serves Swagger UI's and ReDoc's files from its own package instead of a
CDN, and the page's favicon too. One request was still left: ReDoc's bundle draws an "API
docs by Redocly" link in its sidebar with an ``<img>`` whose address is fixed in the script
(``https://cdn.redoc.ly/redoc/logo-mini.svg``), with no option to turn it off. Offline the
browser waits on that host; behind a firewall it is a request to a third party each time
somebody opens the docs. So the bundle is served here with that address replaced by an
empty inline image (a ``data:`` URI, which is no request at all), and ahead of the static
mount, so the page's ``<script src>`` gets this copy. Everything else is the package's file
byte for byte.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["DOCS_ASSETS", "OPEN_PATHS", "REDOC_LOGO", "docs_app", "offline_redoc_bundle"]

#: Where the Swagger UI and ReDoc files are served, from the installed package.
DOCS_ASSETS = "/docs-assets"
#: Paths that need no key: probes, and the API docs (a browser cannot send a bearer token
#: for a page and its assets; the schema says what the API is, not what it holds).
OPEN_PATHS = ("/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
#: The logo ReDoc's bundle fetches from Redocly's CDN for its sidebar link.
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
#: What it is replaced with: an empty image, inline.
_EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg%20xmlns='http://www.w3.org/2000/svg'/%3E"
_REDOC_JS = "redoc.standalone.js"


def _offline_static() -> Path:
    """fastapi-offline's folder of Swagger UI and ReDoc files."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).with_name("static")


@lru_cache(maxsize=1)
def offline_redoc_bundle() -> bytes:
    """ReDoc's standalone script with its CDN logo replaced by an inline empty image
    (read once; about 1 MB). A bundle without that address is returned as it is."""
    return (_offline_static() / _REDOC_JS).read_bytes().replace(REDOC_LOGO, _EMPTY_IMAGE)


async def _redoc_bundle(request: Request) -> Response:
    return Response(
        offline_redoc_bundle(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


def docs_app(lifespan: Any, *, title: str, version: str, description: str) -> FastAPI:
    """A FastAPI app whose ``/docs`` and ``/redoc`` load every file from this server."""
    from fastapi_offline import FastAPIOffline

    app: FastAPI = FastAPIOffline(
        title=title, version=version, description=description, lifespan=lifespan, static_url=DOCS_ASSETS
    )
    # Ahead of fastapi-offline's mount of the same folder, which would answer first.
    app.router.routes.insert(0, Route(f"{DOCS_ASSETS}/{_REDOC_JS}", _redoc_bundle, methods=["GET", "HEAD"]))
    return app
