"""indextts engine: IndexTTS 1 / 1.5, IndexTTS2 and IndexTTS 2.5 from a local checkout.

``source_path`` is a clone of index-tts/index-tts (or leave it out if indextts is
importable), ``model_dir`` the checkpoints folder of the chosen ``version``. A
speaker prompt (``spk_audio_prompt``) is required; IndexTTS2 adds emotion by
audio prompt, by an 8-float vector or by text, scaled by ``emo_alpha``.

Rate: only IndexTTS 2.5 has one (``duration_factor``, the length of the speech
times the factor; its README gives 0.5-2.0). 1, 1.5 and 2 have none, so
``target_duration`` on them is a time-stretch alone. Which one the loaded code has
is read from its ``infer`` signature and reported as ``describe()["rate_control"]``.

Nothing downloads at run time. Upstream fetches IndexTTS2's auxiliary models
(w2v-BERT, the MaskGCT codec, CAMPPlus, BigVGAN) through
``indextts.utils.model_download.ensure_models_available`` whenever ``aux_paths`` is
None, probing huggingface.co and modelscope.cn first whatever HF_HUB_OFFLINE says.
So this wrapper never passes None: it takes ``aux_paths`` (all four keys) or
upstream's own layout under ``<model_dir>/hf_cache``, checks every file, and fails
with the list of missing files instead. IndexTTS 2.5 reads the same layout itself.
HF_HUB_OFFLINE is on unless you set it.

Standalone: envs/indextts/.venv/bin/python wrappers/indextts_wrapper.py \
    --option source_path=~/index-tts --option model_dir=~/index-tts/checkpoints \
    --option spk_audio_prompt=voice.wav --text "你好" --out x.wav
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine, local_path, main, seed_everything

VERSIONS = {
    "1": ("indextts.infer", "IndexTTS"),
    "1.5": ("indextts.infer", "IndexTTS"),
    "2": ("indextts.infer_v2", "IndexTTS2"),
    "2.5": ("indextts.infer_v2_5", "IndexTTS2"),
}
EMOTIONS = ["happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm"]
_GENERATION = (
    "do_sample",
    "top_p",
    "top_k",
    "temperature",
    "length_penalty",
    "num_beams",
    "repetition_penalty",
    "max_mel_tokens",
)
AUX_MODELS: dict[str, tuple[str, tuple[str, ...], str]] = {
    # key: (upstream's place under <model_dir>/hf_cache, files a folder must hold, where it comes from)
    "w2v_bert": ("w2v-bert-2.0", ("config.json", "preprocessor_config.json"), "facebook/w2v-bert-2.0 (the folder)"),
    "semantic_codec": ("semantic_codec_model.safetensors", (), "amphion/MaskGCT semantic_codec/model.safetensors"),
    "campplus": ("campplus_cn_common.bin", (), "funasr/campplus campplus_cn_common.bin"),
    "bigvgan": ("bigvgan", ("config.json", "bigvgan_generator.pt"), "nvidia/bigvgan_v2_22khz_80band_256x (the folder)"),
}
_V25_AUX = ("w2v_bert", "campplus", "bigvgan")  # 2.5 has its codec in model_dir/codec.pth
_V2_CALL = ("emo_audio_prompt", "emo_alpha", "emo_vector", "use_emo_text", "emo_text", "use_random", "interval_silence")
_RATE = "duration_factor"  # IndexTTS 2.5's infer() only
_CALL = ("spk_audio_prompt", "max_text_tokens_per_segment", "lang", "seed", _RATE, *_V2_CALL, *_GENERATION)


def rate_control(infer: Any) -> str | None:
    """``duration_factor`` when the loaded ``infer`` names it (IndexTTS 2.5), else None.

    A named parameter only: IndexTTS2's ``**generation_kwargs`` would take it too, and pass
    it on to the GPT's sampler, which has no such thing.
    """
    try:
        params = inspect.signature(infer).parameters
    except (TypeError, ValueError):
        return None
    param = params.get(_RATE)
    return _RATE if param is not None and param.kind is not inspect.Parameter.VAR_KEYWORD else None


def _missing_files(key: str, path: str) -> list[str]:
    """What is absent at ``path`` for aux model ``key`` (a folder with files, or one file)."""
    _, inside, _ = AUX_MODELS[key]
    if inside:
        if not os.path.isdir(path):
            return [path + os.sep]
        missing = [os.path.join(path, name) for name in inside if not os.path.isfile(os.path.join(path, name))]
        if key == "w2v_bert" and not any(
            os.path.isfile(os.path.join(path, w)) for w in ("model.safetensors", "pytorch_model.bin")
        ):
            missing.append(os.path.join(path, "model.safetensors"))
        return missing
    return [] if os.path.isfile(path) else [path]


def aux_model_paths(version: str, model_dir: str, aux: dict[str, str] | None) -> dict[str, str]:
    """The auxiliary model paths for IndexTTS 2 / 2.5, every file checked to be on disk.

    Without ``aux`` they are upstream's own layout under ``<model_dir>/hf_cache``.
    Raises ValueError for a partial or unknown ``aux`` and FileNotFoundError listing
    every missing file, so upstream never reaches its downloader.
    """
    keys = tuple(AUX_MODELS) if version == "2" else _V25_AUX
    if aux:
        if version != "2":
            raise ValueError(
                f"aux_paths is for IndexTTS 2; {version} reads its aux models from {os.path.join(model_dir, 'hf_cache')}"
            )
        unknown = sorted(set(aux) - set(keys))
        absent = [k for k in keys if not aux.get(k)]
        if unknown or absent:
            wanted = "; ".join(f"{k}: {AUX_MODELS[k][2]}" for k in keys)
            problem = f"missing {', '.join(absent)}" if absent else f"unknown {', '.join(unknown)}"
            raise ValueError(f"aux_paths needs exactly the keys {', '.join(keys)} ({problem}). They are: {wanted}")
        paths = {k: os.path.abspath(os.path.expanduser(aux[k])) for k in keys}
        where = "tts.indextts.aux_paths"
    else:
        cache = os.path.join(model_dir, "hf_cache")
        paths = {k: os.path.join(cache, AUX_MODELS[k][0]) for k in keys}
        where = f"upstream's layout under {cache} (or set tts.indextts.aux_paths)"
    missing = [f"{k}: {f}" for k in keys for f in _missing_files(k, paths[k])]
    if missing:
        sources = "; ".join(f"{k} from {AUX_MODELS[k][2]}" for k in keys)
        raise FileNotFoundError(
            f"IndexTTS {version} auxiliary model files missing ({where}); nothing is downloaded at run time:\n  "
            + "\n  ".join(missing)
            + f"\nGet them once ({sources}) and put them there."
        )
    return paths


def half_precision(version: str, options: dict[str, Any], device: str) -> bool:
    """fp16 (bf16 for 2.5) as upstream defaults it, on CUDA only.

    IndexTTS 1/1.5 default ``use_fp16=True`` and only then turn on the GPT's KV cache,
    so an unset option means True on CUDA; 2 and 2.5 default to False.
    """
    key = "use_bf16" if version == "2.5" else "use_fp16"
    value = options.get(key)
    if value is None:
        value = version in ("1", "1.5")
    return bool(value) and device.startswith("cuda")


@contextlib.contextmanager
def emotion_model_on(module: Any, device: str) -> Iterator[None]:
    """Load QwenEmotion on ``device``: upstream asks for ``device_map="auto"``, which
    spreads it over whatever accelerators exist whatever the configured device."""
    auto: Any = getattr(module, "AutoModelForCausalLM", None)
    if auto is None:
        yield
        return

    class _OnDevice:
        @staticmethod
        def from_pretrained(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("device_map", "auto") == "auto":
                kwargs["device_map"] = {"": device}
            return auto.from_pretrained(*args, **kwargs)

    module.AutoModelForCausalLM = _OnDevice
    try:
        yield
    finally:
        module.AutoModelForCausalLM = auto


class IndexTTSEngine(Engine):
    name = "indextts"
    # Protocol 4: one call at a time (see capacity_note).
    capacity_note = (
        "one call at a time: upstream IndexTTS keeps the last reference voice's conditioning on the "
        "instance (cache_spk_cond, cache_cond_mel, ...), which concurrent calls would overwrite, and "
        "IndexTTS2 sets its s2mel caches up for max_batch_size=1; infer_fast batches one text's own "
        "sentences, not separate requests"
    )

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        self.version = str(options.get("version", "2"))
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}, got {self.version!r}")
        source = options.get("source_path")
        if source:
            sys.path.insert(0, local_path(source, "IndexTTS source (tts.indextts.source_path)", contains="indextts"))
        if not options.get("model_dir"):
            raise ValueError("indextts needs model_dir: the local checkpoints folder")
        self.model_dir = local_path(options["model_dir"], "IndexTTS checkpoints folder")
        cfg_path = local_path(options.get("cfg_path") or os.path.join(self.model_dir, "config.yaml"), "IndexTTS config")
        aux: dict[str, str] = {}
        if self.version in ("2", "2.5"):  # before the slow import: missing files fail fast
            aux = aux_model_paths(self.version, self.model_dir, options.get("aux_paths"))
        elif options.get("aux_paths"):
            raise ValueError(f"aux_paths is for IndexTTS 2; {self.version} has no auxiliary models")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        hub_cache = os.environ.get("HF_HUB_CACHE")
        module_name, class_name = VERSIONS[self.version]
        self.progress(f"importing {module_name}")
        import importlib

        module = importlib.import_module(module_name)
        if hub_cache is None:  # infer.py points HF_HUB_CACHE at ./checkpoints/hf_cache on import
            os.environ["HF_HUB_CACHE"] = os.path.join(self.model_dir, "hf_cache")
        else:
            os.environ["HF_HUB_CACHE"] = hub_cache
        cls = getattr(module, class_name)
        kwargs: dict[str, Any] = {"cfg_path": cfg_path, "model_dir": self.model_dir, "device": device}
        half = half_precision(self.version, options, device)  # upstream also refuses half on mps/cpu
        kwargs["use_bf16" if self.version == "2.5" else "use_fp16"] = half
        if "use_cuda_kernel" in options:
            kwargs["use_cuda_kernel"] = bool(options["use_cuda_kernel"]) and device.startswith("cuda")
        if self.version in ("2", "2.5"):
            kwargs["use_qwen_emo"] = bool(options.get("use_qwen_emo", self.version == "2"))
        if self.version == "2":
            kwargs["aux_paths"] = aux
        self.progress(f"loading IndexTTS {self.version} from {self.model_dir}")
        with emotion_model_on(module, device):
            self.model = cls(**kwargs)
        self.sample_rate = 24000 if self.version in ("1", "1.5") else 22050
        self.rate_control = rate_control(self.model.infer)
        if options.get(_RATE) is not None and self.rate_control is None:
            raise ValueError(self._no_rate())
        self.defaults = {k: options[k] for k in _CALL if k in options}

    def synthesize(self, text: str, **options: Any) -> Audio:
        result = self._infer(text, options, stream=False)
        if result is None:
            raise RuntimeError(f"IndexTTS produced no audio for {text!r}")
        sample_rate, wav = result
        return Audio.from_array(wav, int(sample_rate))

    def stream(self, text: str, **options: Any) -> Iterator[Audio]:
        """IndexTTS 2 and 2.5 stream for real (``stream_return``): each text segment as soon
        as BigVGAN has decoded it, then its interval silence. 1 and 1.5 cannot: one piece."""
        if self.version in ("1", "1.5"):
            yield self.synthesize(text, **options)
            return
        import numpy as np

        pieces = self._infer(text, options, stream=True)
        sent = 0
        pause: Audio | None = None
        for tensor in pieces:
            if tensor is None:
                continue
            # upstream scales to the int16 range (32767 * wav) before it yields
            samples = tensor.float().cpu().numpy().reshape(-1) / 32767.0
            piece = Audio.from_array(np.clip(samples, -1.0, 1.0).astype("float32"), self.sample_rate)
            if not samples.any():  # the interval silence: only between segments, as synthesize has it
                pause = piece
                continue
            if pause is not None and sent:
                yield pause
            pause = None
            sent += 1
            yield piece
        if not sent:
            raise RuntimeError(f"IndexTTS produced no audio for {text!r}")

    def _infer(self, text: str, options: dict[str, Any], *, stream: bool) -> Any:
        """Upstream's ``infer`` with the call's options mapped; a generator when ``stream``."""
        unknown = set(options) - set(_CALL)
        if unknown:
            raise TypeError(f"indextts has no option(s) {sorted(unknown)}; allowed: {list(_CALL)}")
        o = {**self.defaults, **options}
        prompt = o.get("spk_audio_prompt")
        if not prompt:
            raise ValueError("indextts needs spk_audio_prompt: a WAV of the voice to speak with")
        prompt = local_path(prompt, "spk_audio_prompt")
        if o.get("seed") is not None:
            seed_everything(int(o["seed"]))
        gen = {k: o[k] for k in _GENERATION if k in o}
        if o.get(_RATE) is not None:
            if self.rate_control is None:
                raise ValueError(self._no_rate())
            gen[_RATE] = float(o[_RATE])
        if "max_text_tokens_per_segment" in o:
            gen["max_text_tokens_per_segment"] = int(o["max_text_tokens_per_segment"])
        if self.version in ("1", "1.5"):
            v2_only = sorted(k for k in _V2_CALL if k in o)
            if v2_only:
                raise ValueError(f"{', '.join(v2_only)} need IndexTTS 2 or 2.5 (this is {self.version})")
            return self.model.infer(prompt, text, None, **gen)
        emotion = self._emotion(o)
        if stream:
            emotion["stream_return"] = True
        if self.version == "2.5":
            if not o.get("lang"):
                raise ValueError("IndexTTS 2.5 needs lang, e.g. ZH or EN")
            return self.model.infer(prompt, text, None, o["lang"], **emotion, **gen)
        return self.model.infer(prompt, text, None, **emotion, **gen)

    def _no_rate(self) -> str:
        return (
            f"{_RATE} needs IndexTTS 2.5 (this is IndexTTS {self.version}, whose infer() has no rate control); "
            "target_duration still works here, by time-stretch"
        )

    def _emotion(self, o: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "emo_vector" in o and o["emo_vector"] is not None:
            vector = [float(x) for x in o["emo_vector"]]
            if len(vector) != len(EMOTIONS):
                raise ValueError(f"emo_vector needs {len(EMOTIONS)} floats in the order {EMOTIONS}")
            out["emo_vector"] = vector
        if o.get("emo_audio_prompt"):
            out["emo_audio_prompt"] = local_path(o["emo_audio_prompt"], "emo_audio_prompt")
        if o.get("use_emo_text") or o.get("emo_text"):
            out["use_emo_text"] = True
            out["emo_text"] = o.get("emo_text")
        if "emo_alpha" in o:
            out["emo_alpha"] = min(1.0, max(0.0, float(o["emo_alpha"])))
        for key in ("use_random", "interval_silence"):
            if key in o:
                out[key] = o[key]
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model_dir": self.model_dir,
            "sample_rate": self.sample_rate,
            "emotions": EMOTIONS if self.version in ("2", "2.5") else [],
            "languages": ["zh", "en", "ja", "es"] if self.version == "2.5" else ["zh", "en"],
            "options": list(_CALL),
            "emotion_model_device": self._emotion_model_device(),
            "streaming": self.version in ("2", "2.5"),
            # what target_duration uses (fanren_tts._fit): this rate option, then a time-stretch
            "rate_control": self.rate_control,
            "target_duration": f"{self.rate_control}, then time-stretch" if self.rate_control else "time-stretch only",
        }

    def _emotion_model_device(self) -> str | None:
        """Where QwenEmotion's weights are (None when it is not loaded)."""
        qwen = getattr(self.model, "qwen_emo", None)
        device = getattr(getattr(qwen, "model", None), "device", None)
        return None if device is None else str(device)


if __name__ == "__main__":
    raise SystemExit(main(IndexTTSEngine))
