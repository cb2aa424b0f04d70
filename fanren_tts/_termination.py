"""How a worker's processes end: the watchdog beside each worker, signalling its process
group, and words for how a process exited.

The termination policy as data lives in the worker's stop ladder (shutdown frame,
then SIGTERM, then SIGKILL, each wait bounded by ``KILL_WAIT``); this module holds the
pieces that ladder and the watchdog share.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess

from ._runtime import RUNTIME_DIR

__all__ = ["KILL_WAIT", "WATCHDOG", "Watchdog", "describe_exit", "signal_group"]

#: Started beside each worker: kills it and its descendants once the host is gone.
WATCHDOG = RUNTIME_DIR / "fanren_watchdog.py"
#: The longest any kill or reap waits before it gives up and says so.
KILL_WAIT = 5.0


class Watchdog:
    """fanren_watchdog for one worker (see that module for why).

    It runs this host's interpreter in isolated mode and holds the read end of a pipe
    whose write end only this process has: when the host dies, however it dies, the
    kernel closes it and the watchdog kills the worker's whole tree.
    """

    def __init__(self, proc: subprocess.Popen[bytes], fd: int) -> None:
        self.proc = proc
        self._fd: int | None = fd

    @classmethod
    def start(cls, worker: subprocess.Popen[bytes], log: logging.Logger, python: str) -> Watchdog | None:
        """One for ``worker``, run by ``python`` (the host's own interpreter where it has one);
        None (with a warning) where it cannot start: the worker's own watch is then all there is."""
        try:
            read_end, write_end = os.pipe()  # non-inheritable: no other child gets the write end
        except OSError as exc:  # out of file descriptors: run on, with a warning
            log.warning("no watchdog for pid %d (%s)", worker.pid, exc)
            return None
        try:
            proc = subprocess.Popen(
                [python, "-I", "-S", str(WATCHDOG), str(worker.pid), str(os.getpid())],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the terminal must not reach it
            )
        except OSError as exc:
            os.close(write_end)
            log.warning(
                "no watchdog for pid %d (%s): a worker stuck in C code may outlive a killed host", worker.pid, exc
            )
            return None
        finally:
            os.close(read_end)
        return cls(proc, write_end)

    def poll(self) -> int | None:
        return self.proc.poll()

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def stop(self) -> None:
        """Close its pipe (it then kills what the worker left and exits) and reap it."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        try:
            self.proc.wait(KILL_WAIT)
        except subprocess.TimeoutExpired:  # pragma: no cover - a watchdog stuck in the kernel
            self.proc.kill()
            self.proc.wait(KILL_WAIT)


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the worker's process group; its leader may be gone while children remain."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def describe_exit(code: int | None) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
