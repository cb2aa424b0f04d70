"""fanren_watchdog: ends a worker, and everything it started, once its host is gone.

Why a separate process: a worker whose main thread is stuck in C code holding the
GIL (a long ``sum(range(10**14))``, a native kernel) runs no Python at all, so
neither its parent-watch thread nor a signal handler can end it; and
PR_SET_PDEATHSIG fires when the host *thread* that forked it exits, not the host.
This process shares nothing with the worker's interpreter.

The host starts one per worker, right after the worker, with the host's own
interpreter in isolated mode (stdlib only, nothing from the environment)::

    python -I -S fanren_watchdog.py WORKER_PID HOST_PID

Its stdin is the read end of a pipe whose write end only the host holds. It acts
when that pipe reaches EOF (the host died, or stopped the worker and closed it),
when its parent is no longer HOST_PID (the host died and a forked copy of it holds
the pipe), or when the worker is gone (died while idle: what it started must not
outlive it). Acting means: stop (SIGSTOP) the worker and every descendant it can
find, until no new ones appear, then SIGKILL them all and the worker's process
group, then exit.

Descendants are found through /proc (Linux): each poll records the worker's
process tree with start times, so a process that left the worker's group or
session (setsid) and whose parent has exited is still known, and a reused pid is
never signalled. The worker is a child subreaper (see ``fanren_worker``), so
orphans of its children stay in its tree. Without /proc only the process group
is killed.
"""

from __future__ import annotations

import os
import select
import signal
import sys

POLL_S = 0.5
_STOP_ROUNDS = 20


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of ``pid``, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1]), int(fields[19])


def _table() -> dict[int, tuple[str, int, int]]:
    """Every process: pid -> (state, ppid, start time)."""
    out: dict[int, tuple[str, int, int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            info = _stat(int(name))
            if info is not None:
                out[int(name)] = info
    return out


class Tracker:
    """The worker and its descendants, each pid with its start time."""

    def __init__(self, worker: int) -> None:
        self.worker = worker
        info = _stat(worker)
        self.worker_start = info[2] if info else None
        self.known: dict[int, int] = {worker: info[2]} if info else {}
        self.procfs = os.path.isdir("/proc/self")

    def _exists(self, pid: int) -> bool:
        """Without /proc: signal 0 (a zombie counts; its pid cannot be reused until reaped)."""
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:  # EPERM: someone else's process now
            return False
        return True

    def worker_alive(self) -> bool:
        if not self.procfs:
            return self._exists(self.worker)
        info = _stat(self.worker)
        return info is not None and info[2] == self.worker_start and info[0] not in ("Z", "X")

    def worker_still_ours(self) -> bool:
        """Alive or not yet reaped: its pid, and so its process group id, still mean it."""
        if not self.procfs:
            return self._exists(self.worker)
        info = _stat(self.worker)
        return info is not None and info[2] == self.worker_start

    def scan(self) -> dict[int, int]:
        """Add every living descendant of a known process; returns the known ones still alive."""
        if not self.procfs:
            return {}
        table = _table()
        children: dict[int, list[int]] = {}
        for pid, (_, ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        alive = {pid: start for pid, start in self.known.items() if pid in table and table[pid][2] == start}
        stack = list(alive)
        while stack:
            for child in children.get(stack.pop(), ()):
                start = table[child][2]
                if child not in alive:
                    alive[child] = start
                    self.known[child] = start
                    stack.append(child)
        self.known = dict(alive)  # the dead are forgotten; their pids may be reused
        return alive

    def _signal(self, pid: int, start: int, sig: int) -> None:
        info = _stat(pid)
        if info is None or info[2] != start:  # gone, or the pid now names another process
            return
        try:
            os.kill(pid, sig)
        except OSError:
            pass

    def kill_all(self, *, spare_root: bool = False) -> None:
        """Freeze the whole tree so nothing forks behind our back, then kill it.

        ``spare_root``: only the worker's descendants, for a worker cleaning up
        after itself on its way out.
        """
        me = os.getpid()
        stopped: dict[int, int] = {}
        for _ in range(_STOP_ROUNDS):
            fresh = {
                pid: start
                for pid, start in self.scan().items()
                if pid not in stopped and pid != me and not (spare_root and pid == self.worker)
            }
            if not fresh:
                break
            for pid, start in fresh.items():
                self._signal(pid, start, signal.SIGSTOP)
            stopped.update(fresh)
        if not spare_root and self.worker_still_ours():
            try:
                os.killpg(self.worker, signal.SIGKILL)
            except OSError:
                pass
        for pid, start in stopped.items():
            self._signal(pid, start, signal.SIGKILL)


def kill_descendants(root: int | None = None) -> None:
    """Kill every descendant of ``root`` (default: this process) and leave it alone.

    A worker's last act on its way out: as a child subreaper it has adopted the
    orphans of its children, so its tree is whole now, while the watchdog's view
    may be up to a poll old (Linux; a no-op without /proc).
    """
    Tracker(os.getpid() if root is None else root).kill_all(spare_root=True)


def watch(worker: int, host: int, fd: int = 0) -> int:
    """Poll until the host or the worker is gone, then kill the worker's tree; exit code 0."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # a terminal's Ctrl-C or hangup is the host's business
    tracker = Tracker(worker)
    while True:
        tracker.scan()
        try:
            ready = select.select([fd], [], [], POLL_S)[0]
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            ready = []
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                break  # EOF: the host is gone or done with this worker
            continue  # the host never writes; ignore anything that arrives
        if os.getppid() != host or not tracker.worker_alive():
            break
    tracker.kill_all()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -I -S fanren_watchdog.py WORKER_PID HOST_PID\n")
        return 2
    return watch(int(argv[0]), int(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
