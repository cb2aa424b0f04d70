"""Response formats of the speech endpoint."""

from __future__ import annotations

import io

import numpy as np
import pytest

from fanren_tts import ConfigError
from fanren_tts._encode import Encoder

soundfile = pytest.importorskip("soundfile")


def tone(frames: int) -> np.ndarray:
    return (0.3 * np.sin(np.arange(frames) / 9.0)).astype(np.float32).reshape(-1, 1)


@pytest.mark.parametrize(("fmt", "rate"), [("flac", 22050), ("mp3", 22050), ("opus", 48000)])
def test_compressed_formats_decode_to_the_same_length(fmt: str, rate: int) -> None:
    enc = Encoder(fmt, 16)
    assert not enc.streams
    data = b"".join(enc.feed(tone(2205), 22050) for _ in range(10)) + enc.close()
    audio, got_rate = soundfile.read(io.BytesIO(data))
    assert got_rate == rate  # Opus runs at 48 kHz: resampled, length kept
    assert len(audio) / got_rate == pytest.approx(1.0, abs=0.08)


def test_wav_and_pcm_stream_chunk_by_chunk() -> None:
    wav, pcm = Encoder("wav", 16), Encoder("pcm", 16)
    first = wav.feed(tone(100), 16000)
    assert first[:4] == b"RIFF" and len(first) == 44 + 200 and wav.streams
    assert len(wav.feed(tone(100), 16000)) == 200  # no second header
    assert len(pcm.feed(tone(100), 16000)) == 200 and pcm.close() == b""


def test_unknown_format() -> None:
    with pytest.raises(ConfigError, match="not supported"):
        Encoder("aiff", 16)
