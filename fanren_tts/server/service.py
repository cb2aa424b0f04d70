"""The server's way to the generator: admission through the engine's queue, the
generator's stream run on a thread, its chunks handed to the event loop as they come.

``SpeechService.start`` returns once the first chunk (or the first error) is there,
so a request that fails early still gets its proper HTTP status; the rest follows as
an async iterator. Leaving early (a client that hangs up, a deadline) sets a flag the
thread checks between chunks: it closes the stream on its own thread (the worker's
lock is held there), which cancels the engine's work and keeps the worker loaded.
The engine's place in the queue is given back only when that thread has finished, so
a timed-out request never lets a second one pile onto a busy worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .._exceptions import QueueTimeout
from .._generator import TTSGenerator
from .._stream import Chunk
from .config import ServerConfig
from .metrics import Metrics
from .queue import EngineQueue, Ticket

__all__ = ["SpeechJob", "SpeechService"]

_END = object()


class SpeechJob:
    """One running request: chunks arrive on ``items``; ``cancel()`` stops the engine."""

    def __init__(self, service: SpeechService, engine: str, ticket: Ticket, deadline: float) -> None:
        self.service = service
        self.engine = engine
        self.ticket = ticket
        self.deadline = deadline
        self.items: asyncio.Queue[Any] = asyncio.Queue()
        self.stop = threading.Event()
        self.first: Chunk | None = None
        self.position = 0
        self.eta = 0.0

    def cancel(self) -> None:
        self.stop.set()

    async def _next(self) -> Any:
        left = self.deadline - time.monotonic()
        try:
            item = await asyncio.wait_for(self.items.get(), max(0.0, left))
        except asyncio.TimeoutError:
            self.cancel()
            raise QueueTimeout(
                f"engine {self.engine!r}: no audio within the request timeout "
                f"({self.service.settings.timeout_of(self.engine):.0f}s); the engine was told to stop",
                engine=self.engine,
                timeout=self.service.settings.timeout_of(self.engine),
            ) from None
        if isinstance(item, BaseException):
            raise item
        return item

    async def chunks(self) -> AsyncIterator[Chunk]:
        """Every chunk, the first included; cancels the engine if the caller stops early."""
        try:
            if self.first is not None:
                yield self.first
            while True:
                item = await self._next()
                if item is _END:
                    return
                yield item
        finally:
            self.cancel()


#: Threads of the service's executor at most (started as needed; the queues bound the jobs).
_MAX_THREADS = 1024


def _capacity_of(tts: TTSGenerator, engine: str) -> Callable[[], int]:
    return lambda: tts.capacity(engine)


class SpeechService:
    """Queues, threads and metrics around one ``TTSGenerator``."""

    def __init__(self, tts: TTSGenerator, settings: ServerConfig, metrics: Metrics) -> None:
        self.tts = tts
        self.settings = settings
        self.metrics = metrics
        # Each queue asks its pool's capacity each time: replicas x each worker's capacity,
        # which a worker declares when it starts (before that it counts 1).
        self.queues = {
            name: EngineQueue(name, settings.queue_size_of(name), settings.eta, slots=_capacity_of(tts, name))
            for name in tts.engines
        }
        # One thread per running synthesis (the queues admit at most their slots) plus room for
        # voice and describe calls; started as needed, so the cap only has to be above the sum.
        self.pool = concurrent.futures.ThreadPoolExecutor(_MAX_THREADS, thread_name_prefix="fanren-serve")
        self.draining = False
        self.jobs: set[SpeechJob] = set()  # running on a thread; close() tells each to stop

    def _produce(
        self,
        loop: asyncio.AbstractEventLoop,
        job: SpeechJob,
        text: str,
        engine: str,
        options: dict[str, Any],
        voice: str | None = None,
    ) -> bool:
        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(job.items.put_nowait, item)
            except RuntimeError:  # the loop is gone (shutdown): nobody is listening
                job.stop.set()

        ok = False
        try:
            stream = self.tts.stream(text, engine, voice=voice, **options)
            try:
                for chunk in stream:
                    if job.stop.is_set():
                        break
                    put(chunk)
                else:
                    ok = True
            finally:
                stream.close()  # on this thread: it holds the worker's lock; cancels the engine's rest
            self._note_worker(engine)
            put(_END)
        except BaseException as exc:
            self._note_worker(engine)
            put(exc)
        return ok

    def _note_worker(self, engine: str) -> None:
        """Before the answer goes out: a changed worker pid counts as a restart."""
        try:
            self.metrics.saw_worker(engine, self.tts.worker(engine).pid)
        except Exception:  # the engine has no worker (env not ready): nothing to count
            pass

    async def start(self, engine: str, text: str, options: dict[str, Any], voice: str | None = None) -> SpeechJob:
        """Queue, then run; returns once the first chunk is there (errors raise here).
        ``voice``: the generator's ``voice=`` (a named voice or the engine's speaker)."""
        queue = self.queues[engine]
        timeout = self.settings.timeout_of(engine)
        deadline = time.monotonic() + timeout
        ticket = queue.enter(len(text))
        job = SpeechJob(self, engine, ticket, deadline)
        if self.draining:
            job.cancel()
        job.position, job.eta = queue.position(ticket), queue.eta(ticket)
        self.metrics.queue_depth.labels(engine).set(queue.depth)
        try:
            await queue.wait(ticket, deadline - time.monotonic())
        finally:
            self.metrics.queue_depth.labels(engine).set(queue.depth)
        loop = asyncio.get_running_loop()
        try:
            # in the request's context, so what the engine's thread logs carries the request id
            ctx = contextvars.copy_context()
            future = loop.run_in_executor(self.pool, ctx.run, self._produce, loop, job, text, engine, options, voice)
        except BaseException:
            queue.leave(ticket, measure=False)
            raise

        self.jobs.add(job)

        def done(f: asyncio.Future[bool]) -> None:
            self.jobs.discard(job)
            ok = not f.cancelled() and f.exception() is None and f.result()
            queue.leave(ticket, measure=ok)
            self.metrics.queue_depth.labels(engine).set(queue.depth)

        future.add_done_callback(done)
        try:
            first = await job._next()
        except BaseException:
            job.cancel()
            raise
        queue.refresh()  # the first chunk came: the workers have started and declared their capacity
        if first is not _END:
            job.first = first
        else:
            job.items.put_nowait(_END)
        return job

    async def run(self, fn: Any, *args: Any) -> Any:
        """A blocking library call (voices, describe) on the service's threads."""
        ctx = contextvars.copy_context()  # the request's: its id reaches the thread's log records
        return await asyncio.get_running_loop().run_in_executor(self.pool, lambda: ctx.run(fn, *args))

    def close(self) -> None:
        """Stop every running job (its engine stops after the current piece, which frees the
        worker for its own shutdown) and drop what has not started."""
        self.draining = True
        for job in list(self.jobs):
            job.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)
