"""chatterbox engine: Resemble AI's Chatterbox from the PyPI package chatterbox-tts (0.1.7).

Three upstream models, each loaded by upstream's own ``from_local``; ``model`` picks one
(``auto``: the first whose files are all in ``model_path``, in this order):

* ``english``: ``ChatterboxTTS`` (ve.safetensors, t3_cfg.safetensors, s3gen.safetensors,
  tokenizer.json);
* ``multilingual``: ``ChatterboxMultilingualTTS``, 23 languages (ve.pt,
  t3_mtl23ls_v2.safetensors, s3gen.pt, grapheme_mtl_merged_expanded_v1.json); ``language``
  picks one (default en);
* ``turbo``: ``ChatterboxTurboTTS`` (ve.safetensors, t3_turbo_v1.safetensors,
  s3gen_meanflow.safetensors and the GPT-2 tokenizer files ``AutoTokenizer`` reads:
  tokenizer_config.json, vocab.json, merges.txt, with added_tokens.json and
  special_tokens_map.json). English only; its options are temperature, top_p, top_k,
  repetition_penalty (upstream ignores CFG, min_p and exaggeration and warns) and
  ``norm_loudness``, which upstream applies to the reference when it prepares a voice, so
  the wrapper passes it there (and keys the prepared voice on it). Turbo asserts that a
  reference is longer than 5 s: the wrapper says so as a ValueError before upstream runs.

``conds.pt`` in the folder is the built-in voice; ``ref_audio`` clones another (zero-shot,
no transcript needed). Upstream keeps the voice as state on the model (``prepare_conditionals``
overwrites ``self.conds``), so one clone would become every later take's voice: the wrapper
keeps the built-in voice and one prepared voice per reference file, and sets the right one
before each take. Output is 24 kHz, always with upstream's Perth watermark.

Nothing downloads at run time. HF_HUB_OFFLINE is set before upstream is imported. The
multilingual tokenizer fetches ``Cangjie5_TC.json`` (Chinese) from the hub when it is built
and spacy_pkuseg fetches its ``spacy_ontonotes`` model: the wrapper reads
``Cangjie5_TC.json`` from the model folder instead, and uses pkuseg only when its model is
already in ``PKUSEG_HOME`` (default ``<model_path>/pkuseg``, else ``~/.pkuseg``); without
them upstream speaks Chinese unsegmented, and describe() says so.

Standalone: envs/chatterbox/.venv/bin/python wrappers/chatterbox_wrapper.py --option model_path=DIR --text "Hi" --out x.wav
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from fanren_worker import Audio, Engine, local_path, main, seed_everything

SAMPLE_RATE = 24000
#: The files each model's ``from_local`` reads (``conds.pt``, the built-in voice, is optional).
FILES = {
    "english": ("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json"),
    "multilingual": ("ve.pt", "t3_mtl23ls_v2.safetensors", "s3gen.pt", "grapheme_mtl_merged_expanded_v1.json"),
    "turbo": (
        "ve.safetensors",
        "t3_turbo_v1.safetensors",
        "s3gen_meanflow.safetensors",
        "tokenizer_config.json",
        "vocab.json",
        "merges.txt",
    ),
}
REPOS = {
    "english": "ResembleAI/chatterbox",
    "multilingual": "ResembleAI/chatterbox",
    "turbo": "ResembleAI/chatterbox-turbo",
}
_SAMPLING = {
    "english": ("exaggeration", "cfg_weight", "temperature", "repetition_penalty", "min_p", "top_p"),
    "multilingual": ("exaggeration", "cfg_weight", "temperature", "repetition_penalty", "min_p", "top_p"),
    "turbo": ("temperature", "repetition_penalty", "top_p", "top_k"),
}
_VOICE = ("ref_audio", "ref_text", "voice", "language")
#: Options that shape the prepared voice (prepare_conditionals), per model.
_PREPARE = {"english": (), "multilingual": (), "turbo": ("norm_loudness",)}
TURBO_MIN_REF_S = 5.0  # ChatterboxTurboTTS.prepare_conditionals: "Audio prompt must be longer than 5 seconds!"
_CALL = ("seed",)
_VOICES_KEPT = 8  # prepared reference voices per worker
LICENSE = "chatterbox-tts and the ResembleAI/chatterbox weights: MIT; every take carries a Perth watermark"


def missing(folder: str, model: str) -> list[str]:
    return [f for f in FILES[model] if not os.path.exists(os.path.join(folder, f))]


def pick_model(folder: str, wanted: str) -> str:
    """The model to load, or FileNotFoundError listing what to put where."""
    if wanted not in ("auto", *FILES):
        raise ValueError(f"chatterbox model must be auto, {', '.join(FILES)}; got {wanted!r}")
    for model in FILES if wanted == "auto" else (wanted,):
        if not missing(folder, model):
            return model
    want = FILES if wanted == "auto" else {wanted: FILES[wanted]}
    lists = "; ".join(f"{m} ({REPOS[m]}): {', '.join(missing(folder, m))}" for m in want)
    raise FileNotFoundError(
        f"{folder} does not hold a complete Chatterbox model. Missing, per model: {lists}. "
        "Download the repo's files there (huggingface-cli download REPO --local-dir DIR), conds.pt included"
    )


def _pkuseg_ready(model_path: str) -> bool:
    """Point spacy_pkuseg at a local model, or keep upstream from importing it (it would download)."""
    local = os.path.join(model_path, "pkuseg")
    if "PKUSEG_HOME" not in os.environ and os.path.isdir(os.path.join(local, "spacy_ontonotes")):
        os.environ["PKUSEG_HOME"] = local
    home = os.path.expanduser(os.environ.get("PKUSEG_HOME", "~/.pkuseg"))
    if os.path.isdir(os.path.join(home, "spacy_ontonotes")):
        return True
    sys.modules["spacy_pkuseg"] = None  # type: ignore[assignment]  # upstream: "segmentation will be skipped"
    return False


def reference_seconds(path: str) -> float | None:
    """The reference's length, or None where soundfile cannot read it (upstream's librosa may)."""
    try:
        import soundfile

        return float(soundfile.info(path).duration)
    except Exception:  # any format soundfile does not know: leave it to upstream
        return None


def load_cangjie(converter: Any, path: str) -> int:
    """Fill upstream's ChineseCangjieConverter from a local Cangjie5_TC.json (its own format)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    for entry in data:
        word, code = entry.split("\t")[:2]
        converter.word2cj[word] = code
        converter.cj2word.setdefault(code, []).append(word)
    return len(converter.word2cj)


class Chatterbox(Engine):
    name = "chatterbox"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        model_path = options.get("model_path")
        if not model_path:
            raise ValueError(
                "chatterbox needs model_path: a local folder with the files of ResembleAI/chatterbox "
                "(or ResembleAI/chatterbox-turbo); nothing is downloaded"
            )
        model_path = local_path(model_path, "Chatterbox model folder")
        self.model = pick_model(model_path, str(options.get("model", "auto")))
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.segmenter = _pkuseg_ready(model_path) if self.model == "multilingual" else False
        self.progress("importing torch and chatterbox")
        import torch

        if self.model == "english":
            from chatterbox.tts import ChatterboxTTS as cls
        elif self.model == "multilingual":
            from chatterbox.mtl_tts import ChatterboxMultilingualTTS as cls
        else:
            from chatterbox.tts_turbo import ChatterboxTurboTTS as cls
        self.torch = torch
        self.progress(f"loading the {self.model} model from {model_path} on {device}")
        self.tts = cls.from_local(model_path, device)
        self.cangjie = 0
        cangjie = os.path.join(model_path, "Cangjie5_TC.json")
        if self.model == "multilingual" and os.path.exists(cangjie):
            self.cangjie = load_cangjie(self.tts.tokenizer.cangjie_converter, cangjie)
        self.model_path = model_path
        self.builtin = self.tts.conds  # conds.pt, or None
        self.voices: dict[tuple[Any, ...], Any] = {}
        self.sampling = _SAMPLING[self.model]
        self.prepare = _PREPARE[self.model]
        self.defaults = {k: options[k] for k in self._allowed() if k in options}
        if self.defaults.get("ref_audio"):
            local_path(self.defaults["ref_audio"], "ref_audio")

    def languages(self) -> list[str]:
        if self.model == "multilingual":
            from chatterbox.mtl_tts import SUPPORTED_LANGUAGES

            return sorted(SUPPORTED_LANGUAGES)
        return ["en"]

    def _allowed(self) -> tuple[str, ...]:
        return _VOICE + self.sampling + self.prepare + _CALL

    def _voice(self, ref_audio: str | None, exaggeration: float, **prepare: Any) -> Any:
        """The prepared voice for this take: the reference file's (cached), or the built-in one."""
        if not ref_audio:
            if self.builtin is None:
                raise ValueError(
                    f"{self.model_path} has no conds.pt (the built-in voice): give ref_audio, a recording to clone"
                )
            return self.builtin
        path = local_path(ref_audio, "ref_audio")
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns, *sorted(prepare.items()))
        if key not in self.voices:
            seconds = reference_seconds(path) if self.model == "turbo" else None
            if seconds is not None and seconds <= TURBO_MIN_REF_S:
                raise ValueError(
                    f"chatterbox turbo needs a reference longer than {TURBO_MIN_REF_S:g} s; {path} is "
                    f"{seconds:.2f} s: record a longer one (upstream prepares its voice from up to 10 s)"
                )
            if len(self.voices) >= _VOICES_KEPT:
                self.voices.pop(next(iter(self.voices)))
            self.progress(f"preparing the voice of {path}")
            self.tts.prepare_conditionals(path, exaggeration=exaggeration, **prepare)
            self.voices[key] = self.tts.conds
        return self.voices[key]

    def synthesize(self, text: str, **options: Any) -> Audio:
        allowed = self._allowed()
        unknown = set(options) - set(allowed)
        if unknown:
            raise TypeError(f"chatterbox ({self.model}) has no option(s) {sorted(unknown)}; allowed: {list(allowed)}")
        merged = {**self.defaults, **options}
        if merged.get("voice") not in (None, "", "default"):
            raise ValueError(
                f"chatterbox has one built-in voice (conds.pt), not {merged['voice']!r}: clone one with ref_audio, "
                "or store it as a named voice (fanren-tts voices add NAME --audio FILE)"
            )
        kwargs = {k: merged[k] for k in self.sampling if k in merged}
        prepare = {k: merged[k] for k in self.prepare if k in merged}
        self.tts.conds = self._voice(merged.get("ref_audio"), float(merged.get("exaggeration", 0.5)), **prepare)
        if self.model == "multilingual":
            language = str(merged.get("language") or "en").lower()
            if language not in self.languages():
                raise ValueError(f"chatterbox multilingual has no language {language!r}; it has {self.languages()}")
            kwargs["language_id"] = language
        elif merged.get("language") not in (None, "", "en"):
            raise ValueError(
                f"the chatterbox {self.model} model speaks English only; for {merged['language']!r} use "
                "model: multilingual (files of ResembleAI/chatterbox: t3_mtl23ls_v2.safetensors, ...)"
            )
        if merged.get("seed") is not None:
            seed_everything(int(merged["seed"]))
        wav = self.tts.generate(text, **kwargs)
        return Audio.from_array(wav.squeeze(0).detach().cpu().numpy().astype("float32"), SAMPLE_RATE)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "model": self.model,
            "model_path": self.model_path,
            "sample_rate": SAMPLE_RATE,
            "languages": self.languages(),
            "speakers": ["default"] if self.builtin is not None else [],
            "modes": ["builtin_voice", "clone"],
            "options": list(self._allowed()),
            "streaming": False,
            "streaming_reason": "chatterbox-tts 0.1.7 returns whole takes (generate has no streaming API)",
            "batch": 1,
            "concurrency": 1,
            "rate_control": None,
            "watermark": "Perth (resemble-perth), applied by upstream to every take",
            "license": LICENSE,
            "weights": f"a local copy of {REPOS[self.model]} named by model_path; nothing is fetched at run time",
            "device": str(self.tts.device),
        }
        if self.model == "multilingual":
            info["chinese"] = {
                "cangjie_entries": self.cangjie,
                "segmenter": self.segmenter,
                "note": "Chinese is best with Cangjie5_TC.json in model_path and pkuseg's spacy_ontonotes model "
                "in <model_path>/pkuseg (or PKUSEG_HOME); both come from ResembleAI/chatterbox / spacy-pkuseg",
            }
        return info


if __name__ == "__main__":
    raise SystemExit(main(Chatterbox))
