"""A stdlib-only engine for contract and fault-injection tests.

Constructor options choose a startup fault; methods inject faults mid-call.
"""

from __future__ import annotations

import atexit
import ctypes
import math
import os
import signal
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Iterator
from typing import Any

from fanren_worker import Audio, Engine

print("a wrapper that prints at import time must not corrupt the protocol")


class _MarkOnTeardown:
    def __init__(self, path: str) -> None:
        self.path = path

    def __del__(self, _open: Any = os.open, _close: Any = os.close) -> None:  # builtins may be gone by then
        _close(_open(self.path, os.O_CREAT | os.O_WRONLY))


_TEARDOWN: _MarkOnTeardown | None = None


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() of this exception fails")


def _weird_error(kind: str) -> Exception:
    """Exceptions that are hard to report: str() raises, or the text is not valid UTF-8."""
    if kind == "unprintable":
        return _Unprintable()
    if kind == "path_bytes":  # a path with non-UTF-8 bytes, as os.fsdecode gives it
        return ValueError("cannot open " + os.fsdecode(b"/models/caf\xe9/voice.onnx"))
    return ValueError("lone \ud800 surrogate")


class Echo(Engine):
    # Protocol 4: thread-safe (nothing shared but the batch log), so ``concurrency`` in a
    # config gives several calls in flight; it batches only where ``max_batch`` asks.
    max_concurrency = 16
    default_max_batch = 1
    batch_keys = ("frequency",)

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        self._batches: list[list[str]] = []
        flag = options.get("die_if_exists")
        if flag and os.path.exists(flag):
            sys.stderr.write("dying during startup as asked\n")
            os._exit(7)
        if options.get("hang_on_startup"):
            time.sleep(3600)
        if options.get("fail_on_load"):
            raise FileNotFoundError(f"model weights not found: {options['fail_on_load']}")
        if options.get("ignore_sigterm"):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for i in range(int(options.get("load_steps", 0))):
            time.sleep(float(options.get("step_s", 0.1)))
            self.progress(f"loading step {i + 1}")
        print("printed to stdout during load")
        marks = options.get("exit_marks")
        if marks:  # which clean-ups run when the worker exits: atexit, and teardown finalizers
            atexit.register(lambda: open(marks + ".atexit", "w").close())
            global _TEARDOWN
            _TEARDOWN = _MarkOnTeardown(marks + ".teardown")

    def synthesize(self, text: str, frequency: float = 440.0, delay: float = 0.0) -> Audio:
        """Half a second of sine per word: plausible length, never silent. ``delay``: seconds
        to take first, as a real engine would (for tests that act while a line is made)."""
        time.sleep(delay)
        rate = 16000
        n = int(rate * 0.5 * max(1, len(text.split())))
        samples = array("h", (int(12000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(n)))
        if sys.byteorder != "little":
            samples.byteswap()
        return Audio(samples.tobytes(), rate)

    def synthesize_batch(self, requests: list[dict[str, Any]]) -> list[Audio | dict[str, Any] | Exception]:
        """Each request on its own, logged as one batch; a text "fail" fails alone."""
        self._batches.append([r["text"] for r in requests])
        out: list[Audio | dict[str, Any] | Exception] = []
        for r in requests:
            out.append(ValueError(f"cannot say {r['text']!r}") if r["text"] == "fail" else self.synthesize(**r))
        return out

    def batches(self) -> list[list[str]]:
        """The texts of every synthesize_batch call so far, batch by batch."""
        return self._batches

    def wait(self, seconds: float, value: Any = None) -> dict[str, Any]:
        """Reply ``value`` after ``seconds``: calls that overlap, for protocol 4's tests."""
        time.sleep(seconds)
        return {"value": value, "thread": threading.get_ident()}

    def forge(self, frame: dict[str, Any]) -> None:
        """Send ``frame`` as if the runtime had: a worker that breaks the protocol."""
        session = sys.modules["fanren_engine"]._progress_reporter.__self__
        session.channel.send(frame)

    def echo(self, value: Any = None) -> dict[str, Any]:
        return {"value": value, "engine": self.options.get("label", ""), "pid": os.getpid()}

    def pieces(self, n: int = 3, fail_at: int | None = None) -> Iterator[int]:
        """A streaming method: ``n`` small pieces, one at a time; ``fail_at``: raise before that piece."""
        for i in range(n):
            if i == fail_at:
                raise ValueError(f"failed at piece {i}")
            yield i

    def option(self, name: str) -> Any:
        return self.options.get(name)

    def describe(self) -> dict[str, Any]:
        reported = self.options.get("reported_languages")
        return {
            "speakers": ["sine"],
            "label": self.options.get("label", ""),
            **({"languages": reported} if reported else {}),
        }

    def shout(self, text: str = "noise") -> str:
        print(text)  # Python-level stdout
        os.write(1, b"\x00\x00\x00\x05garbage written straight to fd 1\n")  # raw fd 1
        libc = ctypes.CDLL(None)
        libc.printf(b"C printf %s\n", text.encode())
        libc.fflush(None)
        return text

    def crash(self) -> None:
        os.abort()

    def exit_now(self, code: int = 9) -> None:
        os._exit(code)

    def hang(self) -> None:
        time.sleep(3600)

    def spawn_child(self) -> int:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"]).pid

    def exit_soon(self, delay: float = 0.2, code: int = 0) -> int:
        """Reply, then die while idle (as an OOM kill would), leaving any children behind."""
        threading.Timer(delay, os._exit, args=(code,)).start()
        return os.getpid()

    def spawn_session_child(self) -> int:
        """A child in its own session: out of the worker's process group."""
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"], start_new_session=True).pid

    def spawn_daemon(self) -> int:
        """A double fork: the middle process exits at once, so the daemon's parent is gone."""
        inner = (
            "import subprocess, sys; d = subprocess.DEVNULL; "
            "print(subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'], "
            "stdin=d, stdout=d, stderr=d, start_new_session=True).pid)"
        )
        out = subprocess.run([sys.executable, "-c", inner], capture_output=True, text=True, check=True)
        return int(out.stdout)

    def spin(self) -> int:
        """Busy in C code that never releases the GIL: no Python thread or handler runs."""
        return sum(range(10**14))

    def fail(self, message: str = "boom") -> None:
        raise ValueError(message)

    def fail_weird(self, kind: str) -> None:
        raise _weird_error(kind)

    def blob(self, size: int) -> bytes:
        return b"x" * size

    def env(self, name: str) -> str | None:
        return os.environ.get(name)

    def slow(self, steps: int, step_s: float) -> int:
        for i in range(steps):
            time.sleep(step_s)
            self.progress(f"step {i + 1}/{steps}")
        return steps

    def close(self) -> None:
        if self.options.get("hang_on_close"):
            time.sleep(3600)
