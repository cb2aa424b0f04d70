"""Put what an installed fanren_tts needs besides its code into the wheel, as ``fanren_tts/_data``:
each engine env's ``pyproject.toml`` and ``uv.lock`` (never a built ``.venv``), the wrappers
and the default config.yaml. ``fanren_tts._config`` finds them there when installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class DataFiles(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        include = build_data["force_include"]
        for env in sorted((root / "envs").iterdir()):
            for name in ("pyproject.toml", "uv.lock"):
                if (env / name).is_file():
                    include[str(env / name)] = f"fanren_tts/_data/envs/{env.name}/{name}"
        for wrapper in sorted((root / "wrappers").glob("*_wrapper.py")):
            include[str(wrapper)] = f"fanren_tts/_data/wrappers/{wrapper.name}"
        include[str(root / "config.yaml")] = "fanren_tts/_data/config.yaml"
