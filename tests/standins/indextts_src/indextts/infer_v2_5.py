from indextts._common import record, speech, stream_pieces


class IndexTTS2:
    def __init__(self, cfg_path="checkpoints/config.yaml", model_dir="checkpoints", use_bf16=False, device=None,
                 use_cuda_kernel=None, use_deepspeed=False, use_accel=False, use_torch_compile=False, use_qwen_emo=False):
        record("init", cls="IndexTTS2", version="2.5", model_dir=model_dir, use_bf16=use_bf16, device=device)

    def infer(self, spk_audio_prompt, text, output_path, lang, emo_audio_prompt=None, emo_alpha=1.0, emo_vector=None,
              use_emo_text=False, emo_text=None, use_random=False, interval_silence=200, verbose=False,
              max_text_tokens_per_segment=120, stream_return=False, more_segment_before=0, duration_factor=1.0,
              text_normalization=True, **generation_kwargs):
        record("infer", spk_audio_prompt=spk_audio_prompt, text=text, lang=lang, emo_vector=emo_vector,
               stream_return=stream_return, duration_factor=duration_factor, generation_kwargs=generation_kwargs)
        if stream_return:
            return stream_pieces(22050, text, interval_silence)
        return speech(22050, text, duration_factor)
