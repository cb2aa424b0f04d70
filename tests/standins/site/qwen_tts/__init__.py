"""Stand-in for qwen_tts 0.1.1's Qwen3TTSModel (signatures and validation as upstream)."""

import json
import os

import numpy as np
import torch

from standin_log import log

SPEAKERS = ["aiden", "dylan", "eric", "ono_anna", "ryan", "serena", "sohee", "uncle_fu", "vivian"]
LANGUAGES = ["auto", "chinese", "english", "japanese", "korean"]


class _CodecModule(torch.nn.Module):
    def __init__(self, device):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1, device=device))


class _Codec:
    """Like qwen_tts.Qwen3TTSTokenizer: NOT an nn.Module; holds .model and its own .device."""

    def __init__(self, device):
        self.model = _CodecModule(device)
        self.device = torch.device(device)

    def decode(self, n):
        log("codec_decode", device=str(self.device), weights=str(self.model.weight.device))
        return [0.2 + 0.1 * torch.rand(n).numpy().astype(np.float32)], 24000


class _Inner(torch.nn.Module):
    def __init__(self, tts_model_type, device):
        super().__init__()
        self.tts_model_type = tts_model_type
        self.weight = torch.nn.Parameter(torch.zeros(1, device=device))
        self.speech_tokenizer = None  # set after construction, as upstream's load_speech_tokenizer does


class VoiceClonePromptItem:
    def __init__(self, ref_audio, ref_text, x_vector_only_mode):
        self.ref_audio, self.ref_text, self.x_vector_only_mode = ref_audio, ref_text, x_vector_only_mode


class Qwen3TTSModel:
    def __init__(self, model, processor=None, generate_defaults=None):
        self.model = model
        self.device = next(model.parameters()).device

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        with open(os.path.join(pretrained_model_name_or_path, "config.json")) as f:
            config = json.load(f)
        log("from_pretrained", path=pretrained_model_name_or_path, kwargs={k: str(v) for k, v in kwargs.items()})
        # upstream loads the model and its speech tokenizer with the same device_map
        inner = _Inner(config["tts_model_type"], kwargs.get("device_map", "cpu"))
        inner.speech_tokenizer = _Codec(kwargs.get("device_map", "cpu"))
        return cls(inner)

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
        # random like sampling, so seeding is observable; decoded by the codec as upstream does
        return self.model.speech_tokenizer.decode(int(24000 * 0.05 * len(text)))

    def _batch(self, text, **per_item):
        """Upstream takes a str or a list of str for the text and each per-item argument (a
        single value is used for every text); the takes come back as one list."""
        texts = text if isinstance(text, list) else [text]
        spread = {k: (v if isinstance(v, list) else [v] * len(texts)) for k, v in per_item.items()}
        for k, v in spread.items():
            if len(v) != len(texts):
                raise ValueError(f"Batch size mismatch: text={len(texts)}, {k}={len(v)}")
        return [(t, {k: v[i] for k, v in spread.items()}) for i, t in enumerate(texts)]

    def generate_custom_voice(self, text, speaker, language=None, instruct=None, non_streaming_mode=True, **kwargs):
        wavs = []
        for t, item in self._batch(text, speaker=speaker, language=language, instruct=instruct):
            self._check(item["language"], item["speaker"])
            log("generate_custom_voice", text=t, speaker=item["speaker"], language=item["language"],
                instruct=item["instruct"] or None, kwargs=kwargs, device=str(self.device),
                model_device=str(self.model.weight.device))
            wavs += self._wavs(t)[0]
        return wavs, 24000

    def generate_voice_design(self, text, instruct, language=None, non_streaming_mode=True, **kwargs):
        wavs = []
        for t, item in self._batch(text, instruct=instruct, language=language):
            self._check(item["language"])
            log("generate_voice_design", text=t, instruct=item["instruct"], language=item["language"], kwargs=kwargs)
            wavs += self._wavs(t)[0]
        return wavs, 24000

    def create_voice_clone_prompt(self, ref_audio, ref_text=None, x_vector_only_mode=False):
        if self.model.tts_model_type != "base":
            raise ValueError("does not support create_voice_clone_prompt")
        if not x_vector_only_mode and not ref_text:
            raise ValueError("ref_text is required when x_vector_only_mode=False (ICL mode). Bad index=0")
        log("create_voice_clone_prompt", ref_audio=ref_audio, ref_text=ref_text, x_vector_only_mode=x_vector_only_mode)
        return [VoiceClonePromptItem(ref_audio, ref_text, x_vector_only_mode)]

    def generate_voice_clone(self, text, language=None, ref_audio=None, ref_text=None, x_vector_only_mode=False,
                             voice_clone_prompt=None, non_streaming_mode=False, **kwargs):
        if voice_clone_prompt is None:
            if ref_audio is None:
                raise ValueError("Either `voice_clone_prompt` or `ref_audio` must be provided.")
            voice_clone_prompt = self.create_voice_clone_prompt(ref_audio, ref_text, x_vector_only_mode)
            built = "here"
        else:
            built = "given"
        pairs = self._batch(text, language=language)
        if len(voice_clone_prompt) == 1:  # one prompt serves every text, as upstream broadcasts it
            voice_clone_prompt = voice_clone_prompt * len(pairs)
        if len(voice_clone_prompt) != len(pairs):
            raise ValueError(f"Batch size mismatch: prompt={len(voice_clone_prompt)}, text={len(pairs)}")
        wavs = []
        for (t, it), item in zip(pairs, voice_clone_prompt):
            self._check(it["language"])
            log("generate_voice_clone", text=t, ref_audio=item.ref_audio, ref_text=item.ref_text,
                x_vector_only_mode=item.x_vector_only_mode, prompt=built, kwargs=kwargs)
            wavs += self._wavs(t)[0]
        return wavs, 24000
