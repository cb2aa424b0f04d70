"""TTSGenerator: the one object a video pipeline holds.

It owns one pool of persistent workers per engine (one worker unless the engine
has ``replicas`` or ``devices``), started on first use (or by ``warm_up``), and
turns ``generate(text, path)`` into calls to the engine's ``stream`` plus an
atomic WAV write. Callers on many threads can share it:
calls to one engine go to an idle replica or queue fairly, different engines run at
once; a long text's segments are spread over the engine's replicas.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import _audio, _batch, _fit
from ._assemble import Assembler
from ._batch import BatchResult, Line
from ._cache import SegmentCache, cache_key
from ._config import DEVICE_PATTERN, PATH_OPTION, Config, EngineConfig, load_config, validate_options
from ._envs import lock_hash, require_ready
from ._exceptions import ConfigError, EnvNotReady, FanrenTTSError, ProtocolError
from ._fingerprint import content_keys
from ._language import detect_language
from ._legacy import call_options
from ._output import check_output_path
from ._placement import require_device
from ._pool import Pool
from ._result import GenerateResult, Segment
from ._routing import Router
from ._runtime.fanren_worker import Audio
from ._segments import Stats, fan_out, replies, speakable, speech
from ._stream import Chunk, Timeline
from ._subtitles import CueRules
from ._voicemap import check_voice, voice_options
from ._voices import VoiceStore
from ._worker import Worker
from ._yamlread import short_repr
from .engines import options_model, self_normalizing
from .text import FrontEnd, Rewritten, clean_text, join_segments, language_of, load_lexicon, split_sentences

__all__ = ["GenerateResult", "Segment", "TTSGenerator", "detect_language"]

_HAS_WORD = re.compile(r"\w")
#: A stretch ending in one of these ends its sentence: the next one starts after a pause.
_SENTENCE_END = tuple("。！？；!?;….\n")

#: A line as routed: (stretch of text, engine, that engine's checked call options), in order.
Plan = list[tuple[str, str, dict[str, Any]]]


class TTSGenerator:
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
        self.config = config if isinstance(config, Config) else load_config(config)
        if engine is not None:
            self.config.get(engine)
            self.config = self.config.model_copy(update={"engine": engine, "routes": {}, "routing": False})
        if device is not None:
            if not DEVICE_PATTERN.match(device):
                raise ConfigError(f"device must be auto, cpu, mps, cuda or cuda:N, got {device!r}")
            engines = {name: cfg.model_copy(update={"device": device}) for name, cfg in self.config.engines.items()}
            self.config = self.config.model_copy(update={"engines": engines})
        self._pools: dict[str, Pool] = {}
        self._router = Router(self.config, live=self._reported_languages)
        # fail fast, as the old class did: the default engine's env, wrapper, model folder and
        # device are checked now (files only, no process), with the error its first call would raise
        if not lazy:
            self._check_ready(self.config.get(self.config.engine))
        self._identities: dict[str, dict[str, Any]] = {}
        self._folder_keys: dict[str, str] = {}  # model folders' digests, for cache keys
        self.cache = SegmentCache(self.config.cache_dir)
        lexicon = self.config.lexicon_path
        self.front_end = FrontEnd(load_lexicon(lexicon) if lexicon is not None else None)
        self._lock = threading.Lock()
        self._voices: VoiceStore | None = None
        self._closed = False
        self._stop = threading.Event()
        idle = [cfg.idle_timeout for cfg in self.config.engines.values() if cfg.idle_timeout]
        self._reaper: threading.Thread | None = None
        if idle:
            interval = max(0.2, min(30.0, min(idle) / 4))
            self._reaper = threading.Thread(target=self._reap, args=(interval,), name="fanren-idle-reaper", daemon=True)
            self._reaper.start()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> TTSGenerator:
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

    def _check_ready(self, cfg: EngineConfig) -> None:
        """Everything that can be known about ``cfg`` without a process: a wrapper exists for
        it, its env is built, its model folder is there and its device exists."""
        if cfg.unavailable:
            raise ConfigError(cfg.unavailable)
        if cfg.env_dir is not None:
            require_ready(cfg.env_dir, cfg.name, self.config.source)
        elif not cfg.interpreter.exists():
            raise EnvNotReady(f"engine {cfg.name!r}: interpreter {cfg.interpreter} does not exist")
        cfg.check_runnable()
        cfg.model_location()
        require_device(cfg)

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
                self._check_ready(cfg)
                pool = self._pools[engine] = Pool(cfg, self.config.source)
            return pool

    def worker(self, engine: str) -> Worker:
        """The first replica of ``engine``'s pool (its only worker unless it has replicas)."""
        return self.pool(engine).replicas[0]

    def pool_size(self, engine: str) -> int:
        """How many replicas ``engine`` has (how many of its calls can run at once)."""
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

    def _plan(self, text: str, name: str) -> list[Rewritten]:
        """``text``'s segments, each with what ``name`` will read: the lexicon, then
        normalization where the engine wants it (``tts.normalize``)."""
        cfg = self.config.get(name)
        pieces = speakable(
            split_sentences(text, cfg.max_segment_chars, sentences=self.config.narration.split_sentences)
        )
        normalize = self.config.normalizes(name)
        return [self.front_end.speak(piece, engine=name, normalize=normalize) for piece in pieces]

    def spoken_segments(self, text: str, engine: str | None = None) -> list[dict[str, Any]]:
        """What each segment of ``text`` becomes before an engine reads it: ``text`` (the
        original, as subtitles show it), ``engine``, ``language`` and ``spoken``. Starts nothing."""
        _, _, _, plan = self._prepare(text, engine, {})
        return [
            {"text": r.original, "engine": name, "language": language_of(r.original), "spoken": r.spoken}
            for stretch, name, _ in plan  # routed: a mixed line's stretches each go to their engine
            for r in self._plan(stretch, name)
        ]

    def normalize(self, text: str, engine: str | None = None) -> str:
        """``text`` as the engine will read it: lexicon and normalization applied, segments
        joined (see ``spoken_segments`` for each segment and its engine). Starts nothing."""
        return join_segments([seg["spoken"] for seg in self.spoken_segments(text, engine)])

    def call(self, engine: str, method: str, /, **kwargs: Any) -> Any:
        """Call any public method of an engine's wrapper; for engines that are not speech."""
        return self.pool(engine).call(method, kwargs)

    def generate(
        self,
        text: str,
        output_path: str | os.PathLike[str],
        engine: str | None = None,
        *,
        cache: bool | None = None,
        target_duration: float | None = None,
        **options: Any,
    ) -> GenerateResult:
        """Speak ``text`` into a WAV file at ``output_path``, written atomically.

        Long text is split into sentences (within the engine's
        ``max_segment_chars``), each synthesized or taken from the cache, then
        joined with ``narration.pause_ms`` of silence in the ``output`` format.
        ``cache=False`` bypasses the cache for this call. ``target_duration``
        (seconds) fits the line to its slot: the engine's own rate control first,
        then a time-stretch with pitch kept (see ``_fit``).
        """
        text, name, options, plan = self._prepare(text, engine, options)
        path = Path(output_path)
        if path.suffix.lower() != ".wav":
            raise ConfigError(f"output_path must end in .wav (got {str(path)!r}); fanren_tts writes PCM16 WAV")
        if path.is_dir():
            raise ConfigError(f"output_path {str(path)!r} is a directory; give a file name ending in .wav")
        check_output_path(path)  # an unwritable path fails now, not after minutes of synthesis
        cfg = self.config.get(name)
        use_cache = self.config.cache.enabled if cache is None else cache
        if target_duration is None:
            return self._narrate(path, name, use_cache, plan)
        return _fit.fit(
            lambda to, opts: self._narrate(to, name, use_cache, [(t, e, opts if e == name else o) for t, e, o in plan]),
            cfg.kind,
            path,
            float(target_duration),
            options,
            cfg.options,
            lambda: self.describe(name),  # which rate control the loaded engine has
        )

    def _narrate(self, path: Path, name: str, use_cache: bool, plan: Plan) -> GenerateResult:
        """One take: the stream of chunks written into ``path`` as it comes (``name``: the
        engine of the line's main language, which the result names)."""
        stats = Stats()
        timeline = Timeline(self.config.output, self.config.narration.pause_ms / 1000.0)
        t0 = time.perf_counter()
        with Assembler(path, self.config.output) as out:
            for chunk in self._chunks(plan, use_cache, timeline, stats, live=False):
                if len(chunk.data):
                    out.write(chunk.data, chunk.sample_rate)
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
        self, text: str, engine: str | None = None, *, cache: bool | None = None, **options: Any
    ) -> Generator[Chunk, None, None]:
        """Speak ``text`` as a stream of ``Chunk`` (``.audio`` in the output format, ``.start``
        seconds into the narration, ``.segment``, ``.words``), each as soon as it is made.

        Segments come in order with the narration pauses between them; cached segments
        come out at once. Breaking out of the loop cancels the rest: the engine stops
        after the piece it is making and its worker stays loaded. Loudness
        normalization needs the whole narration, so streamed chunks are not normalized.
        """
        _, _, _, plan = self._prepare(text, engine, options)
        use_cache = self.config.cache.enabled if cache is None else cache
        timeline = Timeline(self.config.output, self.config.narration.pause_ms / 1000.0)
        yield from self._chunks(plan, use_cache, timeline, Stats(), live=True)

    def _chunks(self, plan: Plan, use_cache: bool, timeline: Timeline, stats: Stats, *, live: bool) -> Iterator[Chunk]:
        """Every stretch of the routed line in order (see ``route``), each as its segments;
        a stretch that starts mid-sentence (a language switch) follows without a pause."""
        index = 0
        for n, (text, name, options) in enumerate(plan):
            pause = n == 0 or plan[n - 1][0].rstrip().endswith(_SENTENCE_END)
            yield from self._segments(text, name, options, use_cache, timeline, stats, index, pause, live=live)
            index = len(timeline.segments)

    def _segments(
        self,
        text: str,
        name: str,
        options: dict[str, Any],
        use_cache: bool,
        timeline: Timeline,
        stats: Stats,
        first: int,
        pause: bool,
        *,
        live: bool,
    ) -> Iterator[Chunk]:
        """Every segment of one engine's stretch, from the cache or made by the engine, as
        output chunks, in order (``first``: the index of its first segment in the line).

        ``live`` asks the engine for its own stream (``Engine.stream``: pieces as it
        decodes them, for a listener); otherwise each segment is one ``synthesize``
        call, the engine's best take for a file (CosyVoice's non-streaming decode, say).
        With more than one replica, up to two segments per replica are made at once,
        each on whichever replica is free, and come out in order (``fan_out``).
        """
        pieces = self._plan(text, name)
        if not pieces:
            raise ConfigError(f"text {short_repr(text)} has nothing to speak (no letter or digit in any segment)")
        pool = self.pool(name)
        identity = self._identity(name) if use_cache else {}
        # files named in call options by content; relative ones are the worker's cwd, which is ours
        by_content = content_keys(options, PATH_OPTION, os.path.abspath, self._folder_keys) if use_cache else {}
        bit_depth = self.config.output.bit_depth

        def key_of(piece: str) -> str:
            if not use_cache:
                return ""
            parts = {"engine": name, "model": identity, "options": by_content, "text": piece}
            return cache_key(**parts, **({"pcm": bit_depth} if bit_depth != 16 else {}))

        if pool.size > 1 and len(pieces) > 1 and first == 0 and not timeline.segments:
            cache = self.cache if use_cache else None
            yield from fan_out(pool, pieces, key_of, name, options, bit_depth, cache, timeline, stats, live=live)
            return
        for index, spoken in enumerate(pieces, first):
            piece = spoken.spoken  # what the engine reads; subtitles keep spoken.original
            yield from timeline.open(index, spoken.original, spoken, pause=pause or index > first)
            key = key_of(piece)
            audio = self.cache.get(key) if use_cache else None
            if audio is not None:
                stats.cached += 1
                yield from timeline.feed(audio, self.cache.get_words(key))
            else:
                with pool.acquire() as worker:
                    if not worker.alive:
                        ts = time.perf_counter()
                        worker.start()
                        stats.start_s += time.perf_counter() - ts
                    ts = time.perf_counter()
                    made: list[Audio] = []
                    said: list[Any] = []
                    for reply in replies(worker, {"text": piece, **options}, live):
                        raw, words = speech(name, reply)
                        take = _audio.quantize(raw, bit_depth)  # cache and output see the same samples
                        offset = sum(a.duration for a in made)
                        said += [{**w, "start": w["start"] + offset, "end": w["end"] + offset} for w in words or []]
                        made.append(take)
                        stats.synth_s += time.perf_counter() - ts
                        yield from timeline.feed(take, words)
                        ts = time.perf_counter()
                if not made:
                    raise ProtocolError(f"engine {name!r}: stream gave no audio for {piece!r}", engine=name)
                if use_cache:
                    self.cache.put(key, Audio.concat(made), said or None)
            yield from timeline.close()

    def _prepare(self, text: Any, engine: str | None, options: dict[str, Any]) -> tuple[str, str, dict[str, Any], Plan]:
        """Text, engine and options checked before any work (bad characters, unknown
        engine, option names and values, the language of every stretch), as every speaking
        call needs them: the text, the main engine, its options and the routed plan."""
        if not isinstance(text, str) or not text.strip():
            raise ConfigError("text must be a non-empty string")
        text = clean_text(text)  # before any work: bad characters fail here, with their index
        if not _HAS_WORD.search(text):
            raise ConfigError(f"text {short_repr(text)} has nothing to speak (only punctuation, symbols or marks)")
        if engine is not None:
            self.config.get(engine)
        routed = self._router.plan(text, engine)
        name = engine or self._router.pick(text)
        given = {k: v for k, v in options.items() if k != "voice"}
        options = call_options(self.config.get(name).kind, self.config.get(name).options, options)
        voice = options.pop("voice", None)  # a named voice, else the engine's own (espeak's voice option too)
        if isinstance(voice, str):
            # a voice the engine keeps in its process goes to the pool: each replica registers it (_setups)
            mapped = voice_options(self.config, name, voice, self.voices.get, lambda s: self.pool(name).setups.add(s))
            options = {**mapped, **options}
        elif voice is not None:
            raise ConfigError(f"voice must be a string (a named voice or an engine speaker), got {voice!r}")
        checked = self._check_options(name, options)
        plan: Plan = []
        for stretch, other in routed:
            if other == name:
                plan.append((stretch, other, checked))
                continue
            # another language's engine: the options it has (speed reaches piper and espeak alike)
            theirs = call_options(self.config.get(other).kind, self.config.get(other).options, given)
            model = options_model(self.config.get(other).kind)
            if model is not None:
                theirs = {k: v for k, v in theirs.items() if k in model.model_fields}
            plan.append((stretch, other, self._check_options(other, theirs)))
        return text, name, checked, plan

    def batch_generate(
        self, texts: Iterable[str], output_dir: str | os.PathLike[str], prefix: str = "audio", **options: Any
    ) -> list[str]:
        """The old pipeline's call: ``{prefix}_{i:03d}.wav`` per text; failed lines are logged and skipped."""
        return _batch.batch_generate(self, texts, output_dir, prefix, **options)

    def generate_many(
        self,
        items: Iterable[Line | dict[str, Any] | str],
        output_dir: str | os.PathLike[str],
        *,
        cache: bool | None = None,
        subtitles: bool | Sequence[str] = True,
        progress: bool = False,
        backend: str = "local",
        ray_address: str | None = None,
    ) -> BatchResult:
        """Narrate a whole script into ``output_dir``; see ``fanren_tts._batch``.

        Keeps going past failed lines, reports them all in the result and in
        ``manifest.json``. ``backend="ray"`` narrates it across a Ray cluster
        (``ray_address``; see ``fanren_tts._ray``), with the same files and manifest.
        """
        if backend == "ray":
            from ._ray import ray_generate_many

            return ray_generate_many(
                self, items, output_dir, cache=cache, subtitles=subtitles, progress=progress, ray_address=ray_address
            )
        if backend != "local":
            raise ConfigError(f"backend must be 'local' or 'ray', got {backend!r}")
        return _batch.generate_many(self, items, output_dir, cache=cache, subtitles=subtitles, progress=progress)

    def _identity(self, engine: str) -> dict[str, Any]:
        """What decides an engine's output besides the call: env lock, wrapper source, options,
        with the files they name by content (a ``stat`` each per call; see ``_fingerprint``)
        and the folders by their file lists (walked once per generator)."""
        cfg = self.config.get(engine)
        with self._lock:
            ident = self._identities.get(engine)
            if ident is None:
                ident = {
                    "wrapper": hashlib.sha256(cfg.wrapper_path.read_bytes()).hexdigest(),
                    "env": lock_hash(cfg.env_dir) if cfg.env_dir else str(cfg.interpreter),
                }
                self._identities[engine] = ident
        options = content_keys(cfg.resolved_options(), PATH_OPTION, cfg.resolve_path, self._folder_keys)
        return {**ident, "options": options}

    def _check_options(self, engine: str, options: dict[str, Any]) -> dict[str, Any]:
        """A call's options checked by name and value like config.yaml (built-in engines)."""
        model = options_model(self.config.get(engine).kind)
        if model is None:
            return options
        unknown = sorted(set(options) - set(model.model_fields))
        if unknown:
            raise ConfigError(
                f"engine {engine!r} has no option {', '.join(map(repr, unknown))}; allowed: {', '.join(model.model_fields)}"
            )
        return validate_options(model, options, f"engine {engine!r}: invalid call option")
