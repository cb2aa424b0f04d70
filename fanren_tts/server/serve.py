"""``python -m fanren_tts serve``: the speech server under uvicorn.

Loopback by default. ``--api-key`` (or ``FANREN_TTS_API_KEY``) makes every request but
``/health`` need ``Authorization: Bearer KEY``. Any other ``--host`` without a key is
refused unless ``--insecure-no-auth`` says that is meant: an open TTS server on a
network lets anyone spend its GPU and clone voices with its uploads. Logs go to stderr,
each line with the request id it was made for (``access``); one access line per request
unless ``--no-access-log`` or ``tts.server.access_log: false``. SIGTERM or Ctrl-C stops it gracefully:
no new connections, in-flight requests get ``tts.server.shutdown_grace`` seconds to
finish (then they are cancelled, which stops their engines), and every worker is
stopped (each with its own bounded stop ladder) before the process exits.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys

from .._exceptions import ConfigError
from .._generator import TTSGenerator
from ..cli.support import add_config_option

__all__ = ["add_parser", "check_exposure", "serve"]

log = logging.getLogger("fanren_tts.serve")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (a name other than localhost
    counts as not: what it resolves to can change)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key: str | None, insecure_no_auth: bool) -> None:
    """Refuse to listen beyond loopback without a key, unless that is said on purpose."""
    if api_key or insecure_no_auth or is_loopback(host):
        return
    raise ConfigError(
        f"--host {host} listens beyond this machine, and there is no API key: anyone who reaches it can use "
        "the engines and upload voices. Give --api-key KEY (or set FANREN_TTS_API_KEY), or say "
        "--insecure-no-auth if an open server is what you want (behind your own proxy, say)"
    )


def _log_to_stderr(access_log: bool, verbose: int) -> None:
    """fanren_tts's loggers to stderr, each line with its request id; the access lines at
    INFO when the access log is on. Only here: the command line's own handler on the root
    logger would print every line a second time, without the id."""
    from .access import RequestIdFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger("fanren_tts")
    root.addHandler(handler)
    root.propagate = False
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("fanren_tts.access").setLevel(logging.INFO if access_log else logging.WARNING)


def serve(args: argparse.Namespace) -> int:
    api_key = args.api_key or os.environ.get("FANREN_TTS_API_KEY") or None
    check_exposure(args.host, api_key, args.insecure_no_auth)  # before any engine starts
    if getattr(args, "ray", None) is not None:  # the same app on a Ray cluster, through Ray Serve
        from ..rayserve.cli import serve_ray

        return serve_ray(args)
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        raise ConfigError(
            f"the server needs the [server] extra ({exc.name} is missing): pip install 'fanren-tts[server]'"
        ) from None
    tts = TTSGenerator(args.config, device=args.device)
    try:
        if args.warm is not None:  # --warm alone: every engine
            tts.warm_up(*args.warm)
        access_log = tts.config.server.access_log and not args.no_access_log
        _log_to_stderr(access_log, args.verbose)
        app = create_app(tts, api_key=api_key, access_log=access_log)
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="info" if args.verbose else "warning",
            access_log=False,  # ours (access.AccessLog) has the request id
            timeout_graceful_shutdown=max(1, round(tts.config.server.shutdown_grace)),
            ws_max_size=tts.config.server.max_body_bytes,  # a bigger WebSocket message is closed with 1009
        )
        server = uvicorn.Server(config)
        host = args.host.strip("[]")
        base = f"http://{f'[{host}]' if ':' in host else host}:{args.port}"  # an IPv6 address in brackets
        print(
            f"fanren_tts serving {', '.join(tts.engines)} on {base}\n  studio: {base}/   API docs: {base}/docs",
            flush=True,
        )
        server.run()
    finally:
        tts.close()
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    p.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow a --host beyond loopback without an API key (refused otherwise)",
    )
    p.add_argument("--no-access-log", action="store_true", help="no access log line per request")
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
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v: info logs (worker starts, uvicorn)")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.set_defaults(func=serve)
