"""``fanren-tts engines`` (list): every built-in engine and where it stands on this machine.

In the user's config or not, env built or not and its size on disk (hard links into
uv's cache counted once), what its lock pins, licence, languages and GPU need.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from .._envs import env_status
from .._pins import locked_versions
from ..config import PROJECT_ROOT, Config
from . import BUILTIN

__all__ = ["EngineState", "disk_size", "disk_usage", "render", "size_text", "states"]


def disk_size(folder: Path) -> int:
    """Bytes under ``folder``, each file once (uv hard-links from its cache), symlinks not followed."""
    return disk_usage(folder)[0]


def disk_usage(folder: Path) -> tuple[int, int]:
    """(bytes under ``folder``, the part no other link outside it keeps: what deleting it frees)."""
    seen: dict[tuple[int, int], int] = {}
    total = own = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] == 1:
                total += st.st_size
            if seen[key] == st.st_nlink:  # every link to it is in here
                own += st.st_size
    return total, own


def size_text(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


@dataclasses.dataclass
class EngineState:
    """One built-in engine as the catalog sees it here."""

    name: str
    blocks: list[str]  # config blocks of this kind
    envs: dict[str, str]  # env folder -> ready / missing / incomplete / drifted
    env_bytes: int
    locked: dict[str, str | None]  # its package and pinned packages -> the version its lock has
    pins: list[str]
    licence: str
    languages: list[str]
    gpu: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def states(config: Config | None) -> list[EngineState]:
    """Every built-in engine, in registry order, with what this machine and ``config`` have of it."""
    out = []
    for r in BUILTIN.values():
        envs: dict[str, str] = {}
        size = 0
        for env in r.envs:
            project = PROJECT_ROOT / "envs" / env
            status = env_status(project, env)
            envs[env] = status.state
            if status.venv.is_dir():
                size += disk_size(status.venv)
        own = r.package if r.source is None else None  # a source engine's package is its checkout
        names = [n for n in (own, *(p.package for p in r.pins)) if n]
        locked = locked_versions(PROJECT_ROOT / "envs" / r.envs[0], names) if names else {}
        blocks = [n for n, cfg in config.engines.items() if cfg.kind == r.name] if config is not None else []
        out.append(
            EngineState(
                r.name,
                blocks,
                envs,
                size,
                locked,
                [f"{p.package}{p.spec}" for p in r.pins],
                r.licence,
                list(r.languages),
                r.gpu,
            )
        )
    return out


def render(found: list[EngineState]) -> str:
    """The catalog as a table, then each engine's licence."""
    head = ("engine", "in config", "env", "disk", "locked", "pins", "GPU", "languages")
    rows = [head]
    for s in found:
        built = [f"{e}: {state}" if len(s.envs) > 1 else state for e, state in s.envs.items()]
        rows.append(
            (
                s.name,
                ", ".join(s.blocks) or "-",
                ", ".join(built),
                size_text(s.env_bytes) if s.env_bytes else "-",
                ", ".join(f"{k} {v or '?'}" for k, v in s.locked.items()) or "-",
                ", ".join(s.pins) or "-",
                s.gpu,
                ", ".join(s.languages),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += _hints(found)
    lines.append("")
    lines += [f"{s.name}: {s.licence}" for s in found]
    return "\n".join(lines)


def _hints(found: list[EngineState]) -> list[str]:
    """What to run for the engines whose env is not ready: the table alone names no command."""
    missing = [s.name for s in found if "missing" in s.envs.values()]
    stale = [e for s in found for e, state in s.envs.items() if state in ("drifted", "incomplete")]
    hints = []
    if missing:
        hints.append(
            f"not built ({', '.join(missing)}): `fanren-tts engines add NAME` writes its block into your config, "
            "builds its env and places its weights; `fanren-tts envs sync NAME` builds the env only"
        )
    if stale:
        hints.append(
            f"drifted or incomplete ({', '.join(stale)}): `fanren-tts envs sync NAME` rebuilds it from its lock"
        )
    return ["", *hints] if hints else []
