"""Stand-in for MiniCPM-o 4.5's modeling_minicpmo.MiniCPMO, with upstream's init_tts/chat signatures.

Loaded by real transformers through config.json's auto_map (trust_remote_code). chat() writes a
24 kHz take drawn from torch's RNG (so seeds matter) and, like upstream, swallows any error of its
speech step with a printed traceback: text containing FAIL makes that step fail.

Streaming as upstream's "Simplex Streaming": init_tts(streaming=True) swaps in the Token2wav vocoder
(tokenizer type s3tokenizer_step_audio), which streaming_generate() needs, while chat() needs the
CosyVoice2 one (s3tokenizer); each refuses the other's, as upstream raises NotImplementedError.
streaming_generate() yields (waveform [1, n], text) chunks of 1 s, 0.1 s per character in all.
"""

import os
import traceback
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import soundfile as sf
import torch
from transformers import PreTrainedModel

from standin_log import log

from .configuration_minicpmo import MiniCPMOConfig

# As upstream (MiniCPM-o 4.5): an import behind a switch, which transformers' check_imports still demands.
if os.getenv("USE_FLAGOS") == "1":
    import flag_gems  # noqa: F401


@dataclass
class TTSSamplingParams:
    top_p: float = 0.85
    min_p: float = 0.01
    top_k: int = 25
    repetition_penalty: float = 1.05
    temperature: float = 0.8
    win_size: int = 16
    tau_r: float = 0.1


class MiniCPMO(PreTrainedModel):
    config_class = MiniCPMOConfig
    _supports_sdpa = True  # upstream inherits it from Qwen3PreTrainedModel

    def __init__(self, config):
        super().__init__(config)
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.tts = SimpleNamespace(audio_tokenizer=None, config=SimpleNamespace(audio_tokenizer_type="s3tokenizer"))
        self.session = None

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, config=None, **kwargs):
        log(
            "from_pretrained",
            path=str(pretrained_model_name_or_path),
            kwargs={k: str(v) for k, v in kwargs.items()},
            attn=config._attn_implementation,
            init={"vision": config.init_vision, "audio": config.init_audio, "tts": config.init_tts},
        )
        return cls(config)

    def to(self, *args, **kwargs):
        log("to", device=str(args[0] if args else kwargs.get("device")))
        return self

    def init_tts(self, streaming=False, model_dir=None, enable_float16=False, n_timesteps=10):
        log("init_tts", streaming=streaming, model_dir=model_dir)
        if streaming:
            if not os.path.exists(os.path.join(model_dir, "flow.yaml")):
                raise FileNotFoundError(f"Missing Step-Audio2 model files under {model_dir}: ['flow.yaml']")
            self.tts.config.audio_tokenizer_type = "s3tokenizer_step_audio"
            self.tts.audio_tokenizer = "token2wav"
            return self.tts.audio_tokenizer
        if not os.path.exists(os.path.join(model_dir, "cosyvoice2.yaml")):
            raise ValueError(f"{model_dir}/cosyvoice2.yaml not found!")
        self.tts.config.audio_tokenizer_type = "s3tokenizer"
        self.tts.audio_tokenizer = "cosyvoice2"
        return self.tts.audio_tokenizer

    def reset_session(self, reset_token2wav_cache=True):
        log("reset_session")
        self.session, self.prefilled = None, []

    def init_token2wav_cache(self, prompt_speech_16k):
        log("init_token2wav_cache", samples=int(prompt_speech_16k.size), vocoder=self.tts.audio_tokenizer)

    def streaming_prefill(self, session_id, msgs, omni_mode=True, max_slice_nums=None, use_tts_template=True,
                          enable_thinking=False, is_last_chunk=False, **kwargs):
        assert session_id is not None, "session_id cannot be None"
        assert len(msgs) == 1
        (msg,) = msgs
        self.session = session_id
        self.prefilled.append(msg)
        log("streaming_prefill", role=msg["role"], text=[c for c in msg["content"] if isinstance(c, str)],
            audio=[int(c.size) for c in msg["content"] if isinstance(c, np.ndarray)], omni_mode=omni_mode,
            is_last_chunk=is_last_chunk, use_tts_template=use_tts_template)
        return ""

    @torch.inference_mode()
    def streaming_generate(self, session_id, bos_input=None, generate_audio=True, audio_token_chunk_size=25,
                           tts_sampling_params: TTSSamplingParams = TTSSamplingParams(), max_new_tokens=256,
                           enable_thinking=False, use_tts_template=True, do_sample=True,
                           enable_speculative_snapshot=False, **kwargs):
        log("streaming_generate", session_same=session_id == self.session, generate_audio=generate_audio,
            max_new_tokens=max_new_tokens, do_sample=do_sample, kwargs=kwargs, tts=vars(tts_sampling_params),
            vocoder=self.tts.audio_tokenizer)
        if self.tts.config.audio_tokenizer_type != "s3tokenizer_step_audio":
            raise NotImplementedError(f"not supported audio tokenizer: {self.tts.config.audio_tokenizer_type}")
        text = self.prefilled[-1]["content"][0]
        left = 2400 * len(text)
        while left > 0:
            n = min(left, 24000)
            yield (torch.rand(1, n) - 0.5), text[:1]
            left -= n

    @torch.inference_mode()
    def chat(
        self,
        image=None,
        msgs=None,
        max_new_tokens=4096,
        min_new_tokens=0,
        do_sample=True,
        use_tts_template=False,
        generate_audio=False,
        output_audio_path=None,
        tts_sampling_params: TTSSamplingParams = TTSSamplingParams(),
        **kwargs,
    ):
        system, user = msgs
        audio = [c for c in system["content"] if isinstance(c, np.ndarray)]
        log(
            "chat",
            system=[c for c in system["content"] if isinstance(c, str)],
            ref_audio_samples=[int(a.size) for a in audio],
            ref_audio_dtype=[str(a.dtype) for a in audio],
            user=user["content"],
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            use_tts_template=use_tts_template,
            generate_audio=generate_audio,
            kwargs=kwargs,
            tts=vars(tts_sampling_params),
            vocoder=self.tts.audio_tokenizer,
        )
        if self.tts.config.audio_tokenizer_type != "s3tokenizer":
            raise NotImplementedError
        if use_tts_template and generate_audio and output_audio_path:
            try:
                if "FAIL" in user["content"][0]:
                    raise RuntimeError("stand-in vocoder exploded")
                if len(user["content"][0]) > max_new_tokens:  # upstream's error when <|tts_eos|> never came
                    raise RuntimeError("The size of tensor a (16) must match the size of tensor b (15)")
                wave = (torch.rand(2400 * len(user["content"][0])) - 0.5).numpy()
                sf.write(output_audio_path, wave, samplerate=24000)
            except:  # noqa: E722 - upstream's chat() does exactly this
                traceback.print_exc()
        return "answer"
