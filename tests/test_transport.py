"""The host's frame transport: bounded reads, fast failure on garbage."""

from __future__ import annotations

import os
import time

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
