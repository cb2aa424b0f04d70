"""Stand-in for MiniCPM-o 4.5's modeling_minicpmo.MiniCPMO, with upstream's init_tts/chat signatures.

Loaded by real transformers through config.json's auto_map (trust_remote_code). chat() writes a
24 kHz take drawn from torch's RNG (so seeds matter) and, like upstream, swallows any error of its
speech step with a printed traceback: text containing FAIL makes that step fail.
"""

import os
import traceback
from dataclasses import dataclass

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
        self.tts = None

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
        if not os.path.exists(os.path.join(model_dir, "cosyvoice2.yaml")):
            raise ValueError(f"{model_dir}/cosyvoice2.yaml not found!")
        self.tts = "cosyvoice2"

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
            vocoder=self.tts,
        )
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
