"""Build a tiny random-weight MiniCPM-o 4.5 folder that upstream's own code loads.

    envs/minicpmo/.venv/bin/python scripts/verify/minicpmo_tiny.py SOURCE OUT
    envs/minicpmo/.venv/bin/python scripts/verify/minicpmo_tiny.py --open COPY_OF_OUT

SOURCE holds upstream's model code (``modeling_minicpmo.py`` & co. and the tokenizer files), as
in the model repo openbmb/MiniCPM-o-4_5 or the ``MiniCPMO45/`` folder of
OpenBMB/minicpm-o-4_5-pytorch-simple-demo. OUT becomes a folder laid out like the release:
config.json (auto_map -> the copied code), model.safetensors, tokenizer files,
preprocessor_config.json, and ``assets/CosyVoice2-0.5B`` (cosyvoice2.yaml, flow.pt, hift.pt,
campplus.onnx, speech_tokenizer_v2.onnx, spk2info.pt, CosyVoice-BlankEN tokenizer).

Runs inside the minicpmo env (torch, transformers 4.51.0, cosyvoice-minicpmo). Every size is
tiny; the vocabularies and special-token ids are the real ones, so the real tokenizer and
chat template drive the real code. Nothing from upstream is written except copies of its files.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path, and our verify modules there
# (cosyvoice.py, indextts.py, minicpmo.py, ...) would shadow the upstream packages of the
# same name that this builder imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

CODE = (
    "configuration_minicpmo.py",
    "modeling_minicpmo.py",
    "modeling_navit_siglip.py",
    "processing_minicpmo.py",
    "tokenization_minicpmo_fast.py",
    "utils.py",
)
TOKENIZER = (
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "preprocessor_config.json",
    "generation_config.json",
)
ROOT = Path(__file__).resolve().parents[2]
LLM_HIDDEN = 128  # the vision resampler uses embed_dim // 128 heads, so 128 is the floor
AUDIO_TOKENS = 40  # speech-token vocabulary of the tiny TTS head (the last id is its EOS)
FLOW_VOCAB = 64  # speech tokens the tiny CosyVoice2 flow embeds (>= AUDIO_TOKENS)

# Our own tiny CosyVoice2 config, in the layout of CosyVoice2-0.5B/cosyvoice2.yaml; no `llm:` section:
# upstream's CosyVoice2 for MiniCPM-o builds CosyVoice2Model(None, flow, hift) and never loads llm.pt.
COSYVOICE2_YAML = """\
sample_rate: 24000
spk_embed_dim: 192
qwen_pretrain_path: ''
token_frame_rate: 25
token_mel_ratio: 2
chunk_size: 25
num_decoding_left_chunks: -1

flow: !new:cosyvoice.flow.flow.CausalMaskedDiffWithXvec
    input_size: 512  # upstream's UpsampleConformerEncoder hard-codes 512 channels (PreLookaheadLayer, Upsample1D)
    output_size: 80
    spk_embed_dim: !ref <spk_embed_dim>
    output_type: 'mel'
    vocab_size: {flow_vocab}
    input_frame_rate: !ref <token_frame_rate>
    only_mask_loss: True
    token_mel_ratio: !ref <token_mel_ratio>
    pre_lookahead_len: 3
    encoder: !new:cosyvoice.transformer.upsample_encoder.UpsampleConformerEncoder
        output_size: 512
        attention_heads: 2
        linear_units: 64
        num_blocks: 1
        dropout_rate: 0.0
        positional_dropout_rate: 0.0
        attention_dropout_rate: 0.0
        normalize_before: True
        input_layer: 'linear'
        pos_enc_layer_type: 'rel_pos_espnet'
        selfattention_layer_type: 'rel_selfattn'
        input_size: 512
        use_cnn_module: False
        macaron_style: False
        static_chunk_size: !ref <chunk_size>
    decoder: !new:cosyvoice.flow.flow_matching.CausalConditionalCFM
        in_channels: 240
        n_spks: 1
        spk_emb_dim: 80
        cfm_params: !new:omegaconf.DictConfig
            content:
                sigma_min: 1e-06
                solver: 'euler'
                t_scheduler: 'cosine'
                training_cfg_rate: 0.2
                inference_cfg_rate: 0.7
                reg_loss_type: 'l1'
        estimator: !new:cosyvoice.flow.decoder.CausalConditionalDecoder
            in_channels: 320
            out_channels: 80
            channels: [32]
            dropout: 0.0
            attention_head_dim: 16
            n_blocks: 1
            num_mid_blocks: 1
            num_heads: 2
            act_fn: 'gelu'
            static_chunk_size: !ref <chunk_size> * <token_mel_ratio>
            num_decoding_left_chunks: !ref <num_decoding_left_chunks>

hift: !new:cosyvoice.hifigan.generator.HiFTGenerator
    in_channels: 80
    base_channels: 16
    nb_harmonics: 8
    sampling_rate: !ref <sample_rate>
    nsf_alpha: 0.1
    nsf_sigma: 0.003
    nsf_voiced_threshold: 10
    upsample_rates: [8, 5, 3]
    upsample_kernel_sizes: [16, 11, 7]
    istft_params:
        n_fft: 16
        hop_len: 4
    resblock_kernel_sizes: [3]
    resblock_dilation_sizes: [[1, 3, 5]]
    source_resblock_kernel_sizes: [7, 7, 11]
    source_resblock_dilation_sizes: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    lrelu_slope: 0.1
    audio_limit: 0.99
    f0_predictor: !new:cosyvoice.hifigan.f0_predictor.ConvRNNF0Predictor
        num_class: 1
        in_channels: 80
        cond_channels: 16

feat_extractor: !name:matcha.utils.audio.mel_spectrogram
    n_fft: 1920
    num_mels: 80
    sampling_rate: !ref <sample_rate>
    hop_size: 480
    win_size: 1920
    fmin: 0
    fmax: 8000
    center: False

get_tokenizer: !name:cosyvoice.tokenizer.tokenizer.get_qwen_tokenizer
    token_path: !ref <qwen_pretrain_path>
    skip_special_tokens: True
allowed_special: 'all'
"""


def code_folder(source: Path) -> Path:
    """The folder that holds modeling_minicpmo.py: SOURCE itself or SOURCE/MiniCPMO45."""
    for candidate in (source, source / "MiniCPMO45"):
        if (candidate / "modeling_minicpmo.py").is_file():
            return candidate
    raise FileNotFoundError(f"no modeling_minicpmo.py in {source} or {source / 'MiniCPMO45'}")


def copy_upstream(src: Path, out: Path) -> None:
    for name in CODE + TOKENIZER:
        f = src / name
        if name == "tokenizer.json" and (not f.is_file() or f.stat().st_size == 0):
            continue  # a checkout without git-lfs has an empty one: rebuilt from vocab.json + merges.txt below
        if not f.is_file():
            raise FileNotFoundError(f"{f} is missing from the upstream checkout")
        shutil.copy2(f, out / name)


def config_dict(vocab: int, tok: Any) -> dict[str, Any]:
    ids = tok.convert_tokens_to_ids
    return {
        "architectures": ["MiniCPMO"],
        "auto_map": {
            "AutoConfig": "configuration_minicpmo.MiniCPMOConfig",
            "AutoModel": "modeling_minicpmo.MiniCPMO",
            "AutoModelForCausalLM": "modeling_minicpmo.MiniCPMO",
        },
        "model_type": "minicpmo",
        "torch_dtype": "bfloat16",
        # Qwen3 backbone
        "vocab_size": vocab,
        "hidden_size": LLM_HIDDEN,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 64,
        "max_position_embeddings": 4096,
        "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "bos_token_id": ids("<|endoftext|>"),
        "eos_token_id": ids("<|im_end|>"),
        # MiniCPM-o parts
        "init_vision": True,
        "init_audio": True,
        "init_tts": True,
        "query_num": 64,
        "image_size": 448,
        "drop_vision_last_layer": False,
        "slice_config": {"max_slice_nums": 9, "patch_size": 14, "scale_resolution": 448, "model_type": "minicpmv"},
        "vision_config": {
            "model_type": "siglip",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
            "patch_size": 14,
            "image_size": 980,
        },
        "audio_config": {
            "model_type": "whisper",
            "d_model": 64,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 256,  # the projector's input is encoder_ffn_dim // 4 == d_model
            "decoder_layers": 1,
            "decoder_attention_heads": 2,
            "decoder_ffn_dim": 256,
            "num_mel_bins": 80,
            "max_source_positions": 1500,
        },
        "audio_pool_step": 5,
        "audio_chunk_length": 1.0,
        "tts_config": {
            "llm_dim": LLM_HIDDEN,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "num_hidden_layers": 1,
            "max_position_embeddings": 4096,
            "num_audio_tokens": AUDIO_TOKENS,
            "num_text_tokens": vocab,  # emb_text embeds the LLM's own token ids
            "audio_bos_token_id": ids("<|audio_start|>"),
            "text_eos_token_id": ids("<|tts_eos|>"),
            "backbone_model": "llama",
            "condition_type": "hidden_text_merge",
            "projector_type": "mlp",
            "normalize_projected_hidden": True,
            "audio_tokenizer_type": "s3tokenizer",
            "s3_stream_generate": False,
            "interleaved": False,
        },
    }


def build_llm(out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoTokenizer, Qwen2TokenizerFast
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    sys.path[:0] = [str(ROOT / "fanren_tts" / "_runtime"), str(ROOT / "wrappers")]
    from minicpmo_wrapper import optional_imports_allowed

    tok = AutoTokenizer.from_pretrained(out, trust_remote_code=True)
    if not (out / "tokenizer.json").is_file():
        tok.backend_tokenizer.save(str(out / "tokenizer.json"))
    vocab = len(tok)
    (out / "config.json").write_text(json.dumps(config_dict(vocab, tok), indent=2))
    config = AutoConfig.from_pretrained(out, trust_remote_code=True)
    with optional_imports_allowed():  # the same check_imports workaround the wrapper needs
        model_cls = get_class_from_dynamic_module("modeling_minicpmo.MiniCPMO", str(out))
    torch.manual_seed(0)
    model = model_cls(config)
    with torch.no_grad():  # upstream's init leaves some tensors empty(); make every weight small and finite
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    close_speech_span(model, tok.convert_tokens_to_ids("<|tts_eos|>"))
    keep = json.loads((out / "config.json").read_text())
    model.save_pretrained(out, safe_serialization=True)
    (out / "config.json").write_text(json.dumps(keep, indent=2))  # keep the release's auto_map / layout
    blank = out / "assets" / "CosyVoice2-0.5B" / "CosyVoice-BlankEN"
    blank.mkdir(parents=True, exist_ok=True)
    Qwen2TokenizerFast(tokenizer_file=str(out / "tokenizer.json")).save_pretrained(blank)


def close_speech_span(model: Any, tts_eos: int) -> None:
    """Make the tiny LLM answer <|tts_eos|>, as the real one does once it has read the text.

    Random weights never emit it, and upstream's speech step then fails (its LLM-token and
    hidden-state slices differ by one). So: layers add nothing to the residual stream (o_proj and
    down_proj zero), every token embedding has +1 in dimension 0, and only the <|tts_eos|> row of
    lm_head reads that dimension. The rest of the network stays random and still runs.
    """
    import torch

    llm = model.llm
    with torch.no_grad():
        for layer in llm.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        llm.model.embed_tokens.weight[:, 0] = 1.0
        llm.model.norm.weight.fill_(1.0)
        llm.lm_head.weight[:, 0] = 0.0
        llm.lm_head.weight[tts_eos, 0] = 5.0


def build_cosyvoice2(folder: Path) -> None:
    """flow.pt / hift.pt from our tiny yaml, plus two tiny ONNX models with the real inputs and outputs."""
    import torch
    from hyperpyyaml import load_hyperpyyaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cosyvoice2.yaml").write_text(COSYVOICE2_YAML.replace("{flow_vocab}", str(FLOW_VOCAB)))
    with open(folder / "cosyvoice2.yaml") as f:
        configs = load_hyperpyyaml(f, overrides={"qwen_pretrain_path": str(folder / "CosyVoice-BlankEN")})
    torch.manual_seed(1)
    for name in ("flow", "hift"):
        module = configs[name]
        with torch.no_grad():
            for p in module.parameters():
                p.normal_(0.0, 0.05)
        torch.save(module.state_dict(), folder / f"{name}.pt")
    torch.save({}, folder / "spk2info.pt")

    class Campplus(torch.nn.Module):
        """fbank [1, T, 80] -> speaker embedding [1, 192]."""

        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(80, 192)

        def forward(self, feats: torch.Tensor) -> torch.Tensor:
            return self.proj(feats.mean(dim=1))

    class SpeechTokenizer(torch.nn.Module):
        """whisper log-mel [1, 128, T] at 100 Hz + length -> speech tokens [1, T/4] (25 Hz)."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(128, FLOW_VOCAB, kernel_size=4, stride=4)

        def forward(self, feats: torch.Tensor, feats_length: torch.Tensor) -> torch.Tensor:
            return self.conv(feats).argmax(dim=1).to(torch.int32) + 0 * feats_length[0]

    torch.onnx.export(
        Campplus(),
        (torch.randn(1, 100, 80),),
        str(folder / "campplus.onnx"),
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {1: "T"}},
        dynamo=False,
    )
    torch.onnx.export(
        SpeechTokenizer(),
        (torch.randn(1, 128, 400), torch.tensor([400], dtype=torch.int32)),
        str(folder / "speech_tokenizer_v2.onnx"),
        input_names=["feats", "feats_length"],
        output_names=["indices"],
        dynamic_axes={"feats": {2: "T"}, "indices": {1: "T4"}},
        dynamo=False,
    )


def open_speech_span(folder: Path) -> None:
    """A copy of the tiny model whose LLM never answers <|tts_eos|> (the lm_head row that reads
    dimension 0 is zeroed), so it writes ``max_new_tokens`` tokens.

    For upstream's streaming path: its chunk_generate() fails on ``torch.cat([])`` when the very
    first token is a terminator (utils.py, "special case"), which the real model never does, since
    it reads the text first; the closed tiny LLM does it every time.
    """
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    tts_eos = AutoTokenizer.from_pretrained(folder, trust_remote_code=True).convert_tokens_to_ids("<|tts_eos|>")
    weights = load_file(folder / "model.safetensors")
    weights["llm.lm_head.weight"][tts_eos, 0] = 0.0
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--open":
        open_speech_span(Path(argv[1]).resolve())
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source, out = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    copy_upstream(code_folder(source), out)
    build_llm(out)
    build_cosyvoice2(out / "assets" / "CosyVoice2-0.5B")
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
