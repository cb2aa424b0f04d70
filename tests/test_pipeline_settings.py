"""The existing pipeline's own settings and call shapes: model_path + model_name, failing
fast, old call arguments, ``.engine`` and ``.config["tts"]``, ``--device cuda``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_config
from fanren_tts import ConfigError, EnvNotReady, ModelNotFound, PlacementError, TTSGenerator, load_config
from fanren_tts._check import check_engine
from fanren_tts._legacy import call_options
from fanren_tts._placement import _no_nvidia_driver, require_device
from fanren_tts.config import PROJECT_ROOT

COSY_WRAPPER = str(PROJECT_ROOT / "wrappers" / "cosyvoice_wrapper.py")


def cosy_config(tmp_path: Path, python: Path, **block: object) -> Path:
    """A CosyVoice block as the pipeline writes it, on an interpreter of its own (no managed env)."""
    return write_config(tmp_path / "c.yaml", {"cosyvoice": {"python": str(python), **block}})


def test_model_name_inside_model_path_is_found_as_the_old_class_did(tmp_path: Path, bare_python: Path) -> None:
    (tmp_path / "models" / "CosyVoice2-0.5B").mkdir(parents=True)
    path = cosy_config(tmp_path, bare_python, model_path="models", model_name="CosyVoice2-0.5B")
    cfg = load_config(path, environ={}).engines["cosyvoice"]
    assert cfg.model_location() == tmp_path / "models" / "CosyVoice2-0.5B"
    assert cfg.resolved_options()["model_path"] == str(tmp_path / "models" / "CosyVoice2-0.5B")
    # model_path that is the model folder itself still works, model_name or not
    path = cosy_config(tmp_path, bare_python, model_path="models/CosyVoice2-0.5B", model_name="CosyVoice2-0.5B")
    cfg = load_config(path, environ={}).engines["cosyvoice"]
    assert cfg.resolved_options()["model_path"] == str(tmp_path / "models" / "CosyVoice2-0.5B")


def test_model_name_works_for_engines_whose_options_lack_it(tmp_path: Path) -> None:
    (tmp_path / "models" / "Qwen3-TTS").mkdir(parents=True)
    path = write_config(tmp_path / "c.yaml", {"qwen3": {"model_path": "models", "model_name": "Qwen3-TTS"}})
    cfg = load_config(path, environ={}).engines["qwen3"]
    assert "model_name" not in cfg.options  # the wrapper never sees a key it does not take
    assert cfg.resolved_options()["model_path"] == str(tmp_path / "models" / "Qwen3-TTS")


def test_a_missing_model_fails_when_the_generator_is_made_naming_every_place_tried(
    tmp_path: Path, bare_python: Path
) -> None:
    path = cosy_config(tmp_path, bare_python, model_path="models", model_name="CosyVoice2-0.5B")
    with pytest.raises(ModelNotFound) as info:
        TTSGenerator(path)
    msg = str(info.value)
    assert str(tmp_path / "models" / "CosyVoice2-0.5B") in msg and f"{tmp_path / 'models'}." in msg
    assert "tts.cosyvoice.model_path" in msg and isinstance(info.value, ConfigError)


def test_other_engines_stay_lazy_and_their_first_call_raises_the_same(tmp_path: Path, bare_python: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        {"piper": {}, "cosyvoice": {"python": str(bare_python), "model_path": "nowhere"}},
        "piper",
    )
    with TTSGenerator(path) as gen:  # piper is ready; cosyvoice is not looked at yet
        with pytest.raises(ModelNotFound, match="nowhere"):
            gen.generate("你好。", tmp_path / "x.wav", engine="cosyvoice")
        assert "cosyvoice" not in gen._pools


def test_fail_fast_starts_no_process(tmp_path: Path) -> None:
    project = tmp_path / "envs" / "ghost"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname='ghost'\nversion='0'\n")
    (project / "uv.lock").write_text("version = 1\n")
    path = write_config(tmp_path / "c.yaml", {"ghost": {"env": str(project), "wrapper": "w.py"}})
    code = (
        "import sys\nfrom fanren_tts import TTSGenerator, EnvNotReady\n"
        "try:\n    TTSGenerator(sys.argv[1])\nexcept EnvNotReady as e:\n    print('refused')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "refused"
    with pytest.raises(EnvNotReady):
        TTSGenerator(path)


def test_check_envs_reports_missing_and_incomplete_models_and_the_cosyvoice_source(
    tmp_path: Path, bare_python: Path
) -> None:
    def problems(**block: object) -> dict[str, str]:
        cfg = load_config(cosy_config(tmp_path, bare_python, **block), environ={}).engines["cosyvoice"]
        return {p.code: p.message for p in check_engine(cfg).problems}

    found = problems(model_path="models", model_name="CosyVoice2-0.5B")
    assert "model-missing" in found and str(tmp_path / "models" / "CosyVoice2-0.5B") in found["model-missing"]
    assert "source-missing" in found and "source_path" in found["source-missing"]
    (tmp_path / "models" / "CosyVoice2-0.5B").mkdir(parents=True)
    (tmp_path / "src" / "cosyvoice").mkdir(parents=True)
    found = problems(model_path="models", model_name="CosyVoice2-0.5B", source_path="src")
    assert "model-missing" not in found and "source-missing" not in found
    assert "cosyvoice2.yaml" in found["model-incomplete"]
    assert "Matcha-TTS" in found["source-incomplete"]
    (tmp_path / "models" / "CosyVoice2-0.5B" / "cosyvoice2.yaml").write_text("{}")
    assert "model-incomplete" not in problems(model_path="models", model_name="CosyVoice2-0.5B", source_path="src")
    qwen = load_config(write_config(tmp_path / "q.yaml", {"qwen3": {"python": str(bare_python)}}), environ={})
    assert "model-missing" in {p.code for p in check_engine(qwen.engines["qwen3"]).problems}


def test_old_call_shapes_map_onto_the_engines_options() -> None:
    assert call_options("piper", {}, {"temperature": None, "speed": None, "pitch": None}) == {}
    assert call_options("piper", {}, {"speed": 1.2, "pitch": 1.0}) == {"speed": 1.2}  # 1.0: unchanged
    assert call_options("piper", {}, {"pitch": 1.3}) == {"pitch": 1.3}  # a real change: its error names it
    assert call_options("espeak", {}, {"pitch": 1.0}) == {"pitch": 50}
    assert call_options("espeak", {"pitch": 40}, {"pitch": 1.5}) == {"pitch": 60}
    assert call_options("espeak", {}, {"pitch": 70}) == {"pitch": 70}  # eSpeak's own 0..100 scale
    assert call_options("cosyvoice", {}, {"instruction": "用四川话说"}) == {"instruct_text": "用四川话说"}
    assert call_options("qwen3", {}, {"instruction": "calm"}) == {"instruct": "calm"}


def test_default_emotion_and_instruction_in_engine_blocks(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        {
            "piper": {"default_emotion": "happy"},
            "cosyvoice": {"default_emotion": "happy"},
            "qwen3": {"instruction": "read slowly", "default_emotion": "sad"},
            "indextts": {"default_emotion": "angry"},
            "espeak": {"default_emotion": "neutral"},
        },
        "piper",
    )
    cfg = load_config(path, environ={})
    assert cfg.engines["cosyvoice"].options["instruct_text"] == "happy"
    assert cfg.engines["qwen3"].options["instruct"] == "read slowly"  # an explicit instruction wins
    assert cfg.engines["indextts"].options["emo_text"] == "angry"
    assert cfg.engines["indextts"].options["use_emo_text"] is True
    assert "tts.piper.default_emotion" in cfg.ignored and "tts.espeak.default_emotion" in cfg.ignored


def test_engine_and_config_read_like_the_old_class(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", {"piper": {"length_scale": 1.1}, "espeak": {}}, "piper", speed=1.0)
    with TTSGenerator(path) as gen:
        assert gen.engine == "piper"
        assert gen.config["tts"]["engine"] == "piper" and gen.config["tts"]["piper"] == {"length_scale": 1.1}
        assert gen.config["tts"]["speed"] == 1.0  # the pipeline's own keys are there too
        assert gen.config.get("tts", {})["espeak"] == {} and "tts" in gen.config
        assert gen.config.get("nothing", {}) == {}
        with pytest.raises(KeyError):
            gen.config["video"]
        assert gen.config.get("piper").name == "piper"  # engines are still looked up by name


@pytest.mark.slow
def test_old_call_arguments_speak(tmp_path: Path, default_envs: None) -> None:
    with TTSGenerator(PROJECT_ROOT / "config.yaml") as gen:
        r = gen.generate("Hello.", tmp_path / "a.wav", temperature=None, speed=None, pitch=1.0, cache=False)
        assert r.engine == "piper" and r.duration > 0.1
        low = gen.generate("你好。", tmp_path / "b.wav", engine="espeak", pitch=0.5, cache=False)
        assert low.duration > 0.1


@pytest.mark.skipif(not _no_nvidia_driver(), reason="this machine has an NVIDIA driver")
def test_device_cuda_without_a_gpu_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FANREN_TTS_SKIP_GPU_CHECK")
    path = write_config(tmp_path / "c.yaml", {"piper": {}, "espeak": {}}, "piper")
    with pytest.raises(PlacementError, match="no such GPU is visible.*--device cpu"):
        TTSGenerator(path, device="cuda")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fanren_tts",
            "say",
            "Hi.",
            "-o",
            str(tmp_path / "x.wav"),
            "-c",
            str(path),
            "--device",
            "cuda:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 4 and "no such GPU" in out.stderr and not (tmp_path / "x.wav").exists()


def test_device_check_with_a_probe() -> None:
    class Probe:
        def __init__(self, gpus: list[str]) -> None:
            self._gpus = gpus

        def gpus(self) -> list[str]:
            return self._gpus

        def free_gb(self, device: str) -> float | None:
            return None

    from fanren_tts import EngineConfig

    cfg = EngineConfig(name="x", device="cuda:1")
    require_device(cfg, Probe(["cuda:0", "cuda:1"]))
    with pytest.raises(PlacementError, match="cuda:1"):
        require_device(cfg, Probe(["cuda:0"]))
    require_device(EngineConfig(name="x", device="cpu"), Probe([]))


def test_a_missing_interpreter_fails_when_the_generator_is_made(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", {"e": {"python": str(tmp_path / "nope" / "python"), "wrapper": "w.py"}})
    with pytest.raises(EnvNotReady, match="interpreter .*nope/python does not exist"):
        TTSGenerator(path)


def test_lazy_leaves_every_check_to_first_use(tmp_path: Path, bare_python: Path) -> None:
    """A Ray driver whose engines run on other machines need not have their models."""
    path = cosy_config(tmp_path, bare_python, model_path="nowhere")
    with TTSGenerator(path, lazy=True) as gen:
        assert gen.engine == "cosyvoice"
        with pytest.raises(ModelNotFound, match="nowhere"):
            gen.generate("你好。", tmp_path / "x.wav")


def test_check_envs_reports_a_piper_voice_without_its_config(tmp_path: Path, bare_python: Path) -> None:
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "zh_CN-x.onnx").write_bytes(b"")
    path = write_config(
        tmp_path / "c.yaml",
        {"piper": {"python": str(bare_python), "model_path": "voices", "model_name": "zh_CN-x.onnx"}},
    )
    cfg = load_config(path, environ={}).engines["piper"]
    assert cfg.resolved_options()["model_path"] == str(tmp_path / "voices" / "zh_CN-x.onnx")
    found = {p.code: p.message for p in check_engine(cfg).problems}
    assert "zh_CN-x.onnx.json" in found["model-incomplete"]
