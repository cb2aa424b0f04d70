"""Build a tiny random-weight IndexTTS 1.5 checkpoint laid out like IndexTeam/IndexTTS-1.5.

    envs/indextts/.venv/bin/python scripts/verify/indextts_tiny_v15.py SOURCE OUT

Like ``indextts_tiny.py`` (same env, upstream on sys.path, weights are the
``state_dict`` of upstream's own classes): ``config.yaml``, ``gpt.pth``,
``bigvgan_generator.pth`` and ``bpe.model`` in OUT/checkpoints_v15. IndexTTS 1.5
joins its models through config values only, so every size here is tiny; the
BigVGAN decodes GPT latents at the code rate, so its upsampling is the GPT's
``mel_length_compression`` (1024 samples at 24 kHz).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from indextts_tiny import MEL_CODES, build_bpe

# Run as a script, this folder comes first on sys.path, and our verify modules there
# (cosyvoice.py, indextts.py, minicpmo.py, ...) would shadow the upstream packages of the
# same name that this builder imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

MODEL_DIM = 64


def tiny_config() -> dict[str, Any]:
    """The release's config.yaml keys that infer.py reads, with tiny sizes."""
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
            "model_dim": MODEL_DIM,
            "max_mel_tokens": 100,
            "max_text_tokens": 200,
            "heads": 2,
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
            "condition_module": {
                "output_size": 32,
                "linear_units": 64,
                "attention_heads": 2,
                "num_blocks": 1,
                "input_layer": "conv2d2",
                "perceiver_mult": 2,
            },
        },
        "bigvgan": {  # the keys BigVGAN/models.py reads, plus the audio facts
            "resblock": "1",
            "upsample_rates": [8, 8, 4, 4],  # product = mel_length_compression
            "upsample_kernel_sizes": [16, 16, 8, 8],
            "upsample_initial_channel": 64,
            "resblock_kernel_sizes": [3],
            "resblock_dilation_sizes": [[1, 3, 5]],
            "feat_upsample": False,
            "speaker_embedding_dim": 32,
            "cond_d_vector_in_each_upsampling_layer": True,
            "gpt_dim": MODEL_DIM,
            "activation": "snakebeta",
            "snake_logscale": True,
            "num_mels": 100,
            "n_fft": 1024,
            "hop_size": 256,
            "win_size": 1024,
            "sampling_rate": 24000,
            "fmin": 0,
            "fmax": None,
        },
        "gpt_checkpoint": "gpt.pth",
        "bigvgan_checkpoint": "bigvgan_generator.pth",
        "version": 1.5,
    }


def build(source: Path, out: Path) -> None:
    sys.path.insert(0, str(source))
    import torch
    import yaml
    from indextts.BigVGAN.models import BigVGAN
    from indextts.gpt.model import UnifiedVoice
    from omegaconf import OmegaConf

    torch.manual_seed(0)
    ckpt = out / "checkpoints_v15"
    ckpt.mkdir(parents=True, exist_ok=True)
    (ckpt / "config.yaml").write_text(yaml.safe_dump(tiny_config(), sort_keys=False), encoding="utf-8")
    cfg = OmegaConf.load(ckpt / "config.yaml")

    gpt = UnifiedVoice(**cfg.gpt)
    with torch.no_grad():  # as for IndexTTS 2: run to max_mel_tokens instead of stopping at once
        gpt.mel_head.bias[cfg.gpt.stop_mel_token] = -30.0
    torch.save({"model": gpt.state_dict()}, ckpt / "gpt.pth")

    vocoder = BigVGAN(cfg.bigvgan)
    torch.save({"generator": vocoder.state_dict()}, ckpt / "bigvgan_generator.pth")
    build_bpe(ckpt / "bpe.model")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    build(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
