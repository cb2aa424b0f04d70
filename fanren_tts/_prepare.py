"""A speaking call checked before any work, and the plan of what each engine will say.

Every call that speaks (``generate``, ``stream``, ``spoken_segments``) needs the same
answer first: the text cleaned and checked, the engine of its main language, the call's
options mapped (old call shapes, a named voice) and checked like config.yaml, and the
line routed stretch by stretch to the engines that speak it. A module of its own so the
narrator reads as "prepare, produce, write", and so the checks are in one place.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from ._envs import require_ready
from ._exceptions import ConfigError, EnvNotReady
from ._legacy import call_options
from ._placement import require_device
from ._routing import Router
from ._segments import speakable
from ._setups import Setup
from ._voicemap import voice_options
from ._voices import Voice
from ._yamlread import short_repr
from .config import DEVICE_PATTERN, Config, EngineConfig, validate_options
from .engines import options_model
from .text import FrontEnd, Rewritten, clean_text, split_sentences

__all__ = ["SENTENCE_END", "Plan", "Prepared", "check_options", "check_ready", "overridden", "prepare", "segments"]

_HAS_WORD = re.compile(r"\w")
#: A stretch ending in one of these ends its sentence: the next one starts after a pause.
SENTENCE_END = tuple("。！？；!?;….\n")

#: A line as routed: (stretch of text, engine, that engine's checked call options), in order.
Plan = list[tuple[str, str, dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A checked call: the cleaned text, the main engine, its options and the routed plan."""

    text: str
    engine: str
    options: dict[str, Any]
    plan: Plan


def prepare(
    config: Config,
    router: Router,
    text: Any,
    engine: str | None,
    options: dict[str, Any],
    voice: object,
    voices: Callable[[str], Voice | None],
    register: Callable[[str], Callable[[Setup], None]],
) -> Prepared:
    """Text, engine, voice and options checked (bad characters, unknown engine, option names
    and values, the language of every stretch). ``voice``: a named voice (``voices`` looks it
    up; one the engine keeps in its process goes to ``register(engine)``, each replica then
    registers it), else the engine's own speaker; a ``voice`` key in ``options`` counts too."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("text must be a non-empty string")
    text = clean_text(text)  # before any work: bad characters fail here, with their index
    if not _HAS_WORD.search(text):
        raise ConfigError(f"text {short_repr(text)} has nothing to speak (only punctuation, symbols or marks)")
    if engine is not None:
        config.get(engine)
    routed = router.plan(text, engine)
    name = engine or router.pick(text)
    given = {k: v for k, v in options.items() if k != "voice"}
    mapped = call_options(config.get(name).kind, config.get(name).options, options)
    chosen: Any = voice if voice is not None else mapped.pop("voice", None)
    mapped.pop("voice", None)
    if isinstance(chosen, str):  # a named voice, else the engine's own (espeak's voice option too)
        mapped = {**voice_options(config, name, chosen, voices, register(name)), **mapped}
    elif chosen is not None:
        raise ConfigError(f"voice must be a string (a named voice or an engine speaker), got {chosen!r}")
    checked = check_options(config, name, mapped)
    plan: Plan = []
    for stretch, other in routed:
        if other == name:
            plan.append((stretch, other, checked))
            continue
        # another language's engine: the options it has (speed reaches piper and espeak alike)
        theirs = call_options(config.get(other).kind, config.get(other).options, given)
        model = options_model(config.get(other).kind)
        if model is not None:
            theirs = {k: v for k, v in theirs.items() if k in model.model_fields}
        plan.append((stretch, other, check_options(config, other, theirs)))
    return Prepared(text, name, checked, plan)


def check_options(config: Config, engine: str, options: dict[str, Any]) -> dict[str, Any]:
    """A call's options checked by name and value like config.yaml (built-in engines)."""
    model = options_model(config.get(engine).kind)
    if model is None:
        return options
    unknown = sorted(set(options) - set(model.model_fields))
    if unknown:
        raise ConfigError(
            f"engine {engine!r} has no option {', '.join(map(repr, unknown))}; allowed: {', '.join(model.model_fields)}"
        )
    return validate_options(model, options, f"engine {engine!r}: invalid call option")


def overridden(config: Config, engine: str | None, device: str | None) -> Config:
    """``config`` with a generator's ``engine`` (for every call, no routing) and ``device``
    (for every engine) put over config.yaml and the FANREN_TTS_* variables."""
    if engine is not None:
        config.get(engine)
        config = config.model_copy(update={"engine": engine, "routes": {}, "routing": False})
    if device is not None:
        if not DEVICE_PATTERN.match(device):
            raise ConfigError(f"device must be auto, cpu, mps, cuda or cuda:N, got {device!r}")
        engines = {name: cfg.model_copy(update={"device": device}) for name, cfg in config.engines.items()}
        config = config.model_copy(update={"engines": engines})
    return config


def check_ready(config: Config, cfg: EngineConfig) -> None:
    """Everything that can be known about ``cfg`` without a process: a wrapper exists for
    it, its env is built, its model folder is there and its device exists."""
    if cfg.unavailable:
        raise ConfigError(cfg.unavailable)
    if cfg.env_dir is not None:
        require_ready(cfg.env_dir, cfg.name, config.source)
    elif not cfg.interpreter.exists():
        raise EnvNotReady(f"engine {cfg.name!r}: interpreter {cfg.interpreter} does not exist")
    cfg.check_runnable()
    cfg.model_location()
    require_device(cfg)


def segments(config: Config, front_end: FrontEnd, text: str, engine: str) -> list[Rewritten]:
    """``text``'s segments, each with what ``engine`` will read: the lexicon, then
    normalization where the engine wants it (``tts.normalize``)."""
    cfg = config.get(engine)
    pieces = speakable(split_sentences(text, cfg.max_segment_chars, sentences=config.narration.split_sentences))
    normalize = config.normalizes(engine)
    return [front_end.speak(piece, engine=engine, normalize=normalize) for piece in pieces]
