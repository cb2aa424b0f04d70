"""Reading YAML a person wrote, with its size bounded, and quoting its values in messages.

YAML aliases (``*name``) refer to an anchored node instead of copying it, so a
file of a few hundred bytes can stand for a billion values: the "billion laughs"
bomb, ten aliases of ten aliases nine levels deep. PyYAML composes and constructs
it cheaply (the Python objects are shared), and the cost comes later, from the
first thing that walks the value: a validation message's ``repr`` of it, or
msgpack packing a custom engine's options for its worker. A 1 kB ``tts:`` section
took 1 GB and 10-20 s that way. So ``load`` counts the values the document stands
for, each alias counted as often as it is used, on the composed node graph (each
node visited once, so the count costs what the file's size costs) and refuses a
document past ``MAX_VALUES`` before anything is constructed. A node that contains
an alias to itself would expand forever and is refused too, as is nesting deeper
than Python's recursion allows.

``short_repr`` is how a value from such a file appears in an error message: cut to
a few hundred characters, whatever its size.
"""

from __future__ import annotations

import reprlib
from collections import Counter
from typing import Any

import yaml

from ._exceptions import ConfigError

__all__ = ["MAX_VALUES", "load", "short_repr"]

#: More values than any real config holds (the shipped one has a few hundred).
MAX_VALUES = 100_000

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 80
_REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxdict = 6
_REPR_LIMIT = 200


def short_repr(value: Any) -> str:
    """``repr(value)`` for a message: nested containers and long strings elided, at most ~200 characters."""
    text = _REPR.repr(value)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


class _Loader(yaml.SafeLoader):
    """SafeLoader that remembers which anchors were used as aliases, for the message."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases: Counter[str] = Counter()

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases[str(self.peek_event().anchor)] += 1  # type: ignore[no-untyped-call, unused-ignore]
        return super().compose_node(parent, index)


class _SelfReference(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def expanded_size(root: yaml.Node, limit: int = MAX_VALUES) -> int:
    """How many values the node graph stands for, every alias expanded; stops counting past ``limit``.

    Iterative depth-first, each node's size computed once (shared nodes are what
    aliases are): linear in the composed graph. Raises ``_SelfReference`` on a cycle.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # the current path: a child found here is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            total = 1
            for child in _children(node):
                total += sizes[id(child)]
            sizes[key] = min(total, limit + 1)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise _SelfReference(node)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def load(text: str, source: str) -> Any:
    """``yaml.safe_load(text)``, refusing documents that expand past ``MAX_VALUES`` values.

    Errors are ``ConfigError`` naming ``source``; YAML syntax errors say "not valid YAML".
    """
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(
                f"{source}: YAML nested too deep for Python to read; a config needs a handful of levels"
            ) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from None
        if node is None:
            return None
        used = ", ".join(f"*{name}" for name, _ in loader.aliases.most_common(5))
        try:
            size = expanded_size(node)
        except _SelfReference as exc:
            raise ConfigError(
                f"{source}: line {exc.node.start_mark.line + 1}: a YAML anchor refers to itself through an alias "
                f"({used}), so its value never ends; write the value out instead"
            ) from None
        if size > MAX_VALUES:
            raise ConfigError(
                f"{source}: YAML aliases ({used}) expand this file to more than {MAX_VALUES:,} values, "
                "far more than any config needs (a 'billion laughs' alias bomb?); refused before expanding it. "
                "Use fewer nested aliases, or write the values out"
                if loader.aliases
                else f"{source}: more than {MAX_VALUES:,} values, far more than any config needs"
            )
        try:
            return loader.construct_document(node)
        except RecursionError:
            raise ConfigError(f"{source}: YAML nested too deep for Python to read") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
