"""What every speech request is, whatever it comes by (HTTP or the WebSocket): its body,
its checks and the generator options it turns into.

Shared by ``speech`` and ``websocket`` so neither has to import the other.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._generator import TTSGenerator
from ..engines import options_model
from .aliases import instruction_options, resolve_model, resolve_voice
from .errors import ApiError
from .service import SpeechService

__all__ = ["MAX_EXTRA_DEPTH", "SpeechRequest", "check_input", "speech_options"]

#: How deep ``extra`` may nest: engine options are flat or one level deep; deeper is refused
#: before it reaches the worker's msgpack (which has a nesting limit of its own).
MAX_EXTRA_DEPTH = 16


def _depth(value: Any) -> int:
    """How deep lists and dicts nest in ``value``, walked without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_EXTRA_DEPTH:
                return level
            todo.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


class SpeechRequest(BaseModel):
    """OpenAI's ``/v1/audio/speech`` body, plus ``extra`` (engine options)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(
        description="an engine configured here (GET /v1/models), or an alias of one: tts-1, tts-1-hd and "
        "gpt-4o-mini-tts by default (tts.server.model_aliases)"
    )
    input: str = Field(description="the text to speak (at most tts.server.max_input_chars characters)")
    voice: str = Field(
        "default",
        description="a named voice (POST /v1/voices), the engine's own speaker, default (the engine's configured "
        'voice), or an OpenAI voice name (alloy, echo, ...; tts.server.voice_aliases). {"id": NAME} works too.',
    )
    response_format: Literal["wav", "pcm", "flac", "mp3", "opus"] = Field(
        "mp3",
        description="wav, pcm (raw 16- or 24-bit little-endian, tts.output.bit_depth), flac, mp3 or opus (Ogg); "
        "flac, mp3 and opus need the soundfile package",
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, description="1.0 is normal; engines without speed control refuse others")
    stream_format: Literal["audio", "sse"] | None = Field(
        None,
        description='audio: wav or pcm bytes sent as they are made; sse: text/event-stream of "speech.audio.delta" '
        'events (base64 audio) then one "speech.audio.done" event; unset: the whole file',
    )
    instructions: str | None = Field(
        None,
        description="how to speak, for engines that take an instruction (CosyVoice instruct_text, Qwen3 instruct); "
        "other engines ignore it",
    )
    extra: dict[str, Any] = Field(
        default_factory=dict, description="engine call options (seed, temperature, ...), checked like config.yaml"
    )

    @field_validator("voice", mode="before")
    @classmethod
    def _voice_id(cls, value: Any) -> Any:
        """Newer OpenAI clients may send a custom voice as ``{"id": NAME}``."""
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            return value["id"]
        return value

    @field_validator("extra")
    @classmethod
    def _not_too_deep(cls, value: dict[str, Any]) -> dict[str, Any]:
        if _depth(value) > MAX_EXTRA_DEPTH:
            raise ValueError(f"nested more than {MAX_EXTRA_DEPTH} deep; engine options are flat")
        return value


def speech_options(tts: TTSGenerator, engine: str, body: SpeechRequest) -> dict[str, Any]:
    """The generator call options of a request: ``extra``, the instructions (for engines
    that take one; an instruction in ``extra`` wins), the voice (aliases resolved) and
    ``speed`` for engines that have it."""
    speed = body.speed
    options = instruction_options(tts, engine, body.instructions)
    options.update(body.extra)
    if body.voice:
        options["voice"] = resolve_voice(tts, engine, body.voice)
    if speed != 1.0:
        model = options_model(tts.config.get(engine).kind)
        if model is not None and "speed" not in model.model_fields:
            raise ApiError(400, f"engine {engine!r} has no speed control; leave speed at 1.0", param="speed")
        options["speed"] = speed
    return options


def check_input(tts: TTSGenerator, service: SpeechService, model: str, text: str) -> str:
    """Refuse what no engine should see; returns the engine that serves ``model``."""
    if not text.strip():
        raise ApiError(400, "input is empty: give the text to speak", param="input", code="empty_input")
    limit = service.settings.max_input_chars
    if len(text) > limit:
        raise ApiError(
            413,
            f"input is {len(text)} characters; at most {limit} per request (tts.server.max_input_chars): split it",
            param="input",
            code="input_too_long",
        )
    engine = resolve_model(tts, model, text)
    if service.draining:
        raise ApiError(503, "the server is shutting down", type="engine_unavailable", code="shutting_down")
    return engine
