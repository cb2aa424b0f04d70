"""Stand-in for qwen_tts 0.1.1's Qwen3TTSModel (signatures and validation as upstream)."""

import json
import os

import numpy as np
import torch

from standin_log import log

SPEAKERS = ["aiden", "dylan", "eric", "ono_anna", "ryan", "serena", "sohee", "uncle_fu", "vivian"]
LANGUAGES = ["auto", "chinese", "english", "japanese", "korean"]


class _Inner(torch.nn.Module):
    def __init__(self, tts_model_type):
        super().__init__()
        self.tts_model_type = tts_model_type
        self.weight = torch.nn.Parameter(torch.zeros(1))


class Qwen3TTSModel:
    def __init__(self, model, processor=None, generate_defaults=None):
        self.model = model
        self.device = next(model.parameters()).device

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        with open(os.path.join(pretrained_model_name_or_path, "config.json")) as f:
            config = json.load(f)
        log("from_pretrained", path=pretrained_model_name_or_path, kwargs={k: str(v) for k, v in kwargs.items()})
        return cls(_Inner(config["tts_model_type"]))

    def get_supported_speakers(self):
        return SPEAKERS if self.model.tts_model_type == "custom_voice" else None

    def get_supported_languages(self):
        return LANGUAGES

    def _check(self, language, speaker=None):
        if language is not None and language.lower() not in LANGUAGES:
            raise ValueError(f"Unsupported languages: [{language!r}]. Supported: {LANGUAGES}")
        if speaker and speaker.lower() not in SPEAKERS:
            raise ValueError(f"Unsupported speakers: [{speaker!r}]. Supported: {SPEAKERS}")

    def _wavs(self, text):
        return [np.full(int(24000 * 0.05 * len(text)), 0.2, dtype=np.float32)], 24000

    def generate_custom_voice(self, text, speaker, language=None, instruct=None, non_streaming_mode=True, **kwargs):
        self._check(language, speaker)
        log("generate_custom_voice", text=text, speaker=speaker, language=language, instruct=instruct, kwargs=kwargs,
            device=str(self.device))
        return self._wavs(text)

    def generate_voice_design(self, text, instruct, language=None, non_streaming_mode=True, **kwargs):
        self._check(language)
        log("generate_voice_design", text=text, instruct=instruct, language=language, kwargs=kwargs)
        return self._wavs(text)

    def generate_voice_clone(self, text, language=None, ref_audio=None, ref_text=None, x_vector_only_mode=False,
                             voice_clone_prompt=None, non_streaming_mode=False, **kwargs):
        self._check(language)
        if not x_vector_only_mode and not ref_text:
            raise ValueError("ref_text is required when x_vector_only_mode=False (ICL mode).")
        log("generate_voice_clone", text=text, ref_audio=ref_audio, ref_text=ref_text, x_vector_only_mode=x_vector_only_mode)
        return self._wavs(text)
