"""The host's frame transport: bounded reads, fast failure on garbage."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc

import pytest

from fanren_tts import ProtocolError
from fanren_tts._runtime import fanren_worker as wire
from fanren_tts._transport import Deadline, Pipe


def test_host_reader_fails_fast_on_text_in_the_stream() -> None:
    r, w = os.pipe()
    os.write(w, b"Error: something printed here\n")
    pipe = Pipe.__new__(Pipe)
    pipe.rfd, pipe.buf = r, bytearray()
    with pytest.raises(ProtocolError, match="b'Erro'"):
        pipe.receive(time.monotonic() + 1)
    os.close(r)
    os.close(w)


def test_host_reader_respects_its_deadline_and_reassembles_frames() -> None:
    r, w = os.pipe()
    pipe = Pipe.__new__(Pipe)
    pipe.rfd, pipe.buf = r, bytearray()
    frame = wire.encode_frame({"kind": "pong", "id": 3})
    os.write(w, frame[:3])
    t0 = time.monotonic()
    with pytest.raises(Deadline):
        pipe.receive(time.monotonic() + 0.2)
    assert 0.15 < time.monotonic() - t0 < 1.0
    os.write(w, frame[3:] + frame)
    assert pipe.receive(time.monotonic() + 1) == {"kind": "pong", "id": 3}
    assert pipe.receive(time.monotonic() + 1) == {"kind": "pong", "id": 3}
    os.close(w)
    assert pipe.receive(time.monotonic() + 1) is None  # EOF
    os.close(r)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _reader(r: int) -> Pipe:
    pipe = Pipe.__new__(Pipe)
    pipe.rfd, pipe.buf = r, bytearray()
    return pipe


def _audio_frame(audio: wire.Audio) -> bytes:
    return wire.encode_frame({"kind": "chunk", "id": 1, "value": {"audio": audio, "words": []}})


def test_large_frames_share_one_body_buffer_and_decode_to_independent_audio() -> None:
    """Each large body is read into the same buffer (no fresh megabyte per frame to fault
    in); decoding copies the PCM out, so an earlier result survives the next frame."""
    first = wire.Audio(os.urandom(200000 * 4), 24000, "f32")
    second = wire.Audio(os.urandom(200000 * 4), 24000, "f32")
    r, w = os.pipe()
    pipe = _reader(r)
    got = []
    try:
        for audio in (first, second):
            frame = _audio_frame(audio)
            writer = threading.Thread(target=_write_all, args=(w, frame))
            writer.start()
            tracemalloc.start()
            try:
                got.append(pipe.receive(time.monotonic() + 10))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            writer.join(10)
    finally:
        os.close(r)
        os.close(w)
    assert got[0] is not None and got[0]["value"]["audio"].pcm == first.pcm
    assert got[1] is not None and got[1]["value"]["audio"].pcm == second.pcm
    assert peak < 1.5 * len(second.pcm)  # the decoded PCM only: no body buffer, no ext payload to slice


def test_host_reader_deadline_and_eof_in_the_middle_of_a_large_body() -> None:
    frame = _audio_frame(wire.Audio(os.urandom(100000 * 4), 24000, "f32"))
    r, w = os.pipe()
    pipe = _reader(r)
    os.write(w, frame[:50000])
    with pytest.raises(Deadline):
        pipe.receive(time.monotonic() + 0.2)
    os.close(w)
    r2, w2 = os.pipe()
    pipe2 = _reader(r2)

    def write_most_then_close() -> None:
        _write_all(w2, frame[:-10])
        os.close(w2)

    writer = threading.Thread(target=write_most_then_close)
    writer.start()
    assert pipe2.receive(time.monotonic() + 10) is None  # EOF mid-body: the worker is gone
    writer.join(10)
    os.close(r)
    os.close(r2)


def test_body_buffer_keeps_only_bodies_up_to_its_size() -> None:
    spare = wire.BodyBuffer(keep=1000)
    a = spare.take(800)
    assert spare.take(600).obj is a.obj  # reused
    huge = spare.take(1001)  # too large to keep: a buffer of its own
    assert huge.obj is not a.obj and spare.take(700).obj is a.obj
    grown = spare.take(900)  # larger than before, still kept
    assert grown.obj is not a.obj and spare.take(800).obj is grown.obj


def test_the_host_sees_one_protocol_error() -> None:
    """The runtime's ProtocolError (stdlib-only) is mapped where frames go in and out:
    sending a frame over the limit raises the host's, and no other host module names the runtime's."""
    import ast
    from pathlib import Path

    import fanren_tts
    from fanren_tts._transport import encode

    with pytest.raises(ProtocolError, match="limit is 100 bytes") as info:
        encode({"kind": "result", "id": 1, "value": b"x" * 200}, limit=100)
    assert not isinstance(info.value, wire.ProtocolError)
    package = Path(fanren_tts.__file__).parent
    naming = []
    for path in package.rglob("*.py"):
        if "_runtime" in path.parts or path.name == "_transport.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "ProtocolError":
                naming.append(str(path.relative_to(package)))  # wire.ProtocolError
    assert naming == []
