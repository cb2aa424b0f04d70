"""What the command-line entry points share: logging setup and error -> exit code."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable

from ._exceptions import ConfigError, EnvError, FanrenTTSError, RemoteError, WorkerError

__all__ = ["EXIT_CODES", "debug_requested", "run_cli", "setup_logging"]

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


def debug_requested(flag: bool = False) -> bool:
    """``--debug``, or FANREN_TTS_DEBUG set to anything but 0 (for every command line)."""
    return flag or os.environ.get("FANREN_TTS_DEBUG", "") not in ("", "0")


def run_cli(body: Callable[[], int], *, debug: bool = False) -> int:
    """Run ``body``; any error becomes a clear message on stderr and its exit code.

    No traceback is shown unless ``debug`` (``--debug``): a fanren_tts error's
    message says what is wrong and how to fix it; anything else is a bug, named by
    its type and message, with a pointer to ``--debug``.
    """
    debug = debug_requested(debug)
    try:
        return body()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except FanrenTTSError as exc:
        if debug:
            traceback.print_exc(file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, RemoteError):
            if debug:
                print(exc.remote_traceback.rstrip(), file=sys.stderr)
            else:
                print("(run again with --debug to see the engine's traceback)", file=sys.stderr)
        return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))
    except OSError as exc:  # the machine said no (disk full, permissions, a vanished folder): not a bug
        if debug:
            traceback.print_exc(file=sys.stderr)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if debug:
            traceback.print_exc(file=sys.stderr)
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        if not debug:
            print("(a bug: run again with --debug for the traceback, and report it)", file=sys.stderr)
        return 1
