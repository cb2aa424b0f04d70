"""indextts engine: IndexTTS 1 / 1.5, IndexTTS2 and IndexTTS 2.5 from a local checkout.

``source_path`` is a clone of index-tts/index-tts (or leave it out if indextts is
importable), ``model_dir`` the checkpoints folder of the chosen ``version``. A
speaker prompt (``spk_audio_prompt``) is required; IndexTTS2 adds emotion by
audio prompt, by an 8-float vector or by text, scaled by ``emo_alpha``.

Nothing downloads at run time: HF_HUB_OFFLINE is on unless you set it, and
IndexTTS2's auxiliary models (w2v-bert, MaskGCT codec, campplus, BigVGAN) are
read from ``aux_paths``.

Standalone: envs/indextts/.venv/bin/python wrappers/indextts_wrapper.py \
    --option source_path=~/index-tts --option model_dir=~/index-tts/checkpoints \
    --option spk_audio_prompt=voice.wav --text "你好" --out x.wav
"""

from __future__ import annotations

import os
import sys
from typing import Any

from fanren_worker import Audio, Engine, local_path, main

VERSIONS = {
    "1": ("indextts.infer", "IndexTTS"),
    "1.5": ("indextts.infer", "IndexTTS"),
    "2": ("indextts.infer_v2", "IndexTTS2"),
    "2.5": ("indextts.infer_v2_5", "IndexTTS2"),
}
EMOTIONS = ["happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm"]
_GENERATION = (
    "do_sample",
    "top_p",
    "top_k",
    "temperature",
    "length_penalty",
    "num_beams",
    "repetition_penalty",
    "max_mel_tokens",
)
_V2_CALL = ("emo_audio_prompt", "emo_alpha", "emo_vector", "use_emo_text", "emo_text", "use_random", "interval_silence")
_CALL = ("spk_audio_prompt", "max_text_tokens_per_segment", "lang", *_V2_CALL, *_GENERATION)


class IndexTTSEngine(Engine):
    name = "indextts"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        self.version = str(options.get("version", "2"))
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}, got {self.version!r}")
        source = options.get("source_path")
        if source:
            sys.path.insert(0, local_path(source, "IndexTTS source (tts.indextts.source_path)", contains="indextts"))
        if not options.get("model_dir"):
            raise ValueError("indextts needs model_dir: the local checkpoints folder")
        self.model_dir = local_path(options["model_dir"], "IndexTTS checkpoints folder")
        cfg_path = local_path(options.get("cfg_path") or os.path.join(self.model_dir, "config.yaml"), "IndexTTS config")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        hub_cache = os.environ.get("HF_HUB_CACHE")
        module_name, class_name = VERSIONS[self.version]
        self.progress(f"importing {module_name}")
        import importlib

        module = importlib.import_module(module_name)
        if hub_cache is None:  # infer.py points HF_HUB_CACHE at ./checkpoints/hf_cache on import
            os.environ["HF_HUB_CACHE"] = os.path.join(self.model_dir, "hf_cache")
        else:
            os.environ["HF_HUB_CACHE"] = hub_cache
        cls = getattr(module, class_name)
        kwargs: dict[str, Any] = {"cfg_path": cfg_path, "model_dir": self.model_dir, "device": device}
        half = bool(options.get("use_fp16" if self.version != "2.5" else "use_bf16", False)) and device.startswith(
            "cuda"
        )
        kwargs["use_bf16" if self.version == "2.5" else "use_fp16"] = half  # upstream also refuses half on mps/cpu
        if "use_cuda_kernel" in options:
            kwargs["use_cuda_kernel"] = bool(options["use_cuda_kernel"]) and device.startswith("cuda")
        if self.version in ("2", "2.5"):
            kwargs["use_qwen_emo"] = bool(options.get("use_qwen_emo", self.version == "2"))
        if self.version == "2":
            aux = options.get("aux_paths")
            if aux:
                aux = {k: local_path(v, f"IndexTTS2 aux model {k}") for k, v in aux.items()}
            kwargs["aux_paths"] = aux or None
        self.progress(f"loading IndexTTS {self.version} from {self.model_dir}")
        self.model = cls(**kwargs)
        self.sample_rate = 24000 if self.version in ("1", "1.5") else 22050
        self.defaults = {k: options[k] for k in _CALL if k in options}

    def synthesize(self, text: str, **options: Any) -> Audio:
        unknown = set(options) - set(_CALL)
        if unknown:
            raise TypeError(f"indextts has no option(s) {sorted(unknown)}; allowed: {list(_CALL)}")
        o = {**self.defaults, **options}
        prompt = o.get("spk_audio_prompt")
        if not prompt:
            raise ValueError("indextts needs spk_audio_prompt: a WAV of the voice to speak with")
        prompt = local_path(prompt, "spk_audio_prompt")
        gen = {k: o[k] for k in _GENERATION if k in o}
        if "max_text_tokens_per_segment" in o:
            gen["max_text_tokens_per_segment"] = int(o["max_text_tokens_per_segment"])
        if self.version in ("1", "1.5"):
            v2_only = sorted(k for k in _V2_CALL if k in o)
            if v2_only:
                raise ValueError(f"{', '.join(v2_only)} need IndexTTS 2 or 2.5 (this is {self.version})")
            result = self.model.infer(prompt, text, None, **gen)
        else:
            emotion = self._emotion(o)
            if self.version == "2.5":
                if not o.get("lang"):
                    raise ValueError("IndexTTS 2.5 needs lang, e.g. ZH or EN")
                result = self.model.infer(prompt, text, None, o["lang"], **emotion, **gen)
            else:
                result = self.model.infer(prompt, text, None, **emotion, **gen)
        if result is None:
            raise RuntimeError(f"IndexTTS produced no audio for {text!r}")
        sample_rate, wav = result
        return Audio.from_array(wav, int(sample_rate))

    def _emotion(self, o: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "emo_vector" in o and o["emo_vector"] is not None:
            vector = [float(x) for x in o["emo_vector"]]
            if len(vector) != len(EMOTIONS):
                raise ValueError(f"emo_vector needs {len(EMOTIONS)} floats in the order {EMOTIONS}")
            out["emo_vector"] = vector
        if o.get("emo_audio_prompt"):
            out["emo_audio_prompt"] = local_path(o["emo_audio_prompt"], "emo_audio_prompt")
        if o.get("use_emo_text") or o.get("emo_text"):
            out["use_emo_text"] = True
            out["emo_text"] = o.get("emo_text")
        if "emo_alpha" in o:
            out["emo_alpha"] = min(1.0, max(0.0, float(o["emo_alpha"])))
        for key in ("use_random", "interval_silence"):
            if key in o:
                out[key] = o[key]
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model_dir": self.model_dir,
            "sample_rate": self.sample_rate,
            "emotions": EMOTIONS if self.version in ("2", "2.5") else [],
            "languages": ["zh", "en", "ja", "es"] if self.version == "2.5" else ["zh", "en"],
            "options": list(_CALL),
        }


if __name__ == "__main__":
    raise SystemExit(main(IndexTTSEngine))
