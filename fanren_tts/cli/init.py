"""``fanren-tts init [PATH]``: a config.yaml to start from, for an installed user.

Installed from a wheel, the commented template (every section, every engine block,
each key explained) sits inside site-packages where nobody should edit it. ``init``
copies that very file, the one the package ships and falls back to, to ``PATH``
(default ``./config.yaml``; a folder gets ``config.yaml`` inside it). An existing file
is never replaced unless ``--force`` is given, and the copy is written atomically: a
failed write leaves no half file, and an existing file survives until the new one is
complete. The relative paths in it (cache, voices) are relative to where it is written.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .._exceptions import ConfigError
from .._runtime.fanren_worker import atomic_write
from ..config import PROJECT_ROOT
from .support import prog_name

__all__ = ["TEMPLATE", "add_parser", "write_template"]

#: The shipped config.yaml: the repository's in a checkout, ``fanren_tts/_data``'s in a wheel.
TEMPLATE = PROJECT_ROOT / "config.yaml"


def write_template(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Copy the shipped config.yaml to ``path`` (a folder: ``path/config.yaml``); returns where."""
    target = Path(path)
    if target.is_dir():
        target = target / "config.yaml"
    try:
        text = TEMPLATE.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"the config template {TEMPLATE} cannot be read ({exc.strerror}): reinstall fanren-tts"
        ) from None
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists: edit it, pick another PATH, or pass --force to replace it")

    try:
        if force:
            atomic_write(target, lambda tmp: _put(tmp, text))
        else:
            _create(target, text)
    except IsADirectoryError:
        raise ConfigError(f"{target} is a folder") from None
    except NotADirectoryError:
        raise ConfigError(f"{target}: a part of that path is a file, not a folder") from None
    return target


def _put(path: str, text: bytes) -> None:
    Path(path).write_bytes(text)


def _create(target: Path, text: bytes) -> None:
    """Write ``target`` whole, or not at all; never over a file that appeared meanwhile:
    a complete temp file beside it is hard-linked into place (which fails if the name is
    taken), where hard links work; elsewhere it is renamed after the existence check."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.part"
    try:
        tmp.write_bytes(text)
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise ConfigError(f"{target} already exists: pass --force to replace it") from None
        except OSError:  # no hard links here (some network and FUSE folders)
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _init(args: argparse.Namespace) -> int:
    target = write_template(args.path, force=args.force)
    prog = prog_name()
    print(f"wrote {target}: the commented default config; edit it, then for example")
    print(f"  {prog} envs status -c {target}")
    print(f"  {prog} say 'Hello.' -o hello.wav -c {target}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="write an editable, commented config.yaml to start from",
        description="Write the shipped config.yaml (every section and engine block, commented) to PATH, to edit. "
        "An existing file is kept unless --force is given.",
    )
    p.add_argument("path", nargs="?", default="config.yaml", help="where to write it (default: ./config.yaml)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.set_defaults(func=_init)
