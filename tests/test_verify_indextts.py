"""IndexTTS 2 and 1.5: the real upstream code on tiny random checkpoints, every mode (scripts/verify/indextts.py).

Needs a clone of index-tts/index-tts named by FANREN_TTS_INDEXTTS_SOURCE and the
indextts env (python -m fanren_tts.envs sync indextts); skips, saying which, without.
About three minutes on two CPU cores.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from fanren_tts.config import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))

from verify import indextts
from verify._common import Skip

pytestmark = pytest.mark.slow


def test_every_indextts_mode_runs_on_the_real_upstream_code(tmp_path: Path) -> None:
    source = os.environ.get(indextts.SOURCE_VAR)
    try:
        run = indextts.verify(tmp_path, Path(source).expanduser().resolve() if source else None)
    except Skip as exc:
        pytest.skip(str(exc))
    assert run.status == "ran", run.reason
    assert set(run.modes) == {
        "speaker prompt",
        "emotion by audio",
        "emotion by vector",
        "emotion by text",
        "same seed, same take",
        "target_duration (stretch only)",
        "no network attempted",
        "1.5 speaker prompt",
    }
    bad = {name: m.error for name, m in run.modes.items() if not m.ok}
    assert not bad, bad
    for name, m in run.modes.items():
        if name != "no network attempted":
            assert m.sample_rate == (24000 if name.startswith("1.5") else 22050) and m.duration > 0, name
    assert run.upstream.startswith("index-tts")
