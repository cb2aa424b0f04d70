"""The piper wrapper's start: the alignment-patched voice is made once, then reused."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT

PIPER_PY = PROJECT_ROOT / "envs" / "piper" / ".venv" / "bin" / "python"

START = """
import json, sys
sys.path.insert(0, sys.argv[1])
import piper_wrapper
engine = piper_wrapper.Piper({}, "cpu")
words = [w["text"] for piece in engine.stream("Hello there, world.") for w in piece["words"]]
print(json.dumps({"onnx_imported": "onnx" in sys.modules, "words": words}))
"""


def _start(cache: Path) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run(
        [str(PIPER_PY), "-c", START, str(PROJECT_ROOT / "wrappers")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.usefixtures("default_envs")
def test_second_start_loads_the_cached_aligned_voice_without_onnx(tmp_path: Path) -> None:
    """Patching the voice for alignments (import onnx, re-serialize 60 MB) happened on
    every worker start; now once per voice file, and word timings come out the same."""
    first = _start(tmp_path)
    cached = list((tmp_path / "fanren_tts" / "piper-aligned").glob("*.onnx"))
    assert len(cached) == 1 and cached[0].stat().st_size > 1_000_000
    second = _start(tmp_path)
    assert first["words"] == second["words"] == ["Hello", "there,", "world."]
    assert first["onnx_imported"] and not second["onnx_imported"]


@pytest.mark.usefixtures("default_envs")
def test_an_unwritable_cache_falls_back_to_patching_in_memory(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    got = _start(blocked)
    assert got["words"] == ["Hello", "there,", "world."] and got["onnx_imported"]
