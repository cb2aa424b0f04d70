"""Checking an output path before any work is spent on it.

Synthesis can take minutes; an output under /proc or /sys, below a file, or in a
folder this process cannot write to used to fail only after that, with a raw
OSError. ``check_output_path`` finds out first, without leaving anything behind.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .._exceptions import OutputError

__all__ = ["check_output_path"]


def _nearest_existing(folder: Path) -> Path:
    """``folder`` or its closest ancestor that exists; OutputError if that is not a folder."""
    for candidate in (folder, *folder.parents):
        try:
            mode = candidate.stat().st_mode
        except FileNotFoundError:
            continue
        except NotADirectoryError:  # a file somewhere above: keep climbing to name it
            continue
        except OSError as exc:
            raise OutputError(f"cannot use {candidate}: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(mode):
            raise OutputError(f"{candidate} is a file, not a folder")
        return candidate
    return Path(folder.anchor or ".")


def _probe(folder: Path) -> None:
    """Create and remove a file in ``folder``: the only check that /proc, /sys, read-only
    mounts and permissions all answer honestly (os.access says yes to root)."""
    probe = folder / f".fanren-probe-{os.getpid()}-{id(folder):x}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise OutputError(f"cannot create files in {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:  # pragma: no cover - created but not removable: leave it, say nothing
        pass


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """``path`` if a file can be written there (missing folders are made at write time).

    OutputError (a ConfigError) when ``path`` exists and is not a regular file, a
    folder on the way is a file, or the nearest existing folder does not accept
    new files.
    """
    target = Path(path)
    if "\x00" in str(target):
        raise OutputError(f"cannot write {str(target)!r}: a path cannot hold a NUL character")
    try:
        os.fsencode(target)
    except UnicodeEncodeError as exc:
        raise OutputError(
            f"cannot write {str(target)!r}: it cannot be encoded for the file system ({exc.reason})"
        ) from None
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except NotADirectoryError:
        mode = None  # a file above it: _nearest_existing names it
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise OutputError(f"cannot write {target}: it exists and is {what}")
    folder = target.absolute().parent
    try:
        existing = _nearest_existing(folder)
        _probe(existing)
    except OutputError as exc:
        raise OutputError(f"cannot write {target}: {exc}") from None
    return target
