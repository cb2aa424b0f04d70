"""Loudness normalization reaches its target: full gain, then a look-ahead true-peak limiter.

Measured the way a reader would: pyloudnorm for the integrated loudness (BS.1770-4)
and the whole file oversampled x4 (BS.1770-4 Annex 2) for the true peak, not with
the module's own blockwise meters.
"""

from __future__ import annotations

import json
import math
import wave
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from fanren_tts.audio.assemble import Assembler
from fanren_tts.audio.loudness import TruePeakLimiter, true_peak
from fanren_tts.config import PROJECT_ROOT, OutputConfig

RATE = 22050


def speech_like(seconds: float = 12.0, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Voiced syllables (a 100-180 Hz buzz with its harmonics, 4 a second), pauses between
    words, and short plosive bursts that set the peak, as a TTS take has them: the peak is
    near full scale while the speech sits around -22 LUFS."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int((seconds + 1.5) * rate))  # room for the last word; cut to length below
    t = 0.0
    while t < seconds - 0.5:
        for _ in range(int(rng.integers(2, 5))):  # a word of 2-4 syllables
            n = int(0.22 * rate)
            i = int(t * rate)
            f0 = rng.uniform(100, 180)
            k = np.arange(n) / rate
            voice = sum(np.sin(2 * np.pi * f0 * h * k + rng.uniform(0, 6)) / h for h in range(1, 25) if f0 * h < 4000)
            out[i : i + n] += 0.12 * voice * np.hanning(n)
            if rng.random() < 0.35:  # a plosive
                b = int(0.006 * rate)
                out[i : i + b] += rng.uniform(0.5, 0.9) * rng.standard_normal(b).clip(-1.5, 1.5) / 1.5
            t += 0.25
        t += rng.uniform(0.15, 0.4)
    out = out[: int(seconds * rate)]
    out *= 0.98 / np.max(np.abs(out))
    return out.astype(np.float32)[:, None]


def read(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32768.0, w.getframerate()


def dbtp(x: np.ndarray) -> float:
    return 20 * math.log10(float(np.max(np.abs(resample_poly(x.astype(np.float64), 4, 1)))))


def write(path: Path, data: np.ndarray, output: OutputConfig, block: int = 4096) -> Assembler:
    with Assembler(path, output) as out:
        for i in range(0, len(data), block):
            out.write(data[i : i + block], RATE)
        out.commit()
    return out


@pytest.mark.parametrize(("target", "ceiling"), [(-16.0, -1.0), (-14.0, -2.0), (-23.0, -1.0)])
def test_speech_reaches_the_target_with_the_true_peak_under_the_ceiling(
    tmp_path: Path, target: float, ceiling: float
) -> None:
    src = speech_like()
    before = pyloudnorm.Meter(RATE).integrated_loudness(src[:, 0])
    assert before < -20 and dbtp(src[:, 0]) > -0.5  # the take: quiet speech, loud peaks
    out = write(tmp_path / "n.wav", src, OutputConfig(loudness_lufs=target, true_peak_dbtp=ceiling))
    data, rate = read(tmp_path / "n.wav")
    reached = pyloudnorm.Meter(rate).integrated_loudness(data)
    assert len(data) == len(src)
    assert abs(reached - target) <= 0.5, f"{reached:.2f} LUFS for a target of {target}"
    assert dbtp(data) <= ceiling, f"true peak {dbtp(data):.2f} dBTP over the {ceiling} ceiling"
    assert out.loudness is not None
    assert out.loudness.lufs == pytest.approx(reached, abs=0.1)  # see the piper test below
    assert out.loudness.true_peak_dbtp == pytest.approx(dbtp(data), abs=0.1)
    assert (out.loudness.target_lufs, out.loudness.ceiling_dbtp) == (target, ceiling)


def test_the_limiter_is_the_same_whatever_the_block_size() -> None:
    x = speech_like(4.0) * 3.0  # well over the ceiling

    def run(block: int) -> np.ndarray:
        lim = TruePeakLimiter(RATE, 1, -1.0)
        parts = [lim.process(x[i : i + block]) for i in range(0, len(x), block)]
        return np.concatenate([*parts, lim.flush()])

    whole, small, odd = run(len(x)), run(512), run(3001)
    assert whole.shape == small.shape == odd.shape == x.shape
    assert np.allclose(whole, small, atol=1e-6) and np.allclose(whole, odd, atol=1e-6)
    assert true_peak(whole) <= -1.0
    assert np.corrcoef(whole[:, 0], x[:, 0])[0, 1] > 0.95  # limited, not mangled


def test_the_envelope_measured_once_gives_the_same_limiting() -> None:
    from fanren_tts.audio.loudness import _peaks, envelope

    x = speech_like(3.0) * 3.0
    blocks = [x[i : i + 5000] for i in range(0, len(x), 5000)]
    env = np.concatenate(list(envelope(blocks, 1)))
    assert np.allclose(env, _peaks(x), atol=1e-6)  # blockwise, as on the whole signal
    plain, cached = TruePeakLimiter(RATE, 1, -1.0), TruePeakLimiter(RATE, 1, -1.0)
    a = np.concatenate([*(plain.process(b) for b in blocks), plain.flush()])
    b = np.concatenate(
        [
            *(
                cached.process(blk, env[i : i + len(blk)])
                for i, blk in zip(range(0, len(x), 5000), blocks, strict=True)
            ),
            cached.flush(),
        ]
    )
    assert np.allclose(a, b, atol=1e-6)


def test_the_limiter_leaves_audio_under_the_ceiling_alone() -> None:
    x = speech_like(3.0) * 0.5  # peaks near -7 dBTP
    lim = TruePeakLimiter(RATE, 1, -1.0)
    y = np.concatenate([lim.process(x), lim.flush()])
    assert np.allclose(y, x, atol=1e-7) and lim.reduction_db == 0.0


def test_stereo_is_limited_linked(tmp_path: Path) -> None:
    src = speech_like(6.0)
    stereo = np.concatenate([src, 0.3 * src], axis=1)
    write(tmp_path / "s.wav", stereo, OutputConfig(channels=2, loudness_lufs=-16.0))
    data, _ = read(tmp_path / "s.wav")
    lr = data.reshape(-1, 2)
    assert dbtp(lr[:, 0]) <= -1.0 and dbtp(lr[:, 1]) <= -1.0
    active = np.abs(lr[:, 0]) > 0.05  # where 16-bit rounding is small beside the sample
    assert np.allclose(lr[active, 1] / lr[active, 0], 0.3, atol=0.01)  # one gain for both channels


def test_without_a_target_nothing_is_measured_or_changed(tmp_path: Path) -> None:
    src = speech_like(2.0)
    out = write(tmp_path / "p.wav", src, OutputConfig())
    data, _ = read(tmp_path / "p.wav")
    assert out.loudness is None and np.allclose(data, src[:, 0], atol=1 / 32768)


@pytest.mark.slow
def test_a_real_piper_take_reaches_the_target_and_says_so(tmp_path: Path, default_envs: None) -> None:
    from fanren_tts import TTSGenerator, load_config

    cfg = load_config(PROJECT_ROOT / "config.yaml", environ={})
    cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"loudness_lufs": -16.0})})
    text = "The committee met on Tuesday to discuss the budget. Revenue rose by twelve percent, but costs climbed!"
    with TTSGenerator(cfg) as gen:
        r = gen.generate(text, tmp_path / "p.wav", engine="piper", cache=False)
        batch = gen.generate_many(
            [{"text": "Nobody answered at first; then she laughed."}], tmp_path / "b", cache=False
        )
    data, rate = read(r.path)
    reached = pyloudnorm.Meter(rate).integrated_loudness(data)
    assert abs(reached + 16.0) <= 0.5 and dbtp(data) <= -1.0
    # pyloudnorm rounds the block count, so it also gates a last partial 400 ms block: up to ~0.1 LU apart
    assert r.loudness is not None and r.loudness.lufs == pytest.approx(reached, abs=0.1)
    entry = json.loads(batch.manifest.read_text(encoding="utf-8"))["lines"][0]
    assert abs(entry["loudness"]["lufs"] + 16.0) <= 0.5 and entry["loudness"]["true_peak_dbtp"] <= -1.0


def test_the_manifest_carries_the_loudness_reached_and_the_subtitle_issues(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from fanren_tts import GenerateResult, Segment
    from fanren_tts._batch import Line, write_manifest
    from fanren_tts.audio.loudness import Loudness

    loud = Loudness(-16.04, -1.1, -16.0, -1.0, 6.9)
    fast = Segment("This sentence is spoken far too quickly to read.", 0.0, 2.0)  # 24 characters a second
    r = GenerateResult(tmp_path / "a.wav", 22050, 2.0, "piper", {}, (fast,), loudness=loud)
    gen = SimpleNamespace(config=SimpleNamespace(source=None))
    batch = write_manifest(gen, [Line(text=fast.text)], tmp_path, ("srt",), {1: r}, {})
    entry = json.loads(batch.manifest.read_text(encoding="utf-8"))["lines"][0]
    assert entry["loudness"] == {
        "lufs": -16.04,
        "true_peak_dbtp": -1.1,
        "target_lufs": -16.0,
        "ceiling_dbtp": -1.0,
        "gain_db": 6.9,
    }
    assert len(entry["subtitle_issues"]) == 1 and "characters/s" in entry["subtitle_issues"][0]


def test_a_take_changed_after_normalizing_is_limited_and_measured_again() -> None:
    from fanren_tts.audio.loudness import Loudness, relimit

    before = Loudness(-16.0, -1.1, -16.0, -1.0, 6.0)
    changed = speech_like(5.0) * 2.0  # a time-stretch can move peaks over the ceiling
    assert dbtp(changed[:, 0]) > 0
    out, after = relimit(changed, RATE, before)
    assert out.shape == changed.shape and dbtp(out[:, 0]) <= -1.0
    assert after.lufs == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(out[:, 0]), abs=0.1)
    assert after.true_peak_dbtp == pytest.approx(dbtp(out[:, 0]), abs=0.1) and after.gain_db == 6.0


_MEASURE = """
import resource, sys
sys.path.insert(0, sys.argv[3])
from test_loudness import speech_like
from fanren_tts.audio.assemble import Assembler
from fanren_tts.config import OutputConfig
piece = speech_like(10.0)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with Assembler(sys.argv[1], OutputConfig(loudness_lufs=-16.0)) as out:
    for i in range(int(sys.argv[2])):
        out.write(piece * (0.5 + 0.5 * (i % 3)), 22050)
    out.commit()
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""


@pytest.mark.slow
def test_normalizing_a_long_narration_stays_in_bounded_memory(tmp_path: Path) -> None:
    import subprocess
    import sys

    pieces = 6 * 12  # 12 minutes: 61 MB of float32 audio, spooled, then read once a pass
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path / "long.wav"), str(pieces), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    grew_mb = float(proc.stdout.strip().splitlines()[-1])
    assert grew_mb < 60, f"host memory grew {grew_mb:.0f} MB normalizing 12 minutes of audio"
    data, rate = read(tmp_path / "long.wav")
    assert len(data) == pieces * 10 * RATE and abs(pyloudnorm.Meter(rate).integrated_loudness(data) + 16) <= 0.5
    assert not list(tmp_path.glob(".*part")) and not list(tmp_path.glob("tmp*"))
