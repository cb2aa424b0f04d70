"""The multiprocessing end of scripts/bench.py: echo whatever arrives (stdlib only)."""


def serve(conn) -> None:  # type: ignore[no-untyped-def]
    while True:
        item = conn.recv()
        if item is None:
            return
        conn.send(item)
