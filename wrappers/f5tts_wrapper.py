"""f5tts engine: F5-TTS (PyPI f5-tts 1.1.22, SWivid/F5-TTS), flow-matching voice cloning from a
reference recording and its transcript; Chinese and English; 24 kHz through Vocos.

Loading uses upstream's own functions (``f5_tts.infer.utils_infer.load_vocoder`` and
``load_model``) the way its ``F5TTS`` API does, from local files only:

* ``model_path``: a checkpoint file (``model_1250000.safetensors`` / ``.pt``) or the folder
  holding one (SWivid/F5-TTS's ``F5TTS_v1_Base/``); its ``vocab.txt`` when there is one,
  else ``vocab_file``, else the vocab.txt the f5-tts wheel ships;
* ``vocoder_path``: a folder with Vocos's ``config.yaml`` and ``pytorch_model.bin``
  (charactr/vocos-mel-24khz);
* ``model``: the architecture, one of the configs the wheel ships (``F5TTS_v1_Base``, the
  default; ``F5TTS_Base``, ``E2TTS_Base``, ...), or ``model_cfg``: a yaml of the same
  shape (what upstream's ``infer_cli --model_cfg`` takes).

The ``F5TTS`` class itself is not used because it downloads the checkpoint or the vocoder
when a path is not given, and only knows the packaged configs. Nothing downloads here:
missing files fail with the list of what goes where; an empty ``ref_text`` is refused
(upstream would fetch Whisper to transcribe the reference).

Synthesis: ``preprocess_ref_audio_text`` (upstream: clip the reference to 12 s, trim its
silence; pydub reads WAV without ffmpeg) and ``infer_process`` (``seed_everything(seed)``
first, as ``F5TTS.infer`` does). Streaming: upstream's ``infer_batch_process(streaming=True)``
(what its socket server uses): the text is cut into chunks as ``infer_process`` cuts it;
each chunk is generated whole, then sent in ``stream_chunk_size``-sample pieces.

Licence: code MIT; the released checkpoints CC BY-NC 4.0 (trained on Emilia).

Standalone: envs/f5tts/.venv/bin/python wrappers/f5tts_wrapper.py --option model_path=DIR \
    --option vocoder_path=DIR --option ref_audio=ref.wav --option ref_text="..." --text "你好" --out x.wav
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fanren_worker import Audio, Engine, local_path, main

SAMPLE_RATE = 24000
LICENSE = "code: MIT (f5-tts 1.1.22); weights (SWivid/F5-TTS): CC BY-NC 4.0 (Emilia training data)"
VOCODER_FILES = ("config.yaml", "pytorch_model.bin")
_VOICE = ("ref_audio", "ref_text")
_SAMPLING = ("nfe_step", "cfg_strength", "sway_sampling_coef", "speed", "cross_fade_duration", "target_rms")
_CALL = (*_VOICE, *_SAMPLING, "seed", "stream_chunk_size")
_LOAD = ("model", "model_cfg", "model_path", "vocab_file", "vocoder_path", "ode_method", "use_ema")


def find_checkpoint(path: Path) -> Path | None:
    """``path`` itself if it is a file, else the folder's one ``model_*.safetensors`` / ``.pt``
    (the newest step when there are several), else None."""
    if path.is_file():
        return path
    found = sorted(path.glob("model_*.safetensors")) + sorted(path.glob("model_*.pt"))
    return max(found, key=lambda p: int("".join(c for c in p.stem if c.isdigit()) or 0)) if found else None


def missing(model_path: Path, vocoder_path: Path | None) -> list[str]:
    """What is missing, each as 'file (where it goes)'."""
    out: list[str] = []
    if find_checkpoint(model_path) is None:
        out.append(f"model_<step>.safetensors in {model_path} (SWivid/F5-TTS F5TTS_v1_Base/)")
    if vocoder_path is None:
        out.append("vocoder_path: a folder with config.yaml and pytorch_model.bin (charactr/vocos-mel-24khz)")
    else:
        out += [
            f"{vocoder_path / f} (charactr/vocos-mel-24khz)" for f in VOCODER_FILES if not (vocoder_path / f).is_file()
        ]
    return out


class F5TTS(Engine):
    name = "f5tts"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads at run time
        if not options.get("model_path"):
            raise ValueError(
                "f5tts needs model_path (a F5-TTS checkpoint, or SWivid/F5-TTS's F5TTS_v1_Base folder) and "
                "vocoder_path (a copy of charactr/vocos-mel-24khz: config.yaml, pytorch_model.bin)"
            )
        model_path = Path(local_path(options["model_path"], "F5-TTS model_path"))
        vocoder = (
            Path(os.path.abspath(os.path.expanduser(options["vocoder_path"]))) if options.get("vocoder_path") else None
        )
        absent = missing(model_path, vocoder)
        if absent:
            raise FileNotFoundError("F5-TTS files missing: " + "; ".join(absent))
        assert vocoder is not None
        checkpoint = find_checkpoint(model_path)
        assert checkpoint is not None
        self.progress("importing torch and f5_tts")
        from importlib.resources import files

        from f5_tts.infer import utils_infer
        from hydra.utils import get_class
        from omegaconf import OmegaConf

        self.infer = utils_infer
        name = str(options.get("model") or "F5TTS_v1_Base")
        config = options.get("model_cfg") or str(files("f5_tts").joinpath(f"configs/{name}.yaml"))
        config = local_path(config, "F5-TTS model config (model_cfg, or model: one of the wheel's configs)")
        cfg = OmegaConf.load(config)
        vocab = options.get("vocab_file") or (
            str(checkpoint.parent / "vocab.txt") if (checkpoint.parent / "vocab.txt").is_file() else ""
        )
        self.mel_spec_type = str(cfg.model.mel_spec.mel_spec_type)
        if self.mel_spec_type != "vocos":
            raise ValueError(f"{config}: mel_spec_type {self.mel_spec_type!r}; this wrapper runs the Vocos models only")
        self.progress(f"loading Vocos from {vocoder}")
        self.vocoder = utils_infer.load_vocoder("vocos", True, str(vocoder), device)
        self.progress(
            f"loading {checkpoint} ({cfg.model.backbone}, {name if not options.get('model_cfg') else config})"
        )
        self.model = utils_infer.load_model(
            get_class(f"f5_tts.model.{cfg.model.backbone}"),
            cfg.model.arch,
            str(checkpoint),
            mel_spec_type=self.mel_spec_type,
            vocab_file=local_path(vocab, "vocab_file") if vocab else "",
            ode_method=str(options.get("ode_method") or "euler"),
            use_ema=bool(options.get("use_ema", True)),
            device=device,
        )
        self.checkpoint, self.vocoder_path = checkpoint, vocoder
        self.config_name = str(options["model_cfg"]) if options.get("model_cfg") else name
        self.defaults = {k: options[k] for k in _CALL if k in options}
        if self.defaults.get("ref_audio"):
            local_path(self.defaults["ref_audio"], "ref_audio")

    def _settings(self, options: dict[str, Any]) -> dict[str, Any]:
        unknown = set(options) - set(_CALL)
        if unknown:
            raise TypeError(f"f5tts has no option(s) {sorted(unknown)}; allowed: {list(_CALL)}")
        o = {**self.defaults, **options}
        if not o.get("ref_audio"):
            raise ValueError("F5-TTS clones a voice: give ref_audio (a recording) and ref_text (its transcript)")
        if not str(o.get("ref_text") or "").strip():
            raise ValueError(
                "F5-TTS needs ref_text, the transcript of ref_audio (upstream would download Whisper to guess it)"
            )
        return o

    def _prepare(self, o: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """The reference as upstream preprocesses it, seeded as ``F5TTS.infer`` seeds."""
        from f5_tts.model.utils import seed_everything

        seed = int(o["seed"]) if o.get("seed") is not None else random.randint(0, sys.maxsize)
        seed_everything(seed)
        ref_audio, ref_text = self.infer.preprocess_ref_audio_text(
            local_path(o["ref_audio"], "ref_audio"), str(o["ref_text"]), show_info=self.progress
        )
        kwargs = {k: o[k] for k in _SAMPLING if o.get(k) is not None}
        return ref_audio, ref_text, kwargs

    def synthesize(self, text: str, **options: Any) -> Audio:
        """Upstream's ``infer_process``: chunks by sentence, cross-faded together."""
        ref_audio, ref_text, kwargs = self._prepare(self._settings(options))
        wav, rate, _ = self.infer.infer_process(
            ref_audio, ref_text, text, self.model, self.vocoder, self.mel_spec_type,
            show_info=self.progress, progress=None, device=self.device, **kwargs,
        )  # fmt: skip
        if wav is None:
            raise RuntimeError("F5-TTS made no audio (the text had nothing to say)")
        return Audio.from_array(wav.astype("float32"), int(rate))

    def stream(self, text: str, **options: Any) -> Iterator[Audio]:
        """Upstream's streaming path: each text chunk generated, then sent in pieces."""
        import torchaudio

        o = self._settings(options)
        ref_audio, ref_text, kwargs = self._prepare(o)
        audio, sr = torchaudio.load(ref_audio)
        # the chunk size infer_process computes: as many bytes as fit in ~22 s with the reference
        speed = float(kwargs.get("speed", 1.0))
        seconds = audio.shape[-1] / sr
        max_chars = int(len(ref_text.encode("utf-8")) / seconds * (22 - seconds) * speed)
        batches = self.infer.chunk_text(text, max_chars=max_chars)
        pieces = self.infer.infer_batch_process(
            (audio, sr), ref_text, batches, self.model, self.vocoder, mel_spec_type=self.mel_spec_type,
            progress=None, device=self.device, streaming=True,
            chunk_size=int(o.get("stream_chunk_size") or 12000), **kwargs,
        )  # fmt: skip
        for wave, rate in pieces:
            yield Audio.from_array(wave.astype("float32"), int(rate))

    def close(self) -> None:
        """Remove the trimmed copies of references upstream wrote to the temp folder (it keeps
        them, delete=False, for the life of the process)."""
        for path in list(getattr(self.infer, "_ref_audio_cache", {}).values()):
            try:
                os.unlink(path)
            except OSError:
                pass

    def describe(self) -> dict[str, Any]:
        return {
            "sample_rate": SAMPLE_RATE,
            "languages": ["zh", "en"],
            "model": self.config_name,
            "streaming": True,
            "streaming_unit": "text chunk (upstream chunk_text), each generated whole then sent in pieces",
            "concurrency": 1,
            "batch": 1,
            "voices": "clone: ref_audio + ref_text (its transcript), required",
            "rate_control": "speed",
            "license": LICENSE,
            "weights": f"SWivid/F5-TTS + charactr/vocos-mel-24khz, copied by you: {self.checkpoint}, {self.vocoder_path}",
            "options": list(_CALL),
        }


if __name__ == "__main__":
    raise SystemExit(main(F5TTS))
