"""What the command-line entry points share: logging setup, error -> exit code, the
program's name as the user typed it, and ``-c/--config`` accepted on either side of a
subcommand.

Run as the installed ``fanren-tts`` script, usage lines and the fix commands in messages
say ``fanren-tts ...``; run as ``python -m fanren_tts``, they say that. The messages are
made deep in the library, which cannot know how it was started, so they are written as
``python -m fanren_tts...`` commands and rewritten here, where they are printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from .._exceptions import ConfigError, EnvError, FanrenTTSError, RemoteError, WorkerError

__all__ = [
    "CONFIG_HELP",
    "EXIT_CODES",
    "add_config_option",
    "as_invoked",
    "debug_requested",
    "invoked_as_script",
    "prog_name",
    "run_cli",
    "setup_logging",
]

CONFIG_HELP = "config file (default: $FANREN_TTS_CONFIG, else ./config.yaml; fanren-tts init writes one)"
SCRIPT = "fanren-tts"
#: A command line of ours inside a message: an optional interpreter, then the module.
_MODULE_COMMAND = re.compile(r"(?:(?:'[^']*'|[^\s'`]*python[^\s'`]*) )?-m fanren_tts(?:\.(envs|check-envs)\b)?")


def invoked_as_script(argv0: str | None = None) -> bool:
    """Whether this process is the installed ``fanren-tts`` script (``fanren-tts.exe`` too)."""
    name = Path(sys.argv[0] if argv0 is None else argv0).name
    return name == SCRIPT or Path(name).stem == SCRIPT


def prog_name(module: str = "fanren_tts") -> str:
    """The name for usage lines: ``fanren-tts [SUB]`` as the script, else ``python -m MODULE``.

    ``module`` is ``fanren_tts`` or a sub-program (``fanren_tts.envs``), which the script
    runs as ``fanren-tts envs``."""
    if invoked_as_script():
        return " ".join([SCRIPT, *module.split(".")[1:]])
    return f"python -m {module}"


def as_invoked(text: str) -> str:
    """``text`` with every ``python -m fanren_tts[.envs]`` command in it said the way this
    process was started (unchanged unless it is the ``fanren-tts`` script)."""
    if not invoked_as_script():
        return text
    return _MODULE_COMMAND.sub(lambda m: SCRIPT + (f" {m.group(1)}" if m.group(1) else ""), text)


def add_config_option(parser: argparse.ArgumentParser, *, subcommand: bool = False) -> None:
    """``-c/--config`` on ``parser``. On a subcommand's parser it has no default of its own,
    so a ``-c`` given before the subcommand (on the main parser) is not reset by it."""
    if subcommand:
        parser.add_argument("-c", "--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    else:
        parser.add_argument("-c", "--config", default=None, help=CONFIG_HELP)


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
        print(f"error: {as_invoked(str(exc))}", file=sys.stderr)
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
