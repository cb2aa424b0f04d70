"""Where things live: the project root (a checkout or a wheel's ``_data``), the platform's data and
cache folders, and each env's venv. Read before any config exists, so it imports nothing of ours."""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent
#: An installed wheel carries ``envs/``, ``wrappers/`` and ``config.yaml`` in ``_data``.
_INSTALLED = (_PACKAGE / "_data").is_dir()
#: Where the built-in ``envs/`` and ``wrappers/`` live (FANREN_TTS_HOME overrides):
#: the source checkout, or the package's own ``_data`` when installed from a wheel.
PROJECT_ROOT = Path(os.environ.get("FANREN_TTS_HOME") or (_PACKAGE / "_data" if _INSTALLED else _PACKAGE.parent))


def data_home() -> Path:
    """Where fanren_tts keeps what it builds when its own folder is no place for it
    (an installed wheel): FANREN_TTS_DATA, else the platform's user data folder
    (platformdirs: ``$XDG_DATA_HOME/fanren_tts`` or ``~/.local/share/fanren_tts``,
    ``~/Library/Application Support/fanren_tts``, ``%LOCALAPPDATA%\\fanren_tts``)."""
    if os.environ.get("FANREN_TTS_DATA"):
        return Path(os.environ["FANREN_TTS_DATA"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("fanren_tts", appauthor=False))


def cache_home() -> Path:
    """The segment cache of an installed wheel's own config: the platform's user cache
    folder (``$XDG_CACHE_HOME/fanren_tts`` or ``~/.cache/fanren_tts``,
    ``~/Library/Caches/fanren_tts``, ``%LOCALAPPDATA%\\fanren_tts\\Cache``): it can be
    deleted at any time, and backup tools know to skip it."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("fanren_tts", appauthor=False))


def venv_dir(project: Path) -> Path:
    """The venv of a uv project: ``.venv`` inside it in a writable source checkout; else a
    folder of its own under ``data_home()``, so site-packages never holds multi-GB envs."""
    project = Path(project)
    if not _INSTALLED and os.access(project, os.W_OK):
        return project / ".venv"
    tag = hashlib.sha256(str(project.resolve()).encode()).hexdigest()[:10]
    return data_home() / "envs" / f"{project.name}-{tag}" / ".venv"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _is_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def apple_silicon_preset() -> dict[str, str]:
    """What every torch engine on an M-series Mac needs; applied on macOS arm64."""
    threads = str(min(os.cpu_count() or 1, 8))
    return {
        "PYTORCH_ENABLE_MPS_FALLBACK": "1",
        "PYTORCH_MPS_HIGH_WATERMARK_RATIO": "0.0",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "VECLIB_MAXIMUM_THREADS": threads,
        "NUMEXPR_NUM_THREADS": threads,
        "KMP_DUPLICATE_LIB_OK": "TRUE",
        "OBJC_DISABLE_INITIALIZE_FORK_SAFETY": "YES",
        "TOKENIZERS_PARALLELISM": "false",
    }


def default_config_path() -> Path:
    """FANREN_TTS_CONFIG, else ./config.yaml, else the shipped config.yaml (a wheel ships one too)."""
    env = os.environ.get("FANREN_TTS_CONFIG")
    if env:
        return Path(env)
    local = Path("config.yaml")
    return local if local.exists() else PROJECT_ROOT / "config.yaml"
