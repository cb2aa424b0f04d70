"""``fanren-tts engines [list|add|remove]``: the command line's one hook into the catalog."""

from __future__ import annotations

import json
import sys
from typing import Any

from .._exceptions import ConfigError, FanrenTTSError
from ..config import Config, load_config
from . import BUILTIN
from .catalog import add, remove
from .listing import render, states

__all__ = ["add_parser"]


def _run(args: Any) -> int:
    from ..cli.support import as_invoked

    if args.action in (None, "list"):
        try:
            config: Config | None = load_config(args.config)
        except FanrenTTSError as exc:
            print(f"(config not read: {str(exc).splitlines()[0]})", file=sys.stderr)
            config = None
        found = states(config)
        print(json.dumps([s.to_json() for s in found], indent=2) if args.json else as_invoked(render(found)))
        return 0
    if not args.name:
        raise ConfigError(f"engines {args.action} takes an engine: one of {', '.join(BUILTIN)}")
    if args.action == "add":
        done = add(
            args.name,
            args.config,
            weights=args.weights,
            include=args.include,
            build=not args.no_build,
            speak=not args.no_try,
        )
        if args.json:
            print(json.dumps(done, indent=2))
        return 0 if done.get("ready") else 1
    done = remove(args.name, args.config)
    if args.json:
        print(json.dumps(done, indent=2))
    return 0


def add_parser(sub: Any) -> None:
    """``fanren-tts engines``: the CLI's one hook into the catalog."""
    from ..cli.support import add_config_option

    p = sub.add_parser(
        "engines",
        help="list the built-in engines; add or remove one (config block, env, weights) in one command",
        description="List every built-in engine (in the config? env built? pins, licence, languages, GPU, "
        "disk), or set one up (`add NAME [--weights PATH_OR_HUB_ID]`) or take it away (`remove NAME`).",
    )
    p.add_argument("action", nargs="?", choices=["list", "add", "remove"], default="list")
    p.add_argument("name", nargs="?", help=f"a built-in engine: {', '.join(BUILTIN)}")
    p.add_argument("--weights", metavar="PATH_OR_HUB_ID", help="a local file/folder, or owner/name[@revision]")
    p.add_argument("--include", action="append", metavar="PATTERN", help="hub files to fetch (repeatable)")
    p.add_argument("--no-build", action="store_true", help="do not build the env")
    p.add_argument("--no-try", action="store_true", help="do not speak a line after setting up")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_option(p, subcommand=True)
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v: info logs, -vv: debug logs")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.set_defaults(func=_run)
