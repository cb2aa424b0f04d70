"""What the server's responses look like, for the OpenAPI schema (``/docs``, ``/redoc``).

Pure descriptions: the routes build their bodies themselves, and these models and
tables only tell the schema the truth about them (the real media types of audio and
event streams, the OpenAI error shape, the captioned speech JSON).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..audio.encode import MEDIA_TYPES

__all__ = [
    "AUDIO_RESPONSES",
    "DELETE_VOICE_RESPONSES",
    "ERROR_RESPONSES",
    "HEALTH_RESPONSES",
    "METRICS_RESPONSES",
    "MODELS_RESPONSES",
    "VOICES_RESPONSES",
    "VOICE_RESPONSES",
    "CaptionedSpeech",
    "ErrorBody",
    "TimedWord",
]


class ErrorDetail(BaseModel):
    """What went wrong, in OpenAI's shape."""

    message: str = Field(description="what is wrong and how to fix it")
    type: str = Field(description="invalid_request_error, rate_limit_error, engine_unavailable, timeout_error, ...")
    param: str | None = Field(None, description="the request field at fault, if one is")
    code: str | None = Field(None, description="a stable machine-readable code (model_not_found, queue_full, ...)")


class ErrorBody(BaseModel):
    """Every error, in OpenAI's shape."""

    error: ErrorDetail = Field(description="the one error of this request")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


#: The failures every speech call can answer with.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("bad input: empty text, an option the engine lacks, a format not available here"),
    401: _error("missing or wrong API key (serve --api-key)"),
    404: _error("no such model (engine or alias)"),
    413: _error("input over tts.server.max_input_chars, or a body over tts.server.max_body_bytes"),
    422: _error("a field has the wrong type or value"),
    429: _error("the engine's queue is full; Retry-After says when to come back"),
    503: _error("the engine cannot serve now (env not ready, worker failed to start); the server is shutting down"),
    504: _error("no audio within tts.server.request_timeout"),
}

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_SSE_EXAMPLE = (
    'data: {"type": "speech.audio.delta", "audio": "UklGR..."}\n\n'
    'data: {"type": "speech.audio.done", "usage": {"input_tokens": 6, "output_tokens": 3, "total_tokens": 9}}\n\n'
)

#: The speech route's 200: one audio media type per response_format, or an event stream.
AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the audio, in the media type of response_format (X-Queue-Position and X-Queue-ETA "
        "headers say where the request waited); with stream_format sse, an event stream",
        "content": {
            **{media: _BINARY for media in dict.fromkeys(MEDIA_TYPES.values())},
            "text/event-stream": {"schema": {"type": "string"}, "example": _SSE_EXAMPLE},
        },
    },
    **ERROR_RESPONSES,
}


class TimedWord(BaseModel):
    """One word of the audio and when it is spoken."""

    text: str = Field(description="a word (a character in CJK text), as written in the input")
    start: float = Field(description="seconds from the start of the audio")
    end: float = Field(description="seconds from the start of the audio")


class CaptionedSpeech(BaseModel):
    """Audio, its word timings and its subtitles, from one call."""

    audio: str = Field(description="the audio file, base64")
    format: str = Field(description="the audio's response_format (wav, pcm, flac, mp3, opus)")
    media_type: str = Field(description="the audio's media type, e.g. audio/wav")
    sample_rate: int = Field(description="samples per second")
    duration: float = Field(description="seconds of audio")
    words: list[TimedWord] = Field(description="each word and when it is spoken (engine timings, else estimated)")
    subtitle_format: str = Field(description="srt or vtt")
    subtitles: str = Field(description="the subtitle file: cues cut from the words as tts.subtitles says")


class Model(BaseModel):
    """A model a request may name: a configured engine, or an alias of one."""

    id: str = Field(description="the name to send as `model`")
    object: str = Field("model", description="always model")
    created: int = Field(0, description="always 0: engines are configured, not released")
    owned_by: str = Field("fanren_tts", description="always fanren_tts")
    type: str = Field(description="the engine's kind (piper, cosyvoice, ...), or alias")
    alias_of: str | None = Field(None, description="an alias: the engine it names (null: the routed engine)")


class ModelList(BaseModel):
    """The configured engines, then the model aliases."""

    object: str = Field("list", description="always list")
    data: list[Model] = Field(description="the models")


class EngineHealth(BaseModel):
    """One engine's state."""

    state: str = Field(description="ready (its worker runs), idle (starts on the first request) or unavailable")
    pid: int | None = Field(None, description="the worker's process id while it runs")
    reason: str | None = Field(None, description="why it is unavailable, and how to fix it")
    queue: dict[str, Any] = Field(description="requests running and waiting, and the ETA estimate")


class Health(BaseModel):
    """Liveness, readiness and each engine."""

    live: bool = Field(description="always true while the process answers")
    ready: bool = Field(description="an engine can serve and the server is not shutting down")
    engines: dict[str, EngineHealth] = Field(description="each configured engine by name")


class VoiceInfo(BaseModel):
    """A named voice."""

    name: str = Field(description="its name, sent as `voice`")
    engine: str = Field(description="the engine it is for")
    sha256: str = Field(description="hash of the stored reference (or speaker): changes when it is replaced")
    transcript: str | None = Field(None, description="what the reference audio says")
    speaker: str | None = Field(None, description="instead of audio: the engine's own speaker")
    audio: str | None = Field(None, description="the stored reference's file name")
    duration: float = Field(0.0, description="seconds of reference audio")
    created: float = Field(0.0, description="when it was stored (Unix seconds)")


class VoiceList(BaseModel):
    """The named voices."""

    object: str = Field("list", description="always list")
    data: list[VoiceInfo] = Field(description="the voices")


class Deleted(BaseModel):
    """A voice that was removed."""

    id: str = Field(description="the voice's name")
    object: str = Field("voice", description="always voice")
    deleted: bool = Field(description="always true")


#: The auth failure of every route but /health and the docs.
_AUTH: dict[int | str, dict[str, Any]] = {401: _error("missing or wrong API key (serve --api-key)")}

METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "text format 0.0.4"},
    **_AUTH,
}

MODELS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": ModelList, "description": "the models"},
    **_AUTH,
}
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Health, "description": "ready: an engine can serve"},
    503: {"model": Health, "description": "not ready: no engine can serve, or the server is shutting down"},
}
VOICES_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": VoiceList, "description": "the named voices"},
    **_AUTH,
}
VOICE_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": VoiceInfo, "description": "the stored voice"},
    400: _error("the audio or transcript cannot make a voice (too short, too long, silent, a bad name), and why"),
    **_AUTH,
    404: _error("no such engine"),
    413: _error("the upload is over tts.server.max_upload_bytes"),
    422: _error("a form field is missing or has the wrong type"),
    503: _error("the engine cannot check the voice now (env not ready)"),
}
DELETE_VOICE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Deleted, "description": "the voice is gone"},
    **_AUTH,
    404: _error("no voice of that name"),
    422: _error("the name is not a voice name"),
}
