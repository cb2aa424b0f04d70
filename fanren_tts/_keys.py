"""Cache keys for segments: what decides an engine's output, besides the text.

A segment's key names the engine, its identity (env lock, wrapper source, configured
options with the files they name by content), the call's options (files by content
too) and the text the engine reads. The slow parts (a wrapper's hash, a model
folder's file list) are computed once per narrator and kept here; a file's content
key costs a ``stat`` per call (see ``_fingerprint``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from typing import Any

from ._cache import cache_key
from ._envs import lock_hash
from ._fingerprint import content_keys
from .config import PATH_OPTION, Config

__all__ = ["CacheKeys"]


class CacheKeys:
    """Segment cache keys for one config's engines; thread-safe."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._identities: dict[str, dict[str, Any]] = {}
        self._folder_keys: dict[str, str] = {}  # model folders' digests

    def identity(self, engine: str) -> dict[str, Any]:
        """What decides an engine's output besides the call: env lock, wrapper source, options,
        with the files they name by content and the folders by their file lists."""
        cfg = self.config.get(engine)
        with self._lock:
            ident = self._identities.get(engine)
            if ident is None:
                ident = {
                    "wrapper": hashlib.sha256(cfg.wrapper_path.read_bytes()).hexdigest(),
                    "env": lock_hash(cfg.env_dir) if cfg.env_dir else str(cfg.interpreter),
                }
                self._identities[engine] = ident
        options = content_keys(cfg.resolved_options(), PATH_OPTION, cfg.resolve_path, self._folder_keys)
        return {**ident, "options": options}

    def key_of(self, engine: str, options: dict[str, Any]) -> Callable[[str], str]:
        """The key of a segment ``engine`` reads with the call's ``options``, by its spoken text."""
        identity = self.identity(engine)
        # files named in call options by content; relative ones are the worker's cwd, which is ours
        by_content = content_keys(options, PATH_OPTION, os.path.abspath, self._folder_keys)
        bit_depth = self.config.output.bit_depth

        def key_of(spoken: str) -> str:
            parts = {"engine": engine, "model": identity, "options": by_content, "text": spoken}
            return cache_key(**parts, **({"pcm": bit_depth} if bit_depth != 16 else {}))

        return key_of
