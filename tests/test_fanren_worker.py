"""The wire protocol and the worker runtime's own pieces."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import pytest

from fanren_tts._runtime import fanren_worker as wire


def test_round_trip_of_every_value_kind() -> None:
    audio = wire.Audio(b"\x01\x00\xff\x7f", 24000)
    msg = {"kind": "result", "id": 7, "value": {"text": "你好", "n": [1, 2.5, None, True], "raw": b"\x00", "a": audio}}
    back = wire.unpack(wire.pack(msg))
    got = back["value"].pop("a")
    assert back == {"kind": "result", "id": 7, "value": {"text": "你好", "n": [1, 2.5, None, True], "raw": b"\x00"}}
    assert (got.pcm, got.sample_rate, got.sample_format, got.channels) == (audio.pcm, 24000, "s16", 1)


def test_audio_travels_as_raw_bytes_not_base64() -> None:
    pcm = os.urandom(48000 * 4)
    frame = wire.encode_frame({"kind": "result", "id": 1, "value": wire.Audio(pcm, 24000, "f32")})
    assert len(frame) < len(pcm) + 64  # base64 would add a third


def test_frames_are_length_prefixed_big_endian() -> None:
    frame = wire.encode_frame({"kind": "ping", "id": 1})
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert wire.decode_body(frame[4:]) == {"kind": "ping", "id": 1}


def test_size_cap_on_send() -> None:
    with pytest.raises(wire.ProtocolError, match="limit is 100 bytes"):
        wire.encode_frame({"kind": "result", "id": 1, "value": b"x" * 200}, limit=100)


def test_oversize_length_shows_the_bytes_and_names_the_likely_cause() -> None:
    with pytest.raises(wire.ProtocolError) as info:
        wire.decode_length(b"Erro")
    assert "b'Erro'" in str(info.value) and "printed to the protocol stream" in str(info.value)


def test_garbled_body_and_unknown_kinds_are_rejected() -> None:
    with pytest.raises(wire.ProtocolError, match="garbled"):
        wire.decode_body(b"\xc1")
    with pytest.raises(wire.ProtocolError, match="not a protocol message"):
        wire.decode_body(wire.pack({"kind": "launch-missiles"}))


def test_every_message_kind_has_a_direction_and_fields() -> None:
    for kind, (direction, fields) in wire.MESSAGES.items():
        assert direction in ("h->w", "w->h"), kind
        assert all(isinstance(f, str) for f in fields)
        assert f"    {kind} " in wire.__doc__, f"{kind} missing from the protocol table"


def test_audio_validation_and_helpers() -> None:
    with pytest.raises(ValueError, match="sample_format"):
        wire.Audio(b"", 16000, "mp3")
    with pytest.raises(ValueError, match="whole number"):
        wire.Audio(b"\x00\x00\x00", 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        wire.Audio(b"", 0)
    a = wire.Audio(b"\x00\x40" * 16000, 16000)
    assert a.duration == 1.0 and a.frames == 16000 and a.peak() == 0.5
    joined = wire.Audio.concat([a, a])
    assert joined.duration == 2.0
    with pytest.raises(ValueError, match="differ"):
        wire.Audio.concat([a, wire.Audio(b"", 22050)])


def test_float_audio_is_converted_to_pcm16_with_clipping() -> None:
    import struct

    f32 = wire.Audio(struct.pack("<4f", 0.0, 0.5, -1.0, 3.0), 8000, "f32")
    assert struct.unpack("<4h", f32.to_s16()) == (0, 16383, -32767, 32767)


def test_write_wav_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out.wav"
    target.write_bytes(b"previous take")

    class Broken(wire.Audio):
        def to_s16(self) -> bytes:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        wire.write_wav(target, Broken(b"\x00\x00" * 10, 16000))
    assert target.read_bytes() == b"previous take"
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"], "no temp file may remain"
    wire.write_wav(target, wire.Audio(b"\x01\x00" * 1600, 16000))
    with wave.open(str(target)) as w:
        assert (w.getframerate(), w.getnframes(), w.getsampwidth(), w.getnchannels()) == (16000, 1600, 2, 1)


def test_wrapper_must_define_exactly_one_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "fanren_worker", wire)  # as a worker sees it
    two = tmp_path / "two_wrapper.py"
    two.write_text("from fanren_worker import Engine\nclass A(Engine): pass\nclass B(Engine): pass\n")
    with pytest.raises(TypeError, match="exactly one"):
        wire.load_engine_class(str(two))
    with pytest.raises(FileNotFoundError, match="wrapper script not found"):
        wire.load_engine_class(str(tmp_path / "missing.py"))


def test_resolve_device_without_torch_or_gpu_is_cpu() -> None:
    assert wire.resolve_device("auto") in ("cpu", "cuda", "mps")
    assert wire.resolve_device("cuda:1") == "cuda:1"


def test_local_path_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    assert wire.local_path(tmp_path / "ckpt", "checkpoint", contains="config.json") == str(tmp_path / "ckpt")
    with pytest.raises(FileNotFoundError, match=f"voice prompt not found: {tmp_path}/nope.wav"):
        wire.local_path(tmp_path / "nope.wav", "voice prompt")
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*ckpt \(model.safetensors missing\)"):
        wire.local_path(tmp_path / "ckpt", "checkpoint", contains="model.safetensors")


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() of this exception fails")


@pytest.mark.parametrize(
    "exc,expected",
    [
        (_Unprintable("x"), "str() raised RuntimeError"),
        (ValueError("cannot open /models/caf\udce9/voice.onnx"), "cannot open /models/caf\\xe9/voice.onnx"),
        (ValueError("lone \ud800 surrogate"), "lone \\ud800 surrogate"),
    ],
)
def test_error_frames_always_encode(exc: BaseException, expected: str) -> None:
    """An exception whose str() raises, or whose text holds surrogates, still becomes a frame."""
    try:
        raise exc
    except BaseException as caught:
        frame = wire._error_frame(3, "call", caught)
    back = wire.decode_body(wire.encode_frame(frame)[wire.HEADER.size :])
    assert expected in back["message"], back["message"]
    assert back["type"] == type(exc).__qualname__ and back["id"] == 3
    assert "Traceback" in back["traceback"]
