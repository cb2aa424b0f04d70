"""voxcpm engine: VoxCPM / VoxCPM 1.5 / VoxCPM2 from the PyPI package voxcpm (``voxcpm.VoxCPM``).

The model folder decides the version (its ``config.json`` ``architecture``); upstream's own
``VoxCPM(...)`` loads it. Modes, as upstream has them:

* zero-shot: text only, the model picks a voice (VoxCPM2 reads a voice description written
  in parentheses at the start of the text, e.g. ``(A warm, low voice)Hello``);
* clone: ``ref_audio`` alone is VoxCPM2's reference clone (no transcript needed);
  ``ref_audio`` + ``ref_text`` is the continuation clone (``prompt_wav_path`` +
  ``prompt_text``), and on VoxCPM2 the same file is its reference too (upstream's
  highest-fidelity clone). VoxCPM 1 / 1.5 clone only with a transcript.
* streaming: upstream's ``generate_streaming`` yields one chunk per generated patch;
  ``stream`` passes each on as it comes.

Nothing downloads at run time: the model folder must be local (``model_path``), the
ZipEnhancer denoiser (a ModelScope model) is used only when ``denoiser_path`` names a
local copy, and HF_HUB_OFFLINE is set before upstream is imported. Output is the
model's rate: 48 kHz (VoxCPM2), 44.1 kHz (VoxCPM 1.5), 16 kHz (VoxCPM 1).

Standalone: envs/voxcpm/.venv/bin/python wrappers/voxcpm_wrapper.py --option model_path=DIR --text "Hi" --out x.wav
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine, local_path, main, seed_everything

#: What a model folder needs, as upstream's loader reads it (any one of each group).
FILES = (
    ("config.json",),
    ("model.safetensors", "pytorch_model.bin"),
    ("audiovae.safetensors", "audiovae.pth"),
    ("tokenizer.json", "tokenizer.model"),
)
_GENERATION = (
    "cfg_value",
    "inference_timesteps",
    "min_len",
    "max_len",
    "normalize",
    "denoise",
    "retry_badcase",
    "retry_badcase_max_times",
    "retry_badcase_ratio_threshold",
)
_VOICE = ("ref_audio", "ref_text", "voice")
_CALL = ("seed",)
LICENSE = "voxcpm and the openbmb/VoxCPM* weights: Apache-2.0"
WEIGHTS = (
    "a local copy of openbmb/VoxCPM2 (or VoxCPM1.5 / VoxCPM-0.5B) from Hugging Face or ModelScope, "
    "named by model_path; nothing is fetched at run time"
)
LANGUAGES = {
    # the 30 of upstream's README (voxcpm 2.0.3), plus Chinese dialects through zh
    "voxcpm2": "ar my zh da nl en fi fr de el he hi id it ja km ko lo ms no pl pt ru es sw sv tl th tr vi".split(),
    "voxcpm": ["zh", "en"],
}


def missing_files(folder: str) -> list[str]:
    """Each required file of a model folder that is absent (``a or b`` where either will do)."""
    return [" or ".join(group) for group in FILES if not any(os.path.exists(os.path.join(folder, f)) for f in group)]


class VoxCPMEngine(Engine):
    name = "voxcpm"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        model_path = options.get("model_path")
        if not model_path:
            raise ValueError(
                "voxcpm needs model_path: a local VoxCPM model folder (openbmb/VoxCPM2 from Hugging Face or "
                "ModelScope: config.json, model.safetensors, audiovae.pth, tokenizer.json)"
            )
        model_path = local_path(model_path, "VoxCPM model folder")
        absent = missing_files(model_path)
        if absent:
            raise FileNotFoundError(
                f"the VoxCPM model folder {model_path} lacks: {', '.join(absent)}. Put the files of "
                "openbmb/VoxCPM2 (huggingface-cli download openbmb/VoxCPM2 --local-dir DIR) there"
            )
        with open(os.path.join(model_path, "config.json"), encoding="utf-8") as f:
            self.architecture = str(json.load(f).get("architecture", "voxcpm")).lower()
        denoiser = options.get("denoiser_path")
        if denoiser:
            denoiser = local_path(denoiser, "ZipEnhancer denoiser folder")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("MODELSCOPE_OFFLINE", "1")
        self.progress("importing torch and voxcpm")
        from voxcpm import VoxCPM

        # torch.compile (upstream's optimize) only works on CUDA; elsewhere upstream warns and skips.
        optimize = bool(options.get("optimize", device.startswith("cuda")))
        self.progress(f"loading {model_path} on {device}")
        self.tts = VoxCPM(
            model_path,
            zipenhancer_model_path=denoiser,
            enable_denoiser=bool(denoiser),
            optimize=optimize,
            device=device if device != "auto" else None,
        )
        self.sample_rate = int(self.tts.tts_model.sample_rate)
        self.model_path = model_path
        self.defaults = {k: options[k] for k in _VOICE + _GENERATION + _CALL if k in options}

    def _kwargs(self, text: str, options: dict[str, Any]) -> dict[str, Any]:
        allowed = _VOICE + _GENERATION + _CALL
        unknown = set(options) - set(allowed)
        if unknown:
            raise TypeError(f"voxcpm has no option(s) {sorted(unknown)}; allowed: {list(allowed)}")
        merged = {**self.defaults, **options}
        if merged.get("voice") not in (None, "", "default"):
            raise ValueError(
                f"voxcpm has no built-in voice {merged['voice']!r}: clone one with ref_audio (+ ref_text), "
                "or store it as a named voice (fanren-tts voices add NAME --audio FILE --text TRANSCRIPT)"
            )
        kwargs: dict[str, Any] = {k: merged[k] for k in _GENERATION if k in merged}
        ref_audio, ref_text = merged.get("ref_audio"), merged.get("ref_text")
        if ref_audio:
            ref_audio = local_path(ref_audio, "ref_audio")
            if ref_text:
                kwargs.update(prompt_wav_path=ref_audio, prompt_text=ref_text)
            if self.architecture == "voxcpm2":
                kwargs["reference_wav_path"] = ref_audio
            elif not ref_text:
                raise ValueError("VoxCPM 1 / 1.5 clone only with a transcript: give ref_text with ref_audio")
        elif ref_text:
            raise ValueError("ref_text is the transcript of ref_audio; give ref_audio too")
        if merged.get("seed") is not None:
            seed_everything(int(merged["seed"]))
        return {"text": text, **kwargs}

    def synthesize(self, text: str, **options: Any) -> Audio:
        wav = self.tts.generate(**self._kwargs(text, options))
        return Audio.from_array(wav.astype("float32"), self.sample_rate)

    def stream(self, text: str, **options: Any) -> Iterator[Audio]:
        """Upstream's own streaming: one chunk per generated patch (its VAE decodes statefully)."""
        kwargs = self._kwargs(text, options)
        kwargs.pop("retry_badcase", None)  # upstream turns it off when streaming (and warns)
        chunks = self.tts.generate_streaming(**kwargs, retry_badcase=False)
        try:
            for chunk in chunks:
                yield Audio.from_array(chunk.astype("float32"), self.sample_rate)
        finally:
            chunks.close()

    def describe(self) -> dict[str, Any]:
        v2 = self.architecture == "voxcpm2"
        return {
            "model": self.architecture,
            "model_path": self.model_path,
            "sample_rate": self.sample_rate,
            "languages": LANGUAGES["voxcpm2" if v2 else "voxcpm"],
            "modes": ["zero_shot", "clone", "reference_clone", "voice_design"] if v2 else ["zero_shot", "clone"],
            "speakers": [],
            "options": list(_VOICE + _GENERATION + _CALL),
            "streaming": True,
            "batch": 1,
            "concurrency": 1,
            "rate_control": None,
            "license": LICENSE,
            "weights": WEIGHTS,
            "device": str(self.tts.tts_model.device),
            "denoiser": self.tts.denoiser is not None,
        }


if __name__ == "__main__":
    raise SystemExit(main(VoxCPMEngine))
