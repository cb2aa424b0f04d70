"""The speech routes: ``POST /v1/audio/speech`` (OpenAI's) and
``POST /v1/audio/speech/captioned`` (audio, word timings and subtitles in one JSON).

``/v1/audio/speech`` answers in one of three ways:

- no ``stream_format``: the whole file, in ``response_format``;
- ``stream_format: "audio"``: wav or pcm bytes sent as they are made (compressed formats
  are sent whole at the end: see ``audio.encode``);
- ``stream_format: "sse"``: ``text/event-stream``, as OpenAI defines it: per piece of audio
  a ``data: {"type": "speech.audio.delta", "audio": BASE64}`` event, then one
  ``data: {"type": "speech.audio.done", "usage": {...}}``. The engines here have no
  tokens: ``usage`` counts input characters (``input_tokens``) and delta events
  (``output_tokens``). A failure after the first event ends the stream with
  ``data: {"type": "error", "error": {...}}`` (OpenAI's error shape).

``/v1/audio/speech/captioned`` takes the same body plus ``subtitle_format`` (srt or
vtt) and answers ``{"audio": BASE64, "format", "media_type", "sample_rate", "duration",
"words": [{"text", "start", "end"}], "subtitle_format", "subtitles"}``: the words are
the engine's own timings where it has them, else estimated per segment (as for the
library's subtitle files), and the cues are cut from them as ``tts.subtitles`` says.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import Response, StreamingResponse
from pydantic import Field

from .._stream import Chunk
from .._subtitles import CueRules, build_cues, srt_text, vtt_text
from .._timeline import Word
from ..audio.encode import STREAMED, Encoder
from .errors import error_body, from_exception
from .request import SpeechRequest, check_input, speech_options
from .schema import AUDIO_RESPONSES, ERROR_RESPONSES, CaptionedSpeech, TimedWord
from .service import SpeechJob, SpeechService

__all__ = ["CaptionedRequest", "add_speech_routes", "sse_event"]

log = logging.getLogger("fanren_tts.server")


class CaptionedRequest(SpeechRequest):
    """``/v1/audio/speech`` plus the subtitle format; the audio is sent whole (no stream_format)."""

    response_format: Literal["wav", "pcm", "flac", "mp3", "opus"] = Field(
        "wav", description="the audio's format: wav (default here), pcm, flac, mp3 or opus"
    )
    subtitle_format: Literal["srt", "vtt"] = Field("srt", description="srt (SubRip) or vtt (WebVTT)")


def sse_event(event: dict[str, Any]) -> bytes:
    """One server-sent event carrying ``event`` as JSON (OpenAI sends data lines only)."""
    return f"data: {json.dumps(event, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


@dataclasses.dataclass
class _Whole:
    """A finished request: the encoded file and what the chunks said about it."""

    data: bytes
    sample_rate: int
    duration: float
    words: list[Word]
    segments: dict[int, list[float]]  # segment index -> [start, end]


async def _whole(job: SpeechJob, encoder: Encoder) -> _Whole:
    """Every chunk of ``job``, encoded as one file of the encoder's format (a whole-file
    encoder: a WAV with its real sizes)."""
    parts: list[bytes] = []
    words: list[Word] = []
    segments: dict[int, list[float]] = {}
    first: Chunk | None = job.first
    end = 0.0
    async for chunk in job.chunks():
        first = first or chunk
        parts.append(encoder.feed(chunk.data, chunk.sample_rate))
        words.extend(chunk.words)
        span = segments.setdefault(chunk.segment, [chunk.start, chunk.start])
        span[1] = max(span[1], chunk.start + chunk.duration)
        end = max(end, chunk.start + chunk.duration)
    assert first is not None  # start() returns once a chunk (or an error) is there
    data = b"".join(parts) + encoder.close()
    return _Whole(data, first.sample_rate, end, words, segments)


@dataclasses.dataclass(frozen=True)
class _Span:
    """A segment's place on the timeline, as ``build_cues`` reads it."""

    text: str
    start: float
    end: float


def _cues_text(whole: _Whole, rules: CueRules, fmt: str) -> str:
    spans = []
    for _index, (start, end) in sorted(whole.segments.items()):
        mine = [w.text for w in whole.words if start - 1e-6 <= w.start <= end + 1e-6]
        spans.append(_Span(" ".join(mine), start, end))
    cues = build_cues(spans, whole.words, rules, end=whole.duration)  # no cue past the audio
    return srt_text(cues) if fmt == "srt" else vtt_text(cues)


def add_speech_routes(app: FastAPI, service: SpeechService) -> None:
    tts = service.tts
    metrics = service.metrics

    async def start(body: SpeechRequest, *, whole: bool) -> tuple[str, Encoder, SpeechJob, dict[str, str]]:
        engine = check_input(tts, service, body.model, body.input)
        encoder = Encoder(body.response_format, tts.config.output.bit_depth, whole=whole)
        options = speech_options(tts, engine, body)
        job = await service.start(engine, body.input, options)
        headers = {"X-Queue-Position": str(job.position), "X-Queue-ETA": f"{job.eta:.2f}"}
        return engine, encoder, job, headers

    @app.post(
        "/v1/audio/speech",
        summary="Speak a text (OpenAI's create speech)",
        description="The text in the voice of an engine (`model`: an engine or an alias such as tts-1), as a "
        "whole file, as audio bytes while it is made (`stream_format: audio`, wav and pcm), or as OpenAI's "
        "server-sent events (`stream_format: sse`).",
        response_class=Response,
        responses=AUDIO_RESPONSES,
        tags=["speech"],
    )
    async def speech(body: SpeechRequest) -> Response:
        t0 = time.monotonic()
        label = body.model
        try:
            streamed = body.stream_format == "sse" or (
                body.stream_format == "audio" and body.response_format in STREAMED
            )
            label, encoder, job, headers = await start(body, whole=not streamed)
            if body.stream_format == "sse":
                return StreamingResponse(
                    _sse(job, encoder, body, label, t0), media_type="text/event-stream", headers=headers
                )
            if body.stream_format == "audio" and encoder.streams:
                return StreamingResponse(
                    _audio(job, encoder, label, t0), media_type=encoder.media_type, headers=headers
                )
            whole = await _whole(job, encoder)
            metrics.observe("speech", label, 200, time.monotonic() - t0)
            return Response(whole.data, media_type=encoder.media_type, headers=headers)
        except Exception as exc:  # a cancelled request (client gone, shutdown) is not an error: it propagates
            err = from_exception(exc)
            metrics.observe("speech", label, err.status, time.monotonic() - t0)
            raise err from None

    async def _audio(job: SpeechJob, encoder: Encoder, label: str, t0: float) -> AsyncIterator[bytes]:
        code = 200
        try:
            async for chunk in job.chunks():
                data = encoder.feed(chunk.data, chunk.sample_rate)
                if data:
                    yield data
        except Exception as exc:  # the status line is gone: the body ends short
            code = from_exception(exc).status
            log.warning("speech stream from %r ended early: %s", label, str(exc).splitlines()[0])
        finally:
            metrics.observe("speech", label, code, time.monotonic() - t0)

    async def _sse(
        job: SpeechJob, encoder: Encoder, body: SpeechRequest, label: str, t0: float
    ) -> AsyncIterator[bytes]:
        code, events = 200, 0
        try:
            async for chunk in job.chunks():
                data = encoder.feed(chunk.data, chunk.sample_rate)
                if data:
                    events += 1
                    yield sse_event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
            tail = encoder.close()
            if tail:
                events += 1
                yield sse_event({"type": "speech.audio.delta", "audio": base64.b64encode(tail).decode()})
            usage = {"input_tokens": len(body.input), "output_tokens": events, "total_tokens": len(body.input) + events}
            yield sse_event({"type": "speech.audio.done", "usage": usage})
        except Exception as exc:  # the status line is gone: say so in the stream
            err = from_exception(exc)
            code = err.status
            log.warning("speech event stream from %r ended early: %s", label, err.message.splitlines()[0])
            yield sse_event({"type": "error", **error_body(err)})
        finally:
            metrics.observe("speech", label, code, time.monotonic() - t0)

    @app.post(
        "/v1/audio/speech/captioned",
        summary="Speak a text, with word timings and subtitles",
        description="The same request as /v1/audio/speech (stream_format is ignored: the audio comes whole), "
        "answered with one JSON: the audio in base64, each word's start and end, and SRT or WebVTT subtitles "
        "cut from them (tts.subtitles).",
        response_model=CaptionedSpeech,
        response_description="the audio (base64), its word timings and its subtitles",
        responses=ERROR_RESPONSES,
        tags=["speech"],
    )
    async def captioned(body: CaptionedRequest) -> CaptionedSpeech:
        t0 = time.monotonic()
        label = body.model
        try:
            label, encoder, job, _headers = await start(body, whole=True)
            whole = await _whole(job, encoder)
            subtitles = _cues_text(whole, CueRules.of(tts.config.subtitles), body.subtitle_format)
        except Exception as exc:
            err = from_exception(exc)
            metrics.observe("captioned", label, err.status, time.monotonic() - t0)
            raise err from None
        metrics.observe("captioned", label, 200, time.monotonic() - t0)
        return CaptionedSpeech(
            audio=base64.b64encode(whole.data).decode(),
            format=body.response_format,
            media_type=encoder.media_type,
            sample_rate=whole.sample_rate,
            duration=round(whole.duration, 4),
            words=[TimedWord(text=w.text, start=round(w.start, 4), end=round(w.end, 4)) for w in whole.words],
            subtitle_format=body.subtitle_format,
            subtitles=subtitles,
        )
