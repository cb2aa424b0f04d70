"""Text with nothing to speak in it: a run of combining marks ("zalgo"), a stray run of
punctuation. Marks stay with their base character; a segment with nothing to speak is
never sent to an engine; a request with nothing to speak at all is a ConfigError (400)."""

from __future__ import annotations

import io
import unicodedata
import wave
from pathlib import Path
from typing import Any

import pytest

from conftest import TESTS, write_config
from fanren_tts import ConfigError, TTSGenerator
from fanren_tts._text import split_sentences

LETTERS = TESTS / "wrappers" / "letters_wrapper.py"
ZALGO = "e" + "\u0301\u0308\u0323" * 100 + " word."
#: Three lines; the middle one is twelve marks with no base, too long to glue to a 10-character neighbour.
MARKS_LINE = "Hello wor.\n" + "\u0301" * 12 + "\nWorld."


def _speakable(segment: str) -> bool:
    return any(ch.isalnum() for ch in segment)


@pytest.fixture
def gen(tmp_path: Path, bare_python: Path) -> Any:
    block = {"python": str(bare_python), "wrapper": str(LETTERS), "max_segment_chars": 10}
    config = write_config(tmp_path / "c.yaml", {"letters": block}, cache={"enabled": False})
    with TTSGenerator(config) as tts:
        yield tts


def test_a_cut_never_separates_marks_from_their_base() -> None:
    segments = split_sentences(ZALGO, 200)
    assert not any(unicodedata.combining(s[0]) for s in segments)
    assert "".join(segments) == ZALGO.replace(" ", "")
    assert split_sentences("ab\u0301cd\u0301ef\u0301gh", 2) == ["a", "b\u0301", "c", "d\u0301", "e", "f\u0301", "gh"]


@pytest.mark.parametrize("text", [ZALGO, MARKS_LINE])
def test_generate_and_stream_send_no_segment_without_anything_to_speak(gen: Any, tmp_path: Path, text: str) -> None:
    result = gen.generate(text, tmp_path / "a.wav")
    assert all(_speakable(s.text) for s in result.segments) and result.duration > 0
    chunks = list(gen.stream(text))
    assert sum(len(c.data) for c in chunks) > 0 and {c.segment for c in chunks} == set(range(len(result.segments)))
    said = gen.call("letters", "said")
    assert said and all(_speakable(t) for t in said), said


@pytest.mark.parametrize("text", ["\u0301\u0308\u0323" * 10, "……", "?! \u0301\u0301 …"])
def test_text_with_nothing_to_speak_is_a_config_error(gen: Any, tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="nothing to speak"):
        gen.generate(text, tmp_path / "a.wav")
    with pytest.raises(ConfigError, match="nothing to speak"):
        list(gen.stream(text))
    assert not (tmp_path / "a.wav").exists()


def test_the_server_answers_200_for_zalgo_and_400_for_marks_only(gen: Any) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from fanren_tts.server.app import create_app

    with TestClient(create_app(gen)) as http:
        for fmt in ("wav", "pcm"):
            response = http.post(
                "/v1/audio/speech",
                json={"model": "letters", "input": ZALGO, "voice": "default", "response_format": fmt},
            )
            assert response.status_code == 200, response.text
        body = {"model": "letters", "input": MARKS_LINE, "response_format": "wav"}
        with wave.open(io.BytesIO(http.post("/v1/audio/speech", json=body).content)) as w:
            assert w.getnframes() > 0
        response = http.post("/v1/audio/speech", json={"model": "letters", "input": "\u0301" * 30})
        assert response.status_code == 400 and "error" in response.json(), response.text
