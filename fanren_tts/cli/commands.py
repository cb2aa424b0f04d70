"""fanren_tts from the command line.

    python -m fanren_tts init [PATH] [--force]   (an editable, commented config.yaml to start from)
    python -m fanren_tts say TEXT -o out.wav [--engine NAME] [--subtitles [srt,vtt,ass,json]] [--duration S] [--progress]
    python -m fanren_tts batch script.json -o DIR [--text-key narration] [--ray [ADDRESS]]
    python -m fanren_tts text TEXT [--engine NAME] [--json]   (what each engine will read; starts nothing)
    python -m fanren_tts cache info|prune|clear
    python -m fanren_tts serve [--host 127.0.0.1] [--port 8000] [--api-key KEY]   (needs fanren-tts[server])
    python -m fanren_tts envs sync|status [NAME ...]      (= python -m fanren_tts.envs)
    python -m fanren_tts check-envs [--json] [--fix]     (= python -m fanren_tts.check-envs)

Installed from a wheel, the same commands are ``fanren-tts say ...`` and so on.
``-c/--config`` goes before or after the subcommand; ``--version`` prints the version.

Exit codes: 0 ok, 1 some batch lines failed (or another error), 2 bad config or
arguments (an unwritable output too), 3 env not ready, 4 worker failed, 5 the
engine raised. Errors are one message, never a traceback; ``--debug`` (or
FANREN_TTS_DEBUG=1) shows the traceback too.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from .._batch import BatchInterrupted, load_script
from .._cache import SegmentCache
from .._exceptions import ConfigError
from .._generator import TTSGenerator
from ..config import load_config
from .support import add_config_option, prog_name, run_cli, setup_logging


def _read_text(args: argparse.Namespace) -> str:
    if args.file is not None:
        try:
            return Path(args.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read text file {args.file}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"text file {args.file} is not UTF-8: {exc.reason} at byte {exc.start}") from None
    if args.text in (None, "-"):
        if sys.stdin is None or sys.stdin.isatty():
            raise ConfigError("no text: give TEXT, --file PATH, or pipe text to stdin")
        try:
            return sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"text on stdin is not UTF-8: {exc.reason} at byte {exc.start}") from None
    return str(args.text)


def _say(args: argparse.Namespace) -> int:
    text = _read_text(args)
    if args.output == "-":
        return _say_to_stdout(args, text)
    if args.format != "wav":
        raise ConfigError("--format pcm is for -o - (standard output); files are always WAV")
    with TTSGenerator(args.config, engine=args.engine, device=args.device) as gen:
        gen.on_segment = _progress(args.progress)
        try:
            result = gen.generate(
                text, args.output, cache=False if args.no_cache else None, target_duration=args.duration
            )
        finally:
            if gen.on_segment is not None and sys.stderr.isatty():
                print(file=sys.stderr)  # past the progress line
    print(
        f"wrote {result.path} ({result.duration:.2f}s at {result.sample_rate} Hz, engine {result.engine}, "
        f"{_count(len(result.segments), 'segment')}, {result.cached} cached, {result.timings['total']:.2f}s)"
    )
    if result.target_duration is not None and result.target_error is not None:
        print(f"target {result.target_duration:.2f}s, off by {result.target_error:+.3f}s")
    if args.subtitles:
        written = result.write_subtitles(_subtitle_formats(args.subtitles))
        print("wrote " + ", ".join(map(str, written)))
    return 0


def _progress(asked: bool) -> Callable[[int, int], None] | None:
    """``segment k/n`` on stderr as a long ``say`` goes: one line redrawn on a terminal, a
    line per segment elsewhere (``--progress`` into a log); nothing unless asked or a tty."""
    tty = sys.stderr.isatty()
    if not (asked or tty):
        return None

    def show(done: int, total: int) -> None:
        sys.stderr.write(f"\rsegment {done}/{total}" if tty else f"segment {done}/{total}\n")
        sys.stderr.flush()

    return show


def _text(args: argparse.Namespace) -> int:
    """Each segment, the engine chosen for it, and what that engine will read (lexicon and
    normalization applied); starts no engine."""
    import json

    text = _read_text(args)
    with TTSGenerator(args.config, engine=args.engine) as gen:
        segments = gen.spoken_segments(text)
        normalizes = {name: gen.config.normalizes(name) for name in {s["engine"] for s in segments}}
    if args.json:
        print(json.dumps(segments, ensure_ascii=False, indent=2))
        return 0
    for i, seg in enumerate(segments, 1):
        how = "normalized" if normalizes[seg["engine"]] else "not normalized: tts.normalize"
        print(f"{i}. engine {seg['engine']} ({seg['language']}, {how})")
        print(f"   text:   {seg['text']}")
        print(f"   spoken: {seg['spoken']}")
    return 0


def _say_to_stdout(args: argparse.Namespace, text: str) -> int:
    """Stream to standard output as the audio is made: a WAV with a streaming header
    (sizes unknown, as players expect from a pipe) or raw little-endian PCM."""
    from ..audio.encode import Encoder

    if args.subtitles or args.duration is not None:
        raise ConfigError("--subtitles and --duration need a file: give -o PATH.wav instead of -o -")
    out = sys.stdout.buffer
    with TTSGenerator(args.config, engine=args.engine, device=args.device) as gen:
        stream = gen.stream(text, cache=False if args.no_cache else None)
        try:
            encoder: Encoder | None = None
            for chunk in stream:
                encoder = encoder or Encoder(args.format, chunk.bit_depth)
                data = encoder.feed(chunk.data, chunk.sample_rate)
                if data:
                    out.write(data)
                    out.flush()
        except BrokenPipeError:  # the player went away: stop the engine, quietly
            stream.close()
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    return 0


def _count(n: int, noun: str) -> str:
    """``1 segment``, ``2 segments``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _subtitle_formats(text: str) -> list[str]:
    return [f.strip().lower() for f in text.split(",") if f.strip()]


def _batch(args: argparse.Namespace) -> int:
    lines = load_script(args.script, text_key=args.text_key)
    # with --ray the engines run on the cluster's nodes: this machine need not have them
    with TTSGenerator(args.config, engine=args.engine, device=args.device, lazy=args.ray is not None) as gen:
        try:
            batch = gen.generate_many(
                lines,
                args.output,
                cache=False if args.no_cache else None,
                subtitles=() if args.no_subtitles else _subtitle_formats(args.subtitles),
                progress=True,
                backend="local" if args.ray is None else "ray",
                ray_address=args.ray or None,
            )
        except BatchInterrupted as stopped:
            print(str(stopped), file=sys.stderr)
            return 130
    total = sum(r.duration for _, _, r in batch.results)
    cached = sum(r.cached for _, _, r in batch.results)
    print(
        f"wrote {len(batch.results)}/{len(lines)} lines ({total:.1f}s of audio, {cached} segments cached) to {args.output}"
    )
    print(f"manifest: {batch.manifest}")
    for index, line, exc in batch.failures:
        first = str(exc).splitlines()[0]
        print(
            f"FAILED line {index}{f' ({line.id})' if line.id else ''}: {type(exc).__name__}: {first}", file=sys.stderr
        )
    return 0 if batch.ok else 1


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([kmgt]?)b?$", re.I)
_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$", re.I)


def _parse_size(text: str) -> int:
    m = _SIZE.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"expected a size like 500M or 2G, got {text!r}")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " "))


def _parse_age(text: str) -> float:
    m = _AGE.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"expected an age like 30d, 12h or 90m, got {text!r}")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2).lower()]


def _cache(args: argparse.Namespace) -> int:
    cache = SegmentCache(load_config(args.config).cache_dir)
    if args.action == "prune":
        if args.max_size is None and args.older_than is None:
            raise ConfigError("cache prune needs --max-size and/or --older-than")
        removed, freed = cache.prune(max_bytes=args.max_size, older_than=args.older_than)
        print(f"removed {removed} entries ({freed / 2**20:.1f} MiB)")
    elif args.action == "clear":
        removed, freed = cache.clear()
        print(f"removed {removed} entries ({freed / 2**20:.1f} MiB)")
    entries, size = cache.stats()
    print(f"{cache.directory}: {entries} entries, {size / 2**20:.1f} MiB")
    return 0


def _generator_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-e", "--engine", help="engine name from config (default: routes, then tts.engine)")
    parser.add_argument("--device", help="override the device of every engine")
    add_config_option(parser, subcommand=True)
    parser.add_argument("--no-cache", action="store_true", help="synthesize every segment again")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v: info logs, -vv: debug logs")
    parser.add_argument("--debug", action="store_true", help="show tracebacks (host and engine) on errors")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog=prog_name(), description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_config_option(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in _PROGRAMS.items():  # listed in --help; main() hands them their arguments
        sub.add_parser(name, help=f"see {prog_name(module)} --help", add_help=False)
    from .init import add_parser as add_init

    add_init(sub)
    from ..engines.command import add_parser as add_engines

    add_engines(sub)
    say = sub.add_parser("say", help="speak a text into a WAV file")
    say.add_argument("text", nargs="?", help="the text; '-' or nothing reads stdin")
    say.add_argument("-o", "--output", required=True, help="output .wav path, or - to stream to standard output")
    say.add_argument(
        "--format",
        choices=["wav", "pcm"],
        default="wav",
        help="with -o -: wav (streaming header) or pcm (raw little-endian samples)",
    )
    say.add_argument("-f", "--file", help="read the text from this UTF-8 file")
    say.add_argument(
        "--subtitles",
        nargs="?",
        const="srt,json",
        metavar="FORMATS",
        help="also write subtitles beside the WAV: srt,vtt,ass,json (default srt,json)",
    )
    say.add_argument("--duration", type=float, metavar="SECONDS", help="fit the line to this many seconds")
    say.add_argument(
        "--progress", action="store_true", help="show 'segment k/n' on stderr (on by default when it is a terminal)"
    )
    _generator_options(say)
    say.set_defaults(func=_say)

    text = sub.add_parser("text", help="show each segment, its engine, and what the engine will read")
    text.add_argument("text", nargs="?", help="the text; '-' or nothing reads stdin")
    text.add_argument("-f", "--file", help="read the text from this UTF-8 file")
    text.add_argument("--json", action="store_true", help="the segments as JSON")
    text.add_argument("-e", "--engine", help="engine name from config (default: routes, then tts.engine)")
    add_config_option(text, subcommand=True)
    text.add_argument("-v", "--verbose", action="count", default=0, help="-v: info logs, -vv: debug logs")
    text.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    text.set_defaults(func=_text)

    batch = sub.add_parser("batch", help="narrate a JSON script into a folder, with subtitles and a manifest")
    batch.add_argument("script", help='JSON: a list of lines, or {"lines": [...]}')
    batch.add_argument("-o", "--output", required=True, help="output folder")
    batch.add_argument(
        "--text-key",
        metavar="KEY",
        help='read a video script whose scenes carry their text under KEY ({"scenes": [{"narration": ...}]})',
    )
    batch.add_argument(
        "--subtitles", default="srt,json", metavar="FORMATS", help="subtitle files per line: srt,vtt,ass,json"
    )
    batch.add_argument("--no-subtitles", action="store_true", help="write no subtitle files")
    batch.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="narrate across a Ray cluster (ADDRESS, else $RAY_ADDRESS or a new local one); needs fanren-tts[ray]",
    )
    _generator_options(batch)
    batch.set_defaults(func=_batch)

    cache = sub.add_parser("cache", help="inspect or prune the segment cache")
    cache.add_argument("action", choices=["info", "prune", "clear"])
    cache.add_argument("--max-size", type=_parse_size, help="prune least recently used entries down to this size")
    cache.add_argument("--older-than", type=_parse_age, help="prune entries unused for this long (30d, 12h)")
    add_config_option(cache, subcommand=True)
    cache.add_argument("-v", "--verbose", action="count", default=0, help="-v: info logs, -vv: debug logs")
    cache.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    cache.set_defaults(func=_cache)

    from ..server.serve import add_parser as add_serve

    add_serve(sub)
    for action in sub._choices_actions:  # every subcommand's --help says what it does
        choice = sub.choices[action.dest]
        if choice.description is None and action.help:
            choice.description = action.help[0].upper() + action.help[1:] + "."
    return parser


#: Subcommands that are whole programs of their own: ``fanren-tts envs ...`` runs ``fanren_tts.envs``.
_PROGRAMS = {"envs": "fanren_tts.envs", "check-envs": "fanren_tts.check-envs"}


def _leading_config(argv: list[str]) -> tuple[list[str], list[str]]:
    """``-c PATH`` / ``--config PATH`` / ``--config=PATH`` given before the subcommand, and
    the rest: a sub-program (``envs``) gets them passed on as its own ``-c``."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-c", "--config") and i + 1 < len(argv):
            i += 2
        elif arg.startswith("--config=") or (arg.startswith("-c") and len(arg) > 2 and not arg.startswith("--")):
            i += 1
        else:
            break
    return argv[:i], argv[i:]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config, rest = _leading_config(argv)
    if rest and rest[0] in _PROGRAMS:
        import importlib

        program: int = importlib.import_module(_PROGRAMS[rest[0]]).main([*config, *rest[1:]])
        return program
    parser = build_parser()
    if not rest:  # no command: the list of commands, not just "COMMAND is required"
        sys.stderr.write(parser.format_help())
        return 2
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return run_cli(lambda: args.func(args), debug=args.debug)
