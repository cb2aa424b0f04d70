"""qwen3 engine: Qwen3-TTS from the PyPI package qwen-tts (``Qwen3TTSModel``).

One checkpoint decides the mode: CustomVoice models speak with a named speaker
(and an instruct on 1.7B), Base models clone a voice from ref_audio (+ ref_text),
the VoiceDesign model builds a voice from an instruct. Output is 24 kHz.

No streaming: qwen-tts 0.1.1 returns whole utterances; its ``non_streaming_mode=False``
only simulates streaming text *input*. describe() says so.

Standalone: envs/qwen3/.venv/bin/python wrappers/qwen3_wrapper.py --option model_path=DIR --text "你好" --out x.wav
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from fanren_worker import Audio, Engine, half_dtype, local_path, main, seed_everything

_MODES = {
    "custom_voice": "generate_custom_voice",
    "base": "generate_voice_clone",
    "voice_design": "generate_voice_design",
}
_GENERATION = ("do_sample", "top_k", "top_p", "temperature", "repetition_penalty", "max_new_tokens")
_VOICE = ("speaker", "language", "instruct", "ref_audio", "ref_text", "x_vector_only_mode")
_CALL = ("seed",)
_PROMPTS_KEPT = 8  # voice-clone prompts cached per worker (one per reference voice)
_NO_STREAMING = (
    "qwen-tts 0.1.1 has no streaming output: generate_* return whole utterances "
    "(non_streaming_mode=False only simulates streaming text input)"
)


def _attention(name: str, device: str) -> str:
    if name != "auto":
        return name
    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def place(tts: Any, torch: Any, device: str) -> None:
    """Put the model, the wrapper's cached device and the speech tokenizer (codec) on ``device``.

    The codec (``tts.model.speech_tokenizer``, a ``Qwen3TTSTokenizer``) is not an nn.Module
    attribute of the model, so ``model.to`` leaves it where it was loaded; it keeps its own
    ``device`` that encode/decode move codes to. Moving only the model would decode on the CPU.
    """
    target = torch.device(device)
    tts.model.to(target)
    tts.device = target
    codec = getattr(tts.model, "speech_tokenizer", None)
    if codec is not None:
        codec.model.to(target)
        codec.device = target


class Qwen3(Engine):
    name = "qwen3"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        model_path = options.get("model_path")
        if not model_path:
            raise ValueError(
                "qwen3 needs model_path: a local Qwen3-TTS checkpoint folder (e.g. Qwen3-TTS-12Hz-1.7B-CustomVoice)"
            )
        model_path = local_path(model_path, "Qwen3-TTS checkpoint", contains="config.json")
        self.progress("importing torch and qwen_tts")
        import torch
        from qwen_tts import Qwen3TTSModel

        self.torch = torch
        dtype = half_dtype(torch, options.get("dtype", "auto"), device)
        attn = _attention(options.get("attn_implementation", "auto"), device)
        self.progress(f"loading {model_path} ({dtype}, {attn})")
        # On the CPU first, then moved: the wrapper caches its device, so update it too.
        self.tts = Qwen3TTSModel.from_pretrained(model_path, dtype=dtype, attn_implementation=attn, device_map="cpu")
        place(self.tts, torch, device)
        self.prompts: dict[tuple[Any, ...], Any] = {}
        self.mode = str(getattr(self.tts.model, "tts_model_type", "custom_voice"))
        if self.mode not in _MODES:
            raise ValueError(f"unknown Qwen3-TTS model type {self.mode!r}; expected one of {sorted(_MODES)}")
        self.defaults = {k: options[k] for k in _VOICE + _GENERATION + _CALL if k in options}
        if self.mode == "base" and options.get("ref_audio"):
            local_path(options["ref_audio"], "ref_audio")

    def synthesize(self, text: str, **options: Any) -> Audio:
        allowed = _VOICE + _GENERATION + _CALL
        unknown = set(options) - set(allowed)
        if unknown:
            raise TypeError(f"qwen3 has no option(s) {sorted(unknown)}; allowed: {list(allowed)}")
        merged = {**self.defaults, **options}
        kwargs = {k: merged[k] for k in _GENERATION if k in merged}
        language = merged.get("language")
        if self.mode == "custom_voice":
            if not merged.get("speaker"):
                raise ValueError(f"a CustomVoice model needs a speaker; available: {self.speakers()}")
            self.seed(merged.get("seed"))
            wavs, sr = self.tts.generate_custom_voice(
                text=text, speaker=merged["speaker"], language=language, instruct=merged.get("instruct"), **kwargs
            )
        elif self.mode == "voice_design":
            if not merged.get("instruct"):
                raise ValueError("the VoiceDesign model needs an instruct describing the voice")
            self.seed(merged.get("seed"))
            wavs, sr = self.tts.generate_voice_design(
                text=text, instruct=merged["instruct"], language=language, **kwargs
            )
        else:
            ref_audio = merged.get("ref_audio")
            if not ref_audio:
                raise ValueError("a Base (voice clone) model needs ref_audio, and ref_text unless x_vector_only_mode")
            ref_audio = local_path(ref_audio, "ref_audio")
            x_vector_only = bool(merged.get("x_vector_only_mode", False))
            if not x_vector_only and not merged.get("ref_text"):
                raise ValueError(
                    "voice cloning needs ref_text (the transcript of ref_audio), or x_vector_only_mode: true"
                )
            prompt = self.voice_clone_prompt(ref_audio, merged.get("ref_text"), x_vector_only)
            self.seed(merged.get("seed"))
            wavs, sr = self.tts.generate_voice_clone(text=text, language=language, voice_clone_prompt=prompt, **kwargs)
        if not wavs:
            raise RuntimeError("Qwen3-TTS returned no audio")
        return Audio.from_array(wavs[0].astype("float32"), int(sr))

    def seed(self, seed: Any) -> None:
        """Right before a take, so the same seed gives the same take (sampling is on by default)."""
        if seed is not None:
            seed_everything(int(seed))

    def voice_clone_prompt(self, ref_audio: str, ref_text: str | None, x_vector_only: bool) -> Any:
        """The reference voice's prompt (codec codes + x-vector), built once and reused.

        Upstream rebuilds it inside every generate_voice_clone call (encode + speaker
        embedding of ref_audio); a narration calls once per segment, so it is cached per
        reference file (path, size, mtime), transcript and mode.
        """
        stat = os.stat(ref_audio)
        key = (ref_audio, stat.st_size, stat.st_mtime_ns, None if x_vector_only else ref_text, x_vector_only)
        if key not in self.prompts:
            if len(self.prompts) >= _PROMPTS_KEPT:
                self.prompts.pop(next(iter(self.prompts)))
            self.progress(f"building the voice-clone prompt for {ref_audio}")
            self.prompts[key] = self.tts.create_voice_clone_prompt(
                ref_audio=ref_audio, ref_text=ref_text, x_vector_only_mode=x_vector_only
            )
        return self.prompts[key]

    def speakers(self) -> list[str]:
        return list(self.tts.get_supported_speakers() or [])

    def languages(self) -> list[str]:
        return list(self.tts.get_supported_languages() or [])

    def describe(self) -> dict[str, Any]:
        codec = getattr(self.tts.model, "speech_tokenizer", None)
        return {
            "mode": self.mode,
            "sample_rate": 24000,
            "speakers": self.speakers(),
            "languages": self.languages(),
            "options": list(_VOICE + _GENERATION + _CALL),
            "streaming": False,
            "streaming_reason": _NO_STREAMING,
            "device": str(self.tts.device),
            "codec_device": str(getattr(codec, "device", None)) if codec is not None else None,
        }


if __name__ == "__main__":
    raise SystemExit(main(Qwen3))
