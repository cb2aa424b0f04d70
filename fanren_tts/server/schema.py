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
    "ERROR_RESPONSES",
    "CaptionedSpeech",
    "ErrorBody",
    "TimedWord",
]


class ErrorDetail(BaseModel):
    message: str = Field(description="what is wrong and how to fix it")
    type: str = Field(description="invalid_request_error, rate_limit_error, engine_unavailable, timeout_error, ...")
    param: str | None = Field(None, description="the request field at fault, if one is")
    code: str | None = Field(None, description="a stable machine-readable code (model_not_found, queue_full, ...)")


class ErrorBody(BaseModel):
    """Every error, in OpenAI's shape."""

    error: ErrorDetail


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
