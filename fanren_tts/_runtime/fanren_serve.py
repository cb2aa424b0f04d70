"""fanren_serve: the worker's loop, each host message handled by its entry in ``HANDLERS``.

``HANDLERS`` is keyed like ``MESSAGES`` (every host-to-worker kind, and only those),
as execnet's ``Message._types`` is: a kind the table lacks is a protocol error, and
the agreement test keeps the two tables in step. Stdlib and msgpack only.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

try:  # in the host, a module of fanren_tts._runtime
    from . import fanren_engine
    from .fanren_calls import Call, Executor, Limits
    from .fanren_channel import Channel, abandon, kill_descendants, take_stdio, watch_parent
    from .fanren_wire import PROTOCOL_VERSION, ProtocolError, error_frame, safe_text
except ImportError:  # in a worker, whose sys.path holds the runtime folder itself
    import fanren_engine  # type: ignore[no-redef]
    from fanren_calls import Call, Executor, Limits  # type: ignore[no-redef]
    from fanren_channel import Channel, abandon, kill_descendants, take_stdio, watch_parent  # type: ignore[no-redef]
    from fanren_wire import PROTOCOL_VERSION, ProtocolError, error_frame, safe_text  # type: ignore[no-redef]

__all__ = ["HANDLERS", "Session", "serve"]


class Session:
    """One worker's state between messages: the channel, the engine once ``init`` loaded it,
    and the calls in flight (at most ``limits.capacity``), by id."""

    def __init__(self, channel: Channel, wrapper: str, engine_name: str, device: str) -> None:
        self.channel = channel
        self.wrapper = wrapper
        self.engine_name = engine_name
        self.device = device
        self.engine: fanren_engine.Engine | None = None
        self.executor: Executor | None = None
        self.limits: Limits | None = None
        self.calls: dict[int, Call] = {}
        self._calls_lock = threading.Lock()
        self._local = threading.local()  # which call this thread serves: its progress frames name it
        self.exit_code: int | None = None  # set by a handler that ends the loop

    def report_progress(self, message: str) -> None:
        call_id = getattr(self._local, "call_id", None)
        self.channel.send({"kind": "progress", "id": call_id, "message": safe_text(message)})

    def serving(self, call_id: Any) -> None:
        self._local.call_id = call_id

    def forget(self, call: Call) -> None:
        with self._calls_lock:
            self.calls.pop(call.id, None)

    def dispatch(self, msg: dict[str, Any]) -> None:
        handler = HANDLERS.get(msg["kind"])
        if handler is None:
            self.channel.send(
                error_frame(msg.get("id"), "protocol", ProtocolError(f"unexpected {msg['kind']!r} frame"))
            )
        else:
            handler(self, msg)

    def poll(self, call: Call, block: bool) -> None:
        """During a stream on the main thread (capacity 1): take in what the host sent, e.g.
        its cancel or more; ``block`` waits for one frame."""
        while block or self.channel.pending():
            msg = self.channel.receive()
            if msg is None:
                abandon("host closed the protocol")
            self.dispatch(msg)
            block = False


def _on_init(session: Session, msg: dict[str, Any]) -> None:
    """Load the engine; a failure is reported and ends the worker (a half-loaded engine is useless)."""
    if session.engine is not None:
        session.channel.send(error_frame(msg.get("id"), "protocol", ProtocolError("init after the engine was loaded")))
        return
    started = time.perf_counter()
    try:
        engine_cls = fanren_engine.load_engine_class(session.wrapper)
        limits = Limits(  # from the class, before the engine is built: it may size its threads by them
            dict(msg.get("limits") or {}),
            batches=fanren_engine.batches(engine_cls),
            max_concurrency=int(getattr(engine_cls, "max_concurrency", 1) or 1),
            default_max_batch=int(getattr(engine_cls, "default_max_batch", 8) or 1),
        )
        fanren_engine._concurrency = limits.concurrency
        engine = engine_cls(dict(msg.get("options") or {}), fanren_engine.resolve_device(session.device))
        fanren_engine._limit_torch_threads()
        methods = fanren_engine._callable_methods(engine)
        info = dict(engine.describe() or {})
        info.setdefault("methods", sorted(methods))
        info.update(limits.describe())
        if limits.capacity == 1:
            info.setdefault(
                "capacity_note", getattr(engine, "capacity_note", "") or "declares no batching or concurrency"
            )
    except BaseException as exc:
        session.channel.send(error_frame(None, "load", exc))
        session.exit_code = 3
        return
    session.engine, session.limits = engine, limits
    session.executor = Executor(engine, methods, limits, session.channel.send, session.forget, session.serving)
    session.channel.send({"kind": "ready", "info": info, "load_s": time.perf_counter() - started})


def _valid_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1 << 63


def _on_call(session: Session, msg: dict[str, Any]) -> None:
    """Take the call if its id is sound and there is room; run it now (capacity 1, on this
    thread, as before protocol 4) or hand it to the runners."""
    req_id = msg.get("id")
    executor, limits = session.executor, session.limits
    problem = None
    if executor is None or limits is None:
        problem = "call before init"
    elif not _valid_id(req_id):
        problem = f"a call's id must be an integer from 1 to 2**63-1, got {safe_text(repr(req_id), 80)}"
    elif req_id in session.calls:
        problem = f"call id {req_id} is already in flight"
    elif len(session.calls) >= limits.capacity:
        problem = f"call {req_id} is over this worker's capacity of {limits.capacity} calls in flight"
    if problem is not None:
        shown = req_id if _valid_id(req_id) and req_id not in session.calls else None
        session.channel.send(error_frame(shown, "protocol", ProtocolError(problem)))
        return
    assert executor is not None and limits is not None
    call = Call(msg)
    with session._calls_lock:
        session.calls[call.id] = call
    if limits.capacity == 1:
        executor.run_one(call, session.poll)
    else:
        executor.submit(call)


def _on_cancel(session: Session, msg: dict[str, Any]) -> None:
    """Stop the streaming call it names after its current piece; one that has ended already
    (its result crossed the cancel on the way) is no longer here: nothing to do."""
    call = session.calls.get(msg.get("id"))  # type: ignore[arg-type]
    if call is not None:
        call.cancel()


def _on_more(session: Session, msg: dict[str, Any]) -> None:
    """The host took ``n`` pieces of a streaming call: that many more may be sent."""
    call = session.calls.get(msg.get("id"))  # type: ignore[arg-type]
    n = msg.get("n", 1)
    if call is not None and isinstance(n, int) and n > 0:
        call.grant(n)


def _on_ping(session: Session, msg: dict[str, Any]) -> None:
    session.channel.send({"kind": "pong", "id": msg.get("id")})


def _on_shutdown(session: Session, msg: dict[str, Any]) -> None:
    try:
        if session.engine is not None:
            session.engine.close()
    finally:
        kill_descendants()
        session.channel.send({"kind": "bye", "id": msg.get("id")})
    session.exit_code = 0


#: kind -> handler, for every host-to-worker kind in ``MESSAGES``.
HANDLERS: dict[str, Callable[[Session, dict[str, Any]], None]] = {
    "init": _on_init,
    "call": _on_call,
    "cancel": _on_cancel,
    "more": _on_more,
    "ping": _on_ping,
    "shutdown": _on_shutdown,
}


def serve(wrapper: str, engine_name: str, device: str = "auto", host_pid: int | None = None) -> int:
    """Run the worker loop until shutdown or host EOF; returns the exit code."""
    channel = take_stdio()
    if host_pid:
        watch_parent(host_pid)
    channel.send(
        {
            "kind": "hello",
            "protocol": PROTOCOL_VERSION,
            "engine": engine_name,
            "pid": os.getpid(),
            "python": platform.python_version(),
            "executable": sys.executable,
            "packages": fanren_engine.package_versions(),
            "device": fanren_engine.resolve_device(device),
            "platform": f"{sys.platform}-{platform.machine()}",
        }
    )
    session = Session(channel, wrapper, engine_name, device)
    fanren_engine._progress_reporter = session.report_progress
    msg = channel.receive()
    if msg is None:
        abandon("host closed the protocol before init")
    if msg["kind"] != "init":
        raise ProtocolError(f"expected init, got {msg['kind']!r}")
    while True:
        session.dispatch(msg)
        if session.exit_code is not None:
            return session.exit_code
        msg = channel.receive()
        if msg is None:
            abandon("host closed the protocol")
