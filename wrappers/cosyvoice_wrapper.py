"""cosyvoice engine: CosyVoice 1, 2 and 3 from a local source checkout and model folder.

CosyVoice is not on PyPI: ``source_path`` points at a recursive clone of
FunAudioLLM/CosyVoice (its third_party/Matcha-TTS is put on sys.path too).
``model_path`` is a local model folder; without it, ``model_name`` is looked up
in ``<source_path>/pretrained_models`` as upstream's examples lay it out. A local
folder is required: upstream would otherwise download from ModelScope.

Modes: sft (speaker), zero_shot (prompt_speech + prompt_text), cross_lingual
(prompt_speech), instruct2 (instruct_text + prompt_speech; CosyVoice 2/3) and
instruct (speaker + instruct_text; CosyVoice-300M-Instruct only).

Standalone: envs/cosyvoice/.venv/bin/python wrappers/cosyvoice_wrapper.py \
    --option source_path=~/CosyVoice --option model_name=CosyVoice2-0.5B --option mode=zero_shot \
    --option prompt_speech=prompt.wav --option prompt_text=... --text "你好" --out x.wav
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any

from fanren_worker import Audio, Engine, local_path, main

MODES = ("sft", "zero_shot", "cross_lingual", "instruct2", "instruct")
_CALL = ("mode", "speaker", "prompt_speech", "prompt_text", "instruct_text", "speed", "text_frontend")
_SYSTEM = "You are a helpful assistant."
_END = "<|endofprompt|>"
_YAMLS = (("cosyvoice3.yaml", "3"), ("cosyvoice2.yaml", "2"), ("cosyvoice.yaml", "1"))


class CosyVoiceEngine(Engine):
    name = "cosyvoice"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        source = options.get("source_path")
        if source:
            # a recursive clone of FunAudioLLM/CosyVoice: the Matcha-TTS submodule must be there too
            source = local_path(source, "CosyVoice source (tts.cosyvoice.source_path)", contains="cosyvoice")
            matcha = local_path(
                os.path.join(source, "third_party", "Matcha-TTS"), "Matcha-TTS submodule (git submodule update --init)"
            )
            sys.path[:0] = [source, matcha]
        self.model_dir = self._model_dir(options, source)
        self.version = self._version(options)
        if device == "cpu":
            os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CosyVoice picks CUDA by itself whenever it sees one
        self.progress("importing CosyVoice")
        from cosyvoice.cli import cosyvoice as cli

        cls = {"1": cli.CosyVoice, "2": cli.CosyVoice2, "3": getattr(cli, "CosyVoice3", None)}[self.version]
        if cls is None:
            raise ImportError("this CosyVoice checkout has no CosyVoice3; update it or use a CosyVoice 1/2 model")
        on_cuda = device.startswith("cuda")
        wanted = {
            "fp16": bool(options.get("fp16", False)) and on_cuda,  # half precision only where the device has it
            "load_jit": bool(options.get("load_jit", False)) and on_cuda,
            "load_trt": bool(options.get("load_trt", False)) and on_cuda,
            "load_vllm": bool(options.get("load_vllm", False)) and on_cuda,
        }
        accepted = inspect.signature(cls.__init__).parameters  # CosyVoice3 has no load_jit, v1 no load_vllm
        kwargs = {k: v for k, v in wanted.items() if k in accepted}
        self.progress(f"loading CosyVoice{self.version if self.version != '1' else ''} from {self.model_dir}")
        self.model = cls(self.model_dir, **kwargs)
        self.sample_rate = int(self.model.sample_rate)
        self.defaults = {k: options[k] for k in _CALL if k in options}
        self.defaults.setdefault("mode", "zero_shot" if self.version != "1" else "sft")
        self.defaults.setdefault("text_frontend", True)
        self.defaults.setdefault("speed", 1.0)
        self._check_mode(self.defaults["mode"])

    # ------------------------------------------------------------------ setup

    @staticmethod
    def _model_dir(options: dict[str, Any], source: str | None) -> str:
        if options.get("model_path"):
            model_dir = options["model_path"]
        elif options.get("model_name") and source:
            model_dir = os.path.join(source, "pretrained_models", options["model_name"])
        else:
            raise ValueError("cosyvoice needs model_path (a local model folder), or model_name with source_path")
        return local_path(model_dir, "CosyVoice model folder")

    def _version(self, options: dict[str, Any]) -> str:
        version = str(options.get("version", "auto"))
        if version == "auto" and options.get("use_cosyvoice2"):
            version = "2"
        if version == "auto":
            found = [v for name, v in _YAMLS if os.path.isfile(os.path.join(self.model_dir, name))]
            if not found:
                raise FileNotFoundError(
                    f"{self.model_dir} has none of {', '.join(n for n, _ in _YAMLS)}: not a CosyVoice model folder"
                )
            version = found[0]
        if version not in ("1", "2", "3"):
            raise ValueError(f"version must be auto, 1, 2 or 3, got {version!r}")
        yaml = {"1": "cosyvoice.yaml", "2": "cosyvoice2.yaml", "3": "cosyvoice3.yaml"}[version]
        if not os.path.isfile(os.path.join(self.model_dir, yaml)):
            raise FileNotFoundError(f"CosyVoice{version} needs {os.path.join(self.model_dir, yaml)}")
        return version

    def _check_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "instruct2" and self.version == "1":
            raise ValueError("instruct2 needs CosyVoice 2 or 3; CosyVoice 1 uses mode 'instruct' (-Instruct model)")
        if mode == "instruct" and self.version != "1":
            raise ValueError("mode 'instruct' is CosyVoice-300M-Instruct only; use 'instruct2' with CosyVoice 2/3")

    # ------------------------------------------------------------------ prompts

    def _prompt(self, method: Any, path: str | None) -> dict[str, Any]:
        """The speech prompt as this checkout wants it: a file path (since 622a3a1) or a 16 kHz tensor."""
        if not path:
            raise ValueError("this mode needs prompt_speech (a WAV of at least 16 kHz, at most 30 s)")
        path = local_path(path, "prompt_speech")
        params = inspect.signature(method).parameters
        if "prompt_wav" in params:
            return {"prompt_wav": path}
        from cosyvoice.utils.file_utils import load_wav

        return {"prompt_speech_16k": load_wav(path, 16000)}

    def _instruct(self, text: str | None) -> str:
        if not text:
            raise ValueError("this mode needs instruct_text, e.g. 用四川话说这句话")
        if self.version == "3" and not text.startswith(_SYSTEM):
            text = f"{_SYSTEM} {text}"
        return text if text.endswith(_END) else text + _END

    def _prompt_text(self, text: str | None) -> str:
        if not text:
            raise ValueError("zero_shot needs prompt_text: the transcript of prompt_speech")
        if self.version == "3" and _END not in text:
            text = f"{_SYSTEM}{_END}{text}"
        return text

    # ------------------------------------------------------------------ speech

    def synthesize(self, text: str, **options: Any) -> Audio:
        unknown = set(options) - set(_CALL)
        if unknown:
            raise TypeError(f"cosyvoice has no option(s) {sorted(unknown)}; allowed: {list(_CALL)}")
        o = {**self.defaults, **options}
        mode = o["mode"]
        self._check_mode(mode)
        common = {"stream": False, "speed": float(o["speed"]), "text_frontend": bool(o["text_frontend"])}
        m = self.model
        if mode == "sft":
            chunks = m.inference_sft(text, self._speaker(o), **common)
        elif mode == "zero_shot":
            method = m.inference_zero_shot
            chunks = method(
                text, self._prompt_text(o.get("prompt_text")), **self._prompt(method, o.get("prompt_speech")), **common
            )
        elif mode == "cross_lingual":
            method = m.inference_cross_lingual
            tts_text = f"{_SYSTEM}{_END}{text}" if self.version == "3" and _END not in text else text
            chunks = method(tts_text, **self._prompt(method, o.get("prompt_speech")), **common)
        elif mode == "instruct2":
            method = m.inference_instruct2
            chunks = method(
                text, self._instruct(o.get("instruct_text")), **self._prompt(method, o.get("prompt_speech")), **common
            )
        else:
            chunks = m.inference_instruct(text, self._speaker(o), self._instruct(o.get("instruct_text")), **common)
        # One yield per text segment (upstream splits long text itself): join them.
        parts = [chunk["tts_speech"].float().cpu().numpy().reshape(-1) for chunk in chunks]
        if not parts:
            raise RuntimeError(f"CosyVoice returned no audio for {text!r}")
        import numpy as np

        return Audio.from_array(np.concatenate(parts), self.sample_rate)

    def _speaker(self, o: dict[str, Any]) -> str:
        speakers = self.speakers()
        speaker = o.get("speaker")
        if not speaker:
            raise ValueError(f"mode {o['mode']!r} needs a speaker; available: {speakers or 'none in spk2info.pt'}")
        if speakers and speaker not in speakers:
            raise ValueError(f"unknown speaker {speaker!r}; available: {speakers}")
        return speaker

    def speakers(self) -> list[str]:
        return list(self.model.list_available_spks())

    def add_speaker(self, speaker: str, prompt_speech: str, prompt_text: str) -> list[str]:
        """Register a zero-shot speaker in memory (``add_zero_shot_spk``); returns all speakers."""
        method = self.model.add_zero_shot_spk
        prompt = self._prompt(method, prompt_speech)
        method(self._prompt_text(prompt_text), next(iter(prompt.values())), speaker)
        return self.speakers()

    def describe(self) -> dict[str, Any]:
        modes = [
            m
            for m in MODES
            if not (m == "instruct2" and self.version == "1") and not (m == "instruct" and self.version != "1")
        ]
        return {
            "version": self.version,
            "model_dir": self.model_dir,
            "sample_rate": self.sample_rate,
            "speakers": self.speakers(),
            "modes": modes,
            "languages_tags": ["<|zh|>", "<|en|>", "<|ja|>", "<|yue|>", "<|ko|>"],
            "options": list(_CALL),
        }


if __name__ == "__main__":
    raise SystemExit(main(CosyVoiceEngine))
