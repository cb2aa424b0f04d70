"""Editing an engine block in a user's config.yaml as text, so every comment stays where it was.

A YAML round trip through a parser drops comments (PyYAML) or needs another library
(ruamel.yaml); the catalog's edits are small and regular, so they are done on lines:
find the ``tts:`` section, find the block ``  NAME:`` among its children, and add,
set or remove lines there. Values are written as JSON scalars, which YAML reads the
same. The caller loads the result before it replaces the file (``catalog._edit_config``),
so an edit these rules get wrong never reaches the user's config.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from .._exceptions import ConfigError

__all__ = ["remove_block", "set_block"]

_TOP = re.compile(r"^[^\s#]")
_COMMENT = "# added by "


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _section(lines: list[str]) -> tuple[int, int, str]:
    """The ``tts:`` section: its header's index, the index after its last line, its children's indent."""
    start = next((i for i, line in enumerate(lines) if re.match(r"^tts:\s*(#.*)?$", line)), None)
    if start is None:
        raise ConfigError("the config has no `tts:` section (a mapping): add `tts:` first")
    end = next((j for j in range(start + 1, len(lines)) if _TOP.match(lines[j])), len(lines))
    child = next(
        (lines[j] for j in range(start + 1, end) if lines[j].strip() and not lines[j].lstrip().startswith("#")), None
    )
    return start, end, " " * (_indent(child) if child else 2)


def _block(lines: list[str], name: str, start: int, end: int, indent: str) -> tuple[int, int] | None:
    """The block ``NAME:`` in the section: its header's index and the index after its last line."""
    header = re.compile(rf"^{indent}{re.escape(name)}:(\s.*)?$")
    at = next((i for i in range(start + 1, end) if header.match(lines[i])), None)
    if at is None:
        return None
    stop = at + 1
    while stop < end and (not lines[stop].strip() or _indent(lines[stop]) > len(indent)):
        stop += 1
    while stop > at + 1 and not lines[stop - 1].strip():  # trailing blank lines belong to what follows
        stop -= 1
    return at, stop


def _scalar(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def set_block(text: str, name: str, options: Mapping[str, object], comment: str | None) -> str:
    """``text`` with a block ``NAME:`` under ``tts:`` holding ``options`` (added if absent, else each
    option set in place); everything else, comments included, as it was."""
    lines = text.splitlines()
    start, end, indent = _section(lines)
    found = _block(lines, name, start, end, indent)
    if found is None:
        new = [f"{indent}{_COMMENT}{comment}"] if comment else []
        new.append(f"{indent}{name}:" + ("" if options else " {}"))
        new += [f"{indent * 2}{k}: {_scalar(v)}" for k, v in options.items()]
        at = end
        while at > start + 1 and (not lines[at - 1].strip() or lines[at - 1].startswith("#")):
            at -= 1  # before the blank lines and column-0 comments that lead into the next section
        lines[at:at] = ["", *new]
        return "\n".join(lines) + "\n"
    at, stop = found
    head = lines[at]
    inline = head.split(":", 1)[1].split(" #", 1)[0].strip()
    if options and inline not in ("", "{}", "null", "~"):
        raise ConfigError(f"tts.{name} is written inline ({inline}); write it as a block to let `engines add` edit it")
    if options and inline:
        lines[at] = f"{indent}{name}:"
    children = [i for i in range(at + 1, stop) if lines[i].strip() and not lines[i].lstrip().startswith("#")]
    child = " " * _indent(lines[children[0]]) if children else indent * 2
    for key, value in options.items():
        where = next((i for i in children if re.match(rf"^{child}{re.escape(key)}:(\s|$)", lines[i])), None)
        line = f"{child}{key}: {_scalar(value)}"
        if where is None:
            lines.insert(at + 1, line)
            children = [i + 1 for i in children]
            stop += 1
        else:
            lines[where] = line
    return "\n".join(lines) + "\n"


def remove_block(text: str, name: str) -> str:
    """``text`` without the block ``NAME:`` (and the comment ``engines add`` put above it)."""
    lines = text.splitlines()
    start, end, indent = _section(lines)
    found = _block(lines, name, start, end, indent)
    if found is None:
        raise ConfigError(f"the config has no tts.{name} block to remove")
    at, stop = found
    if at - 1 > start and lines[at - 1].strip().startswith(_COMMENT):
        at -= 1
    if at - 1 > start and not lines[at - 1].strip():
        at -= 1  # the blank line add put before it
    del lines[at:stop]
    return "\n".join(lines) + "\n"
