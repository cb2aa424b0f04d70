"""Response formats of the speech endpoint."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from fanren_tts import ConfigError
from fanren_tts.audio.encode import Encoder

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


@pytest.mark.parametrize("bit_depth", [16, 24])
def test_a_whole_wav_is_a_complete_file_with_its_sizes(bit_depth: int) -> None:
    enc = Encoder("wav", bit_depth, whole=True)
    assert not enc.streams
    assert enc.feed(tone(101), 16000) == b"" and enc.feed(tone(100), 16000) == b""  # all comes at close
    data = enc.close()
    assert data[4:8] != b"\xff\xff\xff\xff" and len(data) == int.from_bytes(data[4:8], "little") + 8
    audio, rate = soundfile.read(io.BytesIO(data))
    assert rate == 16000 and len(audio) == 201
    expected = np.concatenate([tone(101), tone(100)])[:, 0]
    assert np.allclose(audio, expected, atol=2 / 2**bit_depth)


def test_a_whole_pcm_is_the_samples() -> None:
    enc = Encoder("pcm", 16, whole=True)
    assert enc.feed(tone(100), 8000) == b""
    assert len(enc.close()) == 200


@pytest.mark.parametrize("suffix", [".flac", ".mp3", ".opus", ".ogg"])
def test_open_writer_writes_the_suffix_format_atomically(tmp_path: Path, suffix: str) -> None:
    from fanren_tts.audio.encode import EncodedFile, open_writer

    path = tmp_path / f"out{suffix}"
    path.write_bytes(b"the last take")
    with open_writer(path, 22050, 1) as out:
        assert isinstance(out, EncodedFile)
        out.write(tone(22050))
        assert path.read_bytes() == b"the last take"  # nothing replaced until commit
    assert path.read_bytes() == b"the last take" and list(tmp_path.iterdir()) == [path]  # discarded
    with open_writer(path, 22050, 1) as out:
        out.write(tone(11025))
        out.write(tone(11025))
        out.commit()
    audio, rate = soundfile.read(path)
    assert len(audio) / rate == pytest.approx(1.0, abs=0.08)
    assert list(tmp_path.iterdir()) == [path]  # no temp file left


def test_open_writer_refuses_a_suffix_it_cannot_write(tmp_path: Path) -> None:
    from fanren_tts.audio.encode import file_format, open_writer

    with pytest.raises(ConfigError, match=r"\.wav, \.flac"):
        open_writer(tmp_path / "out.aiff", 22050, 1)
    assert list(tmp_path.iterdir()) == []
    assert [file_format(f"x{s}") for s in (".WAV", ".flac", ".mp3", ".opus", ".ogg")] == [
        "wav",
        "flac",
        "mp3",
        "opus",
        "opus",
    ]
    with pytest.raises(ConfigError, match="suffix picks its format"):
        file_format("take.pcm")  # raw samples have no header to say their rate: not a file format
