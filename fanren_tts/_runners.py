"""Batch backends behind one seam: a runner makes a script's lines and reports each one.

``LocalRunner`` narrates on this machine's worker pools, as many lines at once as the
engines they use can serve (``capacity``: one per replica of each engine); ``RayRunner``
(``_ray``) does it across a Ray cluster. ``runner(backend)`` picks one by name. Script
checks, subtitles and the manifest are done once, for both, by ``_batch``.

Ctrl-C on the local runner (see ``_batch``): no new line starts, a manifest is written at
once (so a second Ctrl-C, or a kill, still leaves one), the lines in progress are stopped
(``Narrator.interrupt`` kills the workers serving them), and the final manifest follows:
whatever finished by then is in it, and a line that finishes later removes its file.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from contextlib import contextmanager

from ._batch import BatchInterrupted, Interrupted, Ledger, Runner, Script
from ._exceptions import ConfigError, FanrenTTSError
from ._narrator import Narrator
from ._ray import RayRunner
from ._result import GenerateResult

__all__ = ["RUNNERS", "LocalRunner", "runner"]

#: Seconds an interrupted batch waits for the lines in progress to stop.
_STOP_WAIT_S = 10.0


class LocalRunner:
    """Lines on this machine's pools, each engine's lines as many at once as it can serve."""

    backend: str | None = None

    def run(self, narrator: Narrator, script: Script, ledger: Ledger, *, cache: bool | None, progress: bool) -> None:
        stop = threading.Event()

        def make(index: int) -> GenerateResult:
            if stop.is_set():
                raise Interrupted("not made: the batch was interrupted (Ctrl-C)")
            line = script.lines[index - 1]
            result = narrator.generate(
                line.text,
                script.path(index),
                line.engine,
                cache=cache,
                target_duration=line.duration,
                **line.options,
            )
            return ledger.done(index, result)

        from tqdm import tqdm

        bar = tqdm(total=len(script.lines), desc="narrating", unit="line", disable=not progress, file=sys.stderr)
        # as many threads as every engine the script uses can serve at once, so all replicas work
        width = sum(narrator.capacity(name) for name in set(script.engines))
        pool = ThreadPoolExecutor(max_workers=max(1, width), thread_name_prefix="fanren-batch")
        futures: dict[Future[GenerateResult], int] = {}
        try:
            for index in range(1, len(script.lines) + 1):
                futures[pool.submit(make, index)] = index
            for future in as_completed(futures):
                index = futures[future]
                try:
                    future.result()
                except FanrenTTSError as exc:
                    ledger.failed(index, exc)
                    bar.write(f"line {index} failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                bar.update(1)
        except KeyboardInterrupt:
            bar.close()
            raise _interrupted(narrator, ledger, futures, pool, stop) from None
        pool.shutdown()
        bar.close()


@contextmanager
def _no_sigint() -> Iterator[list[int]]:
    """Hold off Ctrl-C while the manifest is written (main thread only); yields the count of
    those that came meanwhile."""
    came: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return
    previous = signal.signal(signal.SIGINT, lambda *_: came.append(1))
    try:
        yield came
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted(
    narrator: Narrator,
    ledger: Ledger,
    futures: dict[Future[GenerateResult], int],
    pool: ThreadPoolExecutor,
    stop: threading.Event,
) -> BatchInterrupted:
    """Ctrl-C: start nothing new, stop what runs, record what finished (module docstring)."""
    # lines that failed before the interrupt (the main loop may not have seen them yet); a
    # line that fails after it (its worker stopped by ``interrupt``) counts as interrupted
    for future, index in futures.items():
        if future.done() and not future.cancelled():
            exc = future.exception()
            if isinstance(exc, FanrenTTSError):
                ledger.failed(index, exc)
    with _no_sigint():
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        ledger.manifest(interrupted=True, final=False)
    try:
        narrator.interrupt()  # the lines in progress fail now instead of running to their end
        wait([f for f in futures if not f.done()], timeout=_STOP_WAIT_S)
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting; the final manifest follows at once
        pass
    with _no_sigint():
        return BatchInterrupted(ledger.manifest(interrupted=True, final=True))


#: The backends by name: each makes a runner from the Ray address (which only Ray uses).
RUNNERS: dict[str, Callable[[str | None], Runner]] = {"local": lambda _: LocalRunner(), "ray": RayRunner}


def runner(backend: str, *, ray_address: str | None = None) -> Runner:
    """The runner of ``backend`` (``local`` or ``ray``)."""
    make: Callable[[str | None], Runner] | None = RUNNERS.get(backend)
    if make is None:
        raise ConfigError(f"backend must be {' or '.join(map(repr, RUNNERS))}, got {backend!r}")
    return make(ray_address)
