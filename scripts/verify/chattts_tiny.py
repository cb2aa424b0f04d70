"""Build a tiny random-weight ChatTTS checkpoint laid out like 2Noise/ChatTTS's ``asset/``.

    envs/chattts/.venv/bin/python scripts/verify/chattts_tiny.py OUT_DIR

Runs inside the chattts env (it needs torch, transformers, vocos and ChatTTS). Writes
OUT_DIR/asset/{Vocos,DVAE,Decoder,Embed}.safetensors, OUT_DIR/asset/gpt/{config.json,
model.safetensors} and OUT_DIR/asset/tokenizer/{tokenizer.json, tokenizer_config.json,
special_tokens_map.json}: the files ``Chat.load`` reads from a release folder.

Every module is the upstream class, built as ``Chat._load`` builds it and saved with its
own ``state_dict``, so upstream's loader reads them as it reads the released files. What
is smaller than the release, and why it can be:

* the GPT (a transformers ``LlamaModel``) takes its depth and widths from
  gpt/config.json: one layer, a narrow MLP; the hidden size stays 768 because upstream's
  speaker statistics (``Config.spk_stat``) are 768-wide;
* the text vocabulary: a BERT word-piece tokenizer with upstream's control tokens and a
  few hundred characters; Embed's text table has that many rows (the wrapper reads the
  size from Embed.safetensors, upstream's Config hard-codes the release's 21178);
* Vocos, DVAE and Decoder keep the release's sizes: upstream's Config fixes them;
* the audio heads' row for the end-of-audio code (626 - 1) has weight-norm gain 0, so its
  logit is 0 while top-k keeps only high logits: random weights then speak until
  ``max_new_token``, and a take's length (and the number of streamed pieces) is known.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

# Run as a script, this folder comes first on sys.path; keep our verify modules from
# shadowing upstream packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

CONTROLS = (
    ["[Stts]", "[Ptts]", "[spk_emb]", "[empty_spk]", "[Sbreak]", "[Pbreak]", "[uv_break]", "[v_break]"]
    + ["[lbreak]", "[laugh]", "[Ebreak]"]
    + [f"[speed_{i}]" for i in range(10)]
    + [f"[oral_{i}]" for i in range(10)]
    + [f"[laugh_{i}]" for i in range(3)]
    + [f"[break_{i}]" for i in range(8)]
)
CHARS = "你好世界今天天气很第一二句话同个种子再说遍参考音频的文本谢这是我们在用中英试听声快慢笑"


def _tokenizer(folder: Path) -> int:
    """A BertTokenizerFast with upstream's control tokens; returns its length."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece
    from transformers import BertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words += list(dict.fromkeys(CHARS)) + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    words += list("，。、！？,.!? '") + [f"##{chr(c)}" for c in range(ord("a"), ord("z") + 1)]
    model = Tokenizer(WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    model.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    model.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok = BertTokenizerFast(tokenizer_object=model, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]")
    tok.add_special_tokens({"additional_special_tokens": CONTROLS})
    tok.save_pretrained(str(folder))
    return len(tok)


def build(out: Path) -> None:
    import torch
    from ChatTTS.config import Config
    from ChatTTS.model import DVAE, Embed
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaModel
    from vocos import Vocos
    from vocos.pretrained import instantiate_class

    torch.manual_seed(0)
    asset = out / "asset"
    (asset / "gpt").mkdir(parents=True, exist_ok=True)
    cfg = Config()
    vocab = _tokenizer(asset / "tokenizer")

    def save(module: torch.nn.Module, name: str) -> None:
        state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(asset / name))

    vocos = Vocos(
        feature_extractor=instantiate_class(args=(), init=asdict(cfg.vocos.feature_extractor)),
        backbone=instantiate_class(args=(), init=asdict(cfg.vocos.backbone)),
        head=instantiate_class(args=(), init=asdict(cfg.vocos.head)),
    )
    save(vocos, "Vocos.safetensors")
    dvae = DVAE(
        decoder_config=asdict(cfg.dvae.decoder),
        encoder_config=asdict(cfg.dvae.encoder),
        vq_config=asdict(cfg.dvae.vq),
        dim=cfg.dvae.decoder.idim,
    )
    save(dvae, "DVAE.safetensors")
    decoder = DVAE(decoder_config=asdict(cfg.decoder), dim=cfg.decoder.idim, coef=str(dvae))
    save(decoder, "Decoder.safetensors")
    embed = Embed(cfg.embed.hidden_size, cfg.embed.num_audio_tokens, vocab, cfg.embed.num_vq)
    with torch.no_grad():  # see the module doc: the end-of-audio code's logit is held at 0
        for head in embed.head_code:
            head.parametrizations.weight.original0[cfg.embed.num_audio_tokens - 1] = 0.0
    save(embed, "Embed.safetensors")
    llama = LlamaConfig(
        hidden_size=cfg.gpt.hidden_size,
        intermediate_size=256,
        num_attention_heads=cfg.gpt.num_attention_heads,
        num_key_value_heads=cfg.gpt.num_attention_heads,
        num_hidden_layers=1,
        max_position_embeddings=cfg.gpt.max_position_embeddings,
        vocab_size=8,  # upstream deletes embed_tokens: it embeds with Embed instead
    )
    LlamaModel(llama).save_pretrained(str(asset / "gpt"), safe_serialization=True)
    (out / "tiny.json").write_text(json.dumps({"text_vocab": vocab, "gpt_layers": 1}) + "\n")


if __name__ == "__main__":
    build(Path(sys.argv[1]))
