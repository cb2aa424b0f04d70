"""``python -m fanren_tts.check-envs``: is every engine env ready, and if not, why.

    python -m fanren_tts.check-envs [--config PATH] [--engine NAME ...] [--json] [--fix]

Exit status 0 only when every checked engine is ready; 1 when one is not; 2 for a
bad config. The JSON schema is documented in fanren_tts/_check.py.
"""

from __future__ import annotations

import argparse
import json
import sys

from fanren_tts._check import SCHEMA, check_all, render_table
from fanren_tts.cli.support import CONFIG_HELP, as_invoked, prog_name, run_cli, setup_logging
from fanren_tts.config import load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog_name("fanren_tts.check-envs"), description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", help=CONFIG_HELP)
    parser.add_argument("-e", "--engine", action="append", default=[], help="check only this engine (repeatable)")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.add_argument("--fix", action="store_true", help="build envs that are missing, half-built or drifted first")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v: more logs, -vv: debug logs")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)

    def body() -> int:
        config = load_config(args.config)
        reports = check_all(config, args.engine or None, fix=args.fix)
        ok = all(r.ready for r in reports)
        if args.json:
            doc = {
                "schema": SCHEMA,
                "config": str(config.source.resolve() if config.source else ""),
                "ok": ok,
                "engines": [r.to_json() for r in reports],
            }
            print(json.dumps(doc, indent=2, ensure_ascii=False))
        else:
            print(as_invoked(render_table(reports)))
        return 0 if ok else 1

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
