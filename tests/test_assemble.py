"""A narration is written as it is made: host memory does not grow with the text."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from conftest import dedent
from fanren_tts._stream import Timeline
from fanren_tts.audio.assemble import Assembler
from fanren_tts.audio.convert import from_array
from fanren_tts.config import PROJECT_ROOT, OutputConfig


def tone(seconds: float, rate: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)[:, None]


def read(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32768.0


def narrate(path: Path, output: OutputConfig, pause_s: float, *parts: np.ndarray, rate: int) -> Timeline:
    """Parts as segments through a Timeline into an Assembler, as generate() does."""
    timeline = Timeline(output, pause_s)
    with Assembler(path, output) as out:
        for i, part in enumerate(parts):
            for chunk in [*timeline.open(i, "x"), *timeline.feed(from_array(part, rate), None), *timeline.close()]:
                if len(chunk.data):
                    out.write(chunk.data, chunk.sample_rate)
        out.commit()
    return timeline


def test_loudness_hits_the_target_without_clipping_and_leaves_short_clips(tmp_path: Path) -> None:
    import pyloudnorm

    def loud(name: str, lufs: float, *parts: np.ndarray) -> np.ndarray:
        narrate(tmp_path / name, OutputConfig(sample_rate=16000, loudness_lufs=lufs), 0.1, *parts, rate=16000)
        return read(tmp_path / name)

    quiet = loud("q.wav", -16.0, tone(1.5, 16000, amp=0.02), tone(1.5, 16000, amp=0.01))
    assert abs(pyloudnorm.Meter(16000).integrated_loudness(quiet) + 16.0) < 0.5
    assert np.max(np.abs(loud("l.wav", -1.0, tone(3.0, 16000, amp=0.5)))) <= 0.99 + 1e-4
    short = tone(0.2, 16000)
    assert np.allclose(loud("s.wav", -16.0, short), short[:, 0], atol=1 / 32768)


def test_leaving_without_commit_leaves_no_file(tmp_path: Path) -> None:
    with Assembler(tmp_path / "a.wav", OutputConfig(sample_rate=8000, loudness_lufs=-16)) as out:
        out.write(tone(1.0, 8000), 8000)
    assert list(tmp_path.iterdir()) == []


_MEASURE = dedent(
    """
    import json, resource, sys, time
    from fanren_tts import TTSGenerator

    config, out, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
    text = "今天天气很好，我们一起去公园散步，看看湖边的风景。\\n" * repeat
    with TTSGenerator(config, engine="espeak") as gen:
        gen.generate("预热一下。", out + ".warm.wav", cache=False)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        r = gen.generate(text, out, cache=False)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"base_kb": base, "peak_kb": peak, "seconds": time.perf_counter() - t0,
                      "audio_s": r.duration, "segments": len(r.segments), "text_bytes": len(text.encode())}))
    """
)


@pytest.mark.slow
def test_long_narration_stays_in_bounded_host_memory(tmp_path: Path, default_envs: None) -> None:
    out = tmp_path / "long.wav"
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(PROJECT_ROOT / "config.yaml"), str(out), "1400"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    audio_mb = m["audio_s"] * 22050 * 2 / 2**20
    grew_mb = (m["peak_kb"] - m["base_kb"]) / 1024
    assert m["text_bytes"] > 100_000 and audio_mb > 150, m  # a narration far bigger than the bound below
    assert grew_mb < 60, f"host memory grew {grew_mb:.0f} MB for {audio_mb:.0f} MB of audio: {m}"
    with wave.open(str(out), "rb") as w:
        assert w.getnframes() == round(m["audio_s"] * 22050)


@pytest.mark.slow
def test_loudness_is_applied_to_the_whole_narration(tmp_path: Path, default_envs: None) -> None:
    import pyloudnorm

    from fanren_tts import TTSGenerator, load_config

    cfg = load_config(PROJECT_ROOT / "config.yaml", environ={})
    cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"loudness_lufs": -20.0})})
    with TTSGenerator(cfg) as gen:
        r = gen.generate("第一句话。第二句话稍微长一点。第三句。", tmp_path / "l.wav", engine="espeak", cache=False)
    with wave.open(r, "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32768.0
    assert pyloudnorm.Meter(r.sample_rate).integrated_loudness(data) == pytest.approx(-20.0, abs=0.2)
    assert len(r.segments) == 3 and not list(tmp_path.glob(".*part"))


def test_the_assembler_writes_flac_by_suffix_with_loudness(tmp_path: Path) -> None:
    soundfile = pytest.importorskip("soundfile")
    with Assembler(tmp_path / "n.flac", OutputConfig(sample_rate=16000, loudness_lufs=-16)) as out:
        for _ in range(4):
            out.write(tone(0.5, 16000, amp=0.03), 16000)
        out.commit()
    audio, rate = soundfile.read(tmp_path / "n.flac")
    assert rate == 16000 and len(audio) == 32000
    assert np.max(np.abs(audio)) > 0.1  # the gain (about x7 to -16 LUFS) reached the file
    assert [p.name for p in tmp_path.iterdir()] == ["n.flac"]
