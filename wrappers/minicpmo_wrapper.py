"""minicpmo engine: MiniCPM-o 4.5 as a voice-cloning TTS (read the text in the voice of ref_audio).

The model code is not on PyPI: it ships inside the model folder (``modeling_minicpmo.py`` and
friends, loaded with ``trust_remote_code``), so ``model_path`` must be a complete local copy of
openbmb/MiniCPM-o-4_5. Nothing is downloaded: the hub is switched off before transformers loads.

The path is upstream's documented zero-shot TTS: ``model.init_tts()`` (the non-streaming
CosyVoice2 vocoder from ``<model_path>/assets/CosyVoice2-0.5B``), a system message with the
reference audio and a user message "请朗读以下内容。 <text>", then ``model.chat(...,
use_tts_template=True, generate_audio=True, output_audio_path=...)``. Output is 24 kHz.
The LLM reads the text itself, so a take can differ from the text by a word; ``temperature``
(upstream's example uses 0.1) keeps it close. Vision is not loaded (``init_vision=False``).

Streaming is upstream's "Simplex Streaming" (MiniCPMO45/README.md): ``init_tts(streaming=True)``
loads the Step-Audio2 Token2wav vocoder from ``<model_path>/assets/token2wav`` (or
``token2wav_path``), then per call ``reset_session()``, ``init_token2wav_cache(ref)``,
``streaming_prefill`` of the same two messages, and ``streaming_generate(generate_audio=True)``,
which yields 24 kHz waveform chunks (25 speech tokens, 1 s, each) as the LLM and the TTS head
go. Both vocoders stay loaded: files keep the CosyVoice2 path above, streams swap Token2wav in
for the call. Token2wav puts itself on CUDA, so ``streaming`` defaults to on only on a CUDA
device with that folder present; elsewhere ``stream()`` yields each take whole.

Standalone: envs/minicpmo/.venv/bin/python wrappers/minicpmo_wrapper.py --option model_path=DIR \
    --option ref_audio=voice.wav --text "你好" --out x.wav
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine, half_dtype, local_path, main, seed_everything

SAMPLE_RATE = 24000  # chat() writes the vocoder output with samplerate=24000
#: Upstream README "Zero-shot Text-to-speech": the voice-cloning system prompt and the read-aloud request.
SYSTEM_PREFIX = "模仿音频样本的音色并生成新的内容。"
SYSTEM_SUFFIX = "请用这种声音风格来为用户提供帮助。 直接作答，不要有冗余内容"
READ_PREFIX = "请朗读以下内容。"

_VOICE = ("ref_audio",)
#: chat() keywords for the LLM; prepare_generation_config only takes these keys from **kwargs.
_LLM = ("max_new_tokens", "do_sample", "temperature", "top_p", "top_k", "repetition_penalty", "num_beams")
#: TTSSamplingParams fields, prefixed with ``tts_`` here.
_TTS = ("tts_temperature", "tts_top_p", "tts_top_k", "tts_repetition_penalty")
_CALL = _VOICE + _LLM + _TTS + ("seed",)
_LLM_DEFAULTS = {"max_new_tokens": 512, "do_sample": True, "temperature": 0.1}  # the README's TTS example
#: streaming_generate() reads these from **kwargs (num_beams does not apply: it samples chunk by chunk).
_STREAM_LLM = ("temperature", "top_p", "top_k", "repetition_penalty")
STREAM_VOCODER = os.path.join("assets", "token2wav")  # where upstream's init_tts(streaming=True) looks


def load_ref_audio(path: str) -> Any:
    """16 kHz mono float32, loaded as upstream's examples do (librosa)."""
    import librosa

    audio, _ = librosa.load(path, sr=16000, mono=True)
    if audio.size == 0:
        raise ValueError(f"ref_audio {path} holds no samples")
    return audio


#: Imports in the model code that only run behind a switch, e.g. ``if os.getenv("USE_FLAGOS") == "1":
#: import flag_gems`` in modeling_minicpmo.py. transformers' check_imports cannot see the switch and
#: refuses the whole folder while the package is absent.
OPTIONAL_IMPORTS = {"flag_gems": "USE_FLAGOS"}


@contextlib.contextmanager
def optional_imports_allowed() -> Any:
    """Let trust_remote_code load when the only missing packages sit behind a switch that is off."""
    from transformers import dynamic_module_utils as dmu

    original = dmu.check_imports

    def check_imports(filename: Any) -> Any:
        try:
            return original(filename)
        except ImportError as exc:
            text = str(exc)
            if "were not found in your environment: " not in text:
                raise
            missing = text.split("were not found in your environment: ", 1)[1].split(". Run", 1)[0].split(", ")
            switched_on = {m for m, var in OPTIONAL_IMPORTS.items() if os.environ.get(var) == "1"}
            if any(m not in OPTIONAL_IMPORTS or m in switched_on for m in missing):
                raise
            return dmu.get_relative_imports(filename)

    dmu.check_imports = check_imports
    try:
        yield
    finally:
        dmu.check_imports = original


class MiniCPMo(Engine):
    name = "minicpmo"
    # Protocol 4: one call at a time (see capacity_note).
    capacity_note = (
        "one call at a time: upstream MiniCPM-o keeps one streaming session (session_id and its KV "
        "cache) on the model instance; its own demo server serves one session at a time"
    )

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        model_path = options.get("model_path")
        if not model_path:
            raise ValueError("minicpmo needs model_path: a local copy of openbmb/MiniCPM-o-4_5 (with its *.py files)")
        model_path = local_path(model_path, "MiniCPM-o model folder", contains="config.json")
        for needed in ("modeling_minicpmo.py", "configuration_minicpmo.py", "processing_minicpmo.py"):
            local_path(model_path, "MiniCPM-o model code", contains=needed)
        vocoder = options.get("vocoder_path") or os.path.join(model_path, "assets", "CosyVoice2-0.5B")
        try:
            vocoder = local_path(vocoder, "CosyVoice2 vocoder folder", contains="cosyvoice2.yaml")
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"{exc}; the model repo ships it as assets/CosyVoice2-0.5B, or point vocoder_path at a copy"
            ) from None
        # Local folder only: the remote code comes from model_path, the hub is never asked.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        self.progress("importing torch and transformers")
        import torch
        from transformers import AutoModel

        self.torch = torch
        dtype = half_dtype(torch, options.get("dtype", "auto"), device)
        attn = options.get("attn_implementation", "sdpa")
        self.progress(f"loading {model_path} ({dtype}, {attn})")
        # No device_map: the weights load on the CPU, then the whole model moves once.
        with optional_imports_allowed():
            self.model = AutoModel.from_pretrained(
                model_path,
                trust_remote_code=True,
                local_files_only=True,
                attn_implementation=attn,
                torch_dtype=dtype,
                init_vision=False,
                init_audio=True,
                init_tts=True,
            )
        self.model.eval()
        if device != "cpu":
            self.progress(f"moving to {device}")
            self.model.to(device)
        if device.startswith("cuda:"):
            # CosyVoice2 places itself on torch.device('cuda'): make that mean our GPU.
            torch.cuda.set_device(torch.device(device))
        self._stream_vocoder = self._load_stream_vocoder(options, model_path, device)
        self.progress(f"loading the CosyVoice2 vocoder from {vocoder}")
        self.model.init_tts(model_dir=vocoder)
        self.defaults = {k: options[k] for k in _CALL if options.get(k) is not None}
        if self.defaults.get("ref_audio"):
            local_path(self.defaults["ref_audio"], "ref_audio")

    def _load_stream_vocoder(self, options: dict[str, Any], model_path: str, device: str) -> tuple[Any, Any] | None:
        """Upstream's streaming vocoder (Token2wav) and its tokenizer type, or None when not streaming."""
        folder = options.get("token2wav_path") or os.path.join(model_path, STREAM_VOCODER)
        wanted = options.get("streaming")
        if wanted is None:  # Token2wav places itself on CUDA: on by default only there
            wanted = device.startswith("cuda") and os.path.isdir(folder)
        if not wanted:
            return None
        folder = local_path(folder, "Token2wav folder (the streaming vocoder, assets/token2wav)")
        self.progress(f"loading the streaming vocoder (Token2wav) from {folder}")
        try:
            self.model.init_tts(streaming=True, model_dir=folder)
        except Exception as exc:
            raise RuntimeError(
                f"streaming: upstream's streaming vocoder (Step-Audio2 Token2wav from minicpmo-utils) did not load "
                f"from {folder} on {device}: {type(exc).__name__}: {exc}. It runs on CUDA only; "
                "set streaming: false to stream each take whole"
            ) from exc
        return self.model.tts.audio_tokenizer, self.model.tts.config.audio_tokenizer_type

    @contextlib.contextmanager
    def _vocoder(self, vocoder: tuple[Any, Any]) -> Iterator[None]:
        """``vocoder`` (a tokenizer and its type, as init_tts sets them) for one call."""
        tts = self.model.tts
        saved = tts.audio_tokenizer, tts.config.audio_tokenizer_type
        tts.audio_tokenizer, tts.config.audio_tokenizer_type = vocoder
        try:
            yield
        finally:
            tts.audio_tokenizer, tts.config.audio_tokenizer_type = saved

    def _call(self, text: str, options: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The call's options merged over the defaults, and upstream's two messages (seeded)."""
        unknown = set(options) - set(_CALL)
        if unknown:
            raise TypeError(f"minicpmo has no option(s) {sorted(unknown)}; allowed: {list(_CALL)}")
        merged = {**_LLM_DEFAULTS, **self.defaults, **{k: v for k, v in options.items() if v is not None}}
        ref_audio = merged.get("ref_audio")
        if not ref_audio:
            raise ValueError("minicpmo clones a voice: give ref_audio (a WAV of the voice, a few seconds)")
        ref = load_ref_audio(local_path(ref_audio, "ref_audio"))
        msgs = [
            {"role": "system", "content": [SYSTEM_PREFIX, ref, SYSTEM_SUFFIX]},
            {"role": "user", "content": [f"{READ_PREFIX} {text}"]},
        ]
        if merged.get("seed") is not None:
            seed_everything(int(merged["seed"]))
        return merged, msgs

    def stream(self, text: str, **options: Any) -> Iterator[Audio]:
        """Upstream's simplex streaming: each Token2wav chunk as soon as it is decoded.

        Without the streaming vocoder (see ``streaming``) the take comes whole, as one piece.
        """
        if self._stream_vocoder is None:
            yield self.synthesize(text, **options)
            return
        merged, (system, user) = self._call(text, options)
        kwargs: dict[str, Any] = {k: merged[k] for k in _STREAM_LLM if k in merged}
        tts = {k.removeprefix("tts_"): merged[k] for k in _TTS if k in merged}
        if tts:
            kwargs["tts_sampling_params"] = self._tts_params(tts)
        session = uuid.uuid4().hex
        sent = 0
        with self._vocoder(self._stream_vocoder):
            m = self.model
            m.reset_session()
            m.init_token2wav_cache(prompt_speech_16k=system["content"][1])
            m.streaming_prefill(session_id=session, msgs=[system], omni_mode=False, use_tts_template=True)
            m.streaming_prefill(
                session_id=session, msgs=[user], omni_mode=False, use_tts_template=True, is_last_chunk=True
            )
            pieces = m.streaming_generate(
                session_id=session,
                generate_audio=True,
                use_tts_template=True,
                enable_thinking=False,
                max_new_tokens=int(merged["max_new_tokens"]),
                do_sample=bool(merged["do_sample"]),
                **kwargs,
            )
            for wave, _text in pieces:
                samples = None if wave is None else wave.float().cpu().numpy().reshape(-1)
                if samples is None or not samples.size:
                    continue
                sent += 1
                yield Audio.from_array(samples, SAMPLE_RATE)
        if not sent:
            raise RuntimeError(f"MiniCPM-o streamed no audio for {text!r}")

    def synthesize(self, text: str, **options: Any) -> Audio:
        merged, msgs = self._call(text, options)
        llm = {k: merged[k] for k in _LLM if k in merged}
        tts = {k.removeprefix("tts_"): merged[k] for k in _TTS if k in merged}
        with tempfile.TemporaryDirectory(prefix="minicpmo-") as tmp:
            out = os.path.join(tmp, "take.wav")
            kwargs: dict[str, Any] = dict(msgs=msgs, use_tts_template=True, generate_audio=True, output_audio_path=out)
            if tts:
                kwargs["tts_sampling_params"] = self._tts_params(tts)
            # chat() catches every error of its speech step and only prints the traceback:
            # keep what it prints so a missing file can say why.
            err = io.StringIO()
            with contextlib.redirect_stderr(_Tee(err)):
                self.model.chat(**kwargs, **llm)
            if not os.path.exists(out):
                lines = [line for line in err.getvalue().strip().splitlines() if line.strip()]
                why = lines[-1] if lines else "no error was printed"
                if "must match the size of tensor" in why:
                    why += (
                        "; upstream slices one token too many when the LLM stops before <|tts_eos|>, "
                        f"e.g. at max_new_tokens={llm.get('max_new_tokens')}: raise it or shorten the text"
                    )
                raise RuntimeError(f"MiniCPM-o wrote no audio (its speech step failed: {why})")
            import soundfile

            samples, rate = soundfile.read(out, dtype="float32", always_2d=False)
        if samples.ndim != 1 or samples.size == 0:
            raise RuntimeError(f"MiniCPM-o wrote an empty or multi-channel take ({samples.shape})")
        return Audio.from_array(samples, int(rate))

    def _tts_params(self, values: dict[str, Any]) -> Any:
        """A TTSSamplingParams from the model's own code, with upstream defaults for the rest."""
        import dataclasses
        import inspect

        chat = inspect.signature(type(self.model).chat).parameters["tts_sampling_params"].default
        return dataclasses.replace(chat, **values)

    def describe(self) -> dict[str, Any]:
        return {
            "mode": "voice_clone",
            "sample_rate": SAMPLE_RATE,
            "streaming": self._stream_vocoder is not None,
            "needs": ["ref_audio"],
            "languages": ["zh", "en"],
            "vocoder": "CosyVoice2 for files; Token2wav (upstream's streaming_generate) for streams"
            if self._stream_vocoder is not None
            else "CosyVoice2 (streaming off: stream() yields each take whole; see the streaming option)",
            "options": list(_CALL),
        }


class _Tee(io.TextIOBase):
    """Write to a buffer and to the real stderr (the worker's log), so nothing is hidden."""

    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer_ = buffer
        self.stream = sys.stderr

    def write(self, s: str) -> int:
        self.buffer_.write(s)
        return self.stream.write(s)

    def flush(self) -> None:
        self.stream.flush()


if __name__ == "__main__":
    raise SystemExit(main(MiniCPMo))
