"""What one row of the engine registry holds: every fact about a built-in engine, in one place.

A built-in engine used to be described by eight tables in four modules (options,
voice rules, rate controls, check-envs pins, ...), and adding one meant finding all
of them. Now each engine is one frozen ``EngineRow`` (``engines/builtin.py``), and
config, voices, fit-to-slot, check-envs, the verify script and the catalog read it.

This module sits in the bottom layer: it imports the stdlib only (the options models
come in as values from ``builtin``, a voice is anything shaped like ``StoredVoice``),
never the config, the generator, the pool or the server.
"""

from __future__ import annotations

import dataclasses
import glob
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["Capacity", "EngineRow", "Pin", "RateControl", "Source", "StoredVoice", "VoiceRule", "Weights"]

#: How much an engine wants a GPU: "no" (CPU by design), "optional" (runs well on either),
#: "recommended" (a CPU works, slowly), "required" (the released model does not fit a CPU run).
GpuNeed = Literal["no", "optional", "recommended", "required"]


class StoredVoice(Protocol):
    """What a voice rule reads of a named voice (``_voices.Voice``, which sits a layer above)."""

    @property
    def name(self) -> str: ...
    @property
    def audio(self) -> Path | None: ...
    @property
    def transcript(self) -> str | None: ...
    @property
    def speaker(self) -> str | None: ...


@dataclasses.dataclass(frozen=True)
class VoiceRule:
    """How the engine speaks with a named voice (``_voicemap``).

    ``takes``: "audio", "speaker" or "either"; ``options``: the call options for a
    stored voice; ``speaker_option``: where a plain engine speaker name goes;
    ``register``: a wrapper method each worker process calls before the voice is used
    there (``_setups``); ``speaker_hint``: what a speaker looks like, for errors.
    """

    takes: str
    options: Callable[[StoredVoice], dict[str, Any]]
    speaker_option: Callable[[str], dict[str, Any]] | None = None
    needs_transcript: bool = False
    register: str | None = None
    speaker_hint: str = "an eSpeak NG voice, e.g. en-us"


@dataclasses.dataclass(frozen=True)
class RateControl:
    """An engine option that sets how fast it speaks (``_fit``: fit-to-slot retries with it)."""

    option: str
    default: float
    slower_is_larger: bool  # length_scale: larger is slower; rate and speed: larger is faster
    low: float
    high: float
    #: Only some versions have it: used only where the engine's describe() names it as
    #: its ``rate_control`` (the wrapper checks the loaded upstream code).
    reported: bool = False

    def scaled(self, current: float, ratio: float) -> float:
        """The option's value for speech ``ratio`` times as long as ``current`` gave."""
        value = current * ratio if self.slower_is_larger else current / ratio
        return float(min(max(value, self.low), self.high))


@dataclasses.dataclass(frozen=True)
class Pin:
    """A version range the engine is known to work with; check-envs says ``say`` when it is missed."""

    package: str
    spec: str  # a PEP 440 subset: ==, !=, >=, <=, >, <, comma-joined
    say: str


@dataclasses.dataclass(frozen=True)
class Source:
    """An engine whose code comes from a source checkout (``source_path``): what it must hold."""

    files: tuple[tuple[str, str], ...]  # (path inside the checkout, how to get it)
    repo: str  # where to clone it from


@dataclasses.dataclass(frozen=True)
class Weights:
    """Where an engine's weights go and what a complete copy holds.

    ``key``: the option that names them (None: the engine has no weights of its own).
    ``layout``: "folder" (``files`` relative to it) or "file" (``files`` beside it,
    ``{name}`` being the file's name, e.g. piper's ``{name}.json``). Each entry of
    ``files`` is a group of alternatives (shell patterns); a complete copy has one of
    each group. ``needed``: the engine cannot run without weights of the user's;
    otherwise ``shipped`` says where its default ones come from. ``hub``: the model
    hub repo its release lives in (documentation; nothing downloads at run time).
    """

    key: str | None = "model_path"
    layout: Literal["folder", "file"] = "folder"
    files: tuple[tuple[str, ...], ...] = ()
    needed: bool = False
    shipped: str | None = None
    hub: str | None = None
    suffix: str | None = None  # a "file" layout: what the file's name ends with
    #: (option, shell pattern): another file of the same download that the engine takes by
    #: an option of its own (kokoro's voice packs); set when the download holds exactly one.
    also: tuple[tuple[str, str], ...] = ()

    def missing(self, path: Path) -> list[str]:
        """What ``path`` lacks of this layout, one entry per missing group ([]: complete)."""
        if self.layout == "file":
            if not path.is_file():
                return [f"{path} (a file{' ending in ' + self.suffix if self.suffix else ''})"]
            folder, name = path.parent, path.name
        else:
            if not path.is_dir():
                return [f"{path} (a folder)"]
            folder, name = path, ""
        return [
            " or ".join(p.replace("{name}", name) for p in group)
            for group in self.files
            if not any(_has(folder, p.replace("{name}", glob.escape(name))) for p in group)
        ]


def _has(folder: Path, pattern: str) -> bool:
    """A file matching ``pattern`` (a shell pattern, relative to ``folder``) is there."""
    return any(p.is_file() for p in folder.glob(pattern))


@dataclasses.dataclass(frozen=True)
class Capacity:
    """What one worker of the engine takes at once: ``max_batch`` lines per call (batch
    methods), ``concurrency`` calls in flight. 1 until the batching work measures more."""

    max_batch: int = 1
    concurrency: int = 1


@dataclasses.dataclass(frozen=True)
class EngineRow:
    """Every fact about one built-in engine. ``name`` is the engine kind (``type:``)."""

    name: str
    options: type[BaseModel]
    #: None: the engine has one voice, nothing to choose.
    voice: VoiceRule | None
    #: None: fit-to-slot time-stretches only.
    rate: RateControl | None
    #: env folders under envs/ (the first is the default ``env``).
    envs: tuple[str, ...]
    #: the engine's own package (check-envs shows its version); None: none of its own.
    package: str | None
    licence: str
    languages: tuple[str, ...]
    weights: Weights
    gpu: GpuNeed
    #: the module in scripts/verify/ that runs its real upstream code (None: covered by the tests).
    verify: str | None
    #: version ranges check-envs holds the env to.
    pins: tuple[Pin, ...] = ()
    #: loads or saves audio through torchaudio (torchaudio 2.9+ routes that through TorchCodec).
    torchaudio_io: bool = False
    #: reads numbers, dates and symbols itself (``normalize: auto`` leaves its text alone).
    self_normalizing: bool = False
    #: its code comes from a source checkout (``source_path``).
    source: Source | None = None
    capacity: Capacity = Capacity()
    #: ISO 639-1 codes it speaks whatever its options, for routing before it starts; None: its
    #: options decide (espeak's voice, piper's model) or only its describe() knows.
    speaks: tuple[str, ...] | None = None
    #: the call option that carries a spoken-style instruction (the server's ``instructions``).
    instruct: str | None = None

    @property
    def wrapper(self) -> str:
        """The wrapper script, relative to the project root."""
        return f"wrappers/{self.name}_wrapper.py"
