"""fanren_tts's layers: no import circle, and no import that goes up a layer, lazy
(function-level) imports included.

``LAYERS`` lists the layers from the bottom; ``LAYER_OF`` gives every module its layer by
name prefix (a package's modules share its layer unless a longer prefix says otherwise),
so a new module in a known package needs no entry, and a new top-level module fails
``test_every_module_has_a_layer`` until it gets one. The README's Layout section draws
the same table.
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
    names = {_module_name(path) for path in paths}
    for path in paths:
        is_package = path.name == "__init__.py"
        name = _module_name(path)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
                named = {f"{target}.{alias.name}" for alias in node.names}
                # ``from . import sibling`` imports the sibling module, not the package around it
                found.update(named if not node.module and named <= names else {target, *named})
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fanren_tts":
                found.add(node.module)  # absolute: from fanren_tts.x import y
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        modules[name] = found
    return {m: {d for d in deps if d in modules and d != m} for m, deps in modules.items()}


#: The layers, bottom first: a module may import its own layer and those below it.
LAYERS = ("base", "config", "envs", "worker", "pool", "media", "narration", "batch", "generator", "server", "programs")

#: Module name prefix -> layer; the longest prefix that matches wins.
LAYER_OF = {
    # base: no fanren_tts imports but each other's
    "fanren_tts._exceptions": "base",
    "fanren_tts._runtime": "base",  # the worker runtime: stdlib + msgpack only
    "fanren_tts._options": "base",
    "fanren_tts._legacy": "base",
    "fanren_tts._yamlread": "base",
    "fanren_tts._fingerprint": "base",
    "fanren_tts._language": "base",
    "fanren_tts._setups": "base",
    "fanren_tts._timeline": "base",
    "fanren_tts._wordbreak": "base",
    "fanren_tts.cli.support": "base",  # exit codes, program name: envs, check-envs and serve use it
    # config: what config.yaml says, engines' facts and named voices
    "fanren_tts.config": "config",
    "fanren_tts.server.config": "config",  # the tts.server block of config.yaml
    "fanren_tts._voices": "config",
    "fanren_tts._voicemap": "config",
    "fanren_tts._pins": "config",  # what an env pins and which versions conflict
    "fanren_tts.engines": "base",  # the built-in engine registry: _options and _exceptions only; _legacy reads it
    # envs: where an engine's interpreter and device come from
    "fanren_tts._envs": "envs",
    "fanren_tts._placement": "envs",
    # worker: one engine process
    "fanren_tts._worker": "worker",
    "fanren_tts._worker_process": "worker",
    "fanren_tts._worker_spawn": "worker",
    "fanren_tts._restarts": "worker",
    "fanren_tts._transport": "worker",
    "fanren_tts._termination": "worker",
    # pool: an engine's replicas (and check-envs' look at them)
    "fanren_tts._pool": "pool",
    "fanren_tts._check": "pool",
    # media: text in, audio and subtitles out
    "fanren_tts.text": "media",
    "fanren_tts._text": "media",
    "fanren_tts._stream": "media",
    "fanren_tts._cache": "media",
    "fanren_tts._result": "media",
    "fanren_tts._subtitles": "media",
    "fanren_tts._cues": "media",
    "fanren_tts.audio": "media",  # the audio-output package
    "fanren_tts.output": "media",
    # narration: a call checked, routed, its segments produced and written
    "fanren_tts._narrator": "narration",
    "fanren_tts._prepare": "narration",
    "fanren_tts._produce": "narration",
    "fanren_tts._segments": "narration",
    "fanren_tts._keys": "narration",
    "fanren_tts._routing": "narration",
    "fanren_tts._fit": "narration",
    # batch: scripts, the manifest, and the runners (local, Ray)
    "fanren_tts._batch": "batch",
    "fanren_tts._runners": "batch",
    "fanren_tts._ray": "batch",  # _ray_connect too
    # generator: TTSGenerator, the narrator with the batch methods
    "fanren_tts._generator": "generator",
    # server: HTTP, WebSocket and their queue
    "fanren_tts.server": "server",
    "fanren_tts.studio": "server",  # the web studio: its files and POST /v1/text/preview, on the server's modules
    "fanren_tts.rayserve": "server",  # the server on Ray Serve (serve --ray)
    # programs: what users run
    "fanren_tts.cli": "programs",
    "fanren_tts.__main__": "programs",
    "fanren_tts.envs": "programs",
    "fanren_tts.check-envs": "programs",
    "fanren_tts.engines.catalog": "programs",  # fanren-tts engines: edits configs, builds envs, speaks
    "fanren_tts.engines.listing": "programs",
    "fanren_tts.engines.command": "programs",
}


def layer_of(module: str) -> str | None:
    """``module``'s layer by the longest ``LAYER_OF`` prefix that names it or a package (or a
    module name start, as ``_server`` for ``_server_ws``) above it."""
    best = max((p for p in LAYER_OF if module == p or module.startswith((p + ".", p + "_"))), key=len, default=None)
    return LAYER_OF[best] if best is not None else None


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes to a higher layer, as ``a (layer) -> b (layer)``."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    found = []
    for module, deps in sorted(graph.items()):
        here = layer_of(module)
        for dep in sorted(deps):
            there = layer_of(dep)
            if here is not None and there is not None and rank[there] > rank[here]:
                found.append(f"{module} ({here}) -> {dep} ({there})")
    return found


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


def _graph() -> dict[str, set[str]]:
    graph = _imports()
    graph.pop("fanren_tts", None)  # the public facade imports everything on purpose
    for deps in graph.values():
        deps.discard("fanren_tts")
    return graph


def test_every_module_has_a_layer() -> None:
    assert set(LAYER_OF.values()) <= set(LAYERS)
    missing = sorted(m for m in _graph() if layer_of(m) is None)
    assert not missing, f"give these a layer in LAYER_OF (and the README's Layout): {missing}"


def test_no_module_imports_one_in_a_higher_layer() -> None:
    upward = _upward(_graph())
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_the_layer_check_finds_an_upward_import() -> None:
    graph = {"fanren_tts.config": {"fanren_tts._generator"}, "fanren_tts._generator": {"fanren_tts.config"}}
    assert _upward(graph) == ["fanren_tts.config (config) -> fanren_tts._generator (generator)"]
    assert layer_of("fanren_tts.server.websocket") == "server" and layer_of("fanren_tts.text.rules") == "media"
    assert layer_of("fanren_tts.cli.support") == "base" and layer_of("fanren_tts.cli.commands") == "programs"


def _import_targets(root: Path, package: str | None) -> list[tuple[str, str]]:
    """(file, module) for every import of a fanren_tts module under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if "standins" in path.parts:
            continue
        name = _module_name(path) if package else ""
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level and package:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                found.append((str(path), ".".join([*base, node.module] if node.module else base)))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fanren_tts":
                found.append((str(path), node.module))
            elif isinstance(node, ast.Import):
                found.extend((str(path), a.name) for a in node.names if a.name.split(".")[0] == "fanren_tts")
    return found


def test_every_import_of_a_fanren_tts_module_names_one_that_exists() -> None:
    """mypy runs with ignore_missing_imports (engines' packages are not installed on the host),
    so an import of a module that moved away would pass it; this does not."""
    modules = {_module_name(path) for path in PACKAGE.rglob("*.py")}
    repo = PACKAGE.parent
    targets = _import_targets(PACKAGE, "fanren_tts")
    for folder in ("tests", "scripts"):
        targets += _import_targets(repo / folder, None)
    missing = sorted({f"{file}: {module}" for file, module in targets if module not in modules})
    assert not missing, "\n".join(missing)
