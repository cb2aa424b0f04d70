"""``fanren-tts serve --ray [ADDRESS]``: the speech server on a Ray cluster, through Ray Serve.

The cluster is joined as a batch does (``_ray_connect.connect``: an address where no Ray
head answers is a ``RayConnectError`` within seconds, not Ray's own minutes of retrying);
no address means ``RAY_ADDRESS``, else a new local cluster. Serve's HTTP proxy listens on
``--host``/``--port`` of the head node only (``HeadOnly``: one address, as the local server
has; a RayService puts a proxy on every node instead). SIGTERM or Ctrl-C deletes the
application, whose replicas stop their workers, and leaves the cluster; a cluster this
command started, it shuts down.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any

from .._exceptions import ConfigError
from .._ray import require_ray
from .._ray_connect import connect

__all__ = ["serve_ray"]


def _require_serve() -> Any:
    try:
        from ray import serve
        from ray.serve.config import HTTPOptions  # noqa: F401  (fails without serve's own deps)
    except ImportError as exc:
        raise ConfigError(
            f"serve --ray needs Ray Serve ({exc.name} is missing): pip install 'fanren-tts[ray,server]'"
        ) from None
    return serve


def serve_ray(args: argparse.Namespace) -> int:
    """Deploy ``build(...)`` on the cluster at ``args.ray`` and keep it until a signal."""
    ray = require_ray()
    serve = _require_serve()
    from .app import APP_NAME, LOGGING, build

    address = args.ray or None
    started = not ray.is_initialized() and address is None and not os.environ.get("RAY_ADDRESS")
    connect(ray, address, include_dashboard=False, log_to_driver=bool(args.verbose))
    stop = threading.Event()
    deploying = [True]

    def on_signal(*_: Any) -> None:
        stop.set()
        if deploying[0]:  # still in serve.run: leave it now (the finally below cleans up)
            raise KeyboardInterrupt

    # ours before Serve's wait, so a SIGTERM during the deploy is not Ray's (which aborts the process)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        serve.start(
            proxy_location="HeadOnly",
            http_options={"host": args.host, "port": args.port},
            logging_config=dict(LOGGING),  # the proxy's access log too: the app writes its own
        )
        app = build(
            {
                "config": getattr(args, "config", None),
                "api_key": args.api_key,
                "engines": args.warm or None,  # --warm NAMES: serve only these engines
            }
        )
        serve.run(app, name=APP_NAME, route_prefix="/")  # returns once every replica is up
        deploying[0] = False
        print(f"fanren_tts serving on http://{args.host}:{args.port} through Ray Serve", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        deploying[0] = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        try:
            serve.delete(APP_NAME)
        except Exception:
            pass
        if started:
            serve.shutdown()
            ray.shutdown()
        else:
            ray.shutdown()  # leaves the cluster; its other work goes on
    return 0
