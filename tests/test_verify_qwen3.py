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
from typing import Any

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


def test_qwen3_batches_calls_in_flight_through_the_real_upstream(tmp_path: Path) -> None:
    """Protocol 4 on qwen-tts itself: four calls at once become one generate_custom_voice
    call with a list of four texts, and each caller gets its own take."""
    import threading

    import yaml

    from fanren_tts import TTSGenerator

    common, module = _modules()
    try:
        python = module.env_python()
    except common.Skip as exc:
        pytest.skip(str(exc))
    models = module.build_models(python, tmp_path / "models")
    block = {
        "type": "qwen3",
        "model_path": str(models / "custom_voice"),
        "speaker": "Vivian",
        "max_batch": 4,
        "batch_window_ms": 1000,
        "timeouts": {"startup": 600, "call": 600},
    }
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"tts": {"engine": "q", "cache": {"enabled": False}, "q": block}}), encoding="utf-8")
    texts = ["你好。", "今天天气很好。", "我们去公园吧。", "好的。"]
    with TTSGenerator(cfg) as gen:
        worker = gen.worker("q")
        worker.start()
        assert worker.capacity == 4
        out: list[object] = [None] * 4

        def run(i: int) -> None:
            out[i] = worker.call("synthesize", {"text": texts[i]})

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        info = gen.describe("q")
    takes: list[Any] = list(out)
    assert all(getattr(a, "sample_rate", None) == 24000 and a.duration > 0 for a in takes), takes
    assert info["batched_calls"] >= 1 and info["max_batch"] == 4
