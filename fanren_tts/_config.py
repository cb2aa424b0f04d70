"""config.yaml, validated.

The shape is the video pipeline's own: a ``tts:`` section with ``engine: NAME`` and
one block per engine. Keys every engine understands (``env``, ``python``,
``wrapper``, ``device``, ``timeouts``...) are read here; the rest of a block is the
engine's options, handed to its wrapper. For the built-in engines those options
are validated too, so a typo is caught before any worker starts.

Precedence, highest first: call arguments > FANREN_TTS_* environment variables >
config.yaml > defaults.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import platform
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, overload

from pydantic import BaseModel, Field, ValidationError, field_validator

from ._exceptions import ConfigError, ModelNotFound
from ._legacy import engine_block_keys
from ._options import BUILTIN_OPTIONS, SELF_NORMALIZING, SOURCE_ENGINES, Strict
from ._server_config import ServerConfig, VoicesConfig
from ._yamlread import load as load_yaml
from ._yamlread import short_repr

log = logging.getLogger("fanren_tts.config")

__all__ = [
    "DEVICE_PATTERN",
    "PATH_OPTION",
    "PROJECT_ROOT",
    "Config",
    "EngineConfig",
    "Timeouts",
    "apple_silicon_preset",
    "data_home",
    "default_config_path",
    "load_config",
    "validate_options",
    "venv_dir",
]

_PACKAGE = Path(__file__).resolve().parent
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


#: Engine options whose values are file system paths (a str, or a mapping of them).
PATH_OPTION = re.compile(r"(paths?|dir|file|checkpoint|prompt_speech|prompt_wav|ref_audio|audio_prompt|lexicon)$")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class Timeouts(Strict):
    """Seconds to wait, per stage. A progress frame from the worker re-arms ``startup``."""

    startup: float = Field(120.0, gt=0)
    call: float = Field(600.0, gt=0)
    shutdown: float = Field(10.0, gt=0)


class OutputConfig(Strict):
    """What every generated WAV looks like, whatever the engine: rate, channels, 16- or 24-bit PCM."""

    sample_rate: int | None = Field(None, ge=8000, le=192000, description="null keeps the engine's native rate")
    channels: Literal[1, 2] = 1
    bit_depth: Literal[16, 24] = Field(16, description="PCM sample size of the WAV files written")
    loudness_lufs: float | None = Field(None, ge=-70, le=0, description="integrated loudness target; null: as is")
    true_peak_dbtp: float = Field(
        -1.0, ge=-20, le=0, description="true-peak ceiling the limiter holds when loudness_lufs is set, dBTP"
    )


class NarrationConfig(Strict):
    """How long text is split and joined."""

    pause_ms: int = Field(250, ge=0, le=10000, description="silence between segments")
    split_sentences: bool = Field(
        True, description="false: send each line whole, cut only where it is longer than max_segment_chars"
    )
    split_languages: bool = Field(
        True, description="a line in several scripts goes run by run to the engine of each run's language"
    )


class SubtitlesConfig(Strict):
    """How subtitle cues are cut from the word timings (broadcast guidance: two lines, 42 or 16 characters)."""

    max_chars: int = Field(42, ge=4, le=200, description="longest line in Latin scripts, in characters")
    max_chars_cjk: int = Field(16, ge=2, le=100, description="longest line in Chinese and Japanese, in characters")
    max_lines: int = Field(2, ge=1, le=4, description="lines per cue")
    max_duration: float = Field(7.0, gt=0.5, le=60, description="longest cue, in seconds")
    min_duration: float = Field(
        5 / 6, ge=0, le=10, description="shortest cue, in seconds: shorter ones merge within their sentence"
    )
    max_cps: float = Field(17.0, gt=0, le=100, description="fastest reading speed, characters a second (Latin)")
    max_cps_cjk: float = Field(9.0, gt=0, le=100, description="fastest reading speed, characters a second (CJK)")


Normalize = Literal["auto", "on", "off"]


def _on_off(value: Any) -> Any:
    """YAML 1.1 reads a bare ``on`` / ``off`` as true / false: take them back."""
    return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class TextConfig(Strict):
    """The text front end (``fanren_tts.text``)."""

    lexicon: str | None = Field(None, description="pronunciation lexicon (YAML), relative to the config file")


class CacheConfig(Strict):
    enabled: bool = True
    dir: str = Field(".fanren/cache", description="relative to the config file's folder")


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
    "max_batch",
    "batch_window_ms",
    "concurrency",
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
    max_batch: int | None = Field(
        None, ge=1, le=256, description="requests one synthesize_batch call may take (engines that batch)"
    )
    batch_window_ms: float | None = Field(
        None, ge=0, le=1000, description="how long the batcher waits for partners (default 10; 0: off)"
    )
    concurrency: int | None = Field(
        None, ge=1, le=64, description="calls at once on threads over one model (thread-safe engines)"
    )
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
        return self.kind in BUILTIN_OPTIONS

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
                + (", and set 'source_path' to your upstream checkout" if self.kind in SOURCE_ENGINES else "")
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
        """The option that names the model: ``model_dir`` for IndexTTS, else ``model_path``."""
        return "model_dir" if self.kind == "indextts" else "model_path"

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

    def limits(self) -> dict[str, Any]:
        """What the worker is asked for in flight (protocol 4's ``init``); None: the engine's default."""
        return {"max_batch": self.max_batch, "batch_window_ms": self.batch_window_ms, "concurrency": self.concurrency}

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
        env = apple_silicon_preset() if _is_apple_silicon() else {}
        env.update(self.env_vars)
        return env


_NO_DEFAULT: Any = object()


class Config(Strict):
    """The ``tts:`` section."""

    engine: str
    routes: dict[str, str] = Field(default_factory=dict, description="language -> engine, when no engine is given")
    strict: bool = Field(False, description="refuse text in a language no configured engine speaks (LanguageError)")
    #: False when one engine was chosen for all text (``engine=`` or FANREN_TTS_ENGINE): no routing.
    routing: bool = Field(True, exclude=True)
    engines: dict[str, EngineConfig]
    output: OutputConfig = Field(default_factory=OutputConfig)
    narration: NarrationConfig = Field(default_factory=NarrationConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    subtitles: SubtitlesConfig = Field(default_factory=SubtitlesConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    voices: VoicesConfig = Field(default_factory=VoicesConfig)
    seed: int | None = Field(None, description="default seed of every engine that takes one")
    normalize: Normalize = Field("auto", description="auto: every engine that does not normalize text itself")
    text: TextConfig = Field(default_factory=TextConfig)
    source: Path | None = Field(None, exclude=True)
    #: Key paths that were accepted but mean nothing to fanren_tts (the pipeline's own).
    ignored: tuple[str, ...] = Field((), exclude=True)
    #: The config file as read (all of it, not only ``tts:``), for ``config["tts"]``.
    document: dict[str, Any] | None = Field(None, exclude=True)

    def __getitem__(self, key: str) -> Any:
        """Read like the old class's dict: ``config["tts"]["engine"]``, ``config["tts"]["cosyvoice"]``.

        The file as written (a copy: edits do not reach the validated settings); a config
        built in code gives ``{"tts": ...}`` from its settings."""
        import copy

        doc = self.document if self.document is not None else {"tts": self._as_tts()}
        if key not in doc:
            raise KeyError(key)
        return copy.deepcopy(doc[key])

    def __contains__(self, key: object) -> bool:
        return key in (self.document if self.document is not None else {"tts": None})

    def _as_tts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": self.engine, "routes": dict(self.routes), "strict": self.strict}
        for name, cfg in self.engines.items():
            out[name] = {**cfg.options, "device": cfg.device}
        return out

    @property
    def cache_dir(self) -> Path:
        path = Path(os.path.expanduser(self.cache.dir))
        base = self.source.resolve().parent if self.source else Path.cwd()
        if _INSTALLED and base == PROJECT_ROOT and not path.is_absolute():  # the wheel's own config.yaml
            return cache_home()  # not in site-packages, and not among the user's data
        return path if path.is_absolute() else base / path

    @property
    def voices_dir(self) -> Path:
        """Where named voices are stored (``tts.voices.dir``, beside the config file)."""
        path = Path(os.path.expanduser(self.voices.dir))
        base = self.source.resolve().parent if self.source else Path.cwd()
        if _INSTALLED and base == PROJECT_ROOT:
            base = data_home()
        return path if path.is_absolute() else base / path

    @property
    def lexicon_path(self) -> Path | None:
        """``tts.text.lexicon``, relative to the config file's folder."""
        if not self.text.lexicon:
            return None
        path = Path(os.path.expanduser(self.text.lexicon))
        base = self.source.resolve().parent if self.source else Path.cwd()
        return path if path.is_absolute() else base / path

    def normalizes(self, name: str) -> bool:
        """Whether the front end normalizes text for engine ``name``: its own ``normalize``,
        else ``tts.normalize``; ``auto`` skips engines that normalize themselves."""
        cfg = self.get(name)
        policy = cfg.normalize or self.normalize
        return policy == "on" or (policy == "auto" and cfg.kind not in SELF_NORMALIZING)

    def select(self, names: list[str] | None) -> list[EngineConfig]:
        """The named engines, in the order given; all of them when no names are given."""
        return [self.get(n) for n in names] if names else list(self.engines.values())

    @overload
    def get(self, name: str) -> EngineConfig: ...

    @overload
    def get(self, name: str, default: Any) -> Any: ...

    def get(self, name: str, default: Any = _NO_DEFAULT) -> Any:
        """The engine named ``name``; ``get("tts", {})`` reads the file like the old dict did."""
        if name not in self.engines and (name in self or default is not _NO_DEFAULT):
            return self[name] if name in self else default
        try:
            return self.engines[name]
        except KeyError:
            hint = ""
            if name in BUILTIN_OPTIONS:  # a built-in engine whose block this config leaves out (or comments out)
                hint = (
                    f". {name} is a built-in engine: add a `{name}:` block under tts: (the shipped config.yaml has "
                    f"one, commented, with every key; `python -m fanren_tts init PATH` writes a copy), then build "
                    f"its env: python -m fanren_tts.envs sync {name}"
                )
            raise ConfigError(
                f"{self.source or 'config'}: no engine named {name!r}; configured: {', '.join(self.engines)}{hint}"
            ) from None


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


# --------------------------------------------------------------------------- loading


def _loc(parts: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in parts)


def _describe(
    exc: ValidationError, prefix: tuple[Any, ...], model: type[BaseModel] | None, also: tuple[str, ...] = ()
) -> list[str]:
    """One line per problem; ``also`` names keys allowed besides the model's (for "did you mean")."""
    lines = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, tuple(err["loc"])[:-1])
            guess = _did_you_mean(loc[-1], [*allowed, *also])
            hint = f" did you mean {guess!r}?" if guess else ""
            lines.append(f"{_loc(loc)}: unknown key;{hint} allowed here: {', '.join(allowed)}")
        else:
            lines.append(f"{_loc(loc)}: {err['msg']} (got {short_repr(err.get('input'))})")
    return lines


def validate_options(model: type[BaseModel], options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``options`` (a partial set: a call's overrides) checked by name and value against ``model``.

    The same rules as config.yaml, reported the same way (``where`` leads the
    message); returns only the given keys, with values coerced as the model does.
    """
    try:
        validated = model.model_validate(dict(options))
    except ValidationError as exc:
        raise ConfigError(f"{where}:\n  " + "\n  ".join(_describe(exc, (), model))) from None
    return {key: getattr(validated, key) for key in options}


def _allowed_keys(model: type[BaseModel] | None, path: tuple[Any, ...]) -> list[str]:
    if model is None:
        return []
    for part in path:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [k for k in model.model_fields if k not in ("name", "base_dir")]


def _engine(name: str, block: Any, base_dir: Path, source: str, ignored: list[str]) -> EngineConfig:
    """One engine block, validated. Keys the pipeline keeps there for itself are
    appended to ``ignored``; a likely typo of one of ours fails with "did you mean"."""
    where = ("tts", name)
    if not isinstance(block, Mapping):
        raise ConfigError(
            f"{source}: {_loc(where)}: expected a mapping of engine settings, got {short_repr(block)}. "
            f"Top-level keys under tts are {', '.join(map(repr, _SECTIONS))} and one block per engine."
        )
    common: dict[str, Any] = {"name": name, "base_dir": base_dir}
    rest: dict[str, Any] = {}
    for raw_key, value in block.items():
        key = _ALIASES.get(str(raw_key), str(raw_key))
        (common if key in _COMMON_KEYS else rest)[key] = value
    errors: list[str] = []
    kind = str(common.get("type") or name)
    if "type" in common and kind not in BUILTIN_OPTIONS:
        raise ConfigError(
            f"{source}: {_loc((*where, 'type'))}: {short_repr(kind)} is not a built-in engine; "
            f"built-in: {', '.join(BUILTIN_OPTIONS)} (for your own engine give 'wrapper' and 'env' or 'python')"
        )
    options_model = BUILTIN_OPTIONS.get(kind)
    if "model_name" in common and (options_model is None or "model_name" in options_model.model_fields):
        rest["model_name"] = common.pop("model_name")  # an option of the wrapper's own (CosyVoice, custom)
    if options_model is not None:
        engine_block_keys(kind, rest)
        ours = [*options_model.model_fields, *_COMMON_KEYS]
        for key in list(rest):
            if key in options_model.model_fields:
                continue
            if key in PIPELINE_ENGINE_KEYS or _did_you_mean(key, ours) is None:
                ignored.append(_loc((*where, key)))
                del rest[key]
        merged = {**dict(common.get("options") or {}), **rest}
        try:
            common["options"] = options_model.model_validate(merged).model_dump(exclude_none=True)
        except ValidationError as exc:
            for line in _describe(exc, where, options_model, _COMMON_KEYS):
                if "unknown key" in line:
                    line += ", " + ", ".join(_COMMON_KEYS)
                errors.append(line)
    else:
        for key in list(rest):
            guess = _did_you_mean(key, _COMMON_KEYS)
            if guess is not None:
                errors.append(f"{_loc((*where, key))}: unknown key; did you mean {guess!r}?")
        common["options"] = {**dict(common.get("options") or {}), **rest}
    try:
        engine = EngineConfig.model_validate(common)
    except ValidationError as exc:
        errors.extend(_describe(exc, where, EngineConfig))
        engine = None
    if errors:
        raise ConfigError(f"{source}: invalid engine block {name!r}:\n  " + "\n  ".join(errors))
    assert engine is not None
    if engine.use_subprocess and not engine.builtin and not (engine.env or engine.python):
        if (PROJECT_ROOT / "envs" / name).is_dir():
            return engine
        if engine.wrapper:
            raise ConfigError(
                f"{source}: {_loc(where)}: a custom engine needs 'env' (a uv project) or "
                "'python' (an existing interpreter) besides its 'wrapper' script"
            )
        # A pipeline's block for an engine fanren_tts has no wrapper for (chattts,
        # gtts, ...): it loads, so the rest of the file works; using it says why not.
        reason = (
            f"{source}: engine {name!r} has no fanren_tts wrapper (built-in engines: {', '.join(BUILTIN_OPTIONS)}). "
            f"To use it, give tts.{name} a 'wrapper' (a fanren_worker.Engine subclass, see README 'Writing a "
            "wrapper') and 'env' (a uv project) or 'python' (an interpreter with msgpack), "
            "or route its text to another engine"
        )
        engine = engine.model_copy(update={"unavailable": reason})
    return engine


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    """FANREN_TTS_* variables override the file (not call arguments)."""
    if environ.get("FANREN_TTS_ENGINE"):
        raw["engine"] = environ["FANREN_TTS_ENGINE"]
        raw["routes"] = {}  # an explicit engine choice means: this engine for all text
    if environ.get("FANREN_TTS_CACHE_DIR"):
        raw["cache"] = {**dict(raw.get("cache") or {}), "dir": environ["FANREN_TTS_CACHE_DIR"]}


_ENV_OVERRIDES = {
    "FANREN_TTS_DEVICE": ("device",),
    "FANREN_TTS_STARTUP_TIMEOUT": ("timeouts", "startup"),
    "FANREN_TTS_CALL_TIMEOUT": ("timeouts", "call"),
    "FANREN_TTS_SHUTDOWN_TIMEOUT": ("timeouts", "shutdown"),
    "FANREN_TTS_IDLE_TIMEOUT": ("idle_timeout",),
}


def _override_engine(block: Any, environ: Mapping[str, str]) -> Any:
    if block is None:
        block = {}
    if not isinstance(block, Mapping):
        return block  # _engine reports it
    block = dict(block)
    for var, path in _ENV_OVERRIDES.items():
        value = environ.get(var)
        if not value:
            continue
        if len(path) == 1:
            block[path[0]] = value
        else:
            block[path[0]] = {**dict(block.get(path[0]) or {}), path[1]: value}
    return block


def _pipeline_globals(raw: dict[str, Any], source: str, ignored: list[str]) -> int | None:
    """Take the pipeline's global keys out of ``raw``; those with a meaning here fill in
    the sections they stand for (an explicit section key wins). Returns the seed."""
    output = dict(raw.get("output") or {})
    narration = dict(raw.get("narration") or {})

    def bad(key: str, want: str) -> ConfigError:
        return ConfigError(f"{source}: tts.{key}: expected {want}, got {short_repr(raw[key])}")

    seed = raw.pop("seed", None)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"{source}: tts.seed: expected an integer, got {short_repr(seed)}")
    for key in sorted(PIPELINE_GLOBALS & set(raw)):
        value = raw[key]
        if key == "sample_rate" and value is not None:
            output.setdefault("sample_rate", value)
        elif key == "bit_depth" and value is not None:
            if value not in (16, 24):
                raise bad(key, "16 or 24")
            output.setdefault("bit_depth", value)
        elif key == "sentence_pause" and value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10:
                raise bad(key, "seconds between 0 and 10")
            narration.setdefault("pause_ms", round(value * 1000))
        elif key == "split_sentences" and value is not None:
            if not isinstance(value, bool):
                raise bad(key, "true or false")
            narration.setdefault("split_sentences", value)
        else:
            ignored.append(f"tts.{key}")
        del raw[key]
    if output:
        raw["output"] = output
    if narration:
        raw["narration"] = narration
    return seed


def load_config(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate config.yaml; every problem names the file and the key path."""
    environ = os.environ if environ is None else environ
    file = Path(path) if path is not None else default_config_path()
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file.resolve()} (pass a path or set FANREN_TTS_CONFIG)") from None
    doc = load_yaml(text, source) or {}  # alias bombs and runaway nesting refused here
    if not isinstance(doc, Mapping) or not isinstance(doc.get("tts"), Mapping):
        raise ConfigError(f"{source}: expected a top-level 'tts:' section with 'engine: NAME' and one block per engine")
    raw = dict(doc["tts"])
    _apply_environment(raw, environ)
    default = raw.pop("engine", None)
    strict = raw.pop("strict", False)
    if not isinstance(strict, bool):
        raise ConfigError(f"{source}: tts.strict: expected true or false, got {strict!r}")
    routes = raw.pop("routes", None) or {}
    if not isinstance(routes, Mapping):
        raise ConfigError(f"{source}: tts.routes: expected a mapping of language -> engine, got {short_repr(routes)}")
    ignored: list[str] = []
    seed = _pipeline_globals(raw, source, ignored)
    normalize = _on_off(raw.pop("normalize", "auto"))
    if normalize not in ("auto", "on", "off"):
        raise ConfigError(f"{source}: tts.normalize: expected auto, on or off, got {normalize!r}")
    sections: dict[str, Any] = {}
    sections_models: tuple[tuple[str, type[BaseModel]], ...] = (
        ("output", OutputConfig),
        ("narration", NarrationConfig),
        ("cache", CacheConfig),
        ("subtitles", SubtitlesConfig),
        ("server", ServerConfig),
        ("voices", VoicesConfig),
        ("text", TextConfig),
    )
    for key, model in sections_models:
        try:
            sections[key] = model.model_validate(raw.pop(key, None) or {})
        except ValidationError as exc:
            raise ConfigError(
                f"{source}: invalid tts.{key}:\n  " + "\n  ".join(_describe(exc, ("tts", key), model))
            ) from None
    for key in list(raw):
        value = raw[key]
        guess = _did_you_mean(key, [*_SECTIONS, *PIPELINE_GLOBALS])
        if guess is not None and key not in BUILTIN_OPTIONS:
            raise ConfigError(f"{source}: tts.{key}: unknown key; did you mean {guess!r}?")
        named = key == default or key in routes.values()  # an engine the file uses must be a block
        if not isinstance(value, Mapping) and value is not None and not named:
            ignored.append(f"tts.{key}")  # a pipeline setting of its own, not an engine block
            del raw[key]
    base_dir = file.resolve().parent
    engines = {
        str(name): _engine(str(name), _override_engine(block, environ), base_dir, source, ignored)
        for name, block in raw.items()
    }
    if not engines:
        raise ConfigError(f"{source}: tts: no engines configured; add a block such as 'piper: {{}}'")
    if not isinstance(default, str) or default not in engines:
        raise ConfigError(
            f"{source}: tts.engine: {short_repr(default)} is not a configured engine; configured: {', '.join(engines)}"
        )
    for lang, name in routes.items():
        if name not in engines:
            raise ConfigError(
                f"{source}: tts.routes.{lang}: {short_repr(name)} is not a configured engine; configured: {', '.join(engines)}"
            )
    if seed is not None:
        for cfg in engines.values():
            options_model = BUILTIN_OPTIONS.get(cfg.kind)
            if options_model is not None and "seed" in options_model.model_fields:
                cfg.options.setdefault("seed", seed)
    if ignored:
        log.info("%s: not used by fanren_tts (the pipeline's own settings): %s", source, ", ".join(ignored))
    unavailable = [name for name, cfg in engines.items() if cfg.unavailable]
    if unavailable:
        log.info("%s: no fanren_tts wrapper for %s; using them raises ConfigError", source, ", ".join(unavailable))
    return Config(
        engine=default,
        routes={str(k): str(v) for k, v in routes.items()},
        strict=strict,
        routing=not environ.get("FANREN_TTS_ENGINE"),
        engines=engines,
        source=file,
        seed=seed,
        normalize=normalize,
        ignored=tuple(ignored),
        document=dict(doc),
        **sections,
    )
