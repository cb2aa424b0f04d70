"""The narrator: speech from config.yaml's engines, as files or as a stream.

It owns one pool of persistent workers per engine (one worker unless the engine
has ``replicas`` or ``devices``), started on first use (or by ``warm_up``), and
turns ``generate(text, path)`` into: the call checked and routed (``_prepare``), the
segments made by the one producer (``_produce``), and an atomic WAV write. Callers on
many threads can share it: calls to one engine go to an idle replica or queue fairly,
different engines run at once; a long text's segments are spread over the replicas.

``TTSGenerator`` (``_generator``) is this class with the batch methods on top; the
batch runners and the Ray actors use the narrator directly, so nothing below the
generator calls back up into it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

from . import _fit
from ._cache import SegmentCache
from ._exceptions import ConfigError, FanrenTTSError, ProtocolError
from ._keys import CacheKeys
from ._pool import Pool
from ._prepare import SENTENCE_END, Plan, Prepared, check_ready, overridden, prepare, segments
from ._produce import Producer
from ._result import GenerateResult
from ._routing import Router
from ._segments import Stats
from ._stream import Chunk, Timeline
from ._subtitles import CueRules
from ._voicemap import check_voice
from ._voices import VoiceStore
from ._worker import Worker
from ._yamlread import short_repr
from .audio.assemble import Assembler
from .audio.paths import check_output_path
from .config import Config, load_config
from .engines import self_normalizing
from .text import FrontEnd, join_segments, language_of, load_lexicon

__all__ = ["Narrator"]

_Self = TypeVar("_Self", bound="Narrator")


class Narrator:
    """Speech from config.yaml's engines, each in its own env behind a persistent worker.

    ``engine`` and ``device`` override config.yaml and FANREN_TTS_* variables for
    every call of this generator. The default engine is checked when the generator is
    made (env, wrapper, model folder, device: files only, no process) and raises what its
    first call would; ``lazy=True`` leaves every check to first use (a Ray driver whose
    engines run on other machines).
    """

    def __init__(
        self,
        config: str | os.PathLike[str] | Config | None = None,
        *,
        engine: str | None = None,
        device: str | None = None,
        lazy: bool = False,
    ) -> None:
        self.config = overridden(config if isinstance(config, Config) else load_config(config), engine, device)
        self._pools: dict[str, Pool] = {}
        self._router = Router(self.config, live=self._reported_languages)
        # fail fast, as the old class did: the default engine's env, wrapper, model folder and
        # device are checked now (files only, no process), with the error its first call would raise
        if not lazy:
            check_ready(self.config, self.config.get(self.config.engine))
        self.keys = CacheKeys(self.config)
        self.cache = SegmentCache(self.config.cache_dir)
        lexicon = self.config.lexicon_path
        self.front_end = FrontEnd(load_lexicon(lexicon) if lexicon is not None else None)
        self._lock = threading.Lock()
        self._voices: VoiceStore | None = None
        #: Called as ``(segments done, segments in all)`` while ``generate`` makes a file (the
        #: command line's progress); on whichever thread makes it.
        self.on_segment: Callable[[int, int], None] | None = None
        self._closed = False
        self._stop = threading.Event()
        idle = [cfg.idle_timeout for cfg in self.config.engines.values() if cfg.idle_timeout]
        self._reaper: threading.Thread | None = None
        if idle:
            interval = max(0.2, min(30.0, min(idle) / 4))
            self._reaper = threading.Thread(target=self._reap, args=(interval,), name="fanren-idle-reaper", daemon=True)
            self._reaper.start()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker (in parallel, each wait bounded). Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pools = list(self._pools.values())
        self._stop.set()
        threads = [threading.Thread(target=p.stop, name=f"fanren-stop-{p.name}") for p in pools]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def interrupt(self) -> int:
        """Make every running call fail at once by killing the workers serving them (idle
        workers stay; the next call starts a fresh one). For Ctrl-C during a batch, when
        waiting for the lines in progress could take minutes. Returns the workers killed."""
        with self._lock:
            pools = list(self._pools.values())
        return sum(p.abort() for p in pools)

    def _reap(self, interval: float) -> None:
        while not self._stop.wait(interval):
            for pool in list(self._pools.values()):
                if pool.config.idle_timeout:
                    pool.stop_idle(pool.config.idle_timeout)  # per replica

    @property
    def engines(self) -> list[str]:
        return list(self.config.engines)

    def _reported_languages(self, engine: str) -> list[str] | None:
        """The languages ``engine``'s running worker reported in its ``describe()`` (routing
        uses them once there; before, the static facts of ``_routing``)."""
        pool = self._pools.get(engine)
        info = pool.replicas[0].info if pool is not None else None
        languages = (info or {}).get("languages")
        return [str(x) for x in languages] if isinstance(languages, list) and languages else None

    @property
    def engine(self) -> str:
        """The default engine's name (``tts.engine``), as the old class's ``.engine``."""
        return self.config.engine

    @property
    def voices(self) -> VoiceStore:
        """Named voices (``add``, ``list``, ``remove``), kept in ``tts.voices.dir``; use one with
        ``generate(..., voice="narrator")``. See ``_voicemap`` for what each engine takes."""
        with self._lock:
            if self._voices is None:
                self._voices = VoiceStore(
                    self.config.voices_dir,
                    self.config.voices,
                    self.engines,
                    check=lambda engine, audio, speaker, text: check_voice(self.config, engine, audio, speaker, text),
                )
            return self._voices

    def pool(self, engine: str) -> Pool:
        """The worker pool of ``engine`` (created and placed, not started, on first request)."""
        with self._lock:
            if self._closed:
                raise FanrenTTSError("this TTSGenerator is closed")
            pool = self._pools.get(engine)
            if pool is None:
                cfg = self.config.get(engine)
                check_ready(self.config, cfg)
                pool = self._pools[engine] = Pool(cfg, self.config.source)
            return pool

    def worker(self, engine: str) -> Worker:
        """The first replica of ``engine``'s pool (its only worker unless it has replicas)."""
        return self.pool(engine).replicas[0]

    def pool_size(self, engine: str) -> int:
        """How many replicas ``engine`` has (``capacity`` says how many of its calls run at once)."""
        return self.pool(engine).size

    def warm_up(self, *engines: str) -> dict[str, float]:
        """Start engines (default: all configured), every replica, in parallel; returns seconds to ready.

        Every engine gets its chance; if any failed, the first failure (in the
        order given) is raised once all have finished.
        """
        names = list(engines) or self.engines
        times: dict[str, float] = {}
        errors: dict[str, BaseException] = {}

        def start(name: str) -> None:
            t0 = time.perf_counter()
            try:
                self.pool(name).start()
                times[name] = time.perf_counter() - t0
            except BaseException as exc:
                errors[name] = exc

        threads = [threading.Thread(target=start, args=(n,), name=f"fanren-warm-{n}") for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name in names:
            if name in errors:
                raise errors[name]
        return times

    # ------------------------------------------------------------------ work

    def pick_engine(self, text: str) -> str:
        """The engine of ``text``'s main language: its route, the default engine if it speaks
        it, else the first engine that does, else ``tts.engine`` (see ``_routing``)."""
        return self._router.pick(text)

    def route(self, text: str, engine: str | None = None) -> list[tuple[str, str]]:
        """``text`` as (stretch, engine) pairs, as ``generate`` would speak it: a line in
        several scripts goes run by run to each run's engine. Warns, or under ``tts.strict``
        raises ``LanguageError``, for text no configured engine speaks."""
        return self._router.plan(text, engine)

    def describe(self, engine: str) -> dict[str, Any]:
        """Voices, languages and modes the engine reports now: a fresh ``describe`` call on an
        idle replica (started if needed; bounded by the queue and call timeouts), so voices
        registered since the start show; under ``"replicas"`` every replica's device,
        threads, state and the named voices registered in its process."""
        pool = self.pool(engine)
        with pool.acquire() as worker:
            live = worker.call("describe", timeout=pool.config.timeouts.call)
        if not isinstance(live, dict):
            raise ProtocolError(
                f"engine {engine!r}: describe() returned {type(live).__name__}, not a dict", engine=engine
            )
        text = {"normalize": self.config.normalizes(engine), "normalizes_itself": self_normalizing(pool.config.kind)}
        return {**(worker.info or {}), **live, "replicas": pool.describe_replicas(), "text": text}

    def spoken_segments(self, text: str, engine: str | None = None) -> list[dict[str, Any]]:
        """What each segment of ``text`` becomes before an engine reads it: ``text`` (the
        original, as subtitles show it), ``engine``, ``language`` and ``spoken``. Starts nothing."""
        plan = self._prepare(text, engine, {}, None).plan
        return [
            {"text": r.original, "engine": name, "language": language_of(r.original), "spoken": r.spoken}
            for stretch, name, _ in plan  # routed: a mixed line's stretches each go to their engine
            for r in segments(self.config, self.front_end, stretch, name)
        ]

    def normalize(self, text: str, engine: str | None = None) -> str:
        """``text`` as the engine will read it: lexicon and normalization applied, segments
        joined (see ``spoken_segments`` for each segment and its engine). Starts nothing."""
        return join_segments([seg["spoken"] for seg in self.spoken_segments(text, engine)])

    def call(self, engine: str, method: str, /, **kwargs: Any) -> Any:
        """Call any public method of an engine's wrapper; for engines that are not speech."""
        return self.pool(engine).call(method, kwargs)

    def capacity(self, engine: str) -> int:
        """How many of ``engine``'s calls can run at once (its pool's ``capacity``); 1 for an
        engine that cannot be placed or is not ready: it serves one, and says why when asked."""
        try:
            return self.pool(engine).capacity
        except FanrenTTSError:
            return 1

    def generate(
        self,
        text: str,
        output_path: str | os.PathLike[str],
        engine: str | None = None,
        *,
        voice: object = None,
        cache: bool | None = None,
        target_duration: float | None = None,
        **options: Any,
    ) -> GenerateResult:
        """Speak ``text`` into a WAV file at ``output_path``, written atomically.

        Long text is split into sentences (within the engine's
        ``max_segment_chars``), each synthesized or taken from the cache, then
        joined with ``narration.pause_ms`` of silence in the ``output`` format.
        ``voice``: a named voice (``voices``) or the engine's own speaker.
        ``cache=False`` bypasses the cache for this call. ``target_duration``
        (seconds) fits the line to its slot: the engine's own rate control first,
        then a time-stretch with pitch kept (see ``_fit``).
        """
        call = self._prepare(text, engine, options, voice)
        path = Path(output_path)
        if path.suffix.lower() != ".wav":
            raise ConfigError(f"output_path must end in .wav (got {str(path)!r}); fanren_tts writes PCM16 WAV")
        if path.is_dir():
            raise ConfigError(f"output_path {str(path)!r} is a directory; give a file name ending in .wav")
        check_output_path(path)  # an unwritable path fails now, not after minutes of synthesis
        name, plan = call.engine, call.plan
        use_cache = self.config.cache.enabled if cache is None else cache
        if target_duration is None:
            return self._take(path, name, use_cache, plan)
        pool = self.pool(name)
        return _fit.fit(
            lambda to, opts: self._take(to, name, use_cache, [(t, e, opts if e == name else o) for t, e, o in plan]),
            pool.config.kind,
            path,
            float(target_duration),
            call.options,
            pool.config.options,
            lambda: pool.call("describe", timeout=pool.config.timeouts.call),  # which rate control it has
        )

    def _take(self, path: Path, name: str, use_cache: bool, plan: Plan) -> GenerateResult:
        """One take: the stream of chunks written into ``path`` as it comes (``name``: the
        engine of the line's main language, which the result names)."""
        stats = Stats()
        timeline = Timeline(self.config.output, self.config.narration.pause_ms / 1000.0)
        t0 = time.perf_counter()
        done = 0
        with Assembler(path, self.config.output) as out:
            for chunk in self._chunks(plan, use_cache, timeline, stats, live=False):
                if len(chunk.data):
                    out.write(chunk.data, chunk.sample_rate)
                if self.on_segment is not None and len(timeline.segments) > done:
                    done = len(timeline.segments)
                    self.on_segment(done, stats.planned)
            tw = time.perf_counter()
            out.commit()
        t_end = time.perf_counter()
        assert timeline.rate is not None
        return GenerateResult(
            path=path,
            sample_rate=timeline.rate,
            duration=timeline.duration,
            engine=name,
            # ``write``: what the file took beyond the chunks themselves (loudness pass, flush, rename)
            timings={"start": stats.start_s, "synthesize": stats.synth_s, "write": t_end - tw, "total": t_end - t0},
            segments=tuple(timeline.segments),
            cached=stats.cached,
            bit_depth=self.config.output.bit_depth,
            words=tuple(timeline.words),
            word_timing=timeline.word_timing,
            cue_limits=CueRules.of(self.config.subtitles),
            loudness=out.loudness,
        )

    def stream(
        self,
        text: str,
        engine: str | None = None,
        *,
        voice: object = None,
        cache: bool | None = None,
        **options: Any,
    ) -> Generator[Chunk, None, None]:
        """Speak ``text`` as a stream of ``Chunk`` (``.audio`` in the output format, ``.start``
        seconds into the narration, ``.segment``, ``.words``), each as soon as it is made.

        Segments come in order with the narration pauses between them; cached segments
        come out at once. The pieces of the segment being heard come out as the engine
        makes them, with one replica or many; an engine with several replicas makes the
        next segments meanwhile and they follow in order (see ``_produce``). Breaking out
        of the loop cancels the rest: the engine stops after the piece it is making and
        its worker stays loaded. Loudness normalization needs the whole narration, so
        streamed chunks are not normalized.
        """
        plan = self._prepare(text, engine, options, voice).plan
        use_cache = self.config.cache.enabled if cache is None else cache
        timeline = Timeline(self.config.output, self.config.narration.pause_ms / 1000.0)
        yield from self._chunks(plan, use_cache, timeline, Stats(), live=True)

    def _chunks(self, plan: Plan, use_cache: bool, timeline: Timeline, stats: Stats, *, live: bool) -> Iterator[Chunk]:
        """Every stretch of the routed line in order (see ``route``), each as its segments from
        the producer; a stretch that starts mid-sentence (a language switch) follows without
        a pause. ``live``: the engine's own stream, for a listener; else ``synthesize``."""
        stretches = [segments(self.config, self.front_end, text, name) for text, name, _ in plan]
        stats.planned = sum(map(len, stretches))
        for n, ((text, name, options), pieces) in enumerate(zip(plan, stretches, strict=True)):
            if not pieces:
                raise ConfigError(f"text {short_repr(text)} has nothing to speak (no letter or digit in any segment)")
            producer = Producer(
                self.pool(name),
                options,
                bit_depth=self.config.output.bit_depth,
                live=live,
                cache=self.cache if use_cache else None,
                key_of=self.keys.key_of(name, options) if use_cache else lambda _: "",
                stats=stats,
            )
            pause = n == 0 or plan[n - 1][0].rstrip().endswith(SENTENCE_END)
            yield from producer.chunks(pieces, timeline, len(timeline.segments), pause)

    def _prepare(self, text: Any, engine: str | None, options: dict[str, Any], voice: object) -> Prepared:
        """The call checked before any work (see ``_prepare``)."""
        return prepare(
            self.config,
            self._router,
            text,
            engine,
            options,
            voice,
            lambda name: self.voices.get(name),
            lambda engine: lambda setup: self.pool(engine).setups.add(setup),
        )
