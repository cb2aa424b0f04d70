"""Build a tiny random-weight IndexTTS 2 checkpoint laid out like IndexTeam/IndexTTS-2.

    envs/indextts/.venv/bin/python scripts/verify/indextts_tiny.py SOURCE OUT

Runs inside the indextts env (it needs torch, transformers, sentencepiece) with the
upstream checkout SOURCE on sys.path: every weight file is the ``state_dict`` of
upstream's own module class built from the tiny ``config.yaml`` written here, so
the real loaders (``load_checkpoint``, ``load_checkpoint2``, ``safetensors.torch.
load_model``, ``from_pretrained``) accept it exactly as they accept the release.

Why some sizes are not tiny: upstream hard-codes the widths that join the models.
The GPT's ``model_dim`` must be 1280 (s2mel's ``gpt_layer`` is ``Linear(1280, ...)``),
w2v-BERT's hidden size must be 1024 (the conditioning encoders take ``input_size=1024``)
and it needs 17 layers (``get_emb`` reads ``hidden_states[17]``); CAMPPlus has a
fixed architecture. Those weights are stored as float16 to halve the files.

OUT gets::

    checkpoints/   config.yaml gpt.pth s2mel.pth bpe.model wav2vec2bert_stats.pt feat1.pt feat2.pt
                   qwen0.6bemo4-merge/ (a tiny Qwen3 causal LM + tokenizer for QwenEmotion)
    aux/           w2v-bert-2.0/ semantic_codec/model.safetensors campplus_cn_common.bin bigvgan/
    prompts/       voice.wav emo.wav (speech-like noise, 22.05 kHz)
"""

from __future__ import annotations

import json
import math
import sys
import wave
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path, and our verify modules there
# (cosyvoice.py, indextts.py, minicpmo.py, ...) would shadow the upstream packages of the
# same name that this builder imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

EMO_NUM = [1, 2, 1, 1, 1, 1, 1, 2]  # the release has [3, 17, 2, 8, 4, 5, 10, 24]
MEL_CODES = 66  # codes 0..63, start 64, stop 65; the codec's codebook covers all of them
TEXT = (
    "你好世界今天天气很好我们一起去公园散步吧这是一个测试欢迎大家来体验谢谢"
    " HELLO WORLD THIS IS A TINY TEST OF INDEX TTS TWO GOOD MORNING THANK YOU"
)


def tiny_config() -> dict[str, Any]:
    """The release's config.yaml keys with tiny sizes (see the module docstring for the fixed ones)."""
    conformer = {
        "output_size": 32,
        "linear_units": 64,
        "attention_heads": 2,
        "num_blocks": 1,
        "input_layer": "conv2d2",
        "perceiver_mult": 2,
    }
    return {
        "dataset": {
            "bpe_model": "bpe.model",
            "sample_rate": 24000,
            "squeeze": False,
            "mel": {
                "sample_rate": 24000,
                "n_fft": 1024,
                "hop_length": 256,
                "win_length": 1024,
                "n_mels": 100,
                "mel_fmin": 0,
                "normalize": False,
            },
        },
        "gpt": {
            "model_dim": 1280,
            "max_mel_tokens": 100,
            "max_text_tokens": 200,
            "heads": 4,
            "use_mel_codes_as_input": True,
            "mel_length_compression": 1024,
            "layers": 1,
            "number_text_tokens": 256,
            "number_mel_codes": MEL_CODES,
            "start_mel_token": MEL_CODES - 2,
            "stop_mel_token": MEL_CODES - 1,
            "start_text_token": 0,
            "stop_text_token": 1,
            "train_solo_embeddings": False,
            "condition_type": "conformer_perceiver",
            "condition_module": dict(conformer),
            "emo_condition_module": dict(conformer),
        },
        "semantic_codec": {
            "codebook_size": MEL_CODES,
            "hidden_size": 1024,
            "codebook_dim": 8,
            "vocos_dim": 32,
            "vocos_intermediate_dim": 64,
            "vocos_num_layers": 1,
        },
        "s2mel": {
            "preprocess_params": {
                "sr": 22050,
                "spect_params": {
                    "n_fft": 1024,
                    "win_length": 1024,
                    "hop_length": 256,
                    "n_mels": 80,
                    "fmin": 0,
                    "fmax": "None",
                },
            },
            "dit_type": "DiT",
            "reg_loss_type": "l1",
            "style_encoder": {"dim": 192},
            "length_regulator": {
                "channels": 64,
                "is_discrete": False,
                "in_channels": 1024,
                "content_codebook_size": 2048,
                "sampling_ratios": [1, 1, 1, 1],
                "vector_quantize": False,
                "n_codebooks": 1,
                "quantizer_dropout": 0.0,
                "f0_condition": False,
                "n_f0_bins": 512,
            },
            "DiT": {
                "hidden_dim": 64,
                "num_heads": 2,
                "depth": 2,
                "class_dropout_prob": 0.1,
                "block_size": 8192,
                "in_channels": 80,
                "style_condition": True,
                "final_layer_type": "wavenet",
                "target": "mel",
                "content_dim": 64,
                "content_codebook_size": 1024,
                "content_type": "discrete",
                "f0_condition": False,
                "n_f0_bins": 512,
                "content_codebooks": 1,
                "is_causal": False,
                "long_skip_connection": True,
                "zero_prompt_speech_token": False,
                "time_as_token": False,
                "style_as_token": False,
                "uvit_skip_connection": True,
                "add_resblock_in_transformer": False,
            },
            "wavenet": {
                "hidden_dim": 64,
                "num_layers": 2,
                "kernel_size": 5,
                "dilation_rate": 1,
                "p_dropout": 0.2,
                "style_condition": True,
            },
        },
        "gpt_checkpoint": "gpt.pth",
        "w2v_stat": "wav2vec2bert_stats.pt",
        "s2mel_checkpoint": "s2mel.pth",
        "emo_matrix": "feat2.pt",
        "spk_matrix": "feat1.pt",
        "emo_num": EMO_NUM,
        "qwen_emo_path": "qwen0.6bemo4-merge/",
        "vocoder": {"type": "bigvgan", "name": "nvidia/bigvgan_v2_22khz_80band_256x"},
        "version": 2.0,
    }


BIGVGAN = {
    "resblock": "1",
    "num_mels": 80,
    "upsample_rates": [4, 4, 4, 4],  # product = hop 256
    "upsample_kernel_sizes": [8, 8, 8, 8],
    "upsample_initial_channel": 64,
    "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3, 5]],
    "use_tanh_at_final": False,
    "use_bias_at_final": False,
    "activation": "snakebeta",
    "snake_logscale": True,
    "sampling_rate": 22050,
    "n_fft": 1024,
    "hop_size": 256,
    "win_size": 1024,
    "fmin": 0,
    "fmax": None,
}


def _half(state: dict[str, Any]) -> dict[str, Any]:
    """Float tensors as float16: the loaders copy them into float32 parameters."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def write_wav(path: Path, seconds: float, rate: int, seed: int) -> None:
    """Speech-like noise: a voiced buzz with a moving pitch and syllable envelope."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 40 * np.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * math.pi * 3.0 * t) ** 2
    signal = 0.3 * envelope * voiced + 0.02 * rng.standard_normal(t.size)
    pcm = (np.clip(signal / np.abs(signal).max(), -1, 1) * 0.8 * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def build_bpe(out: Path) -> None:
    """A sentencepiece BPE trained offline on a few lines (upper-case English, CJK by char)."""
    import sentencepiece as spm

    corpus = out.parent / "bpe_corpus.txt"
    lines = [TEXT, *(" ".join(TEXT.split()[i:]) for i in range(1, 8))]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(out.with_suffix("")),
        vocab_size=120,
        model_type="bpe",
        character_coverage=1.0,
        hard_vocab_limit=False,
        bos_id=1,
        eos_id=2,
        unk_id=0,
        minloglevel=2,
    )
    corpus.unlink()
    out.with_suffix(".vocab").unlink()


CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_qwen_emotion(out: Path) -> None:
    """A tiny Qwen3 causal LM and byte-level BPE tokenizer where QwenEmotion expects them.

    Its final norm is zeroed, so every logit is 0 and greedy decoding picks id 0, the
    end-of-turn token: generation stops at once (upstream asks for up to 32768 new
    tokens) and QwenEmotion falls back to its neutral vector, through its real code.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        [TEXT, "文本情感分类 高兴 愤怒 悲伤 恐惧 反感 低落 惊讶 自然 system user assistant"],
        vocab_size=400,
        min_frequency=1,
        special_tokens=["<|im_end|>", "<|im_start|>", "<|endoftext|>"],  # <|im_end|> is id 0
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        chat_template=CHAT_TEMPLATE,
        model_input_names=["input_ids", "attention_mask"],  # Qwen3 takes no token_type_ids
    )
    tokenizer.save_pretrained(out)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=512,
        eos_token_id=0,
        bos_token_id=1,
        pad_token_id=2,
        tie_word_embeddings=False,
    )
    model = Qwen3ForCausalLM(config)
    with __import__("torch").no_grad():
        model.model.norm.weight.zero_()
    model.save_pretrained(out)


def build(source: Path, out: Path) -> None:
    sys.path.insert(0, str(source))
    import safetensors.torch
    import torch
    import yaml
    from indextts.codec.maskgct_codec import build_semantic_codec
    from indextts.gpt.model_v2 import UnifiedVoice
    from indextts.s2mel.modules.bigvgan.bigvgan import BigVGAN
    from indextts.s2mel.modules.campplus.DTDNN import CAMPPlus
    from indextts.s2mel.modules.commons import MyModel
    from omegaconf import OmegaConf
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    torch.manual_seed(0)
    ckpt, aux, prompts = out / "checkpoints", out / "aux", out / "prompts"
    for d in (ckpt, aux, prompts):
        d.mkdir(parents=True, exist_ok=True)

    config = tiny_config()
    (ckpt / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    cfg = OmegaConf.load(ckpt / "config.yaml")

    gpt = UnifiedVoice(**cfg.gpt)
    with torch.no_grad():  # a random GPT stops after a code or two; make it run to max_mel_tokens
        gpt.mel_head.bias[cfg.gpt.stop_mel_token] = -30.0
    torch.save({"model": _half(gpt.state_dict())}, ckpt / "gpt.pth")

    s2mel = MyModel(cfg.s2mel, use_gpt_latent=True)
    torch.save({"net": {k: m.state_dict() for k, m in s2mel.models.items()}}, ckpt / "s2mel.pth")

    build_bpe(ckpt / "bpe.model")
    build_qwen_emotion(ckpt / str(config["qwen_emo_path"]).rstrip("/"))
    torch.save({"mean": torch.zeros(1024), "var": torch.ones(1024)}, ckpt / "wav2vec2bert_stats.pt")
    torch.save(torch.randn(sum(EMO_NUM), 192), ckpt / "feat1.pt")  # speaker matrix (CAMPPlus style space)
    torch.save(torch.randn(sum(EMO_NUM), 1280) * 0.02, ckpt / "feat2.pt")  # emotion matrix (GPT space)

    w2v_config = Wav2Vec2BertConfig(
        hidden_size=1024,
        num_hidden_layers=17,
        num_attention_heads=4,
        intermediate_size=32,
        conv_depthwise_kernel_size=3,
        left_max_position_embeddings=8,
        right_max_position_embeddings=8,
    )
    w2v = Wav2Vec2BertModel(w2v_config).half()
    w2v.save_pretrained(aux / "w2v-bert-2.0")
    SeamlessM4TFeatureExtractor().save_pretrained(aux / "w2v-bert-2.0")

    codec = build_semantic_codec(cfg.semantic_codec)
    (aux / "semantic_codec").mkdir(exist_ok=True)
    safetensors.torch.save_model(codec, str(aux / "semantic_codec" / "model.safetensors"))

    campplus = CAMPPlus(feat_dim=80, embedding_size=192)
    torch.save(_half(campplus.state_dict()), aux / "campplus_cn_common.bin")

    (aux / "bigvgan").mkdir(exist_ok=True)
    (aux / "bigvgan" / "config.json").write_text(json.dumps(BIGVGAN, indent=2), encoding="utf-8")
    from indextts.s2mel.modules.bigvgan.env import AttrDict as BigVGANDict

    vocoder = BigVGAN(BigVGANDict(BIGVGAN))
    torch.save({"generator": vocoder.state_dict()}, aux / "bigvgan" / "bigvgan_generator.pt")

    write_wav(prompts / "voice.wav", 2.0, 22050, seed=1)
    write_wav(prompts / "emo.wav", 1.5, 16000, seed=2)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    build(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
