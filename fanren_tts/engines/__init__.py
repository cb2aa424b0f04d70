"""The registry of built-in engines: ``BUILTIN[name]`` is everything fanren_tts knows about one.

Config validation (its options model), named voices (its voice rule), fit-to-slot
(its rate control), check-envs (its package, pins and file layout), the verify script
and the engine catalog (``fanren-tts engines``) all read the row; no other module
keeps a table of engines. See ``row.py`` for what a row holds and ``builtin.py`` for
the rows.

The registry (this module, ``row``, ``builtin``, ``table``) is in the bottom layer: it
imports ``_options`` and ``_exceptions`` only, so the other base modules (``_legacy``)
may read it. What here starts engines or edits configs (the engine catalog) is a program
above everything, imported by the command line only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pydantic import BaseModel

from .._exceptions import ConfigError
from .builtin import ROWS
from .row import Capacity, EngineRow, Pin, RateControl, Source, StoredVoice, VoiceRule, Weights

__all__ = [
    "BUILTIN",
    "Capacity",
    "EngineRow",
    "Pin",
    "RateControl",
    "Source",
    "StoredVoice",
    "VoiceRule",
    "Weights",
    "options_model",
    "row",
    "self_normalizing",
]

#: Every built-in engine by name (its ``type:``), in the order the README lists them.
BUILTIN: Mapping[str, EngineRow] = MappingProxyType({r.name: r for r in ROWS})

# No engine option means anything as inf or NaN (length_scale=inf passes "> 0" and asks for
# endless audio): refuse them in config.yaml and in call options alike.
for _row in ROWS:
    _row.options.model_config["allow_inf_nan"] = False
    _row.options.model_rebuild(force=True)


def row(name: str) -> EngineRow:
    """The row of built-in engine ``name``; ConfigError naming the built-in ones otherwise."""
    found = BUILTIN.get(name)
    if found is None:
        raise ConfigError(f"{name!r} is not a built-in engine; built-in: {', '.join(BUILTIN)}")
    return found


def options_model(kind: str) -> type[BaseModel] | None:
    """The options model of built-in engine ``kind``; None for a custom engine."""
    found = BUILTIN.get(kind)
    return found.options if found is not None else None


def self_normalizing(kind: str) -> bool:
    """Built-in engine ``kind`` reads numbers, dates and symbols itself (CosyVoice's frontend,
    IndexTTS's TextNormalizer, the LLM-based Qwen3-TTS and MiniCPM-o, a remote server):
    ``normalize: auto`` leaves its text alone (see ``fanren_tts.text``)."""
    found = BUILTIN.get(kind)
    return found is not None and found.self_normalizing
