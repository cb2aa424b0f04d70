"""Reading config.yaml: YAML in, a validated ``Config`` out, with one readable line per problem
(and a "did you mean" for typos). Precedence, highest first: call arguments > FANREN_TTS_*
environment variables > config.yaml > defaults."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .._exceptions import ConfigError
from .._legacy import engine_block_keys
from .._yamlread import load as load_yaml
from .._yamlread import short_repr
from ..engines import BUILTIN
from ..engines import options_model as builtin_options
from ..server.config import ServerConfig, VoicesConfig
from .engine import (
    _ALIASES,
    _COMMON_KEYS,
    _SECTIONS,
    PIPELINE_ENGINE_KEYS,
    PIPELINE_GLOBALS,
    EngineConfig,
    _did_you_mean,
)
from .model import Config
from .paths import PROJECT_ROOT, default_config_path
from .sections import CacheConfig, NarrationConfig, OutputConfig, SubtitlesConfig, TextConfig, _on_off

log = logging.getLogger("fanren_tts.config")


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
    if "type" in common and kind not in BUILTIN:
        raise ConfigError(
            f"{source}: {_loc((*where, 'type'))}: {short_repr(kind)} is not a built-in engine; "
            f"built-in: {', '.join(BUILTIN)} (for your own engine give 'wrapper' and 'env' or 'python')"
        )
    options_model = builtin_options(kind)
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
            f"{source}: engine {name!r} has no fanren_tts wrapper (built-in engines: {', '.join(BUILTIN)}). "
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
        if guess is not None and key not in BUILTIN:
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
            options_model = builtin_options(cfg.kind)
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
