"""Build tiny random CosyVoice 2 / 3 model folders that upstream's own loader accepts.

    <env python> scripts/verify/cosyvoice_tiny.py SOURCE OUT_DIR {2,3} [...]

Runs inside the cosyvoice env (it needs torch, transformers, hyperpyyaml and the
upstream source on ``sys.path``). Each folder is laid out like the released
``CosyVoice2-0.5B`` / ``Fun-CosyVoice3-0.5B``: ``cosyvoice{2,3}.yaml``, ``llm.pt``,
``flow.pt``, ``hift.pt``, ``CosyVoice-BlankEN/`` (Qwen2 config, weights and
tokenizer files), ``campplus.onnx``, ``speech_tokenizer_v{2,3}.onnx`` and
``spk2info.pt``. The weights are made by constructing upstream's modules from our
tiny yaml (so the state dicts match what its loader builds) and saving them.

Only sizes that upstream does not hard-code are shrunk: 80 mel bins, the flow
encoder's 512 channels (``PreLookaheadLayer(512, ...)`` is fixed in CosyVoice 2),
the 6561 speech tokens, 24 kHz with 480-sample hops and the Qwen2 vocabulary size
stay real; ``<|endofprompt|>`` must be token 151646 because CosyVoice3LM asserts
that id.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, and our verify modules there
# (cosyvoice.py, indextts.py, minicpmo.py, ...) would shadow the upstream packages of the
# same name that this builder imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

ENDOFPROMPT_ID = 151646  # hard-coded in cosyvoice/llm/llm.py (CosyVoice3LM.inference)
QWEN_VOCAB = 151936  # Qwen2.5-0.5B's embedding rows: every added special token fits
SPEAKER = "中文女"

_COMMON = """\
sample_rate: 24000
llm_input_size: {hidden}
llm_output_size: {hidden}
spk_embed_dim: 192
qwen_pretrain_path: ''
token_frame_rate: 25
token_mel_ratio: 2
chunk_size: 25
num_decoding_left_chunks: -1
"""

_LLM = """\
llm: !new:cosyvoice.llm.llm.{llm_class}
    llm_input_size: !ref <llm_input_size>
    llm_output_size: !ref <llm_output_size>
    speech_token_size: 6561
    length_normalized_loss: True
    lsm_weight: 0
    mix_ratio: [5, 15]
    llm: !new:cosyvoice.llm.llm.Qwen2Encoder
        pretrain_path: !ref <qwen_pretrain_path>
    sampling: !name:cosyvoice.utils.common.ras_sampling
        top_p: 0.8
        top_k: 25
        win_size: 10
        tau_r: 0.1
"""

_CFM = """\
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
"""

_FLOW2 = (
    """\
flow: !new:cosyvoice.flow.flow.CausalMaskedDiffWithXvec
    input_size: 512
    output_size: 80
    spk_embed_dim: !ref <spk_embed_dim>
    output_type: 'mel'
    vocab_size: 6561
    input_frame_rate: !ref <token_frame_rate>
    only_mask_loss: True
    token_mel_ratio: !ref <token_mel_ratio>
    pre_lookahead_len: 3
    encoder: !new:cosyvoice.transformer.upsample_encoder.UpsampleConformerEncoder
        output_size: 512
        attention_heads: 2
        linear_units: 64
        num_blocks: 1
        dropout_rate: 0.1
        positional_dropout_rate: 0.1
        attention_dropout_rate: 0.1
        normalize_before: True
        input_layer: 'linear'
        pos_enc_layer_type: 'rel_pos_espnet'
        selfattention_layer_type: 'rel_selfattn'
        input_size: 512
        use_cnn_module: False
        macaron_style: False
        static_chunk_size: !ref <chunk_size>
"""
    + _CFM
    + """\
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
"""
)

_FLOW3 = (
    """\
flow: !new:cosyvoice.flow.flow.CausalMaskedDiffWithDiT
    input_size: 80
    output_size: 80
    spk_embed_dim: !ref <spk_embed_dim>
    output_type: 'mel'
    vocab_size: 6561
    input_frame_rate: !ref <token_frame_rate>
    only_mask_loss: True
    token_mel_ratio: !ref <token_mel_ratio>
    pre_lookahead_len: 3
    pre_lookahead_layer: !new:cosyvoice.transformer.upsample_encoder.PreLookaheadLayer
        in_channels: 80
        channels: 32
        pre_lookahead_len: 3
"""
    + _CFM
    + """\
        estimator: !new:cosyvoice.flow.DiT.dit.DiT
            dim: 64
            depth: 1
            heads: 2
            dim_head: 32
            ff_mult: 2
            mel_dim: 80
            mu_dim: 80
            spk_dim: 80
            out_channels: 80
            static_chunk_size: !ref <chunk_size> * <token_mel_ratio>
            num_decoding_left_chunks: !ref <num_decoding_left_chunks>
"""
)

_HIFT = """\
hift: !new:cosyvoice.hifigan.generator.{hift_class}
    in_channels: 80
    base_channels: 32
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
    resblock_dilation_sizes: [[1, 3]]
    source_resblock_kernel_sizes: [7, 7, 11]
    source_resblock_dilation_sizes: [[1], [1], [1]]
    lrelu_slope: 0.1
    audio_limit: 0.99
{hift_extra}    f0_predictor: !new:cosyvoice.hifigan.f0_predictor.{f0_class}
        num_class: 1
        in_channels: 80
        cond_channels: 32
"""

_FRONT = """\
get_tokenizer: !name:cosyvoice.tokenizer.tokenizer.get_qwen_tokenizer
    token_path: !ref <qwen_pretrain_path>
    skip_special_tokens: True
{tokenizer_extra}allowed_special: 'all'
feat_extractor: !name:matcha.utils.audio.mel_spectrogram
    n_fft: 1920
    num_mels: 80
    sampling_rate: !ref <sample_rate>
    hop_size: 480
    win_size: 1920
    fmin: 0
    fmax: {fmax}
    center: False
"""

HIDDEN = 32


def model_yaml(version: str) -> str:
    """The inference part of upstream's cosyvoice{2,3}.yaml with tiny sizes (our text, not theirs)."""
    if version == "2":
        return "\n".join(
            [
                _COMMON.format(hidden=HIDDEN),
                _LLM.format(llm_class="Qwen2LM"),
                _FLOW2,
                _HIFT.format(hift_class="HiFTGenerator", hift_extra="", f0_class="ConvRNNF0Predictor"),
                _FRONT.format(tokenizer_extra="", fmax=8000),
            ]
        )
    return "\n".join(
        [
            _COMMON.format(hidden=HIDDEN),
            _LLM.format(llm_class="CosyVoice3LM"),
            _FLOW3,
            _HIFT.format(
                hift_class="CausalHiFTGenerator",
                hift_extra="    conv_pre_look_right: 4\n",
                f0_class="CausalConvRNNF0Predictor",
            ),
            _FRONT.format(tokenizer_extra="    version: cosyvoice3\n", fmax="null"),
        ]
    )


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-to-printable map, the alphabet of Qwen2's byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def write_blank_en(folder: Path) -> None:
    """CosyVoice-BlankEN: a 2-layer Qwen2 and a byte-only tokenizer with Qwen's special-token ids.

    The byte alphabet has ids 0..255; ``<|endoftext|>``, ``<|im_start|>`` and
    ``<|im_end|>`` keep their real ids (151643..151645), so the tokens CosyVoice adds
    on top get the real ids too (``<|endofprompt|>`` = 151646).
    """
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    specials = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    vocab.update(specials)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    added = {
        str(i): {
            "content": t,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for t, i in specials.items()
    }
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|endoftext|>",
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    torch.manual_seed(0)
    qwen = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=QWEN_VOCAB,
            hidden_size=HIDDEN,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=32768,
            max_window_layers=2,
            tie_word_embeddings=True,
            rope_theta=1000000.0,
            bos_token_id=151643,
            eos_token_id=151643,
        )
    )
    qwen.save_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    tok.add_special_tokens({"additional_special_tokens": ["<|endofprompt|>"]})
    got = tok.convert_tokens_to_ids("<|endofprompt|>")
    if got != ENDOFPROMPT_ID:
        raise SystemExit(f"tiny tokenizer gives <|endofprompt|> id {got}, CosyVoice3 needs {ENDOFPROMPT_ID}")


def export_onnx(folder: Path, version: str) -> None:
    """campplus.onnx and speech_tokenizer_v{2,3}.onnx with the real input layouts.

    campplus: fbank ``[B, T, 80]`` -> ``[B, 192]`` speaker embedding. The speech
    tokenizer: whisper log-mel ``feats [1, 128, T]`` and ``feats_length [1]`` (int32)
    -> ``indices [1, T/4]`` (25 tokens a second from 100 mel frames), ids < 6561.
    """
    import torch

    class Campplus(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(80, 192)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(x.mean(dim=1))

    class SpeechTokenizer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(128, 16, kernel_size=4, stride=4)
            self.head = torch.nn.Linear(16, 6561)

        def forward(self, feats: torch.Tensor, feats_length: torch.Tensor) -> torch.Tensor:
            frames = torch.arange(feats.shape[2], device=feats.device).unsqueeze(0)
            feats = feats * (frames < feats_length.unsqueeze(1)).unsqueeze(1).to(feats.dtype)
            return self.head(self.conv(feats).transpose(1, 2)).argmax(dim=-1).to(torch.int32)

    torch.manual_seed(1)
    torch.onnx.export(
        Campplus().eval(),
        (torch.randn(1, 200, 80),),
        str(folder / "campplus.onnx"),
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "B", 1: "T"}, "output": {0: "B"}},
        opset_version=17,
    )
    torch.onnx.export(
        SpeechTokenizer().eval(),
        (torch.randn(1, 128, 400), torch.tensor([400], dtype=torch.int32)),
        str(folder / f"speech_tokenizer_v{version}.onnx"),
        input_names=["feats", "feats_length"],
        output_names=["indices"],
        dynamic_axes={"feats": {0: "B", 2: "T"}, "feats_length": {0: "B"}, "indices": {0: "B", 1: "T4"}},
        opset_version=17,
    )


def build(folder: Path, version: str) -> None:
    """One model folder: yaml, BlankEN, ONNX sub-models, then the three state dicts."""
    import torch
    from hyperpyyaml import load_hyperpyyaml

    folder.mkdir(parents=True, exist_ok=True)
    yaml_path = folder / f"cosyvoice{version}.yaml"
    yaml_path.write_text(model_yaml(version), encoding="utf-8")
    write_blank_en(folder / "CosyVoice-BlankEN")
    export_onnx(folder, version)
    torch.manual_seed(2)
    with open(yaml_path, encoding="utf-8") as f:
        configs = load_hyperpyyaml(f, overrides={"qwen_pretrain_path": str(folder / "CosyVoice-BlankEN")})
    if version == "2":
        # Random weights rarely pick end-of-speech, so every take would run to the LLM's
        # max length (20 tokens per text token). A large bias on that one logit ends a
        # take soon after its minimum length; CosyVoice3's decoder has no bias and its
        # takes are short already.
        with torch.no_grad():
            configs["llm"].llm_decoder.bias[configs["llm"].speech_token_size] = 12.0
    for name in ("llm", "flow", "hift"):
        torch.save(configs[name].state_dict(), folder / f"{name}.pt")
    torch.save({SPEAKER: {"embedding": torch.randn(1, 192)}}, folder / "spk2info.pt")


def main(argv: list[str]) -> int:
    if len(argv) < 3 or any(v not in ("2", "3") for v in argv[2:]):
        print(__doc__, file=sys.stderr)
        return 2
    source, out = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    sys.path[:0] = [str(source), str(source / "third_party" / "Matcha-TTS")]
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    for version in argv[2:]:
        name = "CosyVoice2-0.5B" if version == "2" else "Fun-CosyVoice3-0.5B"
        build(out / name, version)
        print(f"built {out / name}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
