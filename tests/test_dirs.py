"""Where an installed wheel keeps its envs, voices and cache: the platform's user folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from fanren_tts.config import PROJECT_ROOT, load_config
from fanren_tts.config import paths as _config


def test_an_installed_wheels_cache_goes_to_the_user_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_config, "_INSTALLED", True)  # as if PROJECT_ROOT were the wheel's _data
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("FANREN_TTS_DATA", raising=False)
    config = load_config(PROJECT_ROOT / "config.yaml", environ={})
    assert config.cache_dir == tmp_path / "cache" / "fanren_tts"  # not <data>/.fanren/cache
    assert config.voices_dir == tmp_path / "data" / "fanren_tts" / ".fanren" / "voices"  # voices are user data
    assert _config.data_home() == tmp_path / "data" / "fanren_tts"
    monkeypatch.setenv("FANREN_TTS_DATA", str(tmp_path / "mine"))
    assert _config.data_home() == tmp_path / "mine"


def test_a_users_own_config_keeps_its_cache_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_config, "_INSTALLED", True)
    (tmp_path / "config.yaml").write_bytes((PROJECT_ROOT / "config.yaml").read_bytes())
    config = load_config(tmp_path / "config.yaml", environ={})
    assert config.cache_dir == tmp_path / ".fanren" / "cache"
