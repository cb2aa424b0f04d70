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
import unicodedata
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import _audio, _batch, _fit
from ._assemble import Assembler
from ._batch import BatchResult, Line
from ._cache import SegmentCache, cache_key
from ._config import DEVICE_PATTERN, Config, load_config, validate_options
from ._envs import lock_hash, require_ready
from ._exceptions import ConfigError, FanrenTTSError, ProtocolError
from ._options import BUILTIN_OPTIONS
from ._output import check_output_path
from ._pool import Pool
from ._result import GenerateResult, Segment
from ._runtime.fanren_worker import Audio
from ._segments import Stats, fan_out, replies, speech
from ._stream import Chunk, Timeline
from ._text import clean_text, split_sentences
from ._voicemap import check_voice, voice_options
from ._voices import VoiceStore
from ._worker import Worker

__all__ = ["GenerateResult", "Segment", "TTSGenerator", "detect_language"]

_HAS_WORD = re.compile(r"\w")


def detect_language(text: str) -> str:
    """A coarse guess from the script: zh, ja, ko or en (for routing, not linguistics)."""
    counts = {"zh": 0, "ja": 0, "ko": 0, "latin": 0}
    for ch in text:
        code = ord(ch)
        if 0x3040 <= code <= 0x30FF:
            counts["ja"] += 1
        elif 0xAC00 <= code <= 0xD7AF:
            counts["ko"] += 1
        elif 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF:
            counts["zh"] += 1
        elif ch.isalpha() and unicodedata.category(ch).startswith("L") and code < 0x250:
            counts["latin"] += 1
    if counts["ja"]:
        return "ja"  # kana only occurs in Japanese; its kanji would otherwise count as zh
    scores = {"zh": counts["zh"], "ko": counts["ko"], "en": counts["latin"] / 4}
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else "en"


class TTSGenerator:
    """Speech from config.yaml's engines, each in its own env behind a persistent worker.

    ``engine`` and ``device`` override config.yaml and FANREN_TTS_* variables for
    every call of this generator.
    """

    def __init__(
        self,
        config: str | os.PathLike[str] | Config | None = None,
        *,
        engine: str | None = None,
        device: str | None = None,
    ) -> None:
        self.config = config if isinstance(config, Config) else load_config(config)
        if engine is not None:
            self.config.get(engine)
            self.config = self.config.model_copy(update={"engine": engine, "routes": {}})
        if device is not None:
            if not DEVICE_PATTERN.match(device):
                raise ConfigError(f"device must be auto, cpu, mps, cuda or cuda:N, got {device!r}")
            engines = {name: cfg.model_copy(update={"device": device}) for name, cfg in self.config.engines.items()}
            self.config = self.config.model_copy(update={"engines": engines})
        self._pools: dict[str, Pool] = {}
        self._identities: dict[str, dict[str, Any]] = {}
        self.cache = SegmentCache(self.config.cache_dir)
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

    def _reap(self, interval: float) -> None:
        while not self._stop.wait(interval):
            for pool in list(self._pools.values()):
                if pool.config.idle_timeout:
                    pool.stop_idle(pool.config.idle_timeout)  # per replica

    @property
    def engines(self) -> list[str]:
        return list(self.config.engines)

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
                if cfg.unavailable:
                    raise ConfigError(cfg.unavailable)
                if cfg.env_dir is not None:
                    require_ready(cfg.env_dir, engine, self.config.source)
                cfg.check_runnable()
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
        """The engine for ``text``: a route for its language, else ``tts.engine``."""
        if self.config.routes:
            return self.config.routes.get(detect_language(text), self.config.engine)
        return self.config.engine

    def describe(self, engine: str) -> dict[str, Any]:
        """Voices, languages and modes the engine reports (starts its first replica if needed),
        and under ``"replicas"`` every replica's device, threads and state."""
        pool = self.pool(engine)
        worker = pool.replicas[0]
        worker.start()
        return {**(worker.info or {}), "replicas": pool.describe_replicas()}

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
        text, name, options = self._prepare(text, engine, options)
        path = Path(output_path)
        if path.suffix.lower() != ".wav":
            raise ConfigError(f"output_path must end in .wav (got {str(path)!r}); fanren_tts writes PCM16 WAV")
        if path.is_dir():
            raise ConfigError(f"output_path {str(path)!r} is a directory; give a file name ending in .wav")
        check_output_path(path)  # an unwritable path fails now, not after minutes of synthesis
        cfg = self.config.get(name)
        use_cache = self.config.cache.enabled if cache is None else cache
        if target_duration is None:
            return self._narrate(text, path, name, use_cache, options)
        return _fit.fit(
            lambda to, opts: self._narrate(text, to, name, use_cache, opts),
            cfg.kind,
            path,
            float(target_duration),
            options,
            cfg.options,
            lambda: self.describe(name),  # which rate control the loaded engine has
        )

    def _narrate(self, text: str, path: Path, name: str, use_cache: bool, options: dict[str, Any]) -> GenerateResult:
        """One take: the stream of chunks written into ``path`` as it comes."""
        stats = Stats()
        timeline = Timeline(self.config.output, self.config.narration.pause_ms / 1000.0)
        t0 = time.perf_counter()
        with Assembler(path, self.config.output) as out:
            for chunk in self._chunks(text, name, use_cache, options, timeline, stats, live=False):
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
            cue_limits=(self.config.subtitles.max_chars, self.config.subtitles.max_duration),
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
        text, name, options = self._prepare(text, engine, options)
        use_cache = self.config.cache.enabled if cache is None else cache
        timeline = Timeline(self.config.output, self.config.narration.pause_ms / 1000.0)
        yield from self._chunks(text, name, use_cache, options, timeline, Stats(), live=True)

    def _chunks(
        self,
        text: str,
        name: str,
        use_cache: bool,
        options: dict[str, Any],
        timeline: Timeline,
        stats: Stats,
        *,
        live: bool,
    ) -> Iterator[Chunk]:
        """Every segment, from the cache or made by the engine, as output chunks, in order.

        ``live`` asks the engine for its own stream (``Engine.stream``: pieces as it
        decodes them, for a listener); otherwise each segment is one ``synthesize``
        call, the engine's best take for a file (CosyVoice's non-streaming decode, say).
        With more than one replica, up to two segments per replica are made at once,
        each on whichever replica is free, and come out in order (``fan_out``).
        """
        cfg = self.config.get(name)
        pieces = split_sentences(text, cfg.max_segment_chars, sentences=self.config.narration.split_sentences)
        pool = self.pool(name)
        identity = self._identity(name) if use_cache else {}
        bit_depth = self.config.output.bit_depth

        def key_of(piece: str) -> str:
            if not use_cache:
                return ""
            parts = {"engine": name, "model": identity, "options": options, "text": piece}
            return cache_key(**parts, **({"pcm": bit_depth} if bit_depth != 16 else {}))

        if pool.size > 1 and len(pieces) > 1:
            cache = self.cache if use_cache else None
            yield from fan_out(pool, pieces, key_of, name, options, bit_depth, cache, timeline, stats, live=live)
            return
        for index, piece in enumerate(pieces):
            yield from timeline.open(index, piece)
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

    def _prepare(self, text: Any, engine: str | None, options: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """Text, engine and options checked before any work (bad characters, unknown
        engine, option names and values), as every speaking call needs them."""
        if not isinstance(text, str) or not text.strip():
            raise ConfigError("text must be a non-empty string")
        text = clean_text(text)  # before any work: bad characters fail here, with their index
        if not _HAS_WORD.search(text):
            raise ConfigError(f"text {text!r} has nothing to speak (only punctuation or symbols)")
        name = engine or self.pick_engine(text)
        self.config.get(name)
        voice = options.pop("voice", None)  # a named voice, else the engine's own (espeak's voice option too)
        if isinstance(voice, str):
            mapped = voice_options(
                self.config,
                name,
                voice,
                self.voices.get,
                lambda method, **kw: self.worker(name).call(method, kw),
                lambda: self.worker(name).pid,
            )
            options = {**mapped, **options}
        elif voice is not None:
            raise ConfigError(f"voice must be a string (a named voice or an engine speaker), got {voice!r}")
        return text, name, self._check_options(name, options)

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
        """What decides an engine's output besides the call: env lock, wrapper source, options."""
        with self._lock:
            ident = self._identities.get(engine)
            if ident is None:
                cfg = self.config.get(engine)
                ident = {
                    "options": cfg.options,
                    "wrapper": hashlib.sha256(cfg.wrapper_path.read_bytes()).hexdigest(),
                    "env": lock_hash(cfg.env_dir) if cfg.env_dir else str(cfg.interpreter),
                }
                self._identities[engine] = ident
            return ident

    def _check_options(self, engine: str, options: dict[str, Any]) -> dict[str, Any]:
        """A call's options checked by name and value like config.yaml (built-in engines)."""
        model = BUILTIN_OPTIONS.get(self.config.get(engine).kind)
        if model is None:
            return options
        unknown = sorted(set(options) - set(model.model_fields))
        if unknown:
            raise ConfigError(
                f"engine {engine!r} has no option {', '.join(map(repr, unknown))}; allowed: {', '.join(model.model_fields)}"
            )
        return validate_options(model, options, f"engine {engine!r}: invalid call option")
