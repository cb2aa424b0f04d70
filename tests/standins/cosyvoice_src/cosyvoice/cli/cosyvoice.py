"""Stand-in for cosyvoice/cli/cosyvoice.py: signatures as of ace7c47 (prompt_wav paths);
STANDIN_COSYVOICE_LEGACY=1 gives the pre-622a3a1 prompt_speech_16k tensors instead,
STANDIN_COSYVOICE3_NO_INSTRUCT2=1 the CosyVoice3(CosyVoice) of e3c2400 (no inference_instruct2),
STANDIN_COSYVOICE_OLD_WETEXT=1 the frontend before 7538c6a, which let a wetext failure propagate."""

import os

import torch

from standin_log import log

LEGACY = os.environ.get("STANDIN_COSYVOICE_LEGACY") == "1"


class _Session:
    """onnxruntime.InferenceSession as seen on a CUDA box whose CUDA provider did not load."""

    def get_providers(self):
        return ["CPUExecutionProvider"]


class _FrontEnd:
    """Holds spk2info like upstream's CosyVoiceFrontEnd: sft speakers carry an 'embedding'.

    Text normalization as upstream loads it: wetext, whose failure is silent at HEAD
    (text_frontend = '') and fatal before 7538c6a."""

    def __init__(self):
        self.spk2info = {"中文女": {"embedding": torch.zeros(1, 192)}, "中文男": {"embedding": torch.zeros(1, 192)}}
        self.speech_tokenizer_session = _Session()
        from wetext import Normalizer

        if os.environ.get("STANDIN_COSYVOICE_OLD_WETEXT") == "1":
            self.zh_tn_model = Normalizer(remove_erhua=False)
            return
        try:
            self.zh_tn_model = Normalizer(remove_erhua=False)
            self.text_frontend = "wetext"
        except Exception:
            self.zh_tn_model = None
            self.text_frontend = ""

    def text_normalize(self, text):
        return self.zh_tn_model.normalize(text) if self.zh_tn_model is not None else text


class _Model:
    """CosyVoice2Model's streaming bookkeeping as upstream has it (cli/model.py, which
    CosyVoice3Model inherits): 25 speech tokens a second, each chunk ``token_hop_len``
    tokens, the hop multiplied by ``stream_scale_factor`` on the shared model after each
    chunk, up to ``token_max_hop_len``, and never reset."""

    def __init__(self, rate):
        self.rate = rate
        self.token_hop_len = 25
        self.token_max_hop_len = 4 * self.token_hop_len
        self.stream_scale_factor = 2

    def tts(self, tokens, stream=False):
        per_token = self.rate // 25
        offset = 0
        while stream and tokens - offset >= self.token_hop_len:
            hop = self.token_hop_len
            yield {"tts_speech": 0.25 + 0.1 * torch.rand(1, hop * per_token)}
            offset += hop
            self.token_hop_len = min(self.token_max_hop_len, self.token_hop_len * self.stream_scale_factor)
        yield {"tts_speech": 0.25 + 0.1 * torch.rand(1, max(1, tokens - offset) * per_token)}


class CosyVoice:
    yaml = "cosyvoice.yaml"
    rate = 22050
    streams_by_hop = False  # CosyVoice 1 keeps its hop in a local variable

    def __init__(self, model_dir, load_jit=False, load_trt=False, fp16=False, trt_concurrent=1):
        self._init(model_dir, load_jit=load_jit, load_trt=load_trt, fp16=fp16)

    def _init(self, model_dir, **kwargs):
        if not os.path.exists(os.path.join(model_dir, self.yaml)):
            raise ValueError(f"{model_dir} has no {self.yaml}")
        log(
            "init",
            cls=type(self).__name__,
            model_dir=model_dir,
            kwargs=kwargs,
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        )
        self.model_dir = model_dir
        self.sample_rate = self.rate
        self.frontend = _FrontEnd()
        if self.streams_by_hop:
            self.model = _Model(self.rate)

    def list_available_spks(self):
        return list(self.frontend.spk2info.keys())

    def add_zero_shot_spk(self, prompt_text, prompt_wav, zero_shot_spk_id):
        assert zero_shot_spk_id != "", "do not use empty zero_shot_spk_id"
        log("add_zero_shot_spk", prompt_text=prompt_text, prompt_wav=prompt_wav, spk=zero_shot_spk_id, pid=os.getpid())
        self.frontend.spk2info[zero_shot_spk_id] = {
            "prompt_text": prompt_text,
            "llm_embedding": torch.zeros(1, 192),
            "flow_embedding": torch.zeros(1, 192),
        }
        return True

    def _speech(self, text, speed, stream=False):
        if stream and self.streams_by_hop:
            yield from self.model.tts(int(len(text) * 0.05 * 25), stream=True)
            return
        # two yields, as upstream gives one per text segment: 0.05 s per character in all;
        # the samples come from torch's RNG, as upstream's sampling does
        n = max(1, int(self.sample_rate * 0.05 * len(text) / speed))
        for part in (n // 2, n - n // 2):
            yield {"tts_speech": 0.25 + 0.1 * torch.rand(1, part)}

    def inference_sft(self, tts_text, spk_id, stream=False, speed=1.0, text_frontend=True):
        log("inference_sft", tts_text=tts_text, spk_id=spk_id, stream=stream, speed=speed, text_frontend=text_frontend, normalized=self.frontend.text_normalize(tts_text))
        if speed != 1.0:
            assert stream is False
        yield from self._speech(tts_text, speed, stream)

    if LEGACY:
        def inference_zero_shot(self, tts_text, prompt_text, prompt_speech_16k, zero_shot_spk_id="", stream=False, speed=1.0, text_frontend=True):
            log("inference_zero_shot", tts_text=tts_text, prompt_text=prompt_text, prompt_speech_16k=list(getattr(prompt_speech_16k, "shape", [])), zero_shot_spk_id=zero_shot_spk_id, speed=speed)
            yield from self._speech(tts_text, speed)
    else:
        def inference_zero_shot(self, tts_text, prompt_text, prompt_wav, zero_shot_spk_id="", stream=False, speed=1.0, text_frontend=True):
            log("inference_zero_shot", tts_text=tts_text, prompt_text=prompt_text, prompt_wav=prompt_wav, stream=stream, speed=speed, text_frontend=text_frontend, zero_shot_spk_id=zero_shot_spk_id)
            yield from self._speech(tts_text, speed, stream)

    def inference_cross_lingual(self, tts_text, prompt_wav, zero_shot_spk_id="", stream=False, speed=1.0, text_frontend=True):
        log("inference_cross_lingual", tts_text=tts_text, prompt_wav=prompt_wav, speed=speed, zero_shot_spk_id=zero_shot_spk_id)
        yield from self._speech(tts_text, speed, stream)

    def inference_instruct(self, tts_text, spk_id, instruct_text, stream=False, speed=1.0, text_frontend=True):
        assert self.__class__.__name__ == "CosyVoice", "inference_instruct is only implemented for CosyVoice!"
        log("inference_instruct", tts_text=tts_text, spk_id=spk_id, instruct_text=instruct_text)
        yield from self._speech(tts_text, speed)


class CosyVoice2(CosyVoice):
    yaml = "cosyvoice2.yaml"
    rate = 24000
    streams_by_hop = True

    def __init__(self, model_dir, load_jit=False, load_trt=False, load_vllm=False, fp16=False, trt_concurrent=1):
        self._init(model_dir, load_jit=load_jit, load_trt=load_trt, load_vllm=load_vllm, fp16=fp16)

    def inference_instruct2(self, tts_text, instruct_text, prompt_wav, zero_shot_spk_id="", stream=False, speed=1.0, text_frontend=True):
        log("inference_instruct2", tts_text=tts_text, instruct_text=instruct_text, prompt_wav=prompt_wav, speed=speed)
        yield from self._speech(tts_text, speed, stream)


_CV3_BASE = CosyVoice if os.environ.get("STANDIN_COSYVOICE3_NO_INSTRUCT2") == "1" else CosyVoice2


class CosyVoice3(_CV3_BASE):
    yaml = "cosyvoice3.yaml"
    rate = 24000
    streams_by_hop = True

    def __init__(self, model_dir, load_trt=False, load_vllm=False, fp16=False, trt_concurrent=1):
        self._init(model_dir, load_trt=load_trt, load_vllm=load_vllm, fp16=fp16)
