"""Build a tiny random FLUX.1 folder laid out like black-forest-labs/FLUX.1-schnell.

    <flux env python> scripts/verify/flux_tiny.py OUT_DIR

Runs inside a flux env (it needs torch, diffusers, transformers, sentencepiece), never
in the host venv. Every part is made here, offline, with random weights and tiny
sizes, and saved with the libraries' own ``save_pretrained`` so the files are exactly
what ``FluxPipeline.from_pretrained`` reads from the released folder:

* ``model_index.json`` naming the same classes as FLUX.1-schnell
* ``scheduler/`` FlowMatchEulerDiscreteScheduler with schnell's settings
* ``text_encoder/`` CLIPTextModel; ``tokenizer/`` CLIP byte-level BPE (vocab.json,
  merges.txt) learned here from a few sentences
* ``text_encoder_2/`` T5EncoderModel (v1.1 gated-gelu), sharded with an index file like the release;
  ``tokenizer_2/`` T5TokenizerFast over a sentencepiece unigram model trained here
* ``transformer/`` FluxTransformer2DModel, sharded with an index file like the release
* ``vae/`` AutoencoderKL with 16 latent channels and four levels (so the pipeline's
  VAE scale factor is 8 and image sides must be multiples of 16, as for the real one)

Nothing here is upstream code or data: only our sizes and our training text.
"""

from __future__ import annotations

import collections
import io
import itertools
import json
import random
import shutil
import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, and our verify modules there
# (cosyvoice.py, indextts.py, minicpmo.py, ...) would shadow the upstream packages of the
# same name that this builder imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

_WORDS = (
    "a misty mountain temple at dawn with red lanterns and pine trees over a quiet lake "
    "the old monk walks along the stone path while cranes fly above the clouds "
    "golden light falls on the river city market full of people boats and bridges "
    "an ancient sword rests on a wooden table beside a cup of green tea "
    "snow covers the bamboo forest and a fox watches the moon from the cliff"
).split()

#: Byte-level BPE merges learned for the CLIP tokenizer (real CLIP has ~49k).
_CLIP_MERGES = 200
#: Size of the T5 sentencepiece vocabulary before T5's 100 <extra_id_N> tokens.
_T5_PIECES = 160
#: Hidden sizes: CLIP's width is the transformer's pooled projection, T5's its joint attention width.
_CLIP_DIM = 32
_T5_DIM = 32


def corpus(n: int = 400) -> list[str]:
    """Deterministic English-looking sentences to learn both tokenizers from."""
    rng = random.Random(0)
    return [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 12))) + "." for _ in range(n)]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table (a public algorithm)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def build_clip_tokenizer(out: Path) -> None:
    """vocab.json + merges.txt the way CLIP's are made: bytes, bytes+</w>, merges, specials."""
    from transformers import CLIPTokenizer

    byte_to_char = bytes_to_unicode()
    byte_chars = list(byte_to_char.values())
    words: collections.Counter[tuple[str, ...]] = collections.Counter()
    for line in corpus():
        for text in line.lower().replace(".", " .").split():
            chars = [byte_to_char[b] for b in text.encode("utf-8")]
            key = (*chars[:-1], chars[-1] + "</w>")
            words[key] += 1
    merges: list[tuple[str, str]] = []
    for _ in range(_CLIP_MERGES):
        pairs: collections.Counter[tuple[str, str]] = collections.Counter()
        for word, count in words.items():
            for pair in itertools.pairwise(word):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        merged: collections.Counter[tuple[str, ...]] = collections.Counter()
        for word, count in words.items():
            parts: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    parts.append(word[i] + word[i + 1])
                    i += 2
                else:
                    parts.append(word[i])
                    i += 1
            merged[tuple(parts)] += count
        words = merged
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    out.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = out / "vocab.json", out / "merges.txt"
    vocab_file.write_text(json.dumps({t: i for i, t in enumerate(dict.fromkeys(tokens))}, ensure_ascii=False))
    merges_file.write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(str(vocab_file), str(merges_file), pad_token="<|endoftext|>", model_max_length=77)
    tokenizer.save_pretrained(out)


def build_t5_tokenizer(out: Path, scratch: Path) -> None:
    """A sentencepiece unigram model with T5's ids (pad 0, eos 1, unk 2, no bos), saved as T5TokenizerFast."""
    import sentencepiece as spm
    from transformers import T5TokenizerFast

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_writer=model,
        vocab_size=_T5_PIECES,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "spiece.model").write_bytes(model.getvalue())
    tokenizer = T5TokenizerFast(vocab_file=str(scratch / "spiece.model"), extra_ids=100, model_max_length=512)
    tokenizer.save_pretrained(out)


def build(out: Path) -> None:
    """Write the whole folder to ``out`` (replaced if it exists)."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5TokenizerFast

    if out.exists():
        shutil.rmtree(out)
    scratch = out.parent / f".{out.name}-scratch"
    build_clip_tokenizer(scratch / "tokenizer")
    build_t5_tokenizer(scratch / "tokenizer_2", scratch / "spm")
    tokenizer = CLIPTokenizer.from_pretrained(scratch / "tokenizer")
    tokenizer_2 = T5TokenizerFast.from_pretrained(scratch / "tokenizer_2")

    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=_CLIP_DIM,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=_CLIP_DIM,
            hidden_act="quick_gelu",
            bos_token_id=tokenizer.convert_tokens_to_ids("<|startoftext|>"),
            eos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    text_encoder_2 = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer_2),
            d_model=_T5_DIM,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            feed_forward_proj="gated-gelu",
            is_encoder_decoder=False,
            tie_word_embeddings=False,
        )
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=4,
        sample_size=64,
        scaling_factor=0.3611,
        shift_factor=0.1159,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,  # 16 latent channels packed 2x2
        num_layers=1,
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=_T5_DIM,
        pooled_projection_dim=_CLIP_DIM,
        guidance_embeds=False,  # schnell; dev has a guidance embedding
        axes_dims_rope=(4, 6, 6),
    )
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False)
    pipe = FluxPipeline(
        scheduler=scheduler,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
        vae=vae,
    )
    pipe.save_pretrained(out)
    # The release shards its two big models with an index file; so do we, so that path is exercised.
    for name, model, weights, shards in (
        ("transformer", transformer, "diffusion_pytorch_model.safetensors", 3),
        ("text_encoder_2", text_encoder_2, "model.safetensors", 2),
    ):
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        (out / name / weights).unlink()
        model.save_pretrained(out / name, max_shard_size=size // shards + 1)
    shutil.rmtree(scratch)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    build(Path(argv[0]).resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
