"""Run every named engine's real upstream code on tiny random checkpoints.

    python scripts/verify_engines.py [ENGINE ...] [--source NAME=PATH ...] [--json PATH] [--work DIR]

For each engine a module in ``scripts/verify/`` (its registry row's ``verify``) builds a checkpoint laid out like
the released model folder (random weights, tiny sizes), then runs every mode
through ``TTSGenerator`` and the real wrapper. Noise is the expected audio; what is
checked is that upstream's own loader and inference code ran end to end, with the
right sample rate and a non-empty result, and the model loaded once.

Code that is not on PyPI comes from a source checkout: ``--source cosyvoice=PATH``
or ``FANREN_TTS_COSYVOICE_SOURCE`` (likewise ``indextts``, ``minicpmo``). Prints a
table; exits 0 only when every selected engine ran all its modes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from verify._common import EngineRun, Skip

from fanren_tts.engines import BUILTIN

#: Every built-in engine whose registry row names a verify builder (a module in scripts/verify/).
ENGINES = tuple(name for name, row in BUILTIN.items() if row.verify)


def _parse_sources(values: list[str]) -> dict[str, Path]:
    sources: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or name not in ENGINES or not path:
            raise SystemExit(f"--source takes NAME=PATH with NAME one of {', '.join(ENGINES)}; got {value!r}")
        sources[name] = Path(path).expanduser().resolve()
    return sources


def run_engine(name: str, work: Path, source: Path | None) -> EngineRun:
    try:
        module = importlib.import_module(f"verify.{BUILTIN[name].verify}")
        if source is None and module.SOURCE_VAR and os.environ.get(module.SOURCE_VAR):
            source = Path(os.environ[module.SOURCE_VAR]).expanduser().resolve()
        return module.verify(work / name, source)
    except Skip as exc:
        return EngineRun("skipped", str(exc))
    except Exception as exc:
        tb = traceback.format_exc(limit=-3)
        return EngineRun("failed", f"{type(exc).__name__}: {exc}\n{tb}")


def table(results: dict[str, EngineRun]) -> str:
    rows = [("engine", "status", "mode", "ok", "rate", "audio s", "took s", "upstream")]
    for name, run in results.items():
        if not run.modes:
            rows.append((name, run.status, "-", "-", "-", "-", "-", run.upstream or "-"))
        for i, (mode, m) in enumerate(run.modes.items()):
            rows.append(
                (
                    name if i == 0 else "",
                    run.status if i == 0 else "",
                    mode,
                    "yes" if m.ok else "NO",
                    str(m.sample_rate or "-"),
                    f"{m.duration:.2f}",
                    f"{m.seconds:.2f}",
                    run.upstream if i == 0 else "",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    notes = [f"- {n}: {r.status}: {r.reason.splitlines()[0]}" for n, r in results.items() if r.reason]
    return "\n".join(lines + (["", *notes] if notes else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("engines", nargs="*", metavar="ENGINE", help=", ".join(ENGINES) + " (default: all)")
    parser.add_argument("--source", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument("--work", type=Path, help="where tiny checkpoints go (default: a temp folder)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    sources = _parse_sources(args.source)
    names = list(dict.fromkeys(args.engines)) or list(ENGINES)
    results: dict[str, EngineRun] = {}
    with tempfile.TemporaryDirectory(prefix="fanren-verify-") as tmp:
        work = (args.work or Path(tmp)).resolve()
        for name in names:
            t0 = time.perf_counter()
            print(f"==> {name}", file=sys.stderr, flush=True)
            results[name] = run_engine(name, work, sources.get(name))
            print(f"    {results[name].status} in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"engines": {n: r.as_json() for n, r in results.items()}}, indent=2) + "\n")
    return 0 if all(r.status == "ran" for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
