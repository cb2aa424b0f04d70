"""What every speech request is, whatever it comes by (HTTP or the WebSocket): its body,
its checks and the generator options it turns into.

Shared by ``_server`` and ``_server_ws`` so neither has to import the other.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._generator import TTSGenerator
from ._options import BUILTIN_OPTIONS
from ._server_errors import ApiError
from ._speech import SpeechService

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

    model: str
    input: str
    voice: str = "default"
    response_format: Literal["wav", "pcm", "flac", "mp3", "opus", "aac"] = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio", "sse"] | None = None
    instructions: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="engine call options")

    @field_validator("extra")
    @classmethod
    def _not_too_deep(cls, value: dict[str, Any]) -> dict[str, Any]:
        if _depth(value) > MAX_EXTRA_DEPTH:
            raise ValueError(f"nested more than {MAX_EXTRA_DEPTH} deep; engine options are flat")
        return value


def speech_options(tts: TTSGenerator, engine: str, voice: str, speed: float, extra: dict[str, Any]) -> dict[str, Any]:
    """The generator call options of a request; ``speed`` goes to engines that have it."""
    options = dict(extra)
    if voice:
        options["voice"] = voice
    if speed != 1.0:
        model = BUILTIN_OPTIONS.get(tts.config.get(engine).kind)
        if model is not None and "speed" not in model.model_fields:
            raise ApiError(400, f"engine {engine!r} has no speed control; leave speed at 1.0", param="speed")
        options["speed"] = speed
    return options


def check_input(tts: TTSGenerator, service: SpeechService, model: str, text: str) -> None:
    if model not in tts.engines:
        raise ApiError(
            404,
            f"no model {model!r}: models here are the configured engines ({', '.join(tts.engines)}); see GET /v1/models",
            param="model",
            code="model_not_found",
        )
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
    if service.draining:
        raise ApiError(503, "the server is shutting down", type="engine_unavailable", code="shutting_down")
