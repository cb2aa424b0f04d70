"""Calls a worker process must have made before some of its calls: per-process engine state.

Why a module of its own: some engines keep state in their process that a later call
relies on. CosyVoice's zero-shot speakers, registered with the wrapper's
``add_speaker``, live in the model's memory, so a named voice works only in a process
that registered it. With ``replicas: 2`` every process needs its own registration, and
a restarted process starts with none. So the state has an owner on each side:

* the pool keeps one ``Setups`` table, shared by its replicas: which setup a call needs
  (``needed``), filled as voices are mapped to call options (``_voicemap``);
* each ``Worker`` remembers which setups its current process has done, forgets them
  when a new process starts, and does the missing ones lazily, before the call that
  needs them, on the replica that serves that call.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["Setup", "Setups"]


@dataclasses.dataclass(frozen=True)
class Setup:
    """``method(**kwargs)`` on the engine, once per process, before any call whose kwargs
    hold every ``when`` item. ``name`` says what it sets up (a voice's name); a later
    setup of the same name and method replaces the earlier one in a ``Setups`` table."""

    name: str
    method: str
    kwargs: tuple[tuple[str, Any], ...]
    when: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, name: str, method: str, kwargs: Mapping[str, Any], when: Mapping[str, Any]) -> Setup:
        return cls(name, method, tuple(sorted(kwargs.items())), tuple(sorted(when.items())))

    def needed_by(self, method: str, kwargs: Mapping[str, Any]) -> bool:
        """Whether a call of ``method(**kwargs)`` relies on this setup (the setup's own method never does)."""
        return method != self.method and all(kwargs.get(key) == value for key, value in self.when)


class Setups:
    """The setups an engine's calls may need, by name; thread-safe, one per pool.

    It holds at most one setup per (name, method), so it stays as small as the set of
    voices in use, whatever number of calls come.
    """

    def __init__(self) -> None:
        self._by_name: dict[tuple[str, str], Setup] = {}
        self._lock = threading.Lock()

    def add(self, setup: Setup) -> None:
        with self._lock:
            self._by_name[(setup.name, setup.method)] = setup

    def needed(self, method: str, kwargs: Mapping[str, Any]) -> list[Setup]:
        """The setups a call of ``method(**kwargs)`` relies on, in the order they were added."""
        with self._lock:
            return [s for s in self._by_name.values() if s.needed_by(method, kwargs)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_name)
