"""Streaming WAV output: 16/24-bit, RF64 past the RIFF limit, atomic, and streaming loudness."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from fanren_tts.audio import wav as _wavout
from fanren_tts.audio.wav import LoudnessMeter, WavWriter


def _tone(frames: int, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(frames) / 24000
    return np.repeat((amp * np.sin(2 * np.pi * 440 * t))[:, None], channels, axis=1).astype(np.float32)


@pytest.mark.parametrize(("bits", "channels"), [(16, 1), (24, 1), (24, 2), (16, 2)])
def test_written_file_reads_back_with_the_stdlib(tmp_path: Path, bits: int, channels: int) -> None:
    data = _tone(24001, channels)  # an odd frame count: 24-bit mono needs a pad byte
    with WavWriter(tmp_path / "a.wav", 24000, channels, bits) as w:
        w.write(data[:10000])
        w.write_silence(500)
        w.write(data[10000:])
        w.commit()
    with wave.open(str(tmp_path / "a.wav"), "rb") as r:
        assert (r.getsampwidth(), r.getnchannels(), r.getframerate()) == (bits // 8, channels, 24000)
        assert r.getnframes() == 24501
        raw = r.readframes(r.getnframes())
    if bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        back = np.where(ints >= 1 << 23, ints - (1 << 24), ints) / 8388608.0
    else:
        back = np.frombuffer(raw, dtype="<i2") / 32768.0
    back = back.reshape(-1, channels)
    assert np.allclose(back[:10000], data[:10000], atol=2.0 ** (1 - bits))
    assert not back[10000:10500].any()
    assert (tmp_path / "a.wav").stat().st_size % 2 == 0


def test_an_unfinished_write_leaves_nothing_and_keeps_the_old_take(tmp_path: Path) -> None:
    target = tmp_path / "a.wav"
    target.write_bytes(b"previous take")
    with pytest.raises(RuntimeError), WavWriter(target, 24000, 1, 16) as w:
        w.write(_tone(1000))
        raise RuntimeError("synthesis failed")
    assert target.read_bytes() == b"previous take"
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]


def test_past_the_riff_limit_the_file_becomes_rf64(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_wavout, "RIFF_LIMIT", 1000)  # writing 4 GiB in a test is not an option
    with WavWriter(tmp_path / "big.wav", 24000, 1, 16) as w:
        w.write(_tone(2000))
        w.commit()
    head = (tmp_path / "big.wav").read_bytes()[:80]
    assert head[:4] == b"RF64" and struct.unpack("<I", head[4:8])[0] == 0xFFFFFFFF and head[12:16] == b"ds64"
    riff, data, frames, _ = struct.unpack("<QQQI", head[20:48])
    assert (data, frames) == (4000, 2000) and riff == (tmp_path / "big.wav").stat().st_size - 8
    assert head[72:76] == b"data" and struct.unpack("<I", head[76:80])[0] == 0xFFFFFFFF
    with WavWriter(tmp_path / "small.wav", 24000, 1, 16) as w:  # under the limit: plain RIFF, JUNK kept
        w.write(_tone(100))
        w.commit()
    small = (tmp_path / "small.wav").read_bytes()
    assert small[:4] == b"RIFF" and small[12:16] == b"JUNK"


@pytest.mark.parametrize(("rate", "channels"), [(22050, 1), (24000, 2), (48000, 1)])
def test_streaming_loudness_matches_pyloudnorm_on_the_whole_signal(rate: int, channels: int) -> None:
    import pyloudnorm

    rng = np.random.default_rng(1)
    frames = rate * 5 + 77
    x = (rng.standard_normal((frames, channels)) * 0.1 * np.sin(np.linspace(0, 9, frames))[:, None]).astype(np.float32)
    meter = LoudnessMeter(rate, channels)
    for start in range(0, frames, 12345):
        meter.feed(x[start : start + 12345])
    expected = pyloudnorm.Meter(rate).integrated_loudness(x if channels > 1 else x[:, 0])
    assert meter.integrated() == pytest.approx(expected, abs=1e-3)
    assert meter.peak == pytest.approx(float(np.abs(x).max()))


def test_loudness_gain_is_peak_limited_and_unity_for_silence() -> None:
    meter = LoudnessMeter(24000, 1)
    meter.feed(_tone(24000 * 2, amp=0.9))
    assert meter.gain(0.0) == pytest.approx(0.99 / 0.9, rel=1e-4)  # would clip: the peak limit wins
    silent = LoudnessMeter(24000, 1)
    silent.feed(np.zeros((48000, 1), dtype=np.float32))
    assert silent.gain(-16.0) == 1.0


def test_the_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    with WavWriter(tmp_path / "a.wav", 24000, 1, 16) as w:
        w.write(_tone(10))
        w.commit()
    assert (tmp_path / "a.wav").stat().st_mode & 0o777 == 0o666 & ~mask
