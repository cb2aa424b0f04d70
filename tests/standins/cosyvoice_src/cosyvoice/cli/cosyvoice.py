"""Stand-in for cosyvoice/cli/cosyvoice.py: signatures as of ace7c47 (prompt_wav paths);
STANDIN_COSYVOICE_LEGACY=1 gives the pre-622a3a1 prompt_speech_16k tensors instead."""

import os

import torch

from standin_log import log

LEGACY = os.environ.get("STANDIN_COSYVOICE_LEGACY") == "1"


class CosyVoice:
    yaml = "cosyvoice.yaml"
    rate = 22050

    def __init__(self, model_dir, load_jit=False, load_trt=False, fp16=False, trt_concurrent=1):
        self._init(model_dir, load_jit=load_jit, load_trt=load_trt, fp16=fp16)

    def _init(self, model_dir, **kwargs):
        if not os.path.exists(os.path.join(model_dir, self.yaml)):
            raise ValueError(f"{model_dir} has no {self.yaml}")
        log("init", cls=type(self).__name__, model_dir=model_dir, kwargs=kwargs)
        self.model_dir = model_dir
        self.sample_rate = self.rate
        self.spk2info = {"中文女": None, "中文男": None}

    def list_available_spks(self):
        return list(self.spk2info.keys())

    def add_zero_shot_spk(self, prompt_text, prompt_wav, zero_shot_spk_id):
        log("add_zero_shot_spk", prompt_text=prompt_text, prompt_wav=prompt_wav, spk=zero_shot_spk_id)
        self.spk2info[zero_shot_spk_id] = prompt_text
        return True

    def _speech(self, text, speed):
        # two yields, as upstream gives one per text segment: 0.05 s per character in all
        n = max(1, int(self.sample_rate * 0.05 * len(text) / speed))
        for part in (n // 2, n - n // 2):
            yield {"tts_speech": torch.full((1, part), 0.25)}

    def inference_sft(self, tts_text, spk_id, stream=False, speed=1.0, text_frontend=True):
        log("inference_sft", tts_text=tts_text, spk_id=spk_id, stream=stream, speed=speed, text_frontend=text_frontend)
        if speed != 1.0:
            assert stream is False
        yield from self._speech(tts_text, speed)

    if LEGACY:
        def inference_zero_shot(self, tts_text, prompt_text, prompt_speech_16k, zero_shot_spk_id="", stream=False, speed=1.0, text_frontend=True):
            log("inference_zero_shot", tts_text=tts_text, prompt_text=prompt_text, prompt_speech_16k=list(prompt_speech_16k.shape), speed=speed)
            yield from self._speech(tts_text, speed)
    else:
        def inference_zero_shot(self, tts_text, prompt_text, prompt_wav, zero_shot_spk_id="", stream=False, speed=1.0, text_frontend=True):
            log("inference_zero_shot", tts_text=tts_text, prompt_text=prompt_text, prompt_wav=prompt_wav, stream=stream, speed=speed, text_frontend=text_frontend)
            yield from self._speech(tts_text, speed)

    def inference_cross_lingual(self, tts_text, prompt_wav, zero_shot_spk_id="", stream=False, speed=1.0, text_frontend=True):
        log("inference_cross_lingual", tts_text=tts_text, prompt_wav=prompt_wav, speed=speed)
        yield from self._speech(tts_text, speed)

    def inference_instruct(self, tts_text, spk_id, instruct_text, stream=False, speed=1.0, text_frontend=True):
        assert self.__class__.__name__ == "CosyVoice", "inference_instruct is only implemented for CosyVoice!"
        log("inference_instruct", tts_text=tts_text, spk_id=spk_id, instruct_text=instruct_text)
        yield from self._speech(tts_text, speed)


class CosyVoice2(CosyVoice):
    yaml = "cosyvoice2.yaml"
    rate = 24000

    def __init__(self, model_dir, load_jit=False, load_trt=False, load_vllm=False, fp16=False, trt_concurrent=1):
        self._init(model_dir, load_jit=load_jit, load_trt=load_trt, load_vllm=load_vllm, fp16=fp16)

    def inference_instruct2(self, tts_text, instruct_text, prompt_wav, zero_shot_spk_id="", stream=False, speed=1.0, text_frontend=True):
        log("inference_instruct2", tts_text=tts_text, instruct_text=instruct_text, prompt_wav=prompt_wav, speed=speed)
        yield from self._speech(tts_text, speed)


class CosyVoice3(CosyVoice2):
    yaml = "cosyvoice3.yaml"

    def __init__(self, model_dir, load_trt=False, load_vllm=False, fp16=False, trt_concurrent=1):
        self._init(model_dir, load_trt=load_trt, load_vllm=load_vllm, fp16=fp16)
