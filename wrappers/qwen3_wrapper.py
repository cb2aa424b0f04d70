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
    # Protocol 4: batching (``synthesize_batch``); requests share a batch only with the
    # same reference voice and sampling settings. No concurrency: one torch model's
    # generate() is not documented thread-safe (its KV caches live in each call, but the
    # wrapper's prompt cache and torch's own thread pool are shared), and batching is
    # the path upstream offers.
    default_max_batch = 8
    batch_keys = ("ref_audio", "ref_text", "x_vector_only_mode", *_GENERATION)

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
        self.batched_calls = 0  # upstream calls that took more than one text (describe shows it)
        self.mode = str(getattr(self.tts.model, "tts_model_type", "custom_voice"))
        if self.mode not in _MODES:
            raise ValueError(f"unknown Qwen3-TTS model type {self.mode!r}; expected one of {sorted(_MODES)}")
        self.defaults = {k: options[k] for k in _VOICE + _GENERATION + _CALL if k in options}
        if self.mode == "base" and options.get("ref_audio"):
            local_path(options["ref_audio"], "ref_audio")

    def synthesize(self, text: str, **options: Any) -> Audio:
        merged = self._merged(options)
        self.seed(merged.get("seed"))
        return self._generate([text], [merged])[0]

    def synthesize_batch(self, requests: list[dict[str, Any]]) -> list[Audio | dict[str, Any] | Exception]:
        """Several requests in one ``generate_*`` call: qwen-tts takes lists of texts (and of
        speakers, languages and instructs), pads them and decodes them together. The batcher
        groups only requests whose ``batch_keys`` agree (one reference voice, one set of
        sampling settings). A seeded request runs alone, so a seed gives the same take
        whatever else is in flight; a request whose options are wrong fails alone."""
        out: list[Audio | dict[str, Any] | Exception] = [RuntimeError("not run")] * len(requests)
        together: list[tuple[int, str, dict[str, Any]]] = []
        for i, request in enumerate(requests):
            options = dict(request)
            text = options.pop("text", "")
            try:
                merged = self._merged(options)
                if merged.get("seed") is not None:
                    self.seed(merged["seed"])
                    out[i] = self._generate([text], [merged])[0]
                else:
                    together.append((i, text, merged))
            except Exception as exc:
                out[i] = exc
        if together:
            audios = self._generate([t for _, t, _ in together], [m for _, _, m in together])
            for (i, _, _), audio in zip(together, audios, strict=True):
                out[i] = audio
        return out

    def _merged(self, options: dict[str, Any]) -> dict[str, Any]:
        """The call's options over the engine's defaults, checked for what this mode needs."""
        allowed = _VOICE + _GENERATION + _CALL
        unknown = set(options) - set(allowed)
        if unknown:
            raise TypeError(f"qwen3 has no option(s) {sorted(unknown)}; allowed: {list(allowed)}")
        merged = {**self.defaults, **options}
        if self.mode == "custom_voice" and not merged.get("speaker"):
            raise ValueError(f"a CustomVoice model needs a speaker; available: {self.speakers()}")
        if self.mode == "voice_design" and not merged.get("instruct"):
            raise ValueError("the VoiceDesign model needs an instruct describing the voice")
        if self.mode == "base":
            if not merged.get("ref_audio"):
                raise ValueError("a Base (voice clone) model needs ref_audio, and ref_text unless x_vector_only_mode")
            merged["ref_audio"] = local_path(merged["ref_audio"], "ref_audio")
            if not merged.get("x_vector_only_mode", False) and not merged.get("ref_text"):
                raise ValueError(
                    "voice cloning needs ref_text (the transcript of ref_audio), or x_vector_only_mode: true"
                )
        return merged

    def _generate(self, texts: list[str], items: list[dict[str, Any]]) -> list[Audio]:
        """One upstream call for ``texts``; per-item voice fields go as lists, the sampling
        settings (the same for every item: see ``batch_keys``) from the first."""
        first = items[0]
        kwargs = {k: first[k] for k in _GENERATION if k in first}
        self.batched_calls += len(texts) > 1
        languages = [m.get("language") or "Auto" for m in items]
        if self.mode == "custom_voice":
            wavs, sr = self.tts.generate_custom_voice(
                text=texts,
                speaker=[m["speaker"] for m in items],
                language=languages,
                instruct=[m.get("instruct") or "" for m in items],
                **kwargs,
            )
        elif self.mode == "voice_design":
            wavs, sr = self.tts.generate_voice_design(
                text=texts, instruct=[m["instruct"] for m in items], language=languages, **kwargs
            )
        else:
            x_vector_only = bool(first.get("x_vector_only_mode", False))
            prompt = self.voice_clone_prompt(first["ref_audio"], first.get("ref_text"), x_vector_only)
            wavs, sr = self.tts.generate_voice_clone(
                text=texts, language=languages, voice_clone_prompt=prompt, **kwargs
            )
        if len(wavs or []) != len(texts):
            raise RuntimeError(f"Qwen3-TTS returned {len(wavs or [])} takes for {len(texts)} texts")
        return [Audio.from_array(w.astype("float32"), int(sr)) for w in wavs]

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
            "batched_calls": self.batched_calls,
            "device": str(self.tts.device),
            "codec_device": str(getattr(codec, "device", None)) if codec is not None else None,
        }


if __name__ == "__main__":
    raise SystemExit(main(Qwen3))
