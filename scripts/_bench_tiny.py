"""Load time, first audio, RTF and worker memory of engines that run here only on tiny random
checkpoints (ChatTTS, F5-TTS), through TTSGenerator and their real wrappers and upstream code.

    .venv/bin/python scripts/_bench_tiny.py [ENGINE ...] [--work DIR] [--runs N]

The checkpoints are the verify builders' (scripts/verify/<engine>_tiny.py), so the figures
say what our worker and upstream's code cost around a model of that size, not what the
released model costs: label them as tiny wherever they are quoted. An engine whose env is
not built is skipped.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_voices import _memory_mb
from verify._common import Skip

from fanren_tts import TTSGenerator

TEXT = "今天天气很好，我们一起去公园散步。"
#: ChatTTS's tiny GPT speaks until max_new_token: 96 steps give pieces after steps 72 and 96.
OPTIONS: dict[str, dict[str, Any]] = {"chattts": {"max_new_token": 96, "refine_text": False}, "f5tts": {}}


def bench(engine: str, work: Path, runs: int) -> dict[str, Any]:
    module = importlib.import_module(f"verify.{engine}")
    python = module.env_python()
    models = module.build_models(python, work / engine / "models")
    config = module._config(work / engine, models)
    loads, firsts, rtfs, audio, memory = [], [], [], 0.0, (0.0, 0.0)
    for _ in range(runs):
        with TTSGenerator(str(config)) as g:
            loads.append(g.warm_up(engine)[engine])
            t0 = time.perf_counter()
            stream = g.stream(TEXT, engine, seed=1, **OPTIONS[engine])
            next(stream)
            firsts.append(time.perf_counter() - t0)
            stream.close()
            t0 = time.perf_counter()
            r = g.generate(TEXT, work / f"{engine}.wav", engine, cache=False, seed=1, **OPTIONS[engine])
            rtfs.append((time.perf_counter() - t0) / r.duration)
            audio = r.duration
            memory = _memory_mb(g.describe(engine)["replicas"][0]["pid"])
    return {
        "load_s": statistics.median(loads),
        "first_audio_s": statistics.median(firsts),
        "rtf": statistics.median(rtfs),
        "audio_s": audio,
        "worker_rss_mb": memory[0],
        "worker_peak_mb": memory[1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("engines", nargs="*", default=["chattts", "f5tts"])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    rows = [
        "| engine (tiny checkpoint) | load | first audio | RTF | audio | worker RSS | worker peak |",
        "|---|" + "---:|" * 6,
    ]
    with tempfile.TemporaryDirectory(prefix="fanren-bench-tiny-") as tmp:
        work = (args.work or Path(tmp)).resolve()
        for engine in args.engines:
            try:
                r = bench(engine, work, args.runs)
            except Skip as exc:
                rows.append(f"| {engine} | skipped: {exc} |||||")
                continue
            rows.append(
                f"| {engine} | {r['load_s']:.2f} s | {r['first_audio_s']:.3f} s | {r['rtf']:.3f} | {r['audio_s']:.2f} s "
                f"| {r['worker_rss_mb']:.0f} MB | {r['worker_peak_mb']:.0f} MB |"
            )
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
