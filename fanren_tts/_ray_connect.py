"""Joining a Ray cluster, in bounded time, with an error that says how to fix it.

Why not a bare ``ray.init(address=...)``: given a ``host:port`` where nothing listens,
Ray's driver retries its connection to the GCS for ever (minutes later it is still
"connecting"), and a ``ray://`` address without Ray Client installed fails with a bare
``ValueError``. So, before Ray is asked:

- a ``ray://`` address needs Ray Client (``grpcio``, what ``ray[client]`` adds; the
  ``[ray]`` extra pulls it): without it, ``RayConnectError`` says which package to install;
- a ``host:port`` address (``ray://host:port`` too, and ``RAY_ADDRESS`` when no address
  is given) is probed with one TCP connect of at most ``PROBE_TIMEOUT_S`` seconds: nothing
  listening, a name that does not resolve or a host that does not answer is a
  ``RayConnectError`` at once;
- then ``ray.init`` runs on a helper thread and is waited for at most ``INIT_TIMEOUT_S``
  seconds: something that listens but is not a Ray head (a wrong port) does not hang the
  driver. Ray cannot cancel a connect in progress, so that thread is left behind (a daemon;
  the process can still exit), and the error says so.

``"auto"`` and ``"local"`` are not probed (no host:port), but their ``ray.init`` is waited
for in bounded time too. None without ``RAY_ADDRESS`` starts a new local cluster: that is
``ray.init`` on the calling thread, as Ray wants (it sets signal handlers there).
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from ._exceptions import RayConnectError

__all__ = ["INIT_TIMEOUT_S", "PROBE_TIMEOUT_S", "connect", "split_address"]

#: Seconds one TCP connect to the address may take before it counts as unreachable.
PROBE_TIMEOUT_S = 5.0
#: Seconds ``ray.init`` may take to join a cluster whose address answered the probe.
INIT_TIMEOUT_S = 60.0

_FIX = (
    "start the cluster there ('ray start --head' on the head node), or give the head's address: "
    "host:6379 (its GCS port) from a node of the cluster, or ray://host:10001 (Ray Client) from outside it"
)


def split_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``host:port``, ``ray://host:port`` or ``[v6]:port``; None for other forms."""
    rest = address.strip()
    if rest.startswith("ray://"):
        rest = rest[len("ray://") :]
    rest = rest.split("/", 1)[0]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def _probe(address: str) -> None:
    where = split_address(address)
    if where is None:
        return
    host, port = where
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise RayConnectError(
            f"cannot reach the Ray cluster at {address!r} ({host}:{port}: {why} within {PROBE_TIMEOUT_S:g}s): {_FIX}",
            address=address,
            timeout=PROBE_TIMEOUT_S,
        ) from None


def _client_missing(address: str) -> RayConnectError:
    return RayConnectError(
        f"ray_address {address!r} is a Ray Client address, and Ray Client is not installed: "
        "pip install 'fanren-tts[ray]' (it pulls ray[client]), or pip install 'ray[client]'; "
        "or, on a node of the cluster, give the head's GCS address (host:6379) instead",
        address=address,
    )


def _need_client(address: str) -> None:
    """``ray://`` goes through Ray Client, which needs grpcio (what ``ray[client]`` adds)."""
    if not address.strip().startswith("ray://"):
        return
    try:
        import grpc  # noqa: F401  (Ray checks the same import)
    except ImportError:
        raise _client_missing(address) from None


def connect(ray: Any, address: str | None, **init: Any) -> None:
    """``ray.init(address=address, **init)``, checked first and waited for in bounded time."""
    given = address if address is not None else os.environ.get("RAY_ADDRESS") or None
    if given is None:  # a new local cluster: Ray starts it, on this thread (its signal handlers need it)
        ray.init(address=None, **init)
        return
    _need_client(given)
    _probe(given)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            ray.init(address=address, **init)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, name="fanren-ray-init", daemon=True)
    thread.start()
    thread.join(INIT_TIMEOUT_S)
    if not outcome:
        raise RayConnectError(
            f"the Ray cluster at {given!r} did not answer within {INIT_TIMEOUT_S:g}s "
            f"(something listens there, but not a Ray head, or it is overloaded): {_FIX}. "
            "Ray's connect thread is still waiting; start a new process to try again",
            address=given,
            timeout=INIT_TIMEOUT_S,
        )
    error = outcome[0]
    if error is None:
        return
    if isinstance(error, ValueError) and "ray[client]" in str(error):  # Ray found it missing after all
        raise _client_missing(given) from error
    if isinstance(error, ConnectionError):
        raise RayConnectError(f"cannot join the Ray cluster at {given!r}: {error}: {_FIX}", address=given) from error
    raise error
