"""config.yaml validation, defaults and precedence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_config
from fanren_tts import ConfigError, TTSGenerator, load_config
from fanren_tts.config import PROJECT_ROOT, apple_silicon_preset


def test_the_shipped_config_is_valid() -> None:
    cfg = load_config(PROJECT_ROOT / "config.yaml", environ={})
    assert cfg.engine == "piper" and cfg.routes == {"zh": "espeak"}
    assert cfg.engines["espeak"].options == {"voice": "cmn", "rate": 175, "pitch": 50}
    assert cfg.engines["piper"].interpreter == PROJECT_ROOT / "envs" / "piper" / ".venv" / "bin" / "python"
    assert cfg.engines["piper"].wrapper_path == PROJECT_ROOT / "wrappers" / "piper_wrapper.py"


def test_unknown_key_names_file_path_and_allowed_keys(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", {"espeak": {"voise": "cmn"}})
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    msg = str(info.value)
    assert str(path) in msg and "tts.espeak.voise: unknown key" in msg
    assert "voice" in msg and "rate" in msg and "timeouts" in msg


def test_bad_value_names_the_key(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", {"espeak": {"rate": "fast", "timeouts": {"call": -1}}})
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert "tts.espeak.rate" in str(info.value) and "'fast'" in str(info.value)
    assert "tts.espeak.timeouts.call" in str(info.value)


def test_bad_device_and_unknown_default_engine(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tts.piper.device: .*auto, cpu, mps, cuda"):
        load_config(write_config(tmp_path / "c.yaml", {"piper": {"device": "tpu"}}), environ={})
    with pytest.raises(ConfigError, match="tts.engine: 'cosy' is not a configured engine; configured: piper"):
        load_config(write_config(tmp_path / "c.yaml", {"piper": {}}, default="cosy"), environ={})
    with pytest.raises(ConfigError, match="tts.routes.zh"):
        load_config(write_config(tmp_path / "c.yaml", {"piper": {}}, routes={"zh": "nope"}), environ={})


def test_structural_errors(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("tts: [1, 2]\n")
    with pytest.raises(ConfigError, match="top-level 'tts:' section"):
        load_config(p, environ={})
    p.write_text("tts:\n  engine: x\n  x: 3\n")
    with pytest.raises(ConfigError, match="tts.x: expected a mapping"):
        load_config(p, environ={})
    p.write_text("tts: {engine: x\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p, environ={})
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_custom_engine_needs_an_env_or_interpreter(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs 'env'.*or 'python'"):
        load_config(write_config(tmp_path / "c.yaml", {"mine": {"wrapper": "w.py"}}), environ={})


def test_legacy_pipeline_keys_keep_working(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        {
            "cosy": {
                "use_subprocess": True,
                "subprocess_python": "venvs/cosy/bin/python",
                "subprocess_script": "scripts/cosy_wrapper.py",
                "model_path": "models/CosyVoice2",
                "mode": "zero_shot",
            }
        },
    )
    cosy = load_config(path, environ={}).engines["cosy"]
    assert cosy.interpreter == tmp_path / "venvs" / "cosy" / "bin" / "python"
    assert cosy.wrapper_path == tmp_path / "scripts" / "cosy_wrapper.py"
    assert cosy.options == {"model_path": "models/CosyVoice2", "mode": "zero_shot"}
    assert cosy.env_dir is None


def test_a_relative_python_into_a_venv_keeps_the_venv(tmp_path: Path) -> None:
    """A venv's bin/python is a symlink to the base interpreter; following it loses the venv."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    assert (venv / "bin" / "python").is_symlink()
    config_dir = tmp_path / "project" / "configs"
    config_dir.mkdir(parents=True)
    path = write_config(config_dir / "c.yaml", {"mine": {"python": "../../venv/bin/python", "wrapper": "w.py"}})
    interpreter = load_config(path, environ={}).engines["mine"].interpreter
    assert interpreter == venv / "bin" / "python" and interpreter.is_absolute()
    prefix = subprocess.run([interpreter, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True)
    assert Path(prefix.stdout.strip()) == venv


def test_a_relative_python_into_a_venv_runs_a_worker(tmp_path: Path, bare_python: Path) -> None:
    """End to end: the venv holds msgpack, its base interpreter does not."""
    from conftest import ECHO

    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    relative = os.path.relpath(bare_python, config_dir)
    path = write_config(config_dir / "c.yaml", {"echo": {"python": relative, "wrapper": str(ECHO)}})
    with TTSGenerator(path) as gen:
        assert gen.call("echo", "echo", value=1)["value"] == 1


def test_use_subprocess_false_means_the_host_interpreter(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", {"mine": {"use_subprocess": False, "wrapper": "w.py"}})
    assert load_config(path, environ={}).engines["mine"].interpreter == Path(sys.executable)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", {"piper": {}, "espeak": {}}, routes={"zh": "espeak"})
    env = {
        "FANREN_TTS_ENGINE": "espeak",
        "FANREN_TTS_DEVICE": "cpu",
        "FANREN_TTS_CALL_TIMEOUT": "5",
        "FANREN_TTS_IDLE_TIMEOUT": "30",
    }
    cfg = load_config(path, environ=env)
    assert cfg.engine == "espeak" and cfg.routes == {}
    assert cfg.engines["piper"].device == "cpu"
    assert cfg.engines["piper"].timeouts.call == 5.0 and cfg.engines["piper"].timeouts.startup == 120.0
    assert cfg.engines["espeak"].idle_timeout == 30.0
    with pytest.raises(ConfigError, match="FANREN|timeouts.call"):
        load_config(path, environ={"FANREN_TTS_CALL_TIMEOUT": "soon"})


def test_call_arguments_override_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path / "c.yaml", {"piper": {}, "espeak": {}})
    monkeypatch.setenv("FANREN_TTS_ENGINE", "espeak")
    monkeypatch.setenv("FANREN_TTS_DEVICE", "cuda")
    gen = TTSGenerator(path, engine="piper", device="cpu")
    try:
        assert gen.config.engine == "piper" and gen.pick_engine("你好") == "piper"
        assert {c.device for c in gen.config.engines.values()} == {"cpu"}
    finally:
        gen.close()
    with pytest.raises(ConfigError, match="no engine named 'nope'"):
        TTSGenerator(path, engine="nope")
    with pytest.raises(ConfigError, match="device must be auto, cpu, mps, cuda or cuda:N, got 'tpu'"):
        TTSGenerator(path, device="tpu")


def test_apple_silicon_preset_is_applied_under_user_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fanren_tts.config import paths as _config

    path = write_config(tmp_path / "c.yaml", {"piper": {"env_vars": {"OMP_NUM_THREADS": "2"}}})
    engine = load_config(path, environ={}).engines["piper"]
    monkeypatch.setattr(_config, "_is_apple_silicon", lambda: False)
    assert engine.worker_env() == {"OMP_NUM_THREADS": "2"}
    monkeypatch.setattr(_config, "_is_apple_silicon", lambda: True)
    env = engine.worker_env()
    assert env["OMP_NUM_THREADS"] == "2"
    assert env["PYTORCH_ENABLE_MPS_FALLBACK"] == "1" and env["TOKENIZERS_PARALLELISM"] == "false"
    assert set(apple_silicon_preset()) >= {
        "PYTORCH_MPS_HIGH_WATERMARK_RATIO",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "KMP_DUPLICATE_LIB_OK",
        "OBJC_DISABLE_INITIALIZE_FORK_SAFETY",
    }


def _uncommented_engine_blocks(text: str) -> tuple[str, dict[str, str]]:
    """config.yaml with its documented (commented-out) engine blocks switched on."""
    import re

    marker = "  # CosyVoice 1 / 2 / 3"
    head, tail = text.split(marker)
    lines: list[str] = []
    blocks: dict[str, str] = {}
    current: str | None = None
    for line in (marker + tail).splitlines():
        if m := re.match(r"^  # (\w+):$", line):
            current = m.group(1)
            lines.append(f"  {current}:")
        elif current and re.match(r"^  #   \w+:", line):
            lines.append("    " + line[6:].split("  #")[0].rstrip())
        else:
            current = None if not line.startswith("  #   ") else current
            lines.append(line)
        if current:
            blocks[current] = blocks.get(current, "") + line + "\n"
    return head + "\n".join(lines) + "\n", blocks


def test_every_engine_option_is_documented_in_config_yaml_and_accepted(tmp_path: Path) -> None:
    from fanren_tts.engines import BUILTIN

    BUILTIN_OPTIONS = {name: row.options for name, row in BUILTIN.items()}

    text, blocks = _uncommented_engine_blocks((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "all.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, environ={})
    assert set(config.engines) == set(BUILTIN_OPTIONS)
    shipped = (PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8")
    for kind, model in BUILTIN_OPTIONS.items():
        doc = blocks.get(kind) or shipped.split(f"  {kind}:")[1].split("\n\n")[0]
        missing = [field for field in model.model_fields if field not in doc]
        assert not missing, f"config.yaml does not document {kind} options {missing}"


def _bomb(levels: int = 9) -> str:
    """The classic "billion laughs": each level lists the one before ten times (10**levels strings)."""
    lines = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines)


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "c.yaml"
    path.write_text(
        f"tts:\n  engine: mine\n{_bomb()}\n  mine: {{python: /usr/bin/python3, wrapper: w.py, bomb: *a9}}\n"
    )
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as info:
            load_config(path, environ={})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(info.value)
    assert str(path) in msg and "alias" in msg and "100,000" in msg and len(msg) < 1000
    assert peak < 20 * 2**20, f"refusing the bomb took {peak / 2**20:.0f} MiB"


def test_a_self_referring_alias_and_deep_nesting_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("tts:\n  engine: mine\n  mine: {python: /usr/bin/python3, wrapper: w.py, loop: &l [1, *l]}\n")
    with pytest.raises(ConfigError, match="refers to itself"):
        load_config(path, environ={})
    path.write_text(
        "tts:\n  engine: mine\n  mine: {python: /usr/bin/python3, wrapper: w.py, deep: "
        + "[" * 5000
        + "]" * 5000
        + "}\n"
    )
    with pytest.raises(ConfigError, match="nested"):
        load_config(path, environ={})


def test_a_config_with_a_few_anchors_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "common: &common {device: cpu, timeouts: {call: 30}}\n"
        "tts:\n  engine: piper\n"
        "  piper: {<<: *common, length_scale: 1.1}\n"
        "  espeak: {<<: *common, rate: 160}\n"
    )
    cfg = load_config(path, environ={})
    assert cfg.engines["piper"].device == cfg.engines["espeak"].device == "cpu"
    assert cfg.engines["espeak"].timeouts.call == 30 and cfg.engines["espeak"].options["rate"] == 160


def test_a_validation_message_never_quotes_a_huge_value(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", {"espeak": {"rate": ["x" * 50] * 20000, "pitch": "p" * 100000}})
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    msg = str(info.value)
    assert "tts.espeak.rate" in msg and "tts.espeak.pitch" in msg and len(msg) < 2000
