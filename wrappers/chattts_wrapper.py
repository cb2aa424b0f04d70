"""chattts engine: ChatTTS (PyPI ChatTTS 0.2.5, 2noise/ChatTTS), dialogue speech in Chinese and
English, 24 kHz.

Loading: ``Chat._load`` (upstream's loader) on the files of a local copy of 2Noise/ChatTTS,
given as ``model_path`` (the folder holding ``asset/``). ``Chat.load`` is not used: its
sources either download (``huggingface``, ``local`` when a file is missing) or demand the
release's exact sha256 (``custom``). Nothing here downloads; a missing file fails with the
list of what goes where. ``check_hashes: true`` runs upstream's own sha256 check against
the release (``check_all_assets``) before loading.

The sizes upstream's Config hard-codes for the text vocabulary are read from
Embed.safetensors (for the release they are the same: 21178), so a checkpoint with another
vocabulary (a fine-tune, our tiny verify checkpoint) loads too; the GPT's depth and widths
come from asset/gpt/config.json as upstream reads them.

Voices: a speaker embedding (``spk_emb``, the string ``Chat.sample_random_speaker``
returns), a speaker seed (``speaker_seed``: the embedding drawn with that torch seed, the
way upstream's web UI names voices), or a reference recording with its transcript
(``ref_audio`` + ``ref_text``: upstream's ``sample_audio_speaker``, a DVAE encoding of the
audio, as ``spk_smp`` / ``txt_smp``). ``sample_speaker(seed)`` returns the embedding string
so it can be stored as a named voice. With none of them the voice is speaker_seed 0.

Controls: ``refine_text`` (upstream's text-refinement pass, on by default as upstream)
with ``oral_level`` 0-9, ``laugh_level`` 0-2 and ``break_level`` 0-7 in its prompt; ``speed_level`` 0-9
(``[speed_N]``, 5 = upstream's default). Inline tokens ([uv_break], [laugh], [lbreak]) in
the text reach the model as written.

Streaming: upstream's ``infer(stream=True)`` decodes while the GPT generates (every
``stream_batch`` tokens, after the first ``pass_first_n_batches``); ``stream`` yields those
pieces. ``synthesize`` is upstream's non-streaming path (same seed, one decode at the end).

Licence: code AGPL-3.0-or-later; the released model CC BY-NC 4.0 (non-commercial).

Standalone: envs/chattts/.venv/bin/python wrappers/chattts_wrapper.py --option model_path=DIR --text "你好" --out x.wav
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fanren_worker import Audio, Engine, local_path, main

SAMPLE_RATE = 24000
LICENSE = "code: AGPL-3.0-or-later (ChatTTS 0.2.5); weights (2Noise/ChatTTS): CC BY-NC 4.0, non-commercial"
#: What Chat._load reads, relative to model_path (upstream's Config.path).
FILES = (
    "asset/Vocos.safetensors",
    "asset/DVAE.safetensors",
    "asset/Decoder.safetensors",
    "asset/Embed.safetensors",
    "asset/gpt/config.json",
    "asset/gpt/model.safetensors",
    "asset/tokenizer/tokenizer.json",
    "asset/tokenizer/tokenizer_config.json",
    "asset/tokenizer/special_tokens_map.json",
)
_VOICE = ("spk_emb", "speaker_seed", "ref_audio", "ref_text")
_REFINE = ("refine_text", "oral_level", "laugh_level", "break_level", "refine_max_new_token")
_CODE = ("speed_level", "temperature", "top_p", "top_k", "repetition_penalty", "max_new_token")
_CALL = (*_VOICE, *_REFINE, *_CODE, "seed", "lang", "homophone_replacement")
_LOAD = ("model_path", "check_hashes", "compile")
_KEPT = 16  # speaker embeddings / reference encodings cached per worker


def missing_files(folder: Path) -> list[str]:
    """The release files Chat._load needs that are not under ``folder``."""
    return [name for name in FILES if not (folder / name).is_file()]


def embed_vocab(path: Path) -> int:
    """Rows of Embed.safetensors' text table, read from the safetensors header (no torch)."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    return int(header["emb_text.weight"]["shape"][0])


def refine_prompt(o: dict[str, Any]) -> str:
    """Upstream's refine prompt ``[oral_N][laugh_N][break_N]`` from oral_level, laugh_level and
    break_level, those given ('' if none)."""
    parts = [
        f"[{key}_{int(o[key + '_level'])}]" for key in ("oral", "laugh", "break") if o.get(key + "_level") is not None
    ]
    return "".join(parts)


def speed_prompt(level: Any) -> str:
    """``[speed_N]``, N in 0..9 (fit-to-slot may hand a fraction: rounded)."""
    return f"[speed_{min(max(round(float(level)), 0), 9)}]"


class ChatTTS(Engine):
    name = "chattts"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads at run time
        if not options.get("model_path"):
            raise ValueError(
                "chattts needs model_path: a local copy of 2Noise/ChatTTS (the folder holding asset/); "
                f"it must contain {', '.join(FILES)}"
            )
        folder = Path(local_path(options["model_path"], "ChatTTS model folder"))
        missing = missing_files(folder)
        if missing:
            raise FileNotFoundError(
                f"ChatTTS files missing under {folder}: {', '.join(missing)}. Put the files of "
                "huggingface.co/2Noise/ChatTTS there, keeping its asset/ layout (asset/gpt/, asset/tokenizer/)."
            )
        self.progress("importing torch and ChatTTS")
        import torch
        from ChatTTS import Chat
        from ChatTTS.utils import check_all_assets

        self.torch = torch
        self.folder = folder
        self.chat = Chat()
        if options.get("check_hashes") and not check_all_assets(folder, self.chat.sha256_map, update=False):
            raise ValueError(f"{folder}: the files are not the ChatTTS release's (sha256 differs; see the log)")
        vocab = embed_vocab(folder / "asset/Embed.safetensors")
        self.chat.config.gpt.num_text_tokens = vocab
        self.chat.config.embed.num_text_tokens = vocab
        paths = {k: str(folder / v) for k, v in asdict(self.chat.config.path).items()}
        self.progress(f"loading ChatTTS from {folder}")
        ok = self.chat._load(device=torch.device(device), compile=bool(options.get("compile")), **paths)
        if not ok:
            raise RuntimeError(f"ChatTTS did not load every module from {folder} (see the log)")
        self.defaults = {k: options[k] for k in _CALL if k in options}
        self.speakers: dict[int, str] = {}
        self.references: dict[tuple[Any, ...], str] = {}

    def sample_speaker(self, seed: int) -> str:
        """The speaker embedding drawn with torch seed ``seed`` (store it as a named voice)."""
        seed = int(seed)
        if seed not in self.speakers:
            if len(self.speakers) >= _KEPT:
                self.speakers.pop(next(iter(self.speakers)))
            state = self.torch.random.get_rng_state()
            self.torch.manual_seed(seed)
            try:
                self.speakers[seed] = self.chat.sample_random_speaker()
            finally:
                self.torch.random.set_rng_state(state)
        return self.speakers[seed]

    def _reference(self, path: str) -> str:
        """Upstream's spk_smp for a recording (DVAE codes of it at 24 kHz), cached per file."""
        path = local_path(path, "ref_audio")
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns)
        if key not in self.references:
            import soundfile
            import torchaudio

            data, rate = soundfile.read(path, dtype="float32", always_2d=True)
            wav = self.torch.from_numpy(data.mean(axis=1))
            if rate != SAMPLE_RATE:
                wav = torchaudio.functional.resample(wav, rate, SAMPLE_RATE)
            if len(self.references) >= _KEPT:
                self.references.pop(next(iter(self.references)))
            self.references[key] = self.chat.sample_audio_speaker(wav.to(self.chat.device))
        return self.references[key]

    def _params(self, options: dict[str, Any]) -> dict[str, Any]:
        unknown = set(options) - set(_CALL)
        if unknown:
            raise TypeError(f"chattts has no option(s) {sorted(unknown)}; allowed: {list(_CALL)}")
        o = {**self.defaults, **options}
        seed = None if o.get("seed") is None else int(o["seed"])
        code: dict[str, Any] = {
            "prompt": speed_prompt(o.get("speed_level", 5)),
            "manual_seed": seed,
            "show_tqdm": False,
        }
        for ours, theirs in (("temperature", "temperature"), ("top_p", "top_P"), ("top_k", "top_K")):
            if o.get(ours) is not None:
                code[theirs] = o[ours]
        for key in ("repetition_penalty", "max_new_token"):
            if o.get(key) is not None:
                code[key] = o[key]
        if o.get("ref_audio"):
            if not o.get("ref_text"):
                raise ValueError("a ChatTTS reference voice needs ref_text, the transcript of ref_audio")
            code["spk_smp"] = self._reference(str(o["ref_audio"]))
            code["txt_smp"] = str(o["ref_text"])
        elif o.get("spk_emb"):
            code["spk_emb"] = str(o["spk_emb"])
        else:
            code["spk_emb"] = self.sample_speaker(int(o.get("speaker_seed") or 0))
        refine = {"prompt": refine_prompt(o), "manual_seed": seed, "show_tqdm": False}
        if o.get("refine_max_new_token") is not None:
            refine["max_new_token"] = int(o["refine_max_new_token"])
        return {
            "skip_refine_text": not o.get("refine_text", True),
            "lang": o.get("lang"),
            "do_homophone_replacement": bool(o.get("homophone_replacement", True)),
            "params_refine_text": self.chat.RefineTextParams(**refine),
            "params_infer_code": self.chat.InferCodeParams(**code),
        }

    def _audio(self, wav: Any) -> Audio:
        import numpy as np

        samples = np.asarray(wav, dtype=np.float32).reshape(-1)
        return Audio.from_array(np.clip(samples, -1.0, 1.0), SAMPLE_RATE)

    def synthesize(self, text: str, **options: Any) -> Audio:
        """The whole text in one upstream ``infer`` call (not split: the host sends sentences)."""
        wavs = self.chat.infer(text, split_text=False, **self._params(options))
        if not wavs:
            raise RuntimeError("ChatTTS returned no audio")
        return self._audio(wavs[0])

    def stream(self, text: str, **options: Any) -> Iterator[Audio]:
        """Upstream's streaming decode: a piece every ``stream_batch`` (24) GPT steps."""
        for chunk in self.chat.infer(text, stream=True, split_text=False, **self._params(options)):
            if chunk is not None and chunk.size:
                yield self._audio(chunk[0])

    def describe(self) -> dict[str, Any]:
        return {
            "sample_rate": SAMPLE_RATE,
            "languages": ["zh", "en"],
            "streaming": True,
            "streaming_unit": "every 24 GPT steps (upstream's stream_batch), after the first two",
            "concurrency": 1,
            "batch": 1,
            "voices": "spk_emb, speaker_seed, or ref_audio + ref_text; sample_speaker(seed) gives an spk_emb",
            "rate_control": "speed_level",
            "license": LICENSE,
            "weights": f"2Noise/ChatTTS on Hugging Face, copied by you to {self.folder} (nothing downloads)",
            "device": str(self.chat.device),
            "options": list(_CALL),
        }


if __name__ == "__main__":
    raise SystemExit(main(ChatTTS))
