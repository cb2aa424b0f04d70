"""Every error fanren_tts raises, in one tree.

::

    FanrenTTSError                  base: catch this to catch everything below
    ├── ConfigError                 config.yaml or an argument is wrong (file, key path, what is allowed)
    │   ├── OutputError             the output path cannot be written (checked before any synthesis)
    │   ├── RayConnectError         the Ray cluster at ray_address cannot be joined (unreachable, no answer, no ray[client])
    │   ├── LanguageError           tts.strict: text in a language no configured engine speaks
    │   └── ModelNotFound           an engine's model folder is missing or incomplete (every place tried)
    ├── EnvError                    an engine env could not be built or used
    │   └── EnvNotReady             the env is missing, half-built or drifted from its lock
    ├── WorkerError                 a worker process misbehaved (carries engine, stderr tail)
    │   ├── WorkerStartupError      died or broke the handshake before it was ready
    │   ├── WorkerCrashed           died while serving (exit code or signal)
    │   ├── WorkerTimeout           no answer within the startup, call or shutdown timeout
    │   ├── ProtocolError           a frame was oversize, garbled or out of order
    │   ├── WorkerUnavailable       restarted too often recently; not restarted again yet
    │   └── PlacementError          a replica would not fit its device (needed vs free memory), or no GPU for devices: all
    ├── RemoteError                 the engine itself raised (remote type, message, traceback)
    │   └── RemoteEngineError       a remote engine (kind openai: somebody else's HTTP server) failed
    │       ├── RemoteUnreachable   no connection: refused, no route, DNS, or no answer within the timeout
    │       ├── RemoteRejected      the server answered 4xx: the request is wrong (not retried)
    │       └── RemoteFailed        the server answered 5xx, or broke off mid-response (retried, bounded)
    ├── QueueFull                   the server's queue for an engine is full (.retry_after seconds)
    └── QueueTimeout                a server request waited or ran past its request_timeout

A worker that fails is restarted on the next call, so after any WorkerError the
generator is still usable.

The remote-engine types are raised in the worker by ``wrappers/openai_wrapper.py``
under the same class names; the error frame carries only the type's name, so the host
picks the class here by that name (``REMOTE_TYPES``, used by ``_worker``).
"""

from __future__ import annotations

import re
import sys

__all__ = [
    "REMOTE_TYPES",
    "ConfigError",
    "EnvError",
    "EnvNotReady",
    "FanrenTTSError",
    "LanguageError",
    "ModelNotFound",
    "OutputError",
    "PlacementError",
    "ProtocolError",
    "QueueFull",
    "QueueTimeout",
    "RayConnectError",
    "RemoteEngineError",
    "RemoteError",
    "RemoteFailed",
    "RemoteRejected",
    "RemoteUnreachable",
    "WorkerCrashed",
    "WorkerError",
    "WorkerStartupError",
    "WorkerTimeout",
    "WorkerUnavailable",
]


#: "HTTP 404" in a remote engine's message: the status its server answered with.
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")


class FanrenTTSError(Exception):
    """Base class of every fanren_tts error."""


class ConfigError(FanrenTTSError, ValueError):
    """config.yaml, an environment variable or an argument has a bad value."""


class OutputError(ConfigError):
    """The output path cannot be written: under /proc or /sys, below a file, not a regular
    file, or in a folder that refuses new files. Checked before any synthesis."""


class RayConnectError(ConfigError):
    """``backend="ray"`` could not join the cluster at ``address``: nothing listens there, it
    did not answer as a Ray cluster within ``timeout`` seconds, or a ``ray://`` address
    needs Ray Client (``ray[client]``), which is not installed. The message says how to fix it."""

    def __init__(self, message: str, *, address: str = "", timeout: float = 0.0) -> None:
        self.address = address
        self.timeout = timeout
        super().__init__(message)


class LanguageError(ConfigError):
    """Under ``tts.strict: true``, text in a language that its engine does not speak and no
    configured engine does (Japanese with only piper and espeak cmn, say). ``language`` is
    the ISO 639-1 code detected, ``engine`` the one it would have gone to; the message says
    what to configure."""

    def __init__(self, message: str, *, language: str, engine: str) -> None:
        self.language = language
        self.engine = engine
        super().__init__(message)


class ModelNotFound(ConfigError):
    """An engine's model folder (``model_path``, with ``model_name`` inside it) is missing or
    lacks the files the engine needs; the message lists every place tried. Found before any
    process starts: when the generator is made (default engine) or on first use."""


class EnvError(FanrenTTSError):
    """An engine env could not be built, located or used."""


class EnvNotReady(EnvError):
    """The env is missing, half-built or no longer matches its lock; the message says how to fix it."""


class WorkerError(FanrenTTSError):
    """A worker process failed; ``stderr_tail`` holds its last lines of output."""

    def __init__(self, message: str, *, engine: str = "", stderr_tail: str = "") -> None:
        self.engine = engine
        self.stderr_tail = stderr_tail
        if stderr_tail:
            message = f"{message}\n--- last worker output ({engine}) ---\n{stderr_tail}"
        super().__init__(message)


class WorkerStartupError(WorkerError):
    """The worker died, or broke the handshake, before it was ready."""


class WorkerCrashed(WorkerError):
    """The worker died while serving; ``returncode`` is negative for a signal."""

    def __init__(self, message: str, *, returncode: int | None = None, **kw: str) -> None:
        self.returncode = returncode
        super().__init__(message, **kw)

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode is not None and self.returncode < 0 else None


class WorkerTimeout(WorkerError):
    """No answer within ``timeout`` seconds during ``stage`` (startup, call or shutdown)."""

    def __init__(self, message: str, *, stage: str = "", timeout: float = 0.0, **kw: str) -> None:
        self.stage = stage
        self.timeout = timeout
        super().__init__(message, **kw)


class ProtocolError(WorkerError):
    """A frame was oversize, garbled or out of order; the worker is restarted."""


class WorkerUnavailable(WorkerError):
    """The worker crashed too often recently; it is not restarted until the window passes."""


class PlacementError(WorkerError):
    """A pool replica was refused before it started: the memory it needs (``memory_gb``)
    is not free on its device, or ``devices: all`` found no GPU. The message has the figures."""


class RemoteError(FanrenTTSError):
    """The engine raised inside the worker.

    ``remote_type``, ``remote_module``, ``remote_message`` and ``remote_traceback``
    describe the original exception; ``stage`` is ``load`` or ``call``.
    """

    def __init__(
        self,
        *,
        engine: str,
        stage: str,
        remote_type: str,
        remote_module: str,
        remote_message: str,
        remote_traceback: str,
    ) -> None:
        self.engine = engine
        self.stage = stage
        self.remote_type = remote_type
        self.remote_module = remote_module
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback
        qualified = remote_type if remote_module in ("builtins", "") else f"{remote_module}.{remote_type}"
        super().__init__(f"engine {engine!r} raised {qualified} during {stage}: {remote_message}")
        note = f"remote traceback:\n{remote_traceback.rstrip()}"
        if sys.version_info >= (3, 11):
            self.add_note(note)
        else:  # Python 3.10 has no add_note; the attribute is what 3.11's traceback printing reads
            self.__notes__ = [note]


class RemoteEngineError(RemoteError):
    """A remote engine (an OpenAI-compatible ``/v1/audio/speech`` server) failed.

    ``status`` is the HTTP status the server answered with, or None when there was no
    answer (``RemoteUnreachable``) or it broke off mid-response. The message names the
    URL and the server's own error text; never the API key.
    """

    @property
    def status(self) -> int | None:
        found = _HTTP_STATUS.search(self.remote_message)
        return int(found.group(1)) if found else None


class RemoteUnreachable(RemoteEngineError):
    """No connection to the remote server (refused, unresolvable, or no answer within the
    engine's ``timeout``) after ``max_retries`` tries: start it, or fix ``base_url``."""


class RemoteRejected(RemoteEngineError):
    """The remote server answered 4xx (unknown voice or model, bad key, bad input). Not
    retried: the same request would be refused again."""


class RemoteFailed(RemoteEngineError):
    """The remote server answered 5xx, or its answer broke off mid-response (it died while
    streaming). A whole-file request is retried with backoff, at most ``max_retries`` times;
    a stream that has already sent audio is not, since its pieces are already out."""


#: Remote exception type name (as the worker's error frame names it) -> host class.
REMOTE_TYPES: dict[str, type[RemoteError]] = {
    cls.__name__: cls for cls in (RemoteEngineError, RemoteUnreachable, RemoteRejected, RemoteFailed)
}


class QueueFull(FanrenTTSError):
    """The engine's queue is full; ``retry_after`` seconds is when a place is likely free."""

    def __init__(self, message: str, *, engine: str, retry_after: float) -> None:
        self.engine = engine
        self.retry_after = retry_after
        super().__init__(message)


class QueueTimeout(FanrenTTSError):
    """A request waited, or ran, past its ``request_timeout``."""

    def __init__(self, message: str, *, engine: str, timeout: float) -> None:
        self.engine = engine
        self.timeout = timeout
        super().__init__(message)
