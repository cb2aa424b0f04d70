"""config.yaml, validated.

The shape is the video pipeline's own: a ``tts:`` section with ``engine: NAME`` and
one block per engine. Keys every engine understands (``env``, ``python``,
``wrapper``, ``device``, ``timeouts``...) are read here; the rest of a block is the
engine's options, handed to its wrapper. For the built-in engines those options
are validated too, so a typo is caught before any worker starts.

    paths     where the project, the envs and the user's data and cache live
    sections  the small sections (timeouts, output, narration, subtitles, text, cache)
    engine    one engine block (EngineConfig)
    model     the whole tts: section (Config)
    load      YAML in, a validated Config out (load_config)

Precedence, highest first: call arguments > FANREN_TTS_* environment variables >
config.yaml > defaults.
"""

from __future__ import annotations

from .engine import EngineConfig
from .load import load_config, validate_options
from .model import Config
from .paths import (
    PROJECT_ROOT,
    apple_silicon_preset,
    cache_home,
    data_home,
    default_config_path,
    venv_dir,
    venv_python,
)
from .sections import (
    DEVICE_PATTERN,
    PATH_OPTION,
    CacheConfig,
    NarrationConfig,
    OutputConfig,
    SubtitlesConfig,
    TextConfig,
    Timeouts,
)

__all__ = [
    "DEVICE_PATTERN",
    "PATH_OPTION",
    "PROJECT_ROOT",
    "CacheConfig",
    "Config",
    "EngineConfig",
    "NarrationConfig",
    "OutputConfig",
    "SubtitlesConfig",
    "TextConfig",
    "Timeouts",
    "apple_silicon_preset",
    "cache_home",
    "data_home",
    "default_config_path",
    "load_config",
    "validate_options",
    "venv_dir",
    "venv_python",
]
