"""Fitting a line to its slot: target_duration lands within 3 %, timings scaled with it."""

from __future__ import annotations

import json
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fanren_tts import ConfigError, TTSGenerator
from fanren_tts._fit import rate_control, stretch
from fanren_tts.config import PROJECT_ROOT
from fanren_tts.engines import BUILTIN

RATE_CONTROLS = {name: row.rate for name, row in BUILTIN.items() if row.rate is not None}

LINE = "The river runs past the old mill. Nobody lives there now."


def test_stretch_keeps_pitch_and_hits_the_length() -> None:
    rate = 22050
    t = np.arange(rate * 2) / rate
    tone = (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[:, None]
    for ratio in (0.7, 1.4):
        out = stretch(tone, rate, ratio)
        assert abs(len(out) - len(tone) * ratio) <= 2
        peak = np.argmax(np.abs(np.fft.rfft(out[:, 0]))) * rate / len(out)
        assert abs(peak - 330) < 3


def test_rate_controls_scale_the_right_way() -> None:
    assert RATE_CONTROLS["piper"].scaled(1.0, 1.5) == 1.5  # longer speech: larger length_scale
    assert RATE_CONTROLS["espeak"].scaled(175, 0.5) == 350  # shorter speech: faster rate
    assert RATE_CONTROLS["espeak"].scaled(175, 0.1) == 450  # within what the engine accepts


def test_a_rate_control_only_some_versions_have_is_used_only_where_the_engine_reports_it() -> None:
    # IndexTTS: duration_factor is 2.5's alone; 1, 1.5 and 2 are time-stretched only
    assert rate_control("indextts", None) is None
    assert rate_control("indextts", {"version": "2", "rate_control": None}) is None
    assert rate_control("indextts", {"rate_control": "duration_factor"}) is RATE_CONTROLS["indextts"]
    assert rate_control("piper", None) is RATE_CONTROLS["piper"]  # every piper voice has length_scale
    assert rate_control("qwen3", {"rate_control": "speed"}) is None


@pytest.fixture(scope="module")
def gen(default_envs: None) -> Iterator[TTSGenerator]:
    with TTSGenerator(PROJECT_ROOT / "config.yaml") as g:
        yield g


@pytest.mark.slow
@pytest.mark.parametrize(
    ("engine", "options", "factor"),
    [
        ("piper", {}, 1.5),  # the engine's own rate control (length_scale)
        ("piper", {}, 0.75),
        ("espeak", {"voice": "en-us"}, 1.3),  # rate
        ("piper", {"length_scale": 1.0}, 1.4),  # rate fixed by the caller: time-stretch only
    ],
)
def test_target_duration_lands_within_3_percent(
    gen: TTSGenerator, tmp_path: Path, engine: str, options: dict, factor: float
) -> None:
    natural = gen.generate(LINE, tmp_path / "natural.wav", engine=engine, cache=False, **options)
    target = natural.duration * factor
    r = gen.generate(LINE, tmp_path / "fit.wav", engine=engine, cache=False, target_duration=target, **options)
    assert abs(r.duration / target - 1) <= 0.03, (r.duration, target)
    assert r.target_duration == target and r.target_error is not None and abs(r.target_error) <= 0.03 * target
    with wave.open(r, "rb") as w:
        assert abs(w.getnframes() / w.getframerate() - r.duration) < 0.001
    assert r.segments[-1].end <= r.duration + 1e-6 and r.words[-1].end <= r.duration + 1e-6
    assert [w.start for w in r.words] == sorted(w.start for w in r.words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.wav", "natural.wav"]  # no temp file left


@pytest.mark.slow
def test_batch_lines_carry_their_duration_and_the_manifest_reports_the_error(gen: TTSGenerator, tmp_path: Path) -> None:
    batch = gen.generate_many(
        [{"id": "shot1", "text": LINE, "engine": "piper", "duration": 5.0}], tmp_path / "out", subtitles=["srt", "ass"]
    )
    assert batch.ok
    entry = json.loads(batch.manifest.read_text())["lines"][0]
    assert entry["target_duration"] == 5.0 and abs(entry["target_error"]) <= 0.15
    assert set(entry["subtitles"]) == {"srt", "ass"} and (tmp_path / "out" / "001_shot1.ass").is_file()


def test_a_bad_target_is_a_config_error(gen: TTSGenerator, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="target_duration"):
        gen.generate("Hello.", tmp_path / "x.wav", engine="piper", target_duration=0)
    assert list(tmp_path.iterdir()) == []
