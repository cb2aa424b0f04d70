"""Narrating a whole video script: many lines, one manifest, every failure reported.

A script is JSON: ``{"lines": [LINE, ...]}`` or a bare list, where LINE is a
string or ``{"text": ..., "id": ..., "engine": ..., "options": {...}, "output": ...}``.
A video script whose scenes carry the text under another key loads with
``text_key`` (``batch --text-key narration``): ``{"scenes": [...]}`` or a list; each
scene's ``id``, ``engine``, ``options`` and ``output`` are used, its other keys (shot,
visuals, its own duration) are not, and scenes without text are skipped.
Lines for different engines run at once; a failed line never stops the others.

Backends are runners (``Runner``: ``_runners.LocalRunner`` on this machine's pools,
``_ray.RayRunner`` on a Ray cluster). ``run_script`` checks the script once, hands it
to the runner, which reports each line to a ``Ledger``, and writes the manifest once,
from the ledger, whatever the backend.

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
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._exceptions import ConfigError, FanrenTTSError, RemoteError
from ._narrator import Narrator
from ._result import GenerateResult
from ._subtitles import FORMATS, write_json

__all__ = [
    "MANIFEST_SCHEMA",
    "BatchInterrupted",
    "BatchResult",
    "Interrupted",
    "Ledger",
    "Line",
    "Runner",
    "Script",
    "batch_generate",
    "load_script",
    "prepare_script",
    "run_script",
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


@dataclasses.dataclass(frozen=True)
class Script:
    """A script checked before any work (``prepare_script``): its lines, the file each
    writes inside ``out_dir``, the engine of each, and the subtitle formats."""

    lines: list[Line]
    names: list[str]
    engines: list[str]
    formats: tuple[str, ...]
    out_dir: Path

    def path(self, index: int) -> Path:
        """Where line ``index`` (from 1) is written."""
        return self.out_dir / self.names[index - 1]


class Runner(Protocol):
    """A batch backend: makes the script's lines, reports each to the ledger; the script
    checks, subtitles and manifest are ``run_script``'s and the ``Ledger``'s, once for every
    backend. ``backend``: what the manifest records (None: local, not recorded)."""

    backend: str | None

    def run(self, narrator: Narrator, script: Script, ledger: Ledger, *, cache: bool | None, progress: bool) -> None:
        """Every line made or failed, each reported to ``ledger`` as it ends. May raise
        ``BatchInterrupted`` (Ctrl-C), after recording the interrupted manifest."""
        ...


class Ledger:
    """What a runner reports, line by line (thread-safe); the manifest is written from it.

    A line records itself under the ledger's lock, so after the final interrupted manifest
    a line that still finishes removes its take (``done`` raises ``Interrupted``) instead
    of leaving a file the manifest does not list."""

    def __init__(self, narrator: Narrator, script: Script) -> None:
        self.narrator = narrator
        self.script = script
        self.results: dict[int, GenerateResult] = {}
        self.failures: dict[int, BaseException] = {}
        self.extra: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def done(self, index: int, result: GenerateResult) -> GenerateResult:
        """Line ``index`` made: its subtitles written, the result recorded."""
        with self._lock:
            if self._closed:
                Path(result.path).unlink(missing_ok=True)
                raise Interrupted("made after the interrupted batch's manifest was written (Ctrl-C): removed")
            result.write_subtitles(self.script.formats)
            self.results[index] = result
        return result

    def failed(self, index: int, exc: BaseException) -> None:
        with self._lock:
            if index not in self.results:
                self.failures[index] = exc

    def note(self, index: int, **extra: Any) -> None:
        """Keys added to line ``index``'s manifest entry (a Ray retry says so there)."""
        with self._lock:
            self.extra.setdefault(index, {}).update(extra)

    def manifest(self, backend: str | None = None, *, interrupted: bool = False, final: bool = True) -> BatchResult:
        """``manifest.json`` from what was reported. ``interrupted``: every line neither made
        nor failed is recorded as interrupted; ``final`` closes the ledger to late takes."""
        with self._lock:
            if interrupted and final:
                self._closed = True
            made, failed, extra = dict(self.results), dict(self.failures), dict(self.extra)
        lines = self.script.lines
        if interrupted:
            for i in range(1, len(lines) + 1):
                if i not in made and i not in failed:
                    failed[i] = Interrupted("not made: the batch was interrupted (Ctrl-C)")
        return write_manifest(
            self.narrator,
            lines,
            self.script.out_dir,
            self.script.formats,
            made,
            failed,
            extra,
            backend,
            interrupted=interrupted,
        )


def run_script(
    narrator: Narrator,
    runner: Runner,
    items: Iterable[Any],
    output_dir: str | os.PathLike[str],
    *,
    cache: bool | None = None,
    subtitles: bool | Sequence[str] = True,
    progress: bool = False,
) -> BatchResult:
    """A script narrated by ``runner`` into ``output_dir``: checked first, then every line
    made or failed, then ``manifest.json``. ``subtitles``: True for SRT and JSON, False for
    none, or the formats to write (``srt``, ``vtt``, ``ass``, ``json``)."""
    script = prepare_script(narrator, items, subtitles, output_dir)
    ledger = Ledger(narrator, script)
    runner.run(narrator, script, ledger, cache=cache, progress=progress)
    return ledger.manifest(runner.backend)


def prepare_script(
    gen: Narrator, items: Iterable[Any], subtitles: bool | Sequence[str], output_dir: str | os.PathLike[str]
) -> Script:
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
    return Script(lines, names, engines, formats, Path(output_dir))


def write_manifest(
    gen: Any,
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
