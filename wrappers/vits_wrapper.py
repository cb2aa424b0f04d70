"""vits engine: MMS-TTS and other VITS checkpoints through transformers' VitsModel.

MMS-TTS covers over a thousand languages (facebook/mms-tts-<iso>). Give a local
checkpoint folder: nothing is downloaded at run time.

Standalone: envs/vits/.venv/bin/python wrappers/vits_wrapper.py --option model_path=DIR --text "hello" --out x.wav
"""

from __future__ import annotations

from typing import Any

from fanren_worker import Audio, Engine, local_path, main


class Vits(Engine):
    name = "vits"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        model_path = options.get("model_path")
        if not model_path:
            raise ValueError("vits needs model_path: a local VITS/MMS-TTS checkpoint folder")
        model_path = local_path(model_path, "VITS checkpoint", contains="config.json")
        self.progress("importing torch and transformers")
        import torch
        import transformers
        from transformers import AutoTokenizer, VitsModel

        self.torch = torch
        self.progress(f"loading {model_path}")
        # Load on the CPU first, then move: a half-loaded model never sits on the GPU.
        self.model = VitsModel.from_pretrained(model_path, local_files_only=True).eval()
        self.model.to(device)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        self.defaults = {k: options[k] for k in ("speaking_rate", "noise_scale", "seed") if k in options}
        self.transformers_version = transformers.__version__

    def synthesize(
        self, text: str, speaking_rate: float | None = None, noise_scale: float | None = None, seed: int | None = None
    ) -> Audio:
        torch = self.torch
        speaking_rate = speaking_rate if speaking_rate is not None else self.defaults.get("speaking_rate")
        noise_scale = noise_scale if noise_scale is not None else self.defaults.get("noise_scale")
        seed = seed if seed is not None else self.defaults.get("seed")
        inputs = self.tokenizer(text, return_tensors="pt").to(self.model.device)
        if inputs["input_ids"].shape[-1] == 0:
            raise ValueError(f"the tokenizer kept nothing of {text!r}: no character is in this model's vocabulary")
        if speaking_rate is not None:
            self.model.speaking_rate = float(speaking_rate)
        if noise_scale is not None:
            self.model.noise_scale = float(noise_scale)
        if seed is not None:
            torch.manual_seed(int(seed))
        with torch.inference_mode():
            waveform = self.model(**inputs).waveform[0]
        return Audio.from_array(waveform.float().cpu().numpy(), self.model.config.sampling_rate)

    def describe(self) -> dict[str, Any]:
        return {
            "sample_rate": self.model.config.sampling_rate,
            "transformers": self.transformers_version,
            "device": str(self.model.device),
            "options": ["speaking_rate", "noise_scale", "seed"],
        }


if __name__ == "__main__":
    raise SystemExit(main(Vits))
