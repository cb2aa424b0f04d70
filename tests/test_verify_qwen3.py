"""Qwen3-TTS end to end: the real qwen-tts package on tiny random checkpoints of all three kinds.

Needs envs/qwen3 (qwen-tts 0.1.1 with CUDA torch 2.8 from PyPI, several GB), so it is
not on the default path: it skips, saying how to build the env, when that env is absent.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
pytestmark = pytest.mark.slow


def _modules() -> tuple[ModuleType, ModuleType]:
    sys.path.insert(0, str(SCRIPTS))
    try:
        return importlib.import_module("verify._common"), importlib.import_module("verify.qwen3")
    finally:
        sys.path.remove(str(SCRIPTS))


def test_every_qwen3_mode_runs_on_tiny_checkpoints(tmp_path: Path) -> None:
    common, module = _modules()
    try:
        run = module.verify(tmp_path / "qwen3", None)
    except common.Skip as exc:
        pytest.skip(str(exc))
    assert run.status == "ran", run.reason
    expected = {
        "custom_voice",
        "custom_voice+instruct",
        "seeded",
        "voice_clone",
        "voice_clone x-vector",
        "voice_design",
        "voice_design again",
    }
    assert set(run.modes) == expected
    for name, mode in run.modes.items():
        assert mode.ok and mode.sample_rate == 24000 and mode.duration > 0, (name, mode)
    assert run.upstream.startswith("qwen-tts 0.1.1")


def test_place_moves_the_real_speech_tokenizer(tmp_path: Path) -> None:
    """The wrapper's place() on upstream's own objects: Qwen3TTSTokenizer is no nn.Module child."""
    common, module = _modules()
    try:
        python = module.env_python()
    except common.Skip as exc:
        pytest.skip(str(exc))
    models = module.build_models(python, tmp_path / "models")
    script = f"""
import sys, torch
sys.path[:0] = [{str(ROOT / "wrappers")!r}, {str(ROOT / "fanren_tts" / "_runtime")!r}]
from qwen_tts import Qwen3TTSModel
from qwen3_wrapper import place
tts = Qwen3TTSModel.from_pretrained({str(models / "base")!r}, dtype=torch.float32, device_map="cpu")
codec = tts.model.speech_tokenizer
assert not isinstance(codec, torch.nn.Module)
tts.model.to("meta")
print("after model.to:", {{p.device.type for p in codec.model.parameters()}}, codec.device.type)
place(tts, torch, "meta")
print("after place:", {{p.device.type for p in codec.model.parameters()}}, codec.device.type, tts.device.type)
"""
    out = subprocess.run([str(python), "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("after")]
    assert lines == ["after model.to: {'cpu'} cpu", "after place: {'meta'} meta meta"]
