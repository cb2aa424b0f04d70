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
    ├── QueueFull                   the server's queue for an engine is full (.retry_after seconds)
    └── QueueTimeout                a server request waited or ran past its request_timeout

A worker that fails is restarted on the next call, so after any WorkerError the
generator is still usable.
"""

from __future__ import annotations

__all__ = [
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
    "RemoteError",
    "WorkerCrashed",
    "WorkerError",
    "WorkerStartupError",
    "WorkerTimeout",
    "WorkerUnavailable",
]


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
        self.add_note(f"remote traceback:\n{remote_traceback.rstrip()}")


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
