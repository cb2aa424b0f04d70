"""The multiprocessing end of scripts/bench.py: echo whatever arrives (stdlib only)."""

from typing import Any


def serve(conn: Any) -> None:
    while True:
        item = conn.recv()
        if item is None:
            return
        conn.send(item)
