"""What the command-line entry points share: logging setup and error -> exit code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from ._exceptions import ConfigError, EnvError, FanrenTTSError, RemoteError, WorkerError

__all__ = ["EXIT_CODES", "run_cli", "setup_logging"]

#: Exit status per error class; the first match in this order wins.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, 2),
    (EnvError, 3),
    (WorkerError, 4),
    (RemoteError, 5),
    (FanrenTTSError, 1),
)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def run_cli(body: Callable[[], int]) -> int:
    """Run ``body``; a fanren_tts error becomes one clear message on stderr and its exit code."""
    try:
        return body()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except FanrenTTSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, RemoteError):
            print(exc.remote_traceback.rstrip(), file=sys.stderr)
        return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))
