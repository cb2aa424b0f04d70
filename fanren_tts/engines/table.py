"""The README's "Built-in engines at a glance" table, rendered from the registry.

The README keeps the table between two markers; ``tests/test_engines_registry.py``
fails when it and the registry disagree, and this rewrites it:

    python -m fanren_tts.engines.table README.md     # rewrite the table in place
    python -m fanren_tts.engines.table               # print it
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import BUILTIN
from .row import EngineRow

__all__ = ["BEGIN", "END", "markdown", "replace"]

BEGIN = (
    "<!-- engines-table: generated from fanren_tts/engines/builtin.py; python -m fanren_tts.engines.table README.md -->"
)
END = "<!-- engines-table: end -->"


def _weights(row: EngineRow) -> str:
    w = row.weights
    if w.key is None:
        return w.shipped or "none"
    files = ", ".join(" or ".join(f"`{f}`".replace("{name}", "<file>") for f in group) for group in w.files)
    if w.layout == "file":
        what = f"`{w.key}`: a `{w.suffix or ''}` file" + (f" with {files} beside it" if files else "")
    else:
        what = f"`{w.key}`: a folder" + (f" with {files}" if files else "")
    if w.needed:
        return what + (f" (release: `{w.hub}`)" if w.hub else "")
    return f"{w.shipped}; or {what}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """The table, one line per built-in engine in registry order."""
    head = "| engine | envs | own package | pins | licence | languages | GPU | weights | verify | batch / at once |"
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for row in BUILTIN.values():
        pins = ", ".join(f"{p.package}{p.spec}" for p in row.pins) or "-"
        cells = (
            f"`{row.name}`",
            ", ".join(f"`{e}`" for e in row.envs),
            row.package or "-",
            pins + (" (torchaudio audio I/O: <2.9)" if row.torchaudio_io else ""),
            row.licence,
            ", ".join(row.languages),
            row.gpu,
            _weights(row),
            f"`scripts/verify/{row.verify}.py`" if row.verify else "tests only",
            f"{row.capacity.max_batch} / {row.capacity.concurrency}",
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def replace(text: str) -> str:
    """``text`` (the README) with the table between the markers made current."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + markdown() + "\n" + text[end:]


def main(argv: list[str]) -> int:
    if not argv:
        print(markdown())
        return 0
    path = Path(argv[0])
    text = path.read_text(encoding="utf-8")
    new = replace(text)
    if new != text:
        path.write_text(new, encoding="utf-8")
        print(f"{path}: engine table rewritten from the registry")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
