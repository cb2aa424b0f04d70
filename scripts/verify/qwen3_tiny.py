"""Build tiny random-weight Qwen3-TTS checkpoints laid out like Qwen/Qwen3-TTS-12Hz-*.

    envs/qwen3/.venv/bin/python scripts/verify/qwen3_tiny.py OUT_DIR

Runs inside the qwen3 env (it needs torch and qwen_tts). Writes OUT_DIR/custom_voice,
OUT_DIR/base and OUT_DIR/voice_design, each with config.json, generation_config.json,
model.safetensors, a Qwen2 byte-level BPE tokenizer (vocab.json, merges.txt,
tokenizer_config.json) and speech_tokenizer/ (the 12 Hz codec: config.json,
preprocessor_config.json, model.safetensors), plus OUT_DIR/ref.wav for voice cloning.

The models are the real upstream classes built from tiny configs and saved with
``save_pretrained``, so ``Qwen3TTSModel.from_pretrained`` reads them exactly as it reads
the released folders. Why the sizes are what they are:

* codec codebooks have K entries; the talker's codec vocab is K + 1024 because upstream
  suppresses the last 1024 ids (the control ids: pad, bos, eos, think, languages,
  speakers) during sampling, so the talker can only emit real codes (< K) or eos;
* the codec keeps the released 12.5 Hz frame rate and 24 kHz output (upsampling
  8*5*4*3*2*2 = 1920 samples per frame), only its widths shrink;
* the speaker encoder keeps 128 mel bins (upstream hard-codes them) and outputs the
  talker width, since its x-vector is spliced into the talker's input embeddings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path, and our verify modules there
# (cosyvoice.py, indextts.py, minicpmo.py, ...) would shadow the upstream packages of the
# same name that this builder imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

K = 64  # codec codebook size
GROUPS = 4  # codebooks per frame (the released models use 16)
WIDTH = 32  # talker / code predictor width
CONTROL = {"pad": K, "bos": K + 1, "eos": K + 2, "think": K + 3, "nothink": K + 4, "think_bos": K + 5}
CONTROL["think_eos"] = K + 6
LANGUAGES = {"chinese": K + 50, "english": K + 51}
SPEAKERS = {"vivian": K + 100, "ryan": K + 101}
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>"]
WORDS = ["assistant", "user", "system"]


def _byte_units() -> list[str]:
    """GPT-2's printable stand-ins for the 256 bytes (what byte-level BPE vocabularies use)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    keep += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = keep[:], 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    table = dict(zip(keep, chars, strict=True))
    return [chr(table[b]) for b in range(256)]


def write_text_tokenizer(folder: Path) -> dict[str, int]:
    """A Qwen2 byte-level BPE: the 256 bytes, merges spelling the chat-template words, the specials.

    Upstream slices the tokenized template by position (``<|im_start|>assistant\\n`` must be
    exactly 3 tokens), so ``assistant`` has to be one token and ``\\n`` another.
    """
    vocab = {unit: i for i, unit in enumerate(_byte_units())}
    merges: list[str] = []
    for word in WORDS:
        for end in range(2, len(word) + 1):
            left, right = word[: end - 1], word[end - 1]
            if word[:end] not in vocab:
                merges.append(f"{left} {right}")
                vocab[word[:end]] = len(vocab)
    ids = {tok: len(vocab) + i for i, tok in enumerate(SPECIALS)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    added = {
        str(i): {
            "content": tok,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for tok, i in ids.items()
    }
    config = {
        "tokenizer_class": "Qwen2Tokenizer",
        "added_tokens_decoder": added,
        "additional_special_tokens": SPECIALS[1:],
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "errors": "replace",
        "model_max_length": 32768,
        "split_special_tokens": False,
        "clean_up_tokenization_spaces": False,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return {**ids, "size": len(vocab) + len(SPECIALS)}


def codec_config() -> dict[str, Any]:
    """The 12 Hz codec (Mimi encoder + Qwen3 decoder) at the released rates, tiny widths."""
    return {
        "model_type": "qwen3_tts_tokenizer_12hz",
        "architectures": ["Qwen3TTSTokenizerV2Model"],
        "encoder_valid_num_quantizers": GROUPS,
        "input_sample_rate": 24000,
        "output_sample_rate": 24000,
        "decode_upsample_rate": 1920,
        "encode_downsample_rate": 1920,
        "encoder_config": {
            "sampling_rate": 24000,
            "frame_rate": 12.5,
            "hidden_size": 16,
            "num_filters": 4,
            "upsampling_ratios": [8, 6, 5, 4],
            "codebook_size": K,
            "codebook_dim": 16,
            "vector_quantization_hidden_dimension": 16,
            "num_quantizers": 8,
            "num_semantic_quantizers": 1,
            "upsample_groups": 16,
            "num_hidden_layers": 1,
            "intermediate_size": 32,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": 8,
        },
        "decoder_config": {
            "codebook_size": K,
            "codebook_dim": 16,
            "hidden_size": 16,
            "latent_dim": 16,
            "intermediate_size": 32,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "num_hidden_layers": 1,
            "num_quantizers": GROUPS,
            "upsample_rates": [8, 5, 4, 3],
            "upsampling_ratios": [2, 2],
            "decoder_dim": 32,
        },
    }


def model_config(kind: str, text: dict[str, int]) -> dict[str, Any]:
    """config.json of one checkpoint: talker + code predictor (+ speaker encoder for Base)."""
    attention = {"num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "num_hidden_layers": 1}
    talker = {
        **attention,
        "vocab_size": K + 1024,
        "hidden_size": WIDTH,
        "intermediate_size": 64,
        "num_code_groups": GROUPS,
        "text_vocab_size": text["size"],
        "text_hidden_size": WIDTH,
        "rope_scaling": {"rope_type": "default", "mrope_section": [2, 3, 3], "interleaved": True},
        "codec_pad_id": CONTROL["pad"],
        "codec_bos_id": CONTROL["bos"],
        "codec_eos_token_id": CONTROL["eos"],
        "codec_think_id": CONTROL["think"],
        "codec_nothink_id": CONTROL["nothink"],
        "codec_think_bos_id": CONTROL["think_bos"],
        "codec_think_eos_id": CONTROL["think_eos"],
        "codec_language_id": LANGUAGES,
        "spk_id": SPEAKERS if kind == "custom_voice" else {},
        "spk_is_dialect": {name: False for name in SPEAKERS} if kind == "custom_voice" else {},
        "code_predictor_config": {
            **attention,
            "vocab_size": K,
            "hidden_size": WIDTH,
            "intermediate_size": 64,
            "num_code_groups": GROUPS,
        },
    }
    return {
        "model_type": "qwen3_tts",
        "architectures": ["Qwen3TTSForConditionalGeneration"],
        "tokenizer_type": "qwen3_tts_tokenizer_12hz",
        "tts_model_size": "1b7",
        "tts_model_type": kind,
        "im_start_token_id": text["<|im_start|>"],
        "im_end_token_id": text["<|im_end|>"],
        "tts_pad_token_id": text["<tts_pad>"],
        "tts_bos_token_id": text["<tts_text_bos>"],
        "tts_eos_token_id": text["<tts_text_eod>"],
        "talker_config": talker,
        "speaker_encoder_config": {
            "mel_dim": 128,
            "enc_dim": WIDTH,
            "enc_channels": [16, 16, 16, 16, 48],
            "enc_kernel_sizes": [5, 3, 3, 3, 1],
            "enc_dilations": [1, 2, 3, 4, 1],
            "enc_attention_channels": 8,
            "enc_res2net_scale": 2,
            "enc_se_channels": 8,
            "sample_rate": 24000,
        },
    }


GENERATION = {
    "do_sample": True,
    "top_k": 50,
    "top_p": 1.0,
    "temperature": 0.9,
    "repetition_penalty": 1.05,
    "subtalker_dosample": True,
    "subtalker_top_k": 50,
    "subtalker_top_p": 1.0,
    "subtalker_temperature": 0.9,
    "max_new_tokens": 16,  # about 1.3 s of codec frames: random weights rarely pick eos
}


def build(out: Path) -> None:
    import numpy as np
    import soundfile as sf
    import torch
    from qwen_tts.core import Qwen3TTSTokenizerV2Config, Qwen3TTSTokenizerV2Model
    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration

    torch.manual_seed(0)
    codec_dir = out / "_codec"
    codec_dir.mkdir(parents=True, exist_ok=True)
    codec_cfg = {k: v for k, v in codec_config().items() if k not in ("model_type", "architectures")}
    codec = Qwen3TTSTokenizerV2Model(Qwen3TTSTokenizerV2Config(**codec_cfg)).eval()
    with torch.no_grad():  # codebooks start at zero (they are learned sums): every code would decode to silence
        for name, tensor in codec.state_dict().items():
            if name.endswith(("embedding_sum", "embed_sum")):
                tensor.normal_()
        # transformers' init (std 0.02) shrinks the signal at every one of the decoder's ~40
        # convolutions; torch's own fan-in init keeps it audible, so noise comes out, not 1e-9.
        for module in codec.decoder.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d, torch.nn.Linear)):
                module.reset_parameters()
    codec.save_pretrained(codec_dir)
    # The hand-written config, as released: save_pretrained would add every default of every
    # sub-config, and upstream's speaker-encoder config rejects keys it does not know.
    (codec_dir / "config.json").write_text(json.dumps(codec_config(), indent=2))
    feature = {
        "feature_extractor_type": "EncodecFeatureExtractor",
        "feature_size": 1,
        "sampling_rate": 24000,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": True,
        "chunk_length_s": None,
        "overlap": None,
    }
    (codec_dir / "preprocessor_config.json").write_text(json.dumps(feature, indent=2))
    for kind in ("custom_voice", "base", "voice_design"):
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        text = write_text_tokenizer(folder)
        cfg = {k: v for k, v in model_config(kind, text).items() if k not in ("model_type", "architectures")}
        model = Qwen3TTSForConditionalGeneration(Qwen3TTSConfig(**cfg)).eval()
        model.save_pretrained(folder)
        (folder / "config.json").write_text(json.dumps(model_config(kind, text), indent=2))
        (folder / "generation_config.json").write_text(json.dumps(GENERATION, indent=2))
        speech = folder / "speech_tokenizer"
        speech.mkdir(exist_ok=True)
        for item in codec_dir.iterdir():
            (speech / item.name).write_bytes(item.read_bytes())
    for item in codec_dir.iterdir():
        item.unlink()
    codec_dir.rmdir()
    t = np.arange(24000) / 24000.0
    rng = np.random.default_rng(0)
    ref = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    sf.write(out / "ref.wav", ref.astype(np.float32), 24000)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: qwen3_tiny.py OUT_DIR")
    build(Path(sys.argv[1]))
