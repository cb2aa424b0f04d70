"""CosyVoice 2 and 3 end to end: upstream's real code on tiny random checkpoints.

Runs ``scripts/verify/cosyvoice.py`` (sft, zero_shot, cross_lingual, instruct2, a
reused add_speaker voice, a seeded take, and three streams in a row that must start
with the same first chunk, for both models) through TTSGenerator and the real wrapper. Skips, saying what is missing, without a recursive CosyVoice
checkout in ``FANREN_TTS_COSYVOICE_SOURCE`` or without the cosyvoice env.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))

from verify import cosyvoice
from verify._common import Skip


def test_every_cosyvoice_mode_runs_on_tiny_checkpoints(tmp_path: Path) -> None:
    value = os.environ.get(cosyvoice.SOURCE_VAR)
    source = Path(value).expanduser().resolve() if value else None
    try:
        run = cosyvoice.verify(tmp_path, source)
    except Skip as exc:
        pytest.skip(str(exc))
    assert run.status == "ran", run.reason
    expected = {f"{m}:{mode}" for m in cosyvoice.MODELS for mode in cosyvoice.MODES}
    assert set(run.modes) == expected
    assert all(m.ok and m.sample_rate == 24000 and m.duration > 0 for m in run.modes.values())
