"""``POST /v1/text/preview``: what each line of a script becomes before an engine reads it.

The studio shows, per row, the engine a line goes to and the text that engine will be
given (the lexicon and the number/date reading of the text front end applied), so a
wrong reading is seen before any audio is made. Nothing is synthesized and no worker
starts: it is ``TTSGenerator.spoken_segments`` per line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..server.aliases import resolve_model
from ..server.errors import ApiError, from_exception
from ..server.schema import ErrorBody

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..server.service import SpeechService

__all__ = ["PreviewLine", "PreviewRequest", "PreviewSegment", "add_preview_route"]


class PreviewRequest(BaseModel):
    """A line or a script to preview."""

    input: str = Field(description="a line, or a script: one line per row (blank rows are skipped)")
    model: str | None = Field(
        None,
        description="an engine or a model alias (GET /v1/models); unset: each line goes to the engine the "
        "library routes its language to",
    )


class PreviewSegment(BaseModel):
    """One segment of a line, as the text front end gives it to its engine."""

    text: str = Field(description="the segment as written (as subtitles show it)")
    engine: str = Field(description="the engine that speaks it (a line in several scripts may use several)")
    language: str = Field(description="the segment's language, as the front end detects it")
    spoken: str = Field(description="what the engine is given to read: lexicon and normalization applied")


class PreviewLine(BaseModel):
    """One non-blank row of the input."""

    line: int = Field(description="the row's index among the non-blank rows, from 0")
    text: str = Field(description="the row as written")
    engine: str = Field(description="the engine the row is sent to (its first segment's)")
    segments: list[PreviewSegment] = Field(description="the row's segments, in the order they are spoken")


class Preview(BaseModel):
    """Every non-blank row, with its segments."""

    object: str = Field("list", description="always list")
    data: list[PreviewLine] = Field(description="one entry per non-blank row")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


#: What the route answers besides 200, each in OpenAI's error shape.
PREVIEW_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("a line no configured engine speaks (under tts.strict)"),
    401: _error("missing or wrong API key (serve --api-key)"),
    404: _error("no such model (engine or alias)"),
    413: _error("the script is over tts.server.max_body_bytes"),
    422: _error("a field has the wrong type or value"),
}


def add_preview_route(app: FastAPI, service: SpeechService) -> None:
    tts = service.tts

    def preview(body: PreviewRequest) -> Preview:
        rows = [row.strip() for row in body.input.splitlines()]
        lines: list[PreviewLine] = []
        for row in (r for r in rows if r):
            engine = resolve_model(tts, body.model, row) if body.model else None
            segments = [PreviewSegment(**seg) for seg in tts.spoken_segments(row, engine)]
            first = segments[0].engine if segments else engine or tts.pick_engine(row)
            lines.append(PreviewLine(line=len(lines), text=row, engine=first, segments=segments))
        return Preview(data=lines)

    @app.post(
        "/v1/text/preview",
        summary="What each line becomes before an engine reads it (nothing is synthesized)",
        description="Splits the input into rows, and each row into the segments the text front end makes, "
        "with the engine each goes to and the text that engine will read. Used by the studio at /.",
        response_model=Preview,
        response_description="each row, its segments, their engines and what each engine reads",
        responses=PREVIEW_RESPONSES,
        tags=["text"],
    )
    async def text_preview(body: PreviewRequest) -> Preview:
        if len(body.input) > service.settings.max_body_bytes:
            raise ApiError(413, "the script is over tts.server.max_body_bytes characters: send less", param="input")
        try:
            result: Preview = await service.run(preview, body)
        except Exception as exc:  # an unknown model, a language no engine speaks under tts.strict
            raise from_exception(exc) from None
        return result
