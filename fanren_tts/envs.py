"""``python -m fanren_tts.envs``: build and inspect the engine envs.

    python -m fanren_tts.envs sync [NAME ...] [--recreate]   build from the committed locks
    python -m fanren_tts.envs status [NAME ...]               ready / missing / incomplete / drifted

NAME is an engine from config.yaml; without names, every engine with a managed env.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._envs import EnvStatus, env_status, sync_env
from ._exceptions import ConfigError, EnvError
from .cli.support import add_config_option, as_invoked, prog_name, run_cli, setup_logging
from .config import PROJECT_ROOT, load_config

__all__ = ["main", "managed_envs"]


def managed_envs(config_path: str | None, names: list[str]) -> dict[str, Path]:
    """engine name -> uv project, for the named engines (default: all) that have a managed env.

    Engines sharing one env appear once, under the first engine's name. A name that no
    engine in the config has, but that is an env under ``envs/`` (``vits-tf457``, or
    ``cosyvoice`` while its block is still commented out), is that env.
    """
    config = load_config(config_path)
    out: dict[str, Path] = {}
    shipped = [n for n in names if n not in config.engines and (PROJECT_ROOT / "envs" / n / "pyproject.toml").is_file()]
    for name in shipped:
        out[name] = PROJECT_ROOT / "envs" / name
    rest = [n for n in names if n not in shipped]
    for cfg in config.select(rest) if rest or not names else []:
        if cfg.env_dir is None:
            if names:
                raise ConfigError(f"engine {cfg.name!r} uses the interpreter {cfg.interpreter}; it has no env to build")
            continue
        if cfg.env_dir not in out.values():
            out[cfg.name] = cfg.env_dir
    return out


def _print(status: EnvStatus) -> None:
    line = f"{status.name:<12} {status.state:<10} {status.detail}"
    if not status.ready:
        line += f"\n{'':<12} fix: {as_invoked(status.fix)}"
    print(line)


def _sync(args: argparse.Namespace) -> int:
    failed = []
    for name, project in managed_envs(args.config, args.names).items():
        try:
            _print(sync_env(project, name, recreate=args.recreate, progress=True))
        except EnvError as exc:
            print(f"{name:<12} failed     {exc}", file=sys.stderr)
            failed.append(name)
    if failed:
        raise EnvError(f"could not build: {', '.join(failed)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    statuses = [env_status(project, name) for name, project in managed_envs(args.config, args.names).items()]
    for status in statuses:
        _print(status)
    return 0 if all(s.ready for s in statuses) else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog_name("fanren_tts.envs"), description="Build and inspect engine envs.")
    add_config_option(parser)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v: more logs, -vv: debug logs")
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser(
        "sync", help="build envs from their committed uv.lock", description="Build envs from their committed uv.lock."
    )
    sync.add_argument("names", nargs="*", help="engines (or env folders) to build; none: every managed env")
    add_config_option(sync, subcommand=True)
    sync.add_argument("--recreate", action="store_true", help="delete and rebuild from scratch")
    sync.set_defaults(func=_sync)
    status = sub.add_parser(
        "status",
        help="say whether each env is ready",
        description="Say whether each env is ready, missing, incomplete or drifted, and how to fix it.",
    )
    status.add_argument("names", nargs="*", help="engines to report on; none: every managed env")
    add_config_option(status, subcommand=True)
    status.set_defaults(func=_status)
    args = parser.parse_args(argv)
    setup_logging(args.verbose + 1)
    return run_cli(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
