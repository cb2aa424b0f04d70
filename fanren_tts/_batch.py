"""Narrating a whole video script: many lines, one manifest, every failure reported.

A script is JSON: ``{"lines": [LINE, ...]}`` or a bare list, where LINE is a
string or ``{"text": ..., "id": ..., "engine": ..., "options": {...}, "output": ...}``.
A video script whose scenes carry the text under another key loads with
``text_key`` (``batch --text-key narration``): ``{"scenes": [...]}`` or a list; each
scene's ``id``, ``engine``, ``options`` and ``output`` are used, its other keys (shot,
visuals, its own duration) are not, and scenes without text are skipped.
Lines for different engines run at once; a failed line never stops the others.

Ctrl-C (KeyboardInterrupt) stops a batch within a second or two: no new line starts,
the lines in progress are stopped (their workers killed, so no reply is waited for),
the finished lines keep their files, and ``manifest.json`` records which finished and
which did not (``"interrupted": true``); then ``BatchInterrupted`` (a KeyboardInterrupt
carrying the result) is raised. A second Ctrl-C while that happens still leaves the
manifest: it is written first.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._exceptions import ConfigError, FanrenTTSError, RemoteError
from ._result import GenerateResult
from ._subtitles import FORMATS, write_json
from .config import Config

__all__ = [
    "MANIFEST_SCHEMA",
    "BatchInterrupted",
    "BatchResult",
    "Line",
    "Narrator",
    "batch_generate",
    "generate_many",
    "load_script",
    "prepare_script",
    "write_manifest",
]

log = logging.getLogger("fanren_tts.batch")

MANIFEST_SCHEMA = "fanren_tts.batch/1"


class Line(BaseModel):
    """One line of a script."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    id: str | None = None
    engine: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    output: str | None = Field(None, description="WAV name inside the output folder")
    duration: float | None = Field(None, gt=0, description="seconds the line must last (its shot's slot)")


@dataclasses.dataclass
class BatchResult:
    results: list[tuple[int, Line, GenerateResult]]
    failures: list[tuple[int, Line, BaseException]]
    manifest: Path

    @property
    def ok(self) -> bool:
        return not self.failures


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a batch; ``result`` holds what finished, ``result.manifest`` says so too."""

    def __init__(self, result: BatchResult) -> None:
        self.result = result
        done = len(result.results)
        total = done + len(result.failures)
        super().__init__(f"interrupted: {done} of {total} lines finished; manifest: {result.manifest}")


class Interrupted(FanrenTTSError):
    """A line not made (or not finished) because the batch was interrupted."""


class Narrator(Protocol):
    """What the batch runner needs of a generator (``TTSGenerator`` is one)."""

    config: Config

    def pick_engine(self, text: str) -> str: ...

    def generate(
        self,
        text: str,
        output_path: str | os.PathLike[str],
        engine: str | None = None,
        *,
        cache: bool | None = None,
        target_duration: float | None = None,
        **options: Any,
    ) -> GenerateResult: ...


def _coerce(items: Iterable[Any], source: str) -> list[Line]:
    lines = []
    for i, item in enumerate(items):
        try:
            lines.append(
                item
                if isinstance(item, Line)
                else Line.model_validate({"text": item} if isinstance(item, str) else item)
            )
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{source}: line {i + 1}: {details}") from None
    if not lines:
        raise ConfigError(f"{source}: the script has no lines")
    return lines


def _scene(item: Any, text_key: str) -> Any:
    """A video script's scene as a line: its text from ``text_key``, the keys a line has."""
    if not isinstance(item, dict):
        return item
    text = item.get(text_key)
    line = {k: item[k] for k in ("engine", "options", "output") if k in item}
    if item.get("id") is not None:
        line["id"] = str(item["id"])
    return {"text": text, **line}


def load_script(path: str | Path, text_key: str | None = None) -> list[Line]:
    """A script file's lines; ``text_key``: the key that holds each scene's text (see module docstring)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"script not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    key = "lines"
    if isinstance(doc, dict) and text_key is not None and "lines" not in doc:
        key = next((k for k in ("scenes", "shots", "segments") if isinstance(doc.get(k), list)), "scenes")
    items = doc.get(key) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        where = f'{{"{key}": [...]}}'
        raise ConfigError(f"{path}: expected a list of lines or {where}")
    if text_key is not None:
        scenes = [_scene(item, text_key) for item in items]
        kept = [s for s in scenes if not isinstance(s, dict) or (isinstance(s.get("text"), str) and s["text"].strip())]
        if not kept:
            raise ConfigError(f"{path}: no scene has text under {text_key!r} (keys of the first: {_keys(items)})")
        if len(kept) < len(scenes):
            log.info("%s: %d scenes without %r text skipped", path, len(scenes) - len(kept), text_key)
        items = kept
    return _coerce(items, str(path))


def _keys(items: list[Any]) -> str:
    first = items[0] if items else None
    return ", ".join(map(str, first)) if isinstance(first, dict) else "none"


def _formats(subtitles: bool | Sequence[str]) -> tuple[str, ...]:
    if subtitles is True:
        return ("srt", "json")
    if subtitles is False:
        return ()
    chosen = tuple(dict.fromkeys(subtitles))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown subtitle format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    return chosen


def _file_name(index: int, line: Line) -> str:
    if line.output:
        if (
            not line.output.lower().endswith(".wav")
            or Path(line.output).is_absolute()
            or ".." in Path(line.output).parts
        ):
            raise ConfigError(
                f"line {index}: output {line.output!r} must be a relative .wav path inside the output folder"
            )
        return line.output
    slug = re.sub(r"[^\w.-]+", "-", line.id).strip("-.") if line.id else ""
    return f"{index:03d}" + (f"_{slug}" if slug else "") + ".wav"


def _width(gen: Narrator, engine: str) -> int:
    """How many lines of ``engine`` can run at once: its pool's size (1 for a generator
    without pools, or an engine that cannot start: its lines fail one by one)."""
    size = getattr(gen, "pool_size", None)
    try:
        return int(size(engine)) if callable(size) else 1
    except FanrenTTSError:
        return 1


def generate_many(
    gen: Narrator,
    items: Iterable[Any],
    output_dir: str | os.PathLike[str],
    *,
    cache: bool | None = None,
    subtitles: bool | Sequence[str] = True,
    progress: bool = False,
) -> BatchResult:
    """``subtitles``: True for SRT and JSON, False for none, or the formats to write
    (``srt``, ``vtt``, ``ass``, ``json``)."""
    formats, lines, names, engines = prepare_script(gen, items, subtitles)
    out_dir = Path(output_dir)
    results: dict[int, GenerateResult] = {}
    failures: dict[int, BaseException] = {}

    stop = threading.Event()
    # Ctrl-C: ``closed`` marks the manifest final. A line records itself under ``publish``, so
    # a take is either in the manifest or, finishing after it was written, removed again.
    closed = threading.Event()
    publish = threading.Lock()

    def run(index: int, line: Line, name: str) -> GenerateResult:
        if stop.is_set():
            raise Interrupted("not made: the batch was interrupted (Ctrl-C)")
        result = gen.generate(
            line.text, out_dir / name, line.engine, cache=cache, target_duration=line.duration, **line.options
        )
        with publish:
            if closed.is_set():
                Path(result.path).unlink(missing_ok=True)
                raise Interrupted("made after the interrupted batch's manifest was written (Ctrl-C): removed")
            result.write_subtitles(formats)
            results[index] = result
        return result

    from tqdm import tqdm

    bar = tqdm(total=len(lines), desc="narrating", unit="line", disable=not progress, file=sys.stderr)
    # one thread per replica of every engine the script uses, so a pool's replicas all work
    workers = sum(_width(gen, name) for name in set(engines))
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fanren-batch")
    futures: dict[Future[GenerateResult], int] = {}
    try:
        for i, (line, name) in enumerate(zip(lines, names, strict=False), 1):
            futures[pool.submit(run, i, line, name)] = i
        for future in as_completed(futures):
            index = futures[future]
            try:
                results[index] = future.result()
            except FanrenTTSError as exc:
                failures[index] = exc
                bar.write(f"line {index} failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        raise _interrupted(
            gen, lines, out_dir, formats, results, failures, futures, pool, (stop, closed, publish)
        ) from None
    pool.shutdown()
    bar.close()
    return write_manifest(gen, lines, out_dir, formats, results, failures)


@contextmanager
def _no_sigint() -> Iterator[list[int]]:
    """Hold off Ctrl-C while the manifest is written (main thread only); yields the count of
    those that came meanwhile."""
    came: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return
    previous = signal.signal(signal.SIGINT, lambda *_: came.append(1))
    try:
        yield came
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted(
    gen: Narrator,
    lines: list[Line],
    out_dir: Path,
    formats: tuple[str, ...],
    results: dict[int, GenerateResult],
    failures: dict[int, BaseException],
    futures: dict[Future[GenerateResult], int],
    pool: ThreadPoolExecutor,
    flags: tuple[threading.Event, threading.Event, threading.Lock],
) -> BatchInterrupted:
    """Ctrl-C: start nothing new, stop what runs, record what finished (see module docstring).

    A manifest is written at once (so a second Ctrl-C, or a kill, still leaves one), the
    lines in progress are stopped, and the final manifest follows: whatever finished by
    then is in it, and a line that finishes later removes its file (``run``)."""
    stop, closed, publish = flags
    # lines that failed before the interrupt (the main loop may not have seen them yet); a
    # line that fails after it (its worker stopped by ``interrupt``) counts as interrupted
    failed = dict(failures)
    for future, index in futures.items():
        if future.done() and not future.cancelled() and index not in results and index not in failed:
            exc = future.exception()
            if isinstance(exc, FanrenTTSError):
                failed[index] = exc

    def manifest(final: bool) -> BatchResult:
        with publish:
            if final:
                closed.set()
            made = dict(results)
        pending = {
            i: Interrupted("not made: the batch was interrupted (Ctrl-C)")
            for i in range(1, len(lines) + 1)
            if i not in made and i not in failed
        }
        return write_manifest(gen, lines, out_dir, formats, made, {**failed, **pending}, interrupted=True)

    with _no_sigint():
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        manifest(final=False)
    try:
        interrupt = getattr(gen, "interrupt", None)
        if callable(interrupt):
            interrupt()  # the lines in progress fail now instead of running to their end
        wait([f for f in futures if not f.done()], timeout=10)
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting; the final manifest follows at once
        pass
    with _no_sigint():
        return BatchInterrupted(manifest(final=True))


def prepare_script(
    gen: Narrator, items: Iterable[Any], subtitles: bool | Sequence[str]
) -> tuple[tuple[str, ...], list[Line], list[str], list[str]]:
    """A script checked before any work: subtitle formats, lines, their file names and
    the engine of each line (unknown engines and clashing file names fail here)."""
    formats = _formats(subtitles)
    lines = _coerce(items, "script")
    names = [_file_name(i, line) for i, line in enumerate(lines, 1)]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"two lines would write the same file: {', '.join(duplicates)}")
    engines = [line.engine or gen.pick_engine(line.text) for line in lines]
    for name in set(engines):
        gen.config.get(name)  # unknown engine names fail before any work
    return formats, lines, names, engines


def write_manifest(
    gen: Narrator,
    lines: list[Line],
    out_dir: Path,
    formats: tuple[str, ...],
    results: dict[int, GenerateResult],
    failures: dict[int, BaseException],
    extra: dict[int, dict[str, Any]] | None = None,
    backend: str | None = None,
    *,
    interrupted: bool = False,
) -> BatchResult:
    """``manifest.json`` (written atomically) and the ``BatchResult``; lines are numbered
    from 1. ``extra`` adds keys to some lines' entries (a Ray retry says so there)."""
    manifest = out_dir / "manifest.json"
    entries = []
    for index, line in enumerate(lines, 1):
        entry: dict[str, Any] = {"index": index, "id": line.id, "text": line.text}
        if index in results:
            r = results[index]
            entry.update(
                ok=True,
                engine=r.engine,
                wav=str(r.path.relative_to(out_dir)),
                srt=str(r.path.with_suffix(".srt").relative_to(out_dir)) if "srt" in formats else None,
                subtitles={f: str(r.path.with_suffix(f".{f}").relative_to(out_dir)) for f in formats},
                duration=round(r.duration, 3),
                sample_rate=r.sample_rate,
                cached_segments=r.cached,
                segments=[{"text": s.text, "start": round(s.start, 3), "end": round(s.end, 3)} for s in r.segments],
                word_timing=r.word_timing,
            )
            if r.loudness is not None:
                entry["loudness"] = r.loudness.as_dict()
            issues = r.subtitle_issues() if set(formats) & {"srt", "vtt", "ass"} else []
            if issues:
                entry["subtitle_issues"] = issues
            if r.target_duration is not None:
                assert r.target_error is not None
                entry.update(target_duration=r.target_duration, target_error=round(r.target_error, 3))
        else:
            failure = failures[index]
            entry.update(ok=False, error=type(failure).__name__, message=str(failure).splitlines()[0])
            if isinstance(failure, Interrupted):
                entry["interrupted"] = True
            if isinstance(failure, RemoteError):
                entry["remote_type"] = failure.remote_type
        entry.update((extra or {}).get(index, {}))
        entries.append(entry)
    write_json(
        manifest,
        {
            "schema": MANIFEST_SCHEMA,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "config": str(gen.config.source.resolve()) if gen.config.source else None,
            "ok": not failures,
            **({"interrupted": True} if interrupted else {}),
            **({"backend": backend} if backend else {}),
            "lines": entries,
        },
    )
    return BatchResult(
        results=[(i, lines[i - 1], results[i]) for i in sorted(results)],
        failures=[(i, lines[i - 1], failures[i]) for i in sorted(failures)],
        manifest=manifest,
    )


def batch_generate(
    gen: Narrator, texts: Iterable[str], output_dir: str | os.PathLike[str], prefix: str = "audio", **options: Any
) -> list[str]:
    """The old pipeline's batch call: ``{prefix}_{i:03d}.wav`` per text (i from 0), in order.

    A line that fails is skipped and logged, as before; the paths of the lines
    that were written are returned as strings.
    """
    out_dir = Path(output_dir)
    written: list[str] = []
    for i, text in enumerate(texts):
        try:
            written.append(str(gen.generate(text, out_dir / f"{prefix}_{i:03d}.wav", **options)))
        except FanrenTTSError as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            log.error("batch_generate: line %d skipped: %s: %s", i, type(exc).__name__, first)
    return written
