"""Build a tiny random VoxCPM2 model folder that upstream's own loader accepts.

    <envs/voxcpm python> scripts/verify/voxcpm_tiny.py OUT_DIR

Runs inside the voxcpm env (torch, transformers, tokenizers, voxcpm). The folder is laid
out like the released ``openbmb/VoxCPM2``: ``config.json`` (``architecture: voxcpm2``),
``model.safetensors`` (everything but the AudioVAE), ``audiovae.pth``
(``{"state_dict": ...}``), and a Llama fast tokenizer (``tokenizer.json``,
``tokenizer_config.json``, ``special_tokens_map.json``). The weights come from
constructing upstream's own ``VoxCPM2Model`` / ``AudioVAEV2`` from the tiny config, so
the state dicts are exactly what ``VoxCPM2Model.from_local`` builds and loads.

VoxCPM's sizes all come from ``config.json``, so everything shrinks except what fixes
the audio: the 64-dim latent (``feat_dim``), the patch size 4, the AudioVAE's rates
(16 kHz in at 640 samples per latent frame, 48 kHz out at 1920), and the four special
token ids 101..104 that the model hard-codes (so the vocabulary is larger than 104).
The tokenizer is ours: one token per character of printable ASCII and of the few CJK
characters the verify texts use, ``<unk>`` for the rest. Nothing is downloaded.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

# Run as a script, this folder is first on sys.path; keep our verify modules from
# shadowing upstream packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

HIDDEN = 64
HEADS = 4
HEAD_DIM = HIDDEN // HEADS
SPECIAL = ["<unk>", "<s>", "</s>"]
RESERVED = 110  # ids below this are specials/reserved: the model uses 101..104 itself
CJK = "你好世界今天天气很好第一句话二这是参考音频的文本同一个种子再说遍"


def config() -> dict:
    rope = {
        "type": "longrope",
        "long_factor": [1.0] * (HEAD_DIM // 2),
        "short_factor": [1.0] * (HEAD_DIM // 2),
        "original_max_position_embeddings": 4096,
    }
    lm = {
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_size": HIDDEN,
        "intermediate_size": 2 * HIDDEN,
        "max_position_embeddings": 4096,
        "num_attention_heads": HEADS,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5,
        "rope_scaling": rope,
        "vocab_size": len(vocab()),
        "use_mup": False,
        "scale_emb": 12,
        "dim_model_base": 256,
        "scale_depth": 1.4,
        "rope_theta": 10000.0,
        "kv_channels": HEAD_DIM,
    }
    small = {"hidden_dim": HIDDEN, "ffn_dim": 2 * HIDDEN, "num_heads": HEADS, "num_layers": 1, "kv_channels": HEAD_DIM}
    return {
        "architecture": "voxcpm2",
        "lm_config": lm,
        "patch_size": 4,
        "feat_dim": 64,
        "residual_lm_num_layers": 1,
        "scalar_quantization_latent_dim": 32,
        "scalar_quantization_scale": 9,
        "encoder_config": small,
        "dit_config": {**small, "cfm_config": {"sigma_min": 1e-6, "solver": "euler", "t_scheduler": "log-norm"}},
        "audio_vae_config": {
            "encoder_dim": 16,
            "encoder_rates": [2, 5, 8, 8],
            "latent_dim": 64,
            "decoder_dim": 128,
            "decoder_rates": [8, 6, 5, 2, 2, 2],
            "depthwise": True,
            "sample_rate": 16000,
            "out_sample_rate": 48000,
            "cond_dim": 16,
        },
        "max_length": 4096,
        "device": "cuda",
        "dtype": "float32",
    }


def vocab() -> dict[str, int]:
    tokens = SPECIAL + [f"<reserved_{i}>" for i in range(len(SPECIAL), RESERVED)]
    chars = ["▁"] + [chr(c) for c in range(33, 127)] + list(dict.fromkeys(CJK)) + list("，。！？、：；")
    return {t: i for i, t in enumerate(tokens + chars)}


def write_tokenizer(out: Path) -> None:
    """A character-level Llama fast tokenizer (BPE with no merges), saved by transformers."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import LlamaTokenizerFast

    core = Tokenizer(models.BPE(vocab=vocab(), merges=[], unk_token="<unk>", fuse_unk=True))
    core.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    core.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    core.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Strip(" ", 1, 0)])
    fast = LlamaTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>", add_bos_token=False
    )
    fast.save_pretrained(str(out))


def build(out: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaTokenizerFast
    from voxcpm.model.voxcpm2 import VoxCPM2Model, VoxCPMConfig
    from voxcpm.modules.audiovae import AudioVAEConfigV2, AudioVAEV2

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cfg = config()
    (out / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    write_tokenizer(out)
    tokenizer = LlamaTokenizerFast.from_pretrained(str(out))
    vae = AudioVAEV2(config=AudioVAEConfigV2(**cfg["audio_vae_config"]))
    model = VoxCPM2Model(VoxCPMConfig(**cfg), tokenizer, vae, device="cpu")
    # A random stop head may never say "stop" within max_len (4096 patches, minutes of
    # noise). Make it always say "stop": upstream then ends a take right after its
    # min_len patches (``i > min_len``), so a take's length is min_len + 2 patches.
    with torch.no_grad():
        model.stop_proj.weight.zero_()
        model.stop_proj.bias.fill_(4.0)
        model.stop_head.weight[0].fill_(-1.0)
        model.stop_head.weight[1].fill_(1.0)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    vae_state = {k[len("audio_vae.") :]: v for k, v in state.items() if k.startswith("audio_vae.")}
    lm_state = {k: v for k, v in state.items() if not k.startswith("audio_vae.")}
    save_file(lm_state, str(out / "model.safetensors"))
    torch.save({"state_dict": vae_state}, out / "audiovae.pth")
    params = sum(math.prod(v.shape) for v in state.values())
    print(f"tiny VoxCPM2 in {out}: {params} parameters")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    build(Path(sys.argv[1]).resolve())
