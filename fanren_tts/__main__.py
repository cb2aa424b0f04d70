"""``python -m fanren_tts say TEXT -o out.wav``: speak one text from the command line.

Exit codes: 0 ok, 2 bad config or arguments, 3 env not ready, 4 worker failed,
5 the engine raised, 1 any other fanren_tts error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._cli import run_cli, setup_logging
from ._exceptions import ConfigError
from ._generator import TTSGenerator


def _read_text(args: argparse.Namespace) -> str:
    if args.file is not None:
        try:
            return Path(args.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read text file {args.file}: {exc.strerror}") from None
    if args.text in (None, "-"):
        if sys.stdin is None or sys.stdin.isatty():
            raise ConfigError("no text: give TEXT, --file PATH, or pipe text to stdin")
        return sys.stdin.read()
    return args.text


def _say(args: argparse.Namespace) -> int:
    text = _read_text(args)
    with TTSGenerator(args.config, engine=args.engine, device=args.device) as gen:
        result = gen.generate(text, args.output)
    print(
        f"wrote {result.path} ({result.duration:.2f}s at {result.sample_rate} Hz, engine {result.engine}, "
        f"{result.timings['total']:.2f}s)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fanren_tts", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    say = sub.add_parser("say", help="speak a text into a WAV file")
    say.add_argument("text", nargs="?", help="the text; '-' or nothing reads stdin")
    say.add_argument("-o", "--output", required=True, help="output .wav path")
    say.add_argument("-f", "--file", help="read the text from this UTF-8 file")
    say.add_argument("-e", "--engine", help="engine name from config (default: routes, then tts.engine)")
    say.add_argument("--device", help="override the device of every engine")
    say.add_argument("-c", "--config", help="config file (default: $FANREN_TTS_CONFIG or ./config.yaml)")
    say.add_argument("-v", "--verbose", action="count", default=0)
    say.set_defaults(func=_say)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run_cli(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
