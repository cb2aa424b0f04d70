"""fanren_worker: the worker side of fanren_tts, and the wire protocol both sides share.

This file (with ``fanren_watchdog`` beside it, stdlib only, for killing child
processes) is all an engine env needs from fanren_tts. It imports only the
standard library and msgpack, so it runs in any interpreter, whatever that
interpreter's transformers, torch or numpy. The host imports the same file, so the
two ends can never disagree about framing.

Frame: a 4-byte big-endian unsigned length, then that many bytes of msgpack (a map
with a ``kind`` key). Audio travels as raw PCM bytes, never base64 or pickle: up to
64 KiB as the msgpack ext type ``EXT_AUDIO`` (head, then PCM); larger as
``EXT_AUDIO_REF`` (head, index, length) whose PCM is a bin in the list under
``PCM_KEY``, the frame's last entry. So each side touches the PCM once: the sender
writes it from the caller's own bytes (``os.writev``), the receiver gets it as the
one copy msgpack makes of a bin, with no ext payload to slice.

Messages (h = host, w = worker)::

    kind      dir   fields                                  meaning
    --------  ----  --------------------------------------  ------------------------------------------
    hello     w->h  protocol engine pid python packages     first frame, sent before any engine import
                    device platform
    init      h->w  options limits                          load the engine with these options; limits:
                                                            asked max_batch, batch_window_ms, concurrency
    progress  w->h  id message                              still working on call id (None: loading);
                                                            re-arms that call's deadline on the host
    ready     w->h  info load_s                             engine loaded; info = Engine.describe() plus
                                                            capacity max_batch batch_window_ms concurrency
    call      h->w  id method kwargs caller window          run a public method of the engine; id: an
                                                            integer unique among the calls in flight
    chunk     w->h  id value                                one piece of streaming call id's result
    cancel    h->w  id                                      stop streaming call id after this piece
    more      h->w  id n                                    the host took n pieces of streaming call id
    result    w->h  id value                                call id's return value; for a streaming
                                                            call the end: value = {chunks, cancelled}
    error     w->h  id stage type module message traceback  call id failed (stage: load, call, protocol)
    ping      h->w  id                                      liveness check
    pong      w->h  id                                      answer to ping
    shutdown  h->w  id                                      close the engine and exit
    bye       w->h  id                                      sent just before a clean exit

Protocol 4: the host may keep up to the worker's ``capacity`` calls in flight
(``ready`` says it; an engine that declares nothing has capacity 1 and runs each
call on the worker's main thread, as before), and every ``chunk``, ``result``,
``error`` and ``progress`` frame names its call, so replies may interleave. A call
whose id is not an integer, is already in flight, or is over capacity gets an
``error`` frame of stage ``protocol`` and the worker carries on. How the capacity is
used (runner threads, batches) is ``fanren_calls``.

A call whose method returns an iterator (a generator method such as
``Engine.stream``) is a streaming call: each item goes out as a ``chunk`` frame as
soon as it is made (each re-arms the host's deadline), then one ``result`` ends it.
At most ``window`` pieces go ahead of the host's ``more`` frames, so a host that
reads slowly holds a bounded number; after every piece the worker looks for a
``cancel``, so a host that stops listening gets its worker back after that piece.

Start a worker with ``python -m fanren_worker WRAPPER --engine NAME``; run a wrapper
on its own with ``python WRAPPER --text ... --out out.wav`` (see ``main``).

The runtime is split into modules of one concept each, siblings of this one:
``fanren_audio`` (the Audio value, WAV files), ``fanren_wire`` (framing),
``fanren_engine`` (the Engine base and wrapper helpers), ``fanren_channel`` (the
worker's end of the pipes), ``fanren_serve`` (the loop and its dispatch table).
This module re-exports what wrappers and the host use, under the names they always had.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from typing import Any, NoReturn

try:  # in the host, a module of fanren_tts._runtime
    from . import fanren_engine
    from .fanren_audio import Audio, atomic_write, read_wav, write_wav
    from .fanren_channel import Channel as _Channel
    from .fanren_engine import (
        KEY_PACKAGES,
        Engine,
        concurrency,
        half_dtype,
        join_pieces,
        load_engine_class,
        local_path,
        package_versions,
        resolve_device,
        seed_everything,
        thread_limit,
    )
    from .fanren_serve import HANDLERS, serve
    from .fanren_wire import (
        EXT_AUDIO,
        EXT_AUDIO_REF,
        HEADER,
        MAX_FRAME,
        MESSAGES,
        PCM_KEY,
        PROTOCOL_VERSION,
        BodyBuffer,
        ProtocolError,
        decode_body,
        decode_length,
        encode_frame,
        frame_parts,
        pack,
        safe_text,
        unpack,
        write_parts,
    )
    from .fanren_wire import error_frame as _error_frame
except ImportError:  # in a worker, whose sys.path holds the runtime folder itself
    import fanren_engine  # type: ignore[no-redef]
    from fanren_audio import Audio, atomic_write, read_wav, write_wav  # type: ignore[no-redef]
    from fanren_channel import Channel as _Channel  # type: ignore[no-redef]
    from fanren_engine import (  # type: ignore[no-redef]
        KEY_PACKAGES,
        Engine,
        concurrency,
        half_dtype,
        join_pieces,
        load_engine_class,
        local_path,
        package_versions,
        resolve_device,
        seed_everything,
        thread_limit,
    )
    from fanren_serve import HANDLERS, serve  # type: ignore[no-redef]
    from fanren_wire import (  # type: ignore[no-redef]
        EXT_AUDIO,
        EXT_AUDIO_REF,
        HEADER,
        MAX_FRAME,
        MESSAGES,
        PCM_KEY,
        PROTOCOL_VERSION,
        BodyBuffer,
        ProtocolError,
        decode_body,
        decode_length,
        encode_frame,
        frame_parts,
        pack,
        safe_text,
        unpack,
        write_parts,
    )
    from fanren_wire import error_frame as _error_frame  # type: ignore[no-redef]

__all__ = [
    "EXT_AUDIO",
    "EXT_AUDIO_REF",
    "HANDLERS",
    "HEADER",
    "KEY_PACKAGES",
    "MAX_FRAME",
    "MESSAGES",
    "PCM_KEY",
    "PROTOCOL_VERSION",
    "Audio",
    "BodyBuffer",
    "Engine",
    "ProtocolError",
    "atomic_write",
    "concurrency",
    "decode_body",
    "decode_length",
    "encode_frame",
    "fanren_engine",
    "frame_parts",
    "half_dtype",
    "join_pieces",
    "load_engine_class",
    "local_path",
    "main",
    "pack",
    "package_versions",
    "read_wav",
    "resolve_device",
    "safe_text",
    "seed_everything",
    "serve",
    "thread_limit",
    "unpack",
    "write_parts",
    "write_wav",
]

_KEEP = (_Channel, _error_frame)  # private names older callers and tests reach through this module


def _parse_option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    for convert in (int, float):
        try:
            return key, convert(raw)
        except ValueError:
            pass
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    return key, raw


def main(engine_cls: type[Engine] | None = None, argv: list[str] | None = None) -> int:
    """One-shot synthesis with this interpreter: ``python WRAPPER --text ... --out ...``.

    Options for the engine's constructor come from ``--option KEY=VALUE``; options
    for one call from ``--set KEY=VALUE``.
    """
    parser = argparse.ArgumentParser(description="Synthesize one text with a fanren_tts engine wrapper.")
    parser.add_argument("--text", help="text to speak ('-' reads stdin)")
    parser.add_argument("--out", help="output WAV path")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--option", action="append", type=_parse_option, default=[], metavar="KEY=VALUE")
    parser.add_argument("--set", action="append", type=_parse_option, default=[], metavar="KEY=VALUE")
    parser.add_argument("--describe", action="store_true", help="print voices, languages and modes, then exit")
    args = parser.parse_args(argv)
    if engine_cls is None:
        raise SystemExit("fanren_worker.main() needs the Engine subclass")
    engine = engine_cls(dict(args.option), resolve_device(args.device))
    if args.describe:
        import json

        print(json.dumps(engine.describe(), indent=2, ensure_ascii=False, default=str))
        return 0
    if not args.text or not args.out:
        parser.error("--text and --out are required (or use --describe)")
    text = sys.stdin.read() if args.text == "-" else args.text
    reply = engine.synthesize(text, **dict(args.set))
    audio = reply["audio"] if isinstance(reply, dict) else reply
    write_wav(args.out, audio)
    sys.stderr.write(f"wrote {args.out}: {audio!r}\n")
    return 0


def _exit_now(code: int) -> NoReturn:
    """End the worker process once ``serve`` is done, without tearing the interpreter down.

    By then the engine's ``close()`` has run, its child processes are gone and the
    host has its ``bye``. What is left is freeing every object and module one by
    one: 120-250 ms with an ONNX model loaded (more with torch), during which the
    host waits. ``atexit`` handlers (logging, tempfile and ``weakref.finalize``
    clean-ups) still run and the standard streams are flushed; objects' own
    ``__del__`` at teardown does not, which CPython never promised anyway.
    """
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(code)


def _worker_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fanren_worker")
    parser.add_argument("wrapper")
    parser.add_argument("--engine", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--host-pid", type=int, default=None)
    args = parser.parse_args(argv)
    return serve(args.wrapper, args.engine, args.device, args.host_pid)


if __name__ == "__main__":
    # Run from the importable module, not __main__, so wrappers that import
    # fanren_worker share its Engine class and progress reporter.
    import fanren_worker

    fanren_worker._exit_now(fanren_worker._worker_main())
