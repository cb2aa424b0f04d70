"""The transport under a ``Worker``: bounded frame I/O on the worker's stdin/stdout pipes.

Kept apart from the worker's lifecycle so the one thing every wait depends on, a
deadline on every read and write, lives in one place (and a different transport,
a socket say, could stand in for it).
"""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import time
from typing import Any

from ._exceptions import ProtocolError
from ._runtime import fanren_worker as wire

__all__ = ["Deadline", "Pipe", "encode"]


class Deadline(Exception):
    """A wait ran past its deadline; the stream may be mid-frame, so the worker must go."""


def encode(msg: dict[str, Any], limit: int = wire.MAX_FRAME) -> list[bytes]:
    """The frame parts of ``msg``. The runtime raises its own ``ProtocolError`` (it is
    stdlib-only and cannot import this package's error tree); here, where every frame
    goes in or out, it becomes the host's, so host code sees one ``ProtocolError``."""
    try:
        return wire.frame_parts(msg, limit)
    except wire.ProtocolError as exc:
        raise ProtocolError(str(exc)) from None


def _widen_pipe(fd: int, size: int = 1 << 20) -> None:
    """Let a whole second of float audio sit in the pipe (Linux): 64 KiB pipes make a
    megabyte frame cost a dozen or more blocking handoffs between the two processes."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        try:
            fcntl.fcntl(fd, set_size, size)
        except OSError:  # above /proc/sys/fs/pipe-max-size, or not a pipe: keep the default
            pass


class Pipe:
    """Bounded frame I/O on the worker's stdin/stdout pipes (POSIX)."""

    spare: wire.BodyBuffer | None = None  # made on the first large frame

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.wfd = proc.stdin.fileno()
        self.rfd = proc.stdout.fileno()
        os.set_blocking(self.wfd, False)
        for fd in (self.wfd, self.rfd):
            _widen_pipe(fd)
        self.buf = bytearray()
        self.spare: wire.BodyBuffer | None = None

    def send(self, msg: dict[str, Any], deadline: float) -> None:
        self.send_parts(encode(msg), deadline)

    def send_parts(self, parts: list[bytes], deadline: float) -> None:
        """Write an encoded frame (see ``encode``); waits only while the pipe is full."""
        wire.write_parts(self.wfd, parts, lambda: self._wait(self.wfd, deadline, write=True))

    @staticmethod
    def _wait(fd: int, deadline: float, *, write: bool = False) -> None:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Deadline
            ready = select.select([], [fd], [], remaining)[1] if write else select.select([fd], [], [], remaining)[0]
            if ready:
                return

    def receive(self, deadline: float) -> dict[str, Any] | None:
        """The next frame, or None at EOF (the worker is gone).

        Small reads fill ``buf``; a large body is read straight into the reused
        body buffer (see ``wire.BodyBuffer``), then decoded, which copies each
        audio's PCM once. After a deadline the stream is mid-frame: the caller must
        kill the worker.
        """
        size = wire.HEADER.size
        while len(self.buf) < size:
            self._wait(self.rfd, deadline)
            chunk = os.read(self.rfd, 1 << 16)
            if not chunk:
                return None
            self.buf += chunk
        try:
            length = wire.decode_length(self.buf[:size])
        except wire.ProtocolError as exc:
            raise ProtocolError(str(exc)) from None
        if len(self.buf) >= size + length:  # the whole frame is here already
            body: bytearray | memoryview = self.buf[size : size + length]
            del self.buf[: size + length]
        else:
            if self.spare is None:
                self.spare = wire.BodyBuffer()
            body = self.spare.take(length)
            have = len(self.buf) - size
            body[:have] = self.buf[size:]
            self.buf.clear()
            view = body[have:]
            while view:
                self._wait(self.rfd, deadline)
                got = os.readv(self.rfd, [view])
                if not got:
                    return None
                view = view[got:]
        try:
            return wire.decode_body(body)
        except wire.ProtocolError as exc:
            raise ProtocolError(str(exc)) from None
