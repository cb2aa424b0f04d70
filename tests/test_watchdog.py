"""fanren_watchdog's pieces on their own: tracking, the pid-reuse guard, and life without /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from conftest import wait_gone
from fanren_tts._runtime import fanren_watchdog as dog

SLEEPER = [sys.executable, "-c", "import time; time.sleep(3600)"]
# A child that starts a grandchild in a session of its own, prints its pid, then waits.
PARENT = [
    sys.executable,
    "-c",
    "import subprocess, sys, time; d = subprocess.DEVNULL; "
    f"print(subprocess.Popen({SLEEPER!r}, stdin=d, stdout=d, stderr=d, start_new_session=True).pid, flush=True); "
    "time.sleep(3600)",
]


@pytest.fixture
def procs() -> Iterator[tuple[Callable[[list[str]], subprocess.Popen[str]], list[int]]]:
    """Start processes in sessions of their own; every one is killed and reaped afterwards."""
    started: list[subprocess.Popen[str]] = []
    extra: list[int] = []

    def start(cmd: list[str]) -> subprocess.Popen[str]:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
        started.append(p)
        return p

    yield start, extra
    for pid in [p.pid for p in started] + extra:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in started:
        p.wait(5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="descendant tracking reads /proc")
def test_the_tree_is_tracked_and_killed_even_outside_the_group(procs) -> None:
    start, extra = procs
    worker = start(PARENT)
    assert worker.stdout is not None
    grandchild = int(worker.stdout.readline())
    extra.append(grandchild)
    tracker = dog.Tracker(worker.pid)
    assert {worker.pid, grandchild} <= set(tracker.scan())
    tracker.kill_all()
    assert worker.wait(5) == -signal.SIGKILL
    assert wait_gone(grandchild, 5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="start times come from /proc")
def test_a_reused_pid_is_never_signalled(procs) -> None:
    start, _ = procs
    other = start(SLEEPER)
    tracker = dog.Tracker(other.pid)
    tracker._signal(other.pid, tracker.known[other.pid] + 1, signal.SIGKILL)  # same pid, other start time
    time.sleep(0.2)
    assert other.poll() is None


def test_without_proc_the_worker_is_watched_and_its_group_killed(procs, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on macOS: no /proc. The worker must not look dead (that would kill it at once)."""
    monkeypatch.setattr(dog, "_stat", lambda pid: None)
    monkeypatch.setattr(dog, "_table", lambda: {})
    start, _ = procs
    worker = start(SLEEPER)
    tracker = dog.Tracker(worker.pid)
    tracker.procfs = False
    assert tracker.worker_alive()
    time.sleep(0.1)
    assert worker.poll() is None
    tracker.kill_all()
    assert worker.wait(5) == -signal.SIGKILL
    assert not tracker.worker_alive()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="descendant tracking reads /proc")
def test_kill_descendants_spares_the_root(procs) -> None:
    """What a worker does on its way out: its tree goes, it stays to say bye."""
    start, extra = procs
    root = start(PARENT)
    assert root.stdout is not None
    grandchild = int(root.stdout.readline())
    extra.append(grandchild)
    dog.kill_descendants(root.pid)
    assert wait_gone(grandchild, 5)
    time.sleep(0.2)
    assert root.poll() is None
