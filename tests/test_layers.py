"""No import circles inside fanren_tts, lazy (function-level) imports included.

The layers are config -> envs -> worker -> pool -> generator -> batch / server / Ray; a
module that imports one above it, even inside a function, makes a circle this finds.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fanren_tts

PACKAGE = Path(fanren_tts.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    modules: dict[str, set[str]] = {}
    paths = sorted(PACKAGE.rglob("*.py"))
    modules_seen = {_module_name(path) for path in paths}
    for path in paths:
        is_package = path.name == "__init__.py"
        name = _module_name(path)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
                names = {f"{target}.{alias.name}" for alias in node.names}
                # ``from . import sibling`` imports the sibling module, not the package around it
                found.update(names if not node.module and names <= modules_seen else {target, *names})
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        modules[name] = found
    return {m: {d for d in deps if d in modules and d != m} for m, deps in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node != "fanren_tts" and node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_circle() -> None:
    graph = _imports()
    graph.pop("fanren_tts", None)  # the public facade imports everything on purpose
    for deps in graph.values():
        deps.discard("fanren_tts")
    assert graph.get("fanren_tts._generator")  # the scan sees imports
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_scan_finds_a_circle_when_there_is_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
