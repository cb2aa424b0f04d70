"""Save a tiny, randomly initialized VITS checkpoint (run with a vits env's interpreter).

python build_tiny_vits.py OUT_DIR
"""

import json
import os
import sys

import torch
from transformers import VitsConfig, VitsModel, VitsTokenizer

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
chars = list("abcdefghijklmnopqrstuvwxyz '.,!?")
vocab = {c: i for i, c in enumerate(chars)}
with open(os.path.join(out, "vocab.json"), "w") as f:
    json.dump(vocab, f)
tok = VitsTokenizer(os.path.join(out, "vocab.json"), add_blank=True, normalize=True, phonemize=False)
torch.manual_seed(0)
cfg = VitsConfig(
    vocab_size=len(vocab),
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    ffn_dim=32,
    flow_size=16,
    spectrogram_bins=17,
    upsample_initial_channel=16,
    upsample_rates=[4, 4],
    upsample_kernel_sizes=[8, 8],
    resblock_kernel_sizes=[3],
    resblock_dilation_sizes=[[1, 3]],
    prior_encoder_num_flows=1,
    prior_encoder_num_wavenet_layers=1,
    posterior_encoder_num_wavenet_layers=1,
    duration_predictor_num_flows=1,
    duration_predictor_filter_channels=16,
    depth_separable_num_layers=1,
    sampling_rate=16000,
)
model = VitsModel(cfg)
model.save_pretrained(out)
tok.save_pretrained(out)
print(sum(p.numel() for p in model.parameters()))
