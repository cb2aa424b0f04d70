"""Build random-weight Chatterbox model folders that upstream's own loaders accept.

    <envs/chatterbox python> scripts/verify/chatterbox_tiny.py OUT_DIR          # english, multilingual
    <envs/chatterbox python> scripts/verify/chatterbox_tiny.py OUT_DIR --turbo  # turbo

Runs inside the chatterbox env. Three folders, laid out like the releases:

* ``english/`` like ``ResembleAI/chatterbox`` for ``ChatterboxTTS.from_local``:
  ``ve.safetensors``, ``t3_cfg.safetensors``, ``s3gen.safetensors``, ``tokenizer.json``,
  ``conds.pt`` (the built-in voice);
* ``multilingual/`` like the same repo's multilingual files for
  ``ChatterboxMultilingualTTS.from_local``: ``ve.pt``, ``t3_mtl23ls_v2.safetensors``,
  ``s3gen.pt``, ``grapheme_mtl_merged_expanded_v1.json``, ``conds.pt``;

and ``ref.wav`` (a 3 s synthetic reference to clone from); with ``--turbo``:

* ``turbo/`` like ``ResembleAI/chatterbox-turbo`` for ``ChatterboxTurboTTS.from_local``:
  ``ve.safetensors``, ``t3_turbo_v1.safetensors`` (T3 on upstream's ``GPT2_medium``),
  ``s3gen_meanflow.safetensors`` (``S3Gen(meanflow=True)``), the GPT-2 tokenizer files
  ``AutoTokenizer`` reads (``vocab.json``, ``merges.txt``, ``added_tokens.json``,
  ``special_tokens_map.json``, ``tokenizer_config.json``: 50 276 entries, the length
  upstream checks), ``conds.pt``; and ``ref_long.wav`` (6 s: Turbo refuses a reference of
  5 s or less) and, if missing, ``ref.wav``.

Not tiny, unlike the other builders: chatterbox-tts hard-codes its sizes in code (T3 is
``LlamaModel`` with upstream's ``Llama_520M`` config, S3Gen and the voice encoder have
fixed layers), so its loaders only accept full-size tensors. They are random except for
what keeps a take short and deterministic, as a trained model's would be: every
transformer layer's output projections (``o_proj``, ``down_proj``) are zero, so the
last hidden state is the input embedding; speech token embeddings are zero and speech
position ``p`` (< 1024) embeds as the unit vector ``e_p``; the speech head maps ``e_p``
to speech token ``tok(p)`` for ``p < LENGTH`` and to the stop token after it (and, a
little less, to one repeated token, which the multilingual model's alignment analyzer
turns into a stop where it holds the stop token back). Upstream's own inference loop,
sampling, CFG, S3Gen flow matching, HiFT vocoder and watermarker then run unchanged on
``LENGTH`` speech tokens (one second at 25 tokens/s). The tokenizers are ours (one
token per character). Nothing is downloaded.

Turbo has no position embedding of its own and GPT-2's absolute one (``wpe``, zeroed here)
would count the prompt, so its take is a chain instead: the speech start token embeds as
``e_0``, speech token ``tok(p)`` as ``e_(p+1)``, and the head maps ``e_p`` to ``tok(p)``
and ``e_LENGTH`` to the stop token. Its tokenizer is a byte-level BPE trained here on a few
sentences, padded with filler entries to GPT-2's 50 257 and followed by 19 tags (among
them ``[laugh]``, ``[chuckle]``, ``[cough]``, ``[sigh]``; the rest are placeholders).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

LENGTH = 25  # speech tokens per take (25 per second)
REPEAT = 4242  # the token the speech head prefers after LENGTH when the stop token is held back
SPECIAL = ["[START]", "[STOP]", "[UNK]", "[SPACE]", "[PAD]", "[SEP]", "[CLS]", "[MASK]"]
LANGUAGES = "ar da de el en es fi fr he hi it ja ko ms nl no pl pt ru sv sw tr zh".split()
CJK = "你好世界今天天气很好同一个种子再说一遍"


def _chars(multilingual: bool) -> list[str]:
    chars = [chr(c) for c in range(33, 127)]
    if multilingual:
        ranges = [(0x300, 0x370), (0x3041, 0x3097), (0x30A1, 0x30FB), (0x1100, 0x1200), (0x0600, 0x0650)]
        chars += [chr(c) for lo, hi in ranges for c in range(lo, hi)] + list(dict.fromkeys(CJK))
    return chars


def write_tokenizer(path: Path, multilingual: bool, size: int) -> None:
    """A character-level ``tokenizers`` file with upstream's special tokens (and language tags)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from tokenizers.decoders import BPEDecoder

    specials = SPECIAL + ([f"[{lang}]" for lang in LANGUAGES] if multilingual else [])
    vocab = {t: i for i, t in enumerate(dict.fromkeys(specials + _chars(multilingual)))}
    assert len(vocab) <= size, (len(vocab), size)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = BPEDecoder()
    tok.add_special_tokens(specials)
    tok.save(str(path))


def shape_t3(t3: Any) -> None:
    """The weights that make a take LENGTH tokens long (see the module docstring)."""
    import torch

    with torch.no_grad():
        for layer in t3.tfmr.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        t3.speech_emb.weight.zero_()
        pos = t3.speech_pos_emb.emb.weight
        pos.zero_()
        width = min(pos.shape[0], pos.shape[1])
        pos[:width, :width] = torch.eye(width)
        head = t3.speech_head.weight  # (speech vocab, hidden)
        head.zero_()
        for p in range(LENGTH):
            head[(p * 37 + 11) % 6561, p] = 30.0
        head[t3.hp.stop_speech_token, LENGTH:width] = 30.0
        head[REPEAT, LENGTH:width] = 20.0


def reference(path: Path, seconds: int = 3) -> None:
    """A gliding tone with noise, 24 kHz: something for the encoders to embed."""
    import numpy as np
    import soundfile as sf

    rate = 24000
    t = np.arange(seconds * rate) / rate
    rng = np.random.default_rng(0)
    wav = 0.3 * np.sin(2 * math.pi * (140 + 40 * t) * t) + 0.02 * rng.standard_normal(t.size)
    sf.write(str(path), wav.astype("float32"), rate)


def _state(module: Any) -> dict[str, Any]:
    return {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}


def build(out: Path) -> None:
    import os

    # MTLTokenizer fetches Cangjie5_TC.json from the hub and spacy_pkuseg its model when
    # they are built: offline, and without pkuseg (upstream then skips Chinese segmentation).
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.modules["spacy_pkuseg"] = None  # type: ignore[assignment]
    import torch
    from chatterbox.models.s3gen import S3Gen
    from chatterbox.models.t3 import T3
    from chatterbox.models.t3.modules.t3_config import T3Config
    from chatterbox.models.tokenizers import EnTokenizer, MTLTokenizer
    from chatterbox.models.voice_encoder import VoiceEncoder
    from chatterbox.mtl_tts import ChatterboxMultilingualTTS
    from chatterbox.tts import ChatterboxTTS
    from safetensors.torch import save_file

    torch.manual_seed(0)
    english, multi = out / "english", out / "multilingual"
    english.mkdir(parents=True, exist_ok=True)
    multi.mkdir(parents=True, exist_ok=True)
    reference(out / "ref.wav")

    ve, s3gen = VoiceEncoder().eval(), S3Gen().eval()
    save_file(_state(ve), str(english / "ve.safetensors"))
    torch.save(_state(ve), multi / "ve.pt")
    save_file(_state(s3gen), str(english / "s3gen.safetensors"))
    torch.save(_state(s3gen), multi / "s3gen.pt")

    for folder, hp, weights, vocab_file, cls in (
        (english, T3Config.english_only(), "t3_cfg.safetensors", "tokenizer.json", ChatterboxTTS),
        (
            multi,
            T3Config.multilingual(),
            "t3_mtl23ls_v2.safetensors",
            "grapheme_mtl_merged_expanded_v1.json",
            ChatterboxMultilingualTTS,
        ),
    ):
        t3 = T3(hp).eval()
        shape_t3(t3)
        save_file(_state(t3), str(folder / weights))
        write_tokenizer(folder / vocab_file, hp.is_multilingual, hp.text_tokens_dict_size)
        tokenizer = (MTLTokenizer if hp.is_multilingual else EnTokenizer)(str(folder / vocab_file))
        tts = cls(t3, s3gen, ve, tokenizer, "cpu")
        tts.prepare_conditionals(str(out / "ref.wav"))  # upstream's own way to make a voice
        tts.conds.save(folder / "conds.pt")
        del t3, tts
    (out / "built.json").write_text(json.dumps({"length": LENGTH, "languages": LANGUAGES}) + "\n")
    print(f"random-weight Chatterbox folders in {out}")


TAGS = ["[laugh]", "[chuckle]", "[cough]", "[sigh]"] + [f"[tag_{i}]" for i in range(15)]
EOT = "<|endoftext|>"
CORPUS = "The same line. Hello world. Cloned voice. A quick test of the turbo model, spoken once more."


def write_gpt2_tokenizer(folder: Path) -> None:
    """GPT-2 tokenizer files for ``AutoTokenizer``: 50 257 BPE entries + 19 added tags = 50 276."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([CORPUS] * 50, vocab_size=600, min_frequency=2, show_progress=False)
    bpe.save_model(str(folder))  # vocab.json, merges.txt
    trained = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    vocab = {t: i for i, t in enumerate(sorted(trained, key=trained.__getitem__))}
    vocab.update({f"<|filler_{i}|>": i for i in range(len(vocab), 50256)})
    vocab[EOT] = 50256
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    added = {tag: 50257 + i for i, tag in enumerate(TAGS)}
    (folder / "added_tokens.json").write_text(json.dumps(added, indent=2) + "\n")

    def entry(content: str, special: bool) -> dict[str, Any]:
        flags = {"lstrip": False, "normalized": not special, "rstrip": False, "single_word": False}
        return {"content": content, **flags, "special": special}

    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {"50256": entry(EOT, True), **{str(i): entry(t, False) for t, i in added.items()}},
        "bos_token": EOT,
        "clean_up_tokenization_spaces": False,
        "eos_token": EOT,
        "errors": "replace",
        "model_max_length": 1024,
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": EOT,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    specials = {"bos_token": EOT, "eos_token": EOT, "unk_token": EOT}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")


def shape_t3_turbo(t3: Any) -> None:
    """Turbo's chain of LENGTH speech tokens, then stop (see the module docstring)."""
    import torch

    with torch.no_grad():
        for block in t3.tfmr.h:
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                proj.weight.zero_()
                proj.bias.zero_()
        t3.tfmr.wpe.weight.zero_()
        emb, head = t3.speech_emb.weight, t3.speech_head.weight  # (speech vocab, hidden) both
        emb.zero_()
        head.zero_()
        t3.speech_head.bias.zero_()
        emb[t3.hp.start_speech_token, 0] = 1.0
        for p in range(LENGTH):
            token = (p * 37 + 11) % 6561
            head[token, p] = 30.0
            emb[token, p + 1] = 1.0
        head[t3.hp.stop_speech_token, LENGTH] = 30.0


def build_turbo(out: Path) -> None:
    """``turbo/`` and ``ref_long.wav``, with the hyperparameters ``ChatterboxTurboTTS.from_local`` sets."""
    os_environ_offline()
    import torch
    from chatterbox.models.s3gen import S3Gen
    from chatterbox.models.t3 import T3
    from chatterbox.models.t3.modules.t3_config import T3Config
    from chatterbox.models.voice_encoder import VoiceEncoder
    from chatterbox.tts_turbo import ChatterboxTurboTTS
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    folder = out / "turbo"
    folder.mkdir(parents=True, exist_ok=True)
    reference(out / "ref_long.wav", seconds=6)
    if not (out / "ref.wav").exists():
        reference(out / "ref.wav")  # 3 s: what Turbo must refuse
    hp = T3Config(text_tokens_dict_size=50276)  # as from_local: "Turbo specific hp"
    hp.llama_config_name = "GPT2_medium"
    hp.speech_tokens_dict_size = 6563
    hp.input_pos_emb = None
    hp.speech_cond_prompt_len = 375
    hp.use_perceiver_resampler = False
    hp.emotion_adv = False
    ve, s3gen, t3 = VoiceEncoder().eval(), S3Gen(meanflow=True).eval(), T3(hp).eval()
    shape_t3_turbo(t3)
    save_file(_state(ve), str(folder / "ve.safetensors"))
    save_file(_state(s3gen), str(folder / "s3gen_meanflow.safetensors"))
    save_file(_state(t3), str(folder / "t3_turbo_v1.safetensors"))
    write_gpt2_tokenizer(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert len(tokenizer) == hp.text_tokens_dict_size, len(tokenizer)
    tts = ChatterboxTurboTTS(t3, s3gen, ve, tokenizer, "cpu")
    tts.prepare_conditionals(str(out / "ref_long.wav"))  # upstream's own way to make a voice
    tts.conds.save(folder / "conds.pt")
    (out / "turbo.json").write_text(json.dumps({"length": LENGTH, "tags": TAGS}) + "\n")
    print(f"random-weight Chatterbox Turbo folder in {folder}")


def os_environ_offline() -> None:
    import os

    os.environ["HF_HUB_OFFLINE"] = "1"


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or sys.argv[2:] not in ([], ["--turbo"]):
        raise SystemExit(__doc__)
    (build_turbo if sys.argv[2:] else build)(Path(sys.argv[1]).resolve())
