"""MiniCPM-o 4.5's real model code on a tiny random checkpoint, through TTSGenerator and the wrapper.

Needs the upstream model code (FANREN_TTS_MINICPMO_SOURCE: a clone of
OpenBMB/minicpm-o-4_5-pytorch-simple-demo or a copy of openbmb/MiniCPM-o-4_5 without weights) and
the minicpmo env; skips, saying which, when either is absent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from fanren_tts.config import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))

from verify import minicpmo
from verify._common import Skip


def test_every_minicpmo_mode_runs_on_upstream_code(tmp_path: Path) -> None:
    value = os.environ.get(minicpmo.SOURCE_VAR)
    try:
        run = minicpmo.verify(tmp_path, Path(value).expanduser().resolve() if value else None)
    except Skip as exc:
        pytest.skip(str(exc))
    stream = {"stream", "stream (Token2wav CPU stand-in)"}  # the latter without CUDA: Token2wav is CUDA only
    assert set(run.modes) - stream == {"clone", "clone_per_call_ref", "seed_repeatable"}
    assert len(set(run.modes) & stream) == 1
    assert run.status == "ran", run.reason
    for name, mode in run.modes.items():
        assert mode.ok and mode.sample_rate == 24000 and mode.duration > 0, (name, mode)
