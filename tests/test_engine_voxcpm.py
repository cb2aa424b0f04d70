"""voxcpm: the wrapper's checks without the env, and the real voxcpm package on a tiny checkpoint.

The end-to-end test needs envs/voxcpm (voxcpm 2.0.3 with CUDA torch 2.6 from PyPI, about
6 GB), so it skips, saying how to build it, where that env is absent.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from conftest import import_verify, import_wrapper


def _wrapper() -> ModuleType:
    return import_wrapper("voxcpm")


def test_a_folder_without_the_model_files_names_each_one(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "audiovae.pth").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as err:
        _wrapper().VoxCPMEngine({"model_path": str(tmp_path)}, "cpu")
    message = str(err.value)
    assert "lacks: model.safetensors or pytorch_model.bin, tokenizer.json or tokenizer.model. " in message
    assert "openbmb/VoxCPM2" in message


def test_no_model_path_says_what_to_give() -> None:
    with pytest.raises(ValueError, match="model_path"):
        _wrapper().VoxCPMEngine({}, "cpu")


@pytest.mark.slow
def test_every_voxcpm_mode_runs_on_a_tiny_checkpoint(tmp_path: Path) -> None:
    common, module = import_verify("voxcpm")
    try:
        run = module.verify(tmp_path / "voxcpm", None)
    except common.Skip as exc:
        pytest.skip(str(exc))
    assert run.status == "ran", run.reason
    assert set(run.modes) == {"zero_shot", "voice_design", "reference_clone", "prompt_clone", "streaming", "seeded"}
    for name, mode in run.modes.items():
        assert mode.ok and mode.sample_rate == 48000 and mode.duration > 0, (name, mode)
    assert run.upstream.startswith("voxcpm 2.0.3")
