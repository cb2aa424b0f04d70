"""cosyvoice engine: CosyVoice 1, 2 and 3 from a local source checkout and model folder.

CosyVoice is not on PyPI: ``source_path`` points at a recursive clone of
FunAudioLLM/CosyVoice (its third_party/Matcha-TTS is put on sys.path too).
``model_path`` is a local model folder; without it, ``model_name`` is looked up
in ``<source_path>/pretrained_models`` as upstream's examples lay it out. A local
folder is required: upstream would otherwise download from ModelScope.

Modes: sft (speaker), zero_shot (prompt_speech + prompt_text), cross_lingual
(prompt_speech), instruct2 (instruct_text + prompt_speech; CosyVoice 2/3) and
instruct (speaker + instruct_text; CosyVoice-300M-Instruct only). A speaker
registered with ``add_speaker`` replaces prompt_speech/prompt_text in zero_shot
and cross_lingual (``speaker=<its id>``).

Standalone: envs/cosyvoice/.venv/bin/python wrappers/cosyvoice_wrapper.py \
    --option source_path=~/CosyVoice --option model_name=CosyVoice2-0.5B --option mode=zero_shot \
    --option prompt_speech=prompt.wav --option prompt_text=... --text "你好" --out x.wav
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine, local_path, main, seed_everything

MODES = ("sft", "zero_shot", "cross_lingual", "instruct2", "instruct")
_CALL = ("mode", "speaker", "prompt_speech", "prompt_text", "instruct_text", "speed", "text_frontend", "seed")
_SYSTEM = "You are a helpful assistant."
_END = "<|endofprompt|>"
_END_V1 = "<endofprompt>"  # what CosyVoice 1's frontend appended before upstream commit 56d9876
_YAMLS = (("cosyvoice3.yaml", "3"), ("cosyvoice2.yaml", "2"), ("cosyvoice.yaml", "1"))
#: load_* options that need a package upstream lists but this env leaves out.
_EXTRAS = {"load_trt": ("tensorrt", "TensorRT (tensorrt-cu12)"), "load_vllm": ("vllm", "vLLM")}


def _select_cuda(device: str) -> None:
    """Make ``cuda:N`` the device upstream's ``torch.device('cuda')`` lands on.

    CosyVoice never takes a device index, so the only way to pick GPU N is to make it
    the only visible one before torch (and onnxruntime) initialise CUDA. An index into
    an existing CUDA_VISIBLE_DEVICES list picks that entry.
    """
    if not device.startswith("cuda:"):
        return
    index = int(device.split(":", 1)[1])
    if "torch" in sys.modules:  # CUDA may be initialised already: switch the current device instead
        import torch

        torch.cuda.set_device(index)
        return
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if visible:
        if index >= len(visible):
            raise ValueError(f"device {device!r}: CUDA_VISIBLE_DEVICES={','.join(visible)} has no entry {index}")
        os.environ["CUDA_VISIBLE_DEVICES"] = visible[index]
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index)


def _guard_wetext(failures: list[str]) -> None:
    """Let CosyVoice load offline when wetext cannot fetch its FSTs from ModelScope.

    ``wetext.Normalizer()`` downloads pengzhendong/wetext on first use. Upstream since
    7538c6a catches the failure and silently drops normalization; older checkouts
    do not catch it, so the model cannot load at all offline. Either way, a failed
    Normalizer becomes an identity normalizer here and the failure is recorded, so the
    wrapper can say loudly that numbers and symbols are read as written.
    """
    try:
        import wetext
    except ImportError:
        return
    cls = wetext.Normalizer
    if getattr(cls.__init__, "_fanren_guard", False):
        return
    original = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            original(self, *args, **kwargs)
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300])
            self.taggers, self.verbalizers = {}, {}
            self.normalize = lambda text: text

    __init__._fanren_guard = True  # type: ignore[attr-defined]
    cls.__init__ = __init__


def own_stream_hop(model: Any) -> int | None:
    """Give every ``tts()`` call on upstream's model its own stream hop length.

    CosyVoice 2/3 (``CosyVoice2Model.tts``, which CosyVoice3Model inherits) grow the
    streaming hop on the shared model, ``self.token_hop_len *= stream_scale_factor``
    after each chunk up to ``token_max_hop_len``, and never reset it (QwenAudio/CosyVoice
    PR #1849, open). In a worker that stays loaded, the first chunk of every later stream
    is then 4x as long (25 -> 100 tokens), and streams sharing the model would change each
    other's hop. Each call here runs on a shallow copy of the model whose
    ``token_hop_len`` starts at the value the model was loaded with; everything else
    (sub-models, per-call dicts keyed by uuid, the lock) stays shared, as upstream has it.
    CosyVoice 1 keeps the hop in a local variable: left as it is. Returns the start hop.
    """
    hop = getattr(model, "token_hop_len", None)
    tts = getattr(type(model), "tts", None)
    if not isinstance(hop, int) or tts is None or "tts" in vars(model):
        return None

    def own_tts(*args: Any, **kwargs: Any) -> Any:
        own = copy.copy(model)
        own.token_hop_len = hop
        return tts(own, *args, **kwargs)

    model.tts = own_tts
    return hop


def _frontend_appends(method: str, marker: str) -> bool:
    """Whether this checkout's frontend appends ``marker`` itself (upstream did until 56d9876).

    Read from the source of ``CosyVoiceFrontEnd.<method>``, so an old checkout gets the
    prompt exactly once whichever way it is written.
    """
    try:
        from cosyvoice.cli.frontend import CosyVoiceFrontEnd

        source = inspect.getsource(getattr(CosyVoiceFrontEnd, method))
    except (ImportError, AttributeError, OSError, TypeError):
        return False
    return f"'{marker}'" in source or f'"{marker}"' in source


class CosyVoiceEngine(Engine):
    name = "cosyvoice"
    # Protocol 4: one call at a time (see capacity_note).
    capacity_note = (
        "one call at a time: upstream CosyVoiceModel.tts() keeps each stream's state per uuid under a lock "
        "and can hold trt_concurrent TensorRT contexts (a design for threads), but its frontend and this "
        "wrapper's speaker registry are shared and unchecked for threads, and it was not verified here"
    )

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        source = options.get("source_path")
        if source:
            source = self._source(source)
        self.model_dir = self._model_dir(options, source)
        self.version = self._version(options)
        self._refuse_missing_extras(options)
        if device == "cpu":
            os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CosyVoice picks CUDA by itself whenever it sees one
        _select_cuda(device)
        self.progress("importing CosyVoice")
        self._wetext_failures: list[str] = []
        _guard_wetext(self._wetext_failures)
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
        self.stream_hop = own_stream_hop(getattr(self.model, "model", None))
        self.defaults = {k: options[k] for k in _CALL if k in options}
        self.defaults.setdefault("mode", "zero_shot" if self.version != "1" else "sft")
        self.defaults.setdefault("text_frontend", True)
        self.defaults.setdefault("speed", 1.0)
        # Old frontends append the end-of-prompt marker themselves: then we must not.
        self._adds_end = _frontend_appends("frontend_instruct2", _END)
        self._adds_end_v1 = _frontend_appends("frontend_instruct", _END_V1)
        self._zero_shot_ids: set[str] = set()
        self.warnings: list[str] = []
        self._check_runtime(on_cuda)
        self._check_mode(self.defaults["mode"])

    # ------------------------------------------------------------------ setup

    @staticmethod
    def _source(source: str) -> str:
        """The checkout, on sys.path with its Matcha-TTS submodule, or an error that says how to fix it."""
        source = local_path(source, "CosyVoice source (tts.cosyvoice.source_path)", contains="cosyvoice")
        matcha = os.path.join(source, "third_party", "Matcha-TTS")
        if not os.path.isfile(os.path.join(matcha, "matcha", "__init__.py")):
            state = "missing" if not os.path.isdir(matcha) else "empty" if not os.listdir(matcha) else "incomplete"
            raise FileNotFoundError(
                f"{matcha} is {state}: the CosyVoice checkout was not cloned recursively, and CosyVoice "
                f"imports 'matcha' from that submodule. Run: git -C {source} submodule update --init --recursive"
            )
        sys.path[:0] = [source, matcha]
        return source

    @staticmethod
    def _refuse_missing_extras(options: dict[str, Any]) -> None:
        for key, (module, what) in _EXTRAS.items():
            if options.get(key) and importlib.util.find_spec(module) is None:
                raise ValueError(
                    f"{key}: true needs {what}, which the cosyvoice env does not include; "
                    f"set {key}: false (or add {module} to envs/cosyvoice/pyproject.toml and re-lock)"
                )

    def _check_runtime(self, on_cuda: bool) -> None:
        """Say loudly what upstream only logs: no text normalisation, ONNX on the CPU."""
        frontend = getattr(self.model, "frontend", None)
        off = frontend is not None and not getattr(frontend, "use_ttsfrd", False)
        off = off and (bool(self._wetext_failures) or not getattr(frontend, "text_frontend", "wetext"))
        if off:
            why = f" ({self._wetext_failures[0]})" if self._wetext_failures else ""
            self._warn(
                "text normalization is OFF: wetext could not load its FSTs, which it fetches from ModelScope "
                f"(pengzhendong/wetext) on first use{why}. Numbers, dates and symbols are read as written. "
                "Run once with network access so ModelScope caches them."
            )
        session = getattr(frontend, "speech_tokenizer_session", None)
        if on_cuda and session is not None and "CUDAExecutionProvider" not in session.get_providers():
            self._warn(
                "the ONNX speech tokenizer runs on the CPU: onnxruntime's CUDA provider did not load "
                "(python -m fanren_tts check-envs -e cosyvoice names the CUDA/cuDNN mismatch)"
            )

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        self.progress(f"WARNING: {message}")
        sys.stderr.write(f"[cosyvoice] WARNING: {message}\n")

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

    def _has_instruct2(self) -> bool:
        return self.version != "1" and callable(getattr(self.model, "inference_instruct2", None))

    def _check_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "instruct2" and self.version == "1":
            raise ValueError("instruct2 needs CosyVoice 2 or 3; CosyVoice 1 uses mode 'instruct' (-Instruct model)")
        if mode == "instruct2" and not self._has_instruct2():
            raise NotImplementedError(
                f"this CosyVoice checkout's CosyVoice{self.version} has no inference_instruct2 (its CosyVoice3 "
                "derived from CosyVoice, not CosyVoice2); update the checkout (git pull && git submodule update "
                "--init --recursive) or use zero_shot / cross_lingual"
            )
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

    def _no_prompt(self, method: Any) -> dict[str, Any]:
        """The empty prompt upstream expects next to a zero_shot_spk_id."""
        params = inspect.signature(method).parameters
        return {"prompt_wav": ""} if "prompt_wav" in params else {"prompt_speech_16k": ""}

    def _instruct(self, text: str | None) -> str:
        if not text:
            raise ValueError("this mode needs instruct_text, e.g. 用四川话说这句话")
        if self.version == "3" and not text.startswith(_SYSTEM):
            text = f"{_SYSTEM} {text}"
        if self.version == "1":
            marker, added = (_END_V1, True) if self._adds_end_v1 else (_END, False)
            for end in (_END, _END_V1):
                if added and text.endswith(end):
                    text = text[: -len(end)]  # the frontend appends its own marker
            if added or text.endswith((_END, _END_V1)):
                return text
            return text + marker
        if self._adds_end:
            return text[: -len(_END)] if text.endswith(_END) else text
        return text if text.endswith(_END) else text + _END

    def _prompt_text(self, text: str | None) -> str:
        if not text:
            raise ValueError("zero_shot needs prompt_text: the transcript of prompt_speech")
        if self.version == "3" and _END not in text:
            text = f"{_SYSTEM}{_END}{text}"
        return text

    def _system_text(self, text: str) -> str:
        """CosyVoice3's LLM asserts an end-of-prompt token; modes without a prompt text carry it in the text."""
        return f"{_SYSTEM}{_END}{text}" if self.version == "3" and _END not in text else text

    # ------------------------------------------------------------------ speech

    def synthesize(self, text: str, **options: Any) -> Audio:
        # One yield per text segment (upstream splits long text itself): join them.
        parts = [chunk["tts_speech"].float().cpu().numpy().reshape(-1) for chunk in self._inference(text, options)]
        if not parts:
            raise RuntimeError(f"CosyVoice returned no audio for {text!r}")
        import numpy as np

        return Audio.from_array(np.concatenate(parts), self.sample_rate)

    def stream(self, text: str, **options: Any) -> Iterator[Audio]:
        """Upstream's own streaming (``stream=True``): each chunk as the flow and HiFT decode it.

        Upstream allows a speed other than 1 only without streaming: such a call is made
        whole and comes as one piece.
        """
        pieces = self._inference(text, options, stream=True)
        sent = 0
        for chunk in pieces:
            sent += 1
            yield Audio.from_array(chunk["tts_speech"].float().cpu().numpy().reshape(-1), self.sample_rate)
        if not sent:
            raise RuntimeError(f"CosyVoice returned no audio for {text!r}")

    def _inference(self, text: str, options: dict[str, Any], *, stream: bool = False) -> Iterator[Any]:
        """The upstream inference generator for the call's mode and options."""
        unknown = set(options) - set(_CALL)
        if unknown:
            raise TypeError(f"cosyvoice has no option(s) {sorted(unknown)}; allowed: {list(_CALL)}")
        o = {**self.defaults, **options}
        mode = o["mode"]
        self._check_mode(mode)
        speed = float(o["speed"])
        common = {"stream": stream and speed == 1.0, "speed": speed, "text_frontend": bool(o["text_frontend"])}
        spk = self._zero_shot_speaker(o, mode)
        m = self.model
        if o.get("seed") is not None:  # every RNG a take draws from: LLM sampling, flow noise, HiFT source
            seed_everything(int(o["seed"]))
        if mode == "sft":
            chunks = m.inference_sft(self._system_text(text), self._speaker(o), **common)
        elif mode == "zero_shot":
            method = m.inference_zero_shot
            if spk:
                chunks = method(text, "", **self._no_prompt(method), zero_shot_spk_id=spk, **common)
            else:
                prompt_text = self._prompt_text(o.get("prompt_text"))
                chunks = method(text, prompt_text, **self._prompt(method, o.get("prompt_speech")), **common)
        elif mode == "cross_lingual":
            method = m.inference_cross_lingual
            prompt = self._no_prompt(method) if spk else self._prompt(method, o.get("prompt_speech"))
            chunks = method(self._system_text(text), **prompt, zero_shot_spk_id=spk, **common)
        elif mode == "instruct2":
            method = m.inference_instruct2
            chunks = method(
                text, self._instruct(o.get("instruct_text")), **self._prompt(method, o.get("prompt_speech")), **common
            )
        else:
            chunks = m.inference_instruct(text, self._speaker(o), self._instruct(o.get("instruct_text")), **common)
        return iter(chunks)

    def _spk2info(self) -> dict[str, Any]:
        frontend = getattr(self.model, "frontend", None)
        info = getattr(frontend, "spk2info", None)
        return info if isinstance(info, dict) else {}

    def _is_zero_shot(self, speaker: str) -> bool:
        """A zero-shot speaker carries prompt features; an sft speaker only an ``embedding``."""
        entry = self._spk2info().get(speaker)
        if isinstance(entry, dict):
            return "embedding" not in entry and "flow_embedding" in entry
        return speaker in self._zero_shot_ids

    def _zero_shot_speaker(self, o: dict[str, Any], mode: str) -> str:
        """The registered speaker to reuse (``zero_shot_spk_id``), or '' to use the prompt options."""
        speaker = o.get("speaker")
        if not speaker or mode not in ("zero_shot", "cross_lingual", "instruct2"):
            return ""
        if not self._is_zero_shot(speaker):
            if speaker in self.speakers() and (o.get("prompt_speech") or mode == "instruct2"):
                return ""  # an sft speaker left in the defaults: the prompt options decide
            zero_shot = [s for s in self.speakers() if self._is_zero_shot(s)]
            raise ValueError(
                f"speaker {speaker!r} is not a zero-shot speaker (add_speaker); zero-shot speakers: "
                f"{zero_shot or 'none'}. Give prompt_speech instead, or use mode 'sft' for spk2info speakers"
            )
        if mode == "instruct2":
            raise ValueError(
                f"instruct2 cannot reuse zero-shot speaker {speaker!r}: upstream would use its stored prompt and "
                "drop instruct_text; give prompt_speech instead"
            )
        return str(speaker)

    def _speaker(self, o: dict[str, Any]) -> str:
        speakers = self.speakers()
        speaker = o.get("speaker")
        if not speaker:
            raise ValueError(f"mode {o['mode']!r} needs a speaker; available: {speakers or 'none in spk2info.pt'}")
        if speakers and speaker not in speakers:
            raise ValueError(f"unknown speaker {speaker!r}; available: {speakers}")
        if self._is_zero_shot(speaker):
            raise ValueError(
                f"{speaker!r} is a zero-shot speaker (add_speaker): use it with mode zero_shot or cross_lingual; "
                f"mode {o['mode']!r} needs an spk2info.pt speaker: "
                f"{[s for s in speakers if not self._is_zero_shot(s)] or 'none'}"
            )
        return speaker

    def speakers(self) -> list[str]:
        return list(self.model.list_available_spks())

    def add_speaker(self, speaker: str, prompt_speech: str, prompt_text: str) -> list[str]:
        """Register a zero-shot speaker in memory (``add_zero_shot_spk``); returns all speakers.

        Then ``speaker=<id>`` in zero_shot or cross_lingual reuses its prompt without
        prompt_speech / prompt_text.
        """
        if not speaker:
            raise ValueError("add_speaker needs a non-empty speaker id")
        method = self.model.add_zero_shot_spk
        prompt = self._prompt(method, prompt_speech)
        method(self._prompt_text(prompt_text), next(iter(prompt.values())), speaker)
        self._zero_shot_ids.add(speaker)
        return self.speakers()

    def describe(self) -> dict[str, Any]:
        modes = [
            m
            for m in MODES
            if not (m == "instruct2" and not self._has_instruct2()) and not (m == "instruct" and self.version != "1")
        ]
        speakers = self.speakers()
        frontend = getattr(self.model, "frontend", None)
        return {
            "version": self.version,
            "model_dir": self.model_dir,
            "sample_rate": self.sample_rate,
            "speakers": speakers,
            "zero_shot_speakers": [s for s in speakers if self._is_zero_shot(s)],
            "modes": modes,
            "languages_tags": ["<|zh|>", "<|en|>", "<|ja|>", "<|yue|>", "<|ko|>"],
            "text_frontend": "none (text normalization is off)"
            if self._wetext_failures
            else getattr(frontend, "text_frontend", None) or "none (text normalization is off)",
            "device": self.device,
            "warnings": list(self.warnings),
            "options": list(_CALL),
            "streaming": "upstream stream=True (speed 1 only)",
            # tokens in each stream's first chunk (fixed per call; upstream lets it grow across calls)
            "stream_first_hop_tokens": self.stream_hop,
        }


if __name__ == "__main__":
    raise SystemExit(main(CosyVoiceEngine))
