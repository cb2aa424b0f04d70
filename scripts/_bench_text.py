"""Benchmark section for the text front end (used by scripts/bench.py).

- text: what the front end (sentence splitting, lexicon, normalization) costs per
  1,000 characters of the case table's text, warm and on the first call (imports
  and rule compilation included), against the synthesis time of the same text:
  English through piper, Chinese through espeak (warm workers, cache off). Issue 16
  sets the bar: under 5% of piper's synthesis time.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_FIRST_CALL = r"""
import sys, time
t0 = time.perf_counter()
from fanren_tts.text import FrontEnd, split_sentences
front = FrontEnd()
for piece in split_sentences(sys.stdin.read(), 200):
    front.speak(piece)
print(time.perf_counter() - t0)
"""


def _texts(root: Path) -> dict[str, str]:
    lines = (root / "tests" / "data" / "text_cases.tsv").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]
    return {
        "en": " ".join(r[2] if r[2][-1] in ".?!" else r[2] + "." for r in rows if r[0] == "en"),
        "zh": "".join(r[2] if r[2][-1] in "。？！" else r[2] + "。" for r in rows if r[0] == "zh"),
    }


def bench_text(root: Path, runs: int) -> dict[str, dict[str, float]]:
    from fanren_tts import TTSGenerator
    from fanren_tts.text import FrontEnd, split_sentences

    results: dict[str, dict[str, float]] = {}
    engines = {"en": "piper", "zh": "espeak"}
    with TTSGenerator(root / "config.yaml") as gen:
        gen.warm_up(*engines.values())
        for lang, text in _texts(root).items():
            front = FrontEnd()
            pieces = split_sentences(text, 200)
            for piece in pieces:
                front.speak(piece)  # warm: libraries imported, rules compiled
            warm = []
            for _ in range(max(runs, 5)):
                t0 = time.perf_counter()
                for piece in split_sentences(text, 200):
                    front.speak(piece)
                warm.append(time.perf_counter() - t0)
            first = []
            for _ in range(runs):
                out = subprocess.run(
                    [sys.executable, "-c", _FIRST_CALL], input=text, capture_output=True, text=True, check=True
                )
                first.append(float(out.stdout))
            synth = []
            for _ in range(runs):
                r = gen.generate(text, root / f".bench-text-{lang}.wav", engine=engines[lang], cache=False)
                synth.append(r.timings["synthesize"])
            (root / f".bench-text-{lang}.wav").unlink(missing_ok=True)
            per = 1000 / len(text)
            front_ms = statistics.median(warm) * 1000 * per
            synth_ms = statistics.median(synth) * 1000 * per
            results[lang] = {
                "chars": len(text),
                "engine_is_" + engines[lang]: 1.0,
                "front_end_ms_per_1000": front_ms,
                "first_call_s": statistics.median(first),
                "synthesis_ms_per_1000": synth_ms,
                "share": front_ms / synth_ms,
            }
    return results


def markdown(results: dict[str, Any]) -> list[str]:
    if "text" not in results:
        return []
    lines = [
        "",
        "**Text front end** (split + lexicon + normalization, per 1,000 characters of tests/data/text_cases.tsv, "
        "against the synthesis of the same text; the bar is 5% of piper's)",
        "",
        "| text | engine | front end, warm | first call, whole text (fresh process: imports, rules) | synthesis | front end / synthesis |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for lang, r in results["text"].items():
        engine = "piper" if "engine_is_piper" in r else "espeak"
        lines.append(
            f"| {lang} ({r['chars']:.0f} chars) | {engine} | {r['front_end_ms_per_1000']:.1f} ms | "
            f"{r['first_call_s']:.2f} s | {r['synthesis_ms_per_1000']:.0f} ms | {r['share']:.2%} |"
        )
    return lines
