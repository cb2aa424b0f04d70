"""The whole ``tts:`` section (``Config``): engines, routes and sections, and the paths derived
from where the file lives (cache, voices, lexicon)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, overload

from pydantic import Field

from .._exceptions import ConfigError
from .._options import Strict
from ..engines import BUILTIN, self_normalizing
from ..server.config import ServerConfig, VoicesConfig
from . import paths
from .engine import EngineConfig
from .paths import PROJECT_ROOT, cache_home, data_home
from .sections import CacheConfig, NarrationConfig, Normalize, OutputConfig, SubtitlesConfig, TextConfig

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
        if paths._INSTALLED and base == PROJECT_ROOT and not path.is_absolute():  # the wheel's own config.yaml
            return cache_home()  # not in site-packages, and not among the user's data
        return path if path.is_absolute() else base / path

    @property
    def voices_dir(self) -> Path:
        """Where named voices are stored (``tts.voices.dir``, beside the config file)."""
        path = Path(os.path.expanduser(self.voices.dir))
        base = self.source.resolve().parent if self.source else Path.cwd()
        if paths._INSTALLED and base == PROJECT_ROOT:
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
        return policy == "on" or (policy == "auto" and not self_normalizing(cfg.kind))

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
            if name in BUILTIN:  # a built-in engine whose block this config leaves out (or comments out)
                hint = (
                    f". {name} is a built-in engine: add a `{name}:` block under tts: (the shipped config.yaml has "
                    f"one, commented, with every key; `python -m fanren_tts init PATH` writes a copy), then build "
                    f"its env: python -m fanren_tts.envs sync {name}"
                )
            raise ConfigError(
                f"{self.source or 'config'}: no engine named {name!r}; configured: {', '.join(self.engines)}{hint}"
            ) from None
