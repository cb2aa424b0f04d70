"""fanren_channel: the worker's end of the protocol and its ties to the host process:
the private protocol fds, the watch on the host, and leaving with every child. Stdlib only.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, NoReturn

try:  # in the host, a module of fanren_tts._runtime
    from .fanren_wire import HEADER, BodyBuffer, decode_body, decode_length, frame_parts, safe_text, write_parts
except ImportError:  # in a worker, whose sys.path holds the runtime folder itself
    from fanren_wire import HEADER, BodyBuffer, decode_body, decode_length, frame_parts, safe_text, write_parts  # type: ignore[no-redef]

__all__ = ["Channel", "abandon", "kill_descendants", "take_stdio", "watch_parent"]

# --------------------------------------------------------------------------- serving


class Channel:
    """The worker's end of the protocol, on private copies of fds 0 and 1."""

    def __init__(self, fd_in: int, fd_out: int) -> None:
        self.fd_in = fd_in
        self.fd_out = fd_out
        self._write_lock = threading.Lock()
        self._buf = bytearray()  # bytes read past the last frame
        self._spare = BodyBuffer()

    def send(self, msg: dict[str, Any]) -> None:
        parts = frame_parts(msg)
        with self._write_lock:
            write_parts(self.fd_out, parts)

    def _read_exact(self, n: int) -> bytearray | memoryview | None:
        """n bytes: small reads are buffered (one syscall per small frame), large go
        in place, into the reused body buffer (valid until the next read)."""
        if len(self._buf) < n and n - len(self._buf) < 65536:
            while len(self._buf) < n:
                chunk = os.read(self.fd_in, 65536)
                if not chunk:
                    return None
                self._buf += chunk
        if len(self._buf) >= n:
            out = self._buf[:n]
            del self._buf[:n]
            return out
        body = self._spare.take(n)
        have = len(self._buf)
        body[:have] = self._buf
        self._buf.clear()
        view = body[have:]
        while view:
            got = os.readv(self.fd_in, [view])
            if not got:
                return None
            view = view[got:]
        return body

    def pending(self) -> bool:
        """True when a frame (or part of one) is waiting: checked between stream pieces."""
        if self._buf:
            return True
        import select

        ready, _, _ = select.select([self.fd_in], [], [], 0)
        return bool(ready)

    def receive(self) -> dict[str, Any] | None:
        """The next message, or None when the host has closed our stdin (it is gone)."""
        header = self._read_exact(HEADER.size)
        if header is None:
            return None
        body = self._read_exact(decode_length(header))
        if body is None:
            return None
        return decode_body(body)


def take_stdio() -> Channel:
    """Move the protocol off fds 0/1 so nothing an engine prints can reach it.

    After this, fd 1 (and sys.stdout) is stderr, fd 0 is /dev/null, and the
    protocol lives on private, non-inheritable duplicates.
    """
    sys.stdout.flush()
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return Channel(proto_in, proto_out)


def kill_descendants() -> None:
    """Take our children along, and the orphans we adopted as child subreaper, even those
    in sessions of their own: nothing an engine started outlives its worker."""
    try:
        import fanren_watchdog  # beside this file on the worker's path; stdlib only
    except ImportError:  # pragma: no cover - the runtime folder always holds it
        return
    try:
        fanren_watchdog.kill_descendants()
    except Exception as exc:  # pragma: no cover - best effort on the way out
        sys.stderr.write(f"fanren_worker: could not stop child processes: {safe_text(exc)}\n")


def abandon(reason: str) -> NoReturn:
    """The host is gone: end now, taking the engine's child processes along."""
    try:
        sys.stderr.write(f"fanren_worker: {reason}; exiting\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # the host read our stderr; it may be a broken pipe now
        pass
    kill_descendants()
    if os.getpgrp() == os.getpid():  # started as its own group by the host
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(70)


def watch_parent(host_pid: int) -> None:
    """Exit when the host dies while the main thread is busy.

    stdin EOF is the primary signal; this (and PR_SET_PDEATHSIG on Linux) is the
    backup for a main thread that is not reading. Both need this interpreter to
    run: a main thread stuck in C code holding the GIL is ended from outside, by
    the host's fanren_watchdog process.
    """

    def orphaned() -> bool:
        return os.getppid() != host_pid

    def die() -> None:
        abandon("host process is gone")

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            # PR_SET_PDEATHSIG fires when the *thread* that forked us exits, so the
            # signal only means "check"; the ppid decides.
            signal.signal(signal.SIGUSR1, lambda *_: die() if orphaned() else None)
            libc.prctl(1, signal.SIGUSR1, 0, 0, 0)
            # PR_SET_CHILD_SUBREAPER: orphans of our children (double forks, setsid
            # daemons) are re-parented to us, not to init, so they stay in our tree,
            # where the host's fanren_watchdog finds and kills them. The price: such
            # an adopted process that exits stays a zombie until we exit.
            libc.prctl(36, 1, 0, 0, 0)
        except (OSError, AttributeError, ValueError):
            pass
    if orphaned():
        die()

    def poll() -> None:
        while True:
            time.sleep(0.5)
            if orphaned():
                die()

    threading.Thread(target=poll, name="fanren-parent-watch", daemon=True).start()
