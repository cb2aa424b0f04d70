"""Output format conversion."""

from __future__ import annotations

import numpy as np

from fanren_tts._runtime.fanren_worker import Audio
from fanren_tts.audio.convert import as_pcm16, conform, from_array, quantize, to_array


def tone(seconds: float, rate: int, amp: float = 0.3, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)[:, None]


def test_pcm16_round_trip_is_exact() -> None:
    pcm = np.array([-32768, -1, 0, 1, 32767], dtype="<i2").tobytes()
    audio = Audio(pcm, 8000)
    assert from_array(to_array(audio), 8000).pcm == pcm
    assert as_pcm16(audio) is audio
    f32 = Audio(np.array([0.5, -2.0], dtype="<f4").tobytes(), 8000, "f32")
    assert np.frombuffer(as_pcm16(f32).pcm, "<i2").tolist() == [16384, -32768]


def test_resampling_keeps_duration_and_pitch() -> None:
    audio = from_array(tone(1.0, 22050), 22050)
    data, rate = conform(audio, 16000, 1)
    assert rate == 16000 and abs(len(data) - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(data[:, 0]))
    assert abs(np.argmax(spectrum) * 16000 / len(data) - 440) < 3


def test_channels_up_and_down() -> None:
    audio = from_array(tone(0.1, 8000), 8000)
    stereo, _ = conform(audio, None, 2)
    assert stereo.shape[1] == 2 and np.allclose(stereo[:, 0], stereo[:, 1])
    mono, rate = conform(from_array(stereo, 8000), None, 1)
    assert rate == 8000 and mono.shape[1] == 1


def test_quantize_puts_samples_on_the_output_grid() -> None:
    f32 = Audio(np.array([0.1, -0.3, 0.7], dtype="<f4").tobytes(), 8000, "f32")
    q24 = quantize(f32, 24)
    values = np.frombuffer(q24.pcm, "<f4").astype(np.float64) * 8388608.0
    assert q24.sample_format == "f32" and np.allclose(values, np.round(values))
    assert quantize(f32, 16).sample_format == "s16"
