"""F5-TTS: the wrapper's file checks (host Python, no torch), then every mode through the real
f5-tts package on a tiny random checkpoint and vocoder (envs/f5tts; skips without it).

Build the env with: python -m fanren_tts.envs sync f5tts (f5-tts 1.1.22, torch 2.8: several GB).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from conftest import import_verify, import_wrapper


@pytest.fixture(scope="module")
def wrapper() -> ModuleType:
    return import_wrapper("f5tts")


def test_the_newest_checkpoint_in_a_release_folder_is_found(wrapper: ModuleType, tmp_path: Path) -> None:
    assert wrapper.find_checkpoint(tmp_path) is None
    for name in ("model_1200000.safetensors", "model_1250000.safetensors", "vocab.txt"):
        (tmp_path / name).write_bytes(b"")
    assert wrapper.find_checkpoint(tmp_path) == tmp_path / "model_1250000.safetensors"
    assert wrapper.find_checkpoint(tmp_path / "model_1200000.safetensors") == tmp_path / "model_1200000.safetensors"


def test_missing_files_are_listed_with_where_they_go_before_torch_is_imported(
    wrapper: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "vocos").mkdir()
    (tmp_path / "vocos" / "config.yaml").write_text("")
    with pytest.raises(FileNotFoundError) as err:
        wrapper.F5TTS({"model_path": str(tmp_path), "vocoder_path": str(tmp_path / "vocos")}, "cpu")
    message = str(err.value)
    assert "model_<step>.safetensors" in message and "SWivid/F5-TTS" in message
    assert "pytorch_model.bin" in message and "config.yaml" not in message
    with pytest.raises(FileNotFoundError, match="vocoder_path"):
        wrapper.F5TTS({"model_path": str(tmp_path)}, "cpu")
    with pytest.raises(ValueError, match="model_path"):
        wrapper.F5TTS({}, "cpu")


@pytest.mark.slow
def test_every_f5tts_mode_runs_on_a_tiny_checkpoint(tmp_path: Path) -> None:
    common, module = import_verify("f5tts")
    try:
        run = module.verify(tmp_path / "f5tts", None)
    except common.Skip as exc:
        pytest.skip(str(exc))
    assert run.status == "ran", run.reason
    assert set(run.modes) == {"clone_zh", "clone_en", "two_chunks", "stream", "named_voice", "seeded", "no_transcript"}
    for name, mode in run.modes.items():
        if name != "no_transcript":
            assert mode.ok and mode.sample_rate == 24000 and mode.duration > 0, (name, mode)
    assert run.modes["no_transcript"].ok
    assert run.upstream.startswith("f5-tts 1.1.22")


def test_options_are_checked_in_config_yaml(tmp_path: Path) -> None:
    from fanren_tts import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text(
        "tts:\n  engine: f5tts\n  f5tts: {model_path: m, model_cfg: t.yaml, nfe_step: 8}\n", encoding="utf-8"
    )
    options = load_config(path, environ={}).engines["f5tts"].options
    assert options["model_cfg"] == "t.yaml" and options["nfe_step"] == 8
    for bad in ("nfe_step: 0", "speed: 5", "ode_method: rk4"):
        path.write_text(f"tts:\n  engine: f5tts\n  f5tts: {{model_path: m, {bad}}}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="f5tts"):
            load_config(path, environ={})


def test_a_stored_voice_is_a_recording_with_its_transcript() -> None:
    from types import SimpleNamespace

    from fanren_tts.engines import BUILTIN

    row = BUILTIN["f5tts"]
    assert row.voice is not None and row.voice.takes == "audio" and row.voice.needs_transcript
    v = SimpleNamespace(name="v", audio=Path("/r.wav"), transcript="参考", speaker=None)
    assert row.voice.options(v) == {"ref_audio": "/r.wav", "ref_text": "参考"}
    assert row.rate is not None and row.rate.option == "speed"
