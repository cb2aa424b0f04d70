"""Shared by the stand-ins: append one JSON line per upstream call to $STANDIN_LOG."""

import json
import os


def log(event: str, **fields: object) -> None:
    path = os.environ.get("STANDIN_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, **fields}, ensure_ascii=False, default=str) + "\n")
