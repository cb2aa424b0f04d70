"""``python -m fanren_tts serve``: the speech server under uvicorn.

Loopback by default. ``--api-key`` (or ``FANREN_TTS_API_KEY``) makes every request but
``/health`` need ``Authorization: Bearer KEY``. SIGTERM or Ctrl-C stops it gracefully:
no new connections, in-flight requests get ``tts.server.shutdown_grace`` seconds to
finish (then they are cancelled, which stops their engines), and every worker is
stopped (each with its own bounded stop ladder) before the process exits.
"""

from __future__ import annotations

import argparse
import logging
import os

from ._cli import add_config_option
from ._exceptions import ConfigError
from ._generator import TTSGenerator

__all__ = ["add_parser", "serve"]

log = logging.getLogger("fanren_tts.serve")


def serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ._server import create_app
    except ImportError as exc:
        raise ConfigError(
            f"the server needs the [server] extra ({exc.name} is missing): pip install 'fanren-tts[server]'"
        ) from None
    if getattr(args, "ray", None) is not None:  # the same app on a Ray cluster, through Ray Serve
        from .rayserve.cli import serve_ray

        return serve_ray(args)
    api_key = args.api_key or os.environ.get("FANREN_TTS_API_KEY") or None
    tts = TTSGenerator(args.config, device=args.device)
    try:
        if args.warm is not None:  # --warm alone: every engine
            tts.warm_up(*args.warm)
        app = create_app(tts, api_key=api_key)
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="info" if args.verbose else "warning",
            timeout_graceful_shutdown=max(1, round(tts.config.server.shutdown_grace)),
            ws_max_size=tts.config.server.max_body_bytes,  # a bigger WebSocket message is closed with 1009
        )
        server = uvicorn.Server(config)
        print(f"fanren_tts serving {', '.join(tts.engines)} on http://{args.host}:{args.port}", flush=True)
        server.run()
    finally:
        tts.close()
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the OpenAI-compatible speech server (needs fanren-tts[server])",
        description="Run the OpenAI-compatible speech server: POST /v1/audio/speech (and /captioned), "
        "/v1/models, /v1/voices, a WebSocket, /health, /metrics, and the API docs at /docs and /redoc. "
        "Needs pip install 'fanren-tts[server]'.",
    )
    add_config_option(p, subcommand=True)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument("--api-key", help="require 'Authorization: Bearer KEY' (default: $FANREN_TTS_API_KEY)")
    p.add_argument("--device", help="override the device of every engine")
    p.add_argument("--warm", nargs="*", metavar="ENGINE", help="start these engines (none named: all) before listening")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="serve through Ray Serve on the cluster at ADDRESS (none: $RAY_ADDRESS, else a new local one); "
        "--warm NAMES then picks the engines deployed",
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v logs each request (uvicorn info)")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.set_defaults(func=serve)
