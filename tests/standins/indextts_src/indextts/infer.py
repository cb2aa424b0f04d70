import os

os.environ["HF_HUB_CACHE"] = "./checkpoints/hf_cache"  # upstream's import-time side effect

from indextts._common import record, speech


class IndexTTS:
    def __init__(self, cfg_path="checkpoints/config.yaml", model_dir="checkpoints", use_fp16=True, device=None, use_cuda_kernel=None):
        record("init", cls="IndexTTS", cfg_path=cfg_path, model_dir=model_dir, use_fp16=use_fp16, device=device)

    def infer(self, audio_prompt, text, output_path, verbose=False, max_text_tokens_per_segment=120, **generation_kwargs):
        record("infer", audio_prompt=audio_prompt, text=text, output_path=output_path, max_text_tokens_per_segment=max_text_tokens_per_segment, generation_kwargs=generation_kwargs)
        return speech(24000, text)
