"""The pipeline that fanren_tts replaces: its own config.yaml and its old call shapes."""

from __future__ import annotations

import json
import logging
import os
import wave
from pathlib import Path

import pytest

from conftest import ECHO, dedent
from fanren_tts import ConfigError, GenerateResult, TTSGenerator, load_config
from fanren_tts.config import PROJECT_ROOT

# The tts: section of a real video pipeline's config.yaml, as that pipeline ships it:
# its own global keys, its own keys in engine blocks, and engines fanren_tts has no wrapper for.
PIPELINE_TTS = """
tts:
  engine: piper
  quantization: int8
  force_regenerate: false
  sample_rate: 48000
  bit_depth: 24
  stream: false
  auto_emotion: true
  seed: 1234
  speech_rate:
    slow: 0.8
    normal: 1.0
    fast: 1.2
  split_sentences: false
  sentence_pause: 0.4
  temperature: 0.3
  speed: 1.0
  pitch: 0
  style_prompt: "calm narrator"
  negative_prompt: ""
  piper:
    default_emotion: neutral
    instruction: "read slowly"
    length_scale: 1.0
  espeak:
    voice: cmn
  flux:
    model_path: models/flux
    seed: 7
  chattts:
    use_subprocess: false
    default_emotion: happy
  coqui:
    model: tts_models/multilingual/multi-dataset/xtts_v2
  openvoice:
    ckpt: checkpoints/openvoice
  gtts:
    lang: zh-CN
"""


def pipeline_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(PIPELINE_TTS.lstrip(), encoding="utf-8")
    return path


def test_pipeline_config_loads_unchanged_and_its_meaningful_keys_take_effect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="fanren_tts.config"):
        cfg = load_config(pipeline_config(tmp_path), environ={})
    assert cfg.output.sample_rate == 48000 and cfg.output.bit_depth == 24
    assert cfg.narration.pause_ms == 400 and cfg.narration.split_sentences is False
    assert cfg.seed == 1234
    assert cfg.engines["flux"].options["seed"] == 7  # the block's own seed wins
    assert "seed" not in cfg.engines["piper"].options  # piper takes no seed
    assert cfg.engines["piper"].options["length_scale"] == 1.0
    assert "default_emotion" not in cfg.engines["piper"].options
    unused = [r.getMessage() for r in caplog.records if "not used by fanren_tts" in r.getMessage()]
    assert len(unused) == 1  # named once, in one line
    for key in ("tts.quantization", "tts.stream", "tts.speech_rate", "tts.temperature", "tts.piper.default_emotion"):
        assert key in unused[0] and key in cfg.ignored
    assert "tts.sample_rate" not in cfg.ignored and "tts.seed" not in cfg.ignored


def test_an_engine_without_a_wrapper_loads_and_says_what_is_missing_when_used(tmp_path: Path) -> None:
    cfg = load_config(pipeline_config(tmp_path), environ={})
    for name in ("coqui", "openvoice", "gtts"):
        assert cfg.engines[name].unavailable
    with TTSGenerator(cfg) as gen, pytest.raises(ConfigError) as info:
        gen.generate("Hello.", tmp_path / "x.wav", engine="gtts")
    msg = str(info.value)
    assert "'gtts' has no fanren_tts wrapper" in msg and "'wrapper'" in msg and "'python'" in msg
    assert not (tmp_path / "x.wav").exists()


def test_a_typo_of_our_keys_still_fails_with_did_you_mean(tmp_path: Path) -> None:
    for text, key, guess in (
        ("tts:\n  engine: piper\n  piper:\n    lenght_scale: 1.1\n", "tts.piper.lenght_scale", "length_scale"),
        ("tts:\n  engine: piper\n  piper:\n    devcie: cpu\n", "tts.piper.devcie", "device"),
        ("tts:\n  engine: piper\n  piper: {}\n  narraton:\n    pause_ms: 10\n", "tts.narraton", "narration"),
        ("tts:\n  engine: piper\n  piper: {}\n  output:\n    bitdepth: 24\n", "tts.output.bitdepth", "bit_depth"),
        ("tts:\n  engine: piper\n  piper: {}\n  sentense_pause: 0.3\n", "tts.sentense_pause", "sentence_pause"),
    ):
        path = tmp_path / "c.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_config(path, environ={})
        assert key in str(info.value) and f"did you mean {guess!r}" in str(info.value), str(info.value)


def test_bad_values_of_pipeline_globals_are_config_errors(tmp_path: Path) -> None:
    for text, key in (
        ("bit_depth: 20", "tts.bit_depth"),
        ("sentence_pause: -1", "tts.sentence_pause"),
        ("split_sentences: maybe", "tts.split_sentences"),
        ("seed: abc", "tts.seed"),
    ):
        path = tmp_path / "c.yaml"
        path.write_text(f"tts:\n  engine: piper\n  piper: {{}}\n  {text}\n")
        with pytest.raises(ConfigError, match=key):
            load_config(path, environ={})


def test_global_seed_reaches_every_engine_that_takes_one(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("tts:\n  engine: vits\n  seed: 5\n  vits: {}\n  flux: {}\n  piper: {}\n")
    cfg = load_config(path, environ={})
    assert cfg.engines["vits"].options["seed"] == 5 and cfg.engines["flux"].options["seed"] == 5
    assert "seed" not in cfg.engines["piper"].options


def test_an_explicit_section_wins_over_the_pipeline_global(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("tts:\n  engine: piper\n  sample_rate: 48000\n  output: {sample_rate: 24000}\n  piper: {}\n")
    assert load_config(path, environ={}).output.sample_rate == 24000


def test_relative_wrapper_is_found_from_the_working_directory_and_the_error_names_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bare_python: Path
) -> None:
    conf_dir, work = tmp_path / "conf", tmp_path / "work"
    (work / "scripts").mkdir(parents=True)
    conf_dir.mkdir()
    (work / "scripts" / "echo_wrapper.py").write_text(ECHO.read_text())
    path = conf_dir / "c.yaml"
    path.write_text(
        f"tts:\n  engine: e\n  e:\n    python: {bare_python}\n    subprocess_script: scripts/echo_wrapper.py\n"
    )
    monkeypatch.chdir(work)
    cfg = load_config(path, environ={})
    assert cfg.engines["e"].wrapper_path == work / "scripts" / "echo_wrapper.py"
    with TTSGenerator(cfg) as gen:
        assert gen.call("e", "echo", value=3)["value"] == 3
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:  # the default engine: when the generator is made
        TTSGenerator(load_config(path, environ={}))
    assert str(conf_dir / "scripts" / "echo_wrapper.py") in str(info.value)
    assert str(tmp_path / "scripts" / "echo_wrapper.py") in str(info.value)


def test_an_old_one_shot_script_fails_at_start_with_how_to_switch(tmp_path: Path, bare_python: Path) -> None:
    script = tmp_path / "cosyvoice_infer.py"
    script.write_text(
        dedent(
            """
            import argparse, sys
            parser = argparse.ArgumentParser()
            parser.add_argument("--text", required=True)
            parser.add_argument("--output", required=True)
            args = parser.parse_args()
            print("done", args.output)
            """
        )
    )
    path = tmp_path / "c.yaml"
    block = (
        f"  cosyvoice:\n    use_subprocess: true\n"
        f"    subprocess_python: {bare_python}\n    subprocess_script: {script}\n    max_restarts: 0\n"
    )
    path.write_text("tts:\n  engine: cosyvoice\n" + block)
    with pytest.raises(ConfigError, match="one-shot script"):  # the default engine fails fast
        TTSGenerator(path)
    path.write_text(f"tts:\n  engine: e\n  e:\n    python: {bare_python}\n    wrapper: {ECHO}\n" + block)
    with TTSGenerator(path) as gen:
        for _ in range(3):  # the same clear error every time: no restart budget is spent on it
            with pytest.raises(ConfigError) as info:
                gen.generate("你好", tmp_path / "x.wav", engine="cosyvoice")
            msg = str(info.value)
            assert "one-shot script" in msg and str(script) in msg
            assert "cosyvoice_wrapper.py" in msg and "source_path" in msg and "pip install msgpack" in msg
        assert gen._pools == {}  # no worker process was ever started


def test_generate_result_works_wherever_the_old_path_string_did(tmp_path: Path) -> None:
    r = GenerateResult(tmp_path / "a.wav", 22050, 1.5, "piper", {"total": 0.1})
    assert isinstance(r, str) and r == str(tmp_path / "a.wav")
    assert os.fspath(r) == str(r) == str(tmp_path / "a.wav") and Path(r) == tmp_path / "a.wav"
    assert r.replace(".wav", ".srt").endswith("a.srt") and json.loads(json.dumps({"p": r}))["p"] == r
    assert r.path == tmp_path / "a.wav" and r.duration == 1.5 and "GenerateResult(" in repr(r)
    import pickle

    back = pickle.loads(pickle.dumps(r))
    assert back == r and back.engine == "piper" and back.sample_rate == 22050


@pytest.mark.slow
def test_pipeline_config_speaks_24_bit_48k_with_its_pause(tmp_path: Path, default_envs: None) -> None:
    path = pipeline_config(tmp_path)
    with TTSGenerator(path) as gen:
        r = gen.generate("One sentence. Another sentence.", tmp_path / "x.wav", cache=False)
    assert isinstance(r, str) and r == str(tmp_path / "x.wav")
    with wave.open(r, "rb") as w:
        assert (w.getsampwidth(), w.getframerate()) == (3, 48000)
        assert w.getnframes() == round(r.duration * 48000)
    assert len(r.segments) == 1  # split_sentences: false sends the line whole


@pytest.mark.slow
def test_batch_generate_writes_prefixed_files_and_skips_failed_lines(
    tmp_path: Path, default_envs: None, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = PROJECT_ROOT / "config.yaml"
    with TTSGenerator(cfg, engine="espeak") as gen, caplog.at_level(logging.ERROR, logger="fanren_tts.batch"):
        paths = gen.batch_generate(["你好。", "。。。", "再见。"], tmp_path / "out", prefix="line")
    assert paths == [str(tmp_path / "out" / "line_000.wav"), str(tmp_path / "out" / "line_002.wav")]
    assert all(isinstance(p, str) and Path(p).is_file() for p in paths)
    assert not (tmp_path / "out" / "line_001.wav").exists()
    assert any("line 1 skipped" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_legacy_speed_pitch_and_temperature_reach_engines_that_have_them(tmp_path: Path, default_envs: None) -> None:
    cfg = PROJECT_ROOT / "config.yaml"
    with TTSGenerator(cfg) as gen:
        # piper without its noise (the same take each time), and a line long enough that the
        # fixed silence at its ends does not hide the speed
        line = "A longer line, so that the fixed silence around it matters little to how long it takes."
        still = {"noise_scale": 0.0, "noise_w_scale": 0.0}
        normal = gen.generate(line, tmp_path / "a.wav", engine="piper", cache=False, **still)
        fast = gen.generate(line, tmp_path / "b.wav", engine="piper", speed=2.0, cache=False, **still)
        assert fast.duration < normal.duration * 0.7
        slow = gen.generate("你好，世界。", tmp_path / "c.wav", engine="espeak", speed=0.6, pitch=70, cache=False)
        quick = gen.generate("你好，世界。", tmp_path / "d.wav", engine="espeak", speed=1.5, cache=False)
        assert quick.duration < slow.duration
        with pytest.raises(ConfigError, match="'temperature'"):
            gen.generate("Hello.", tmp_path / "e.wav", engine="piper", temperature=0.3)
