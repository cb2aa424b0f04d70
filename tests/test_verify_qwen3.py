"""Qwen3-TTS end to end: the real qwen-tts package on tiny random checkpoints of all three kinds.

Needs envs/qwen3 (qwen-tts 0.1.1 with CUDA torch 2.8 from PyPI, several GB), so it is
not on the default path: it skips, saying how to build the env, when that env is absent.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
pytestmark = pytest.mark.slow


def test_every_qwen3_mode_runs_on_tiny_checkpoints(tmp_path: Path) -> None:
    sys.path.insert(0, str(SCRIPTS))
    try:
        common = importlib.import_module("verify._common")
        module = importlib.import_module("verify.qwen3")
    finally:
        sys.path.remove(str(SCRIPTS))
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
