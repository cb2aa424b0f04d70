"""Call options obey the same rules as config.yaml: checked by value, not only by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ECHO, write_config
from fanren_tts import ConfigError, TTSGenerator
from fanren_tts._options import EspeakOptions, PiperOptions
from fanren_tts.config import load_config, validate_options


@pytest.mark.parametrize(
    "model,options,message",
    [
        (PiperOptions, {"length_scale": 0}, "length_scale: Input should be greater than 0 (got 0)"),
        (PiperOptions, {"noise_scale": -1.0}, "noise_scale: Input should be greater than or equal to 0"),
        (EspeakOptions, {"rate": 10000}, "rate: Input should be less than or equal to 450 (got 10000)"),
        (EspeakOptions, {"pitch": "high"}, "pitch: Input should be a valid integer"),
    ],
)
def test_bad_values_are_refused_like_config_errors(model: type, options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_options(model, options, "engine 'x': call options")
    assert message in str(info.value) and "engine 'x': call options" in str(info.value)


def test_good_values_pass_coerced_and_defaults_are_not_added() -> None:
    assert validate_options(EspeakOptions, {"rate": "200"}, "call") == {"rate": 200}
    assert validate_options(PiperOptions, {"length_scale": 1.5, "speaker_id": None}, "call") == {
        "length_scale": 1.5,
        "speaker_id": None,
    }
    assert validate_options(PiperOptions, {}, "call") == {}


@pytest.mark.parametrize("kind,options", [("espeak", {"rate": 10000}), ("piper", {"length_scale": 0})])
def test_generate_refuses_bad_values_before_starting_a_worker(
    kind: str, options: dict, tmp_path: Path, bare_python: Path
) -> None:
    cfg = write_config(tmp_path / "c.yaml", {kind: {"python": str(bare_python), "wrapper": str(ECHO)}})
    with TTSGenerator(cfg) as gen:
        with pytest.raises(ConfigError, match=f"{next(iter(options))}: Input should be"):
            gen.generate("Hello there.", tmp_path / "x.wav", **options)
        assert not gen.worker(kind).alive


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_are_refused_in_calls_and_in_config(value: float, tmp_path: Path) -> None:
    """length_scale=inf passed 'greater than 0' and asked piper for endless audio."""
    with pytest.raises(ConfigError, match="length_scale: Input should be a finite number"):
        validate_options(PiperOptions, {"length_scale": value}, "call")
    cfg = write_config(tmp_path / "c.yaml", {"piper": {"length_scale": value}})
    with pytest.raises(ConfigError, match="length_scale: Input should be a finite number"):
        load_config(cfg)
