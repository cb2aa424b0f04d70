import os

from indextts._common import record, speech, stream_pieces


class AutoModelForCausalLM:
    """Stands in for ``modelscope.AutoModelForCausalLM`` as infer_v2 imports it."""

    @staticmethod
    def from_pretrained(model_dir, torch_dtype=None, device_map=None):
        record("qwen_emo", model_dir=model_dir, torch_dtype=torch_dtype, device_map=device_map)
        return object()


class QwenEmotion:
    def __init__(self, model_dir):
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype="float16", device_map="auto")


def ensure_models_available(model_dir):
    """Upstream probes huggingface.co / modelscope.cn and downloads four models here."""
    record("download", model_dir=model_dir)
    raise OSError("ensure_models_available would download the auxiliary models")


class IndexTTS2:
    def __init__(self, cfg_path="checkpoints/config.yaml", model_dir="checkpoints", use_fp16=False, device=None,
                 use_cuda_kernel=None, use_deepspeed=False, use_accel=False, use_torch_compile=False,
                 use_qwen_emo=True, aux_paths=None):
        if aux_paths is None:
            aux_paths = ensure_models_available(model_dir)
        if use_qwen_emo:
            self.qwen_emo = QwenEmotion(os.path.join(model_dir, "qwen0.6bemo4-merge"))
        record("init", cls="IndexTTS2", version="2", model_dir=model_dir, use_fp16=use_fp16, device=device,
               use_qwen_emo=use_qwen_emo, aux_paths=aux_paths)

    def infer(self, spk_audio_prompt, text, output_path, emo_audio_prompt=None, emo_alpha=1.0, emo_vector=None,
              use_emo_text=False, emo_text=None, use_random=False, interval_silence=200, verbose=False,
              max_text_tokens_per_segment=120, stream_return=False, more_segment_before=0, **generation_kwargs):
        record("infer", spk_audio_prompt=spk_audio_prompt, text=text, output_path=output_path,
               emo_audio_prompt=emo_audio_prompt, emo_alpha=emo_alpha, emo_vector=emo_vector,
               use_emo_text=use_emo_text, emo_text=emo_text, generation_kwargs=generation_kwargs,
               stream_return=stream_return)
        if stream_return:
            return stream_pieces(22050, text, interval_silence)
        return speech(22050, text)
