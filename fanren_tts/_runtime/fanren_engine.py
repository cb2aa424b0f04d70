"""fanren_engine: the Engine base class a wrapper subclasses, how a wrapper is loaded, and
the helpers wrappers share (devices, seeds, threads, package versions). Stdlib only.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

try:  # in the host, a module of fanren_tts._runtime
    from .fanren_audio import Audio
except ImportError:  # in a worker, whose sys.path holds the runtime folder itself
    from fanren_audio import Audio  # type: ignore[no-redef]

__all__ = [
    "KEY_PACKAGES",
    "Engine",
    "batches",
    "concurrency",
    "half_dtype",
    "join_pieces",
    "load_engine_class",
    "local_path",
    "package_versions",
    "resolve_device",
    "seed_everything",
    "thread_limit",
]

KEY_PACKAGES = ("transformers", "torch", "torchaudio", "numpy", "onnxruntime", "protobuf")

# --------------------------------------------------------------------------- environment facts


def package_versions(names: Iterable[str] = KEY_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (None when absent), as found first on ``sys.path``.

    Read from the ``name-version.dist-info`` (or ``.egg-info``) folder names: one
    directory listing per path entry. ``importlib.metadata`` would give the same
    answer, but importing it (email, zipfile, csv, pathlib...) took 140-220 ms of
    every worker start, before the hello, in envs whose engine never imports it.
    """
    wanted = {_dist_name(n): n for n in names}
    out: dict[str, str | None] = dict.fromkeys(names)
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for item in listing:
            stem, dot, suffix = item.rpartition(".")
            if suffix not in ("dist-info", "egg-info") or not dot:
                continue
            fields = stem.split("-")
            name = wanted.pop(_dist_name(fields[0]), None) if len(fields) >= 2 else None
            if name is not None:
                out[name] = fields[1]
        if not wanted:
            break
    return out


def _dist_name(name: str) -> str:
    """A distribution name as folder names spell it (PEP 503 normalized, then ``_``)."""
    return "".join("_" if c in "-_." else c for c in name.lower())


def resolve_device(requested: str = "auto") -> str:
    """``auto`` means cuda, then mps, then cpu, as far as this env can tell.

    torch decides when it is installed; an onnxruntime-only env can still use CUDA
    through its execution provider. Anything else runs on the CPU.
    """
    if requested != "auto":
        return requested
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            return "cuda"
    return "cpu"


# --------------------------------------------------------------------------- engines


class Engine:
    """Base class for an engine adapter (a "wrapper").

    Subclass it in a script, load the model in ``__init__`` and implement
    ``synthesize``. Every other public method is callable from the host through
    ``TTSGenerator.call``; arguments and results must be msgpack-able (``Audio``,
    str, numbers, bytes, lists, dicts).
    """

    #: Short name used in logs and the hello; defaults to the engine name in config.
    name: str = ""
    #: Calls that may run at once on threads over this one model. Raise it only where the
    #: upstream is thread-safe and does its heavy work outside the GIL (ONNX Runtime
    #: sessions are); the config's ``concurrency`` is capped by it. 1: one at a time.
    #: Read from the class before the engine is built, so ``__init__`` can size its
    #: threads by ``concurrency()``.
    max_concurrency: int = 1
    #: ``max_batch`` when the config says nothing, for an engine that defines ``synthesize_batch``.
    default_max_batch: int = 8
    #: Options that must agree for requests to share one ``synthesize_batch`` call (a clone
    #: reference, a speaker): requests that differ in any of them go in separate batches.
    batch_keys: tuple[str, ...] = ()
    #: Why this engine runs one call at a time (shown by ``describe()``), where it does.
    capacity_note: str = ""

    def __init__(self, options: dict[str, Any], device: str) -> None:
        self.options = options
        self.device = device

    def synthesize(self, text: str, **options: Any) -> Audio | dict[str, Any]:
        """The speech for ``text``: ``Audio``, or ``{"audio": Audio, "words": [...]}`` where
        the engine knows when each word is spoken (``{"text", "start", "end"}``, seconds)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement synthesize()")

    def stream(self, text: str, **options: Any) -> Iterator[Audio | dict[str, Any]]:
        """The speech for ``text`` in pieces, as the engine makes them (same shape as
        ``synthesize``; word times are seconds into their own piece).

        The default makes it all at once: one piece. Override it where the engine
        really decodes incrementally; never pretend to stream.
        """
        yield self.synthesize(text, **options)

    def synthesize_batch(self, requests: list[dict[str, Any]]) -> list[Audio | dict[str, Any] | Exception]:
        """Several ``synthesize`` requests (each its keyword arguments, ``text`` included) in one
        pass over the model, answered in order; an item that failed is its exception, so one
        bad request fails alone. Define it only where the upstream really batches: the
        runtime's batcher then groups calls (``max_batch``, ``batch_window_ms``, ``batch_keys``)."""
        raise NotImplementedError(f"{type(self).__name__} does not batch")

    def describe(self) -> dict[str, Any]:
        """What a user needs to pick a voice: speakers, languages, modes, sample rate."""
        return {}

    def close(self) -> None:
        """Free the model; called on a clean shutdown."""

    def progress(self, message: str) -> None:
        """Tell the host we are still busy (model loading, long synthesis).

        Each progress frame re-arms the host's deadline, so call it between slow steps.
        """
        reporter = _progress_reporter
        if reporter is not None:
            reporter(message)
        else:
            sys.stderr.write(f"[progress] {message}\n")


def join_pieces(pieces: Iterable[dict[str, Any]], empty: Audio) -> dict[str, Any]:
    """A stream's ``{"audio", "words"}`` pieces as one take, each piece's word timings moved
    to where the piece starts: how a streaming wrapper answers ``synthesize`` with the same
    audio its stream gives. Words only if every piece with audio had them (a half-timed take
    would put the host's estimate of the rest on the wrong words); ``empty`` when none came."""
    parts: list[Audio] = []
    words: list[dict[str, Any]] = []
    complete = True
    offset = 0.0
    for piece in pieces:
        audio, said = piece["audio"], piece.get("words") or []
        complete = complete and (bool(said) or not audio.frames)
        words += [{**w, "start": w["start"] + offset, "end": w["end"] + offset} for w in said]
        parts.append(audio)
        offset += audio.duration
    return {"audio": Audio.concat(parts) if parts else empty, "words": words if complete else []}


def seed_everything(seed: int) -> None:
    """Seed every random generator a take may draw from: python's ``random``, and numpy's
    and torch's (which seeds every CUDA device too) when the engine has imported them.

    It imports nothing itself, so the runtime stays stdlib-only; wrappers call it right
    before each take so a seeded take is reproducible where the engine allows it.
    """
    import random

    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def half_dtype(torch: Any, name: str, device: str) -> Any:
    """The torch dtype for ``name``; ``auto`` is half precision only where the device has
    it: bf16 (else fp16) on CUDA, fp16 on MPS, fp32 on the CPU. ``torch`` is passed in."""
    if name != "auto":
        return getattr(torch, name)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def local_path(value: str | os.PathLike[str], what: str, *, contains: str | None = None) -> str:
    """``value`` as an absolute path that exists, or FileNotFoundError naming it.

    ``contains`` names a file or folder that must be inside (``config.json`` marks a
    checkpoint folder), so a wrong folder fails here rather than deep in an engine.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(value)))
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    if contains is not None and not os.path.exists(os.path.join(path, contains)):
        raise FileNotFoundError(f"no {what} at {path} ({contains} missing)")
    return path


_progress_reporter: Callable[[str], None] | None = None
_RESERVED = frozenset(name for name in dir(Engine) if not name.startswith("_")) - {"synthesize", "stream", "describe"}


def batches(engine: Engine | type[Engine]) -> bool:
    """Whether ``engine`` (an engine or its class) defines its own ``synthesize_batch``."""
    cls = engine if isinstance(engine, type) else type(engine)
    return getattr(cls, "synthesize_batch", None) is not Engine.synthesize_batch


#: The calls this worker will run at once, set by the runtime before the engine is built.
_concurrency = 1


def concurrency() -> int:
    """How many calls this worker runs at once on threads (its ``concurrency``, 1 unless the
    config asked for more and the engine's ``max_concurrency`` allows it).

    Known before the engine's ``__init__`` runs, so a wrapper can split its CPU threads
    among its calls: N calls each using every core fight over the cores (measured for
    piper: ONNX Runtime's spinning intra-op threads burned a third more CPU per second of
    speech on the project's 2-core machine).
    """
    return _concurrency


def thread_limit() -> int | None:
    """CPU threads this worker may use (``FANREN_TTS_THREADS``, set by the host when a
    pool splits the cores among replicas), or None for the library's own default.

    Wrappers pass it to their engine's intra-op setting (onnxruntime
    ``SessionOptions.intra_op_num_threads``); torch is limited by the runtime itself.
    """
    value = os.environ.get("FANREN_TTS_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def _limit_torch_threads() -> None:
    """After the engine loaded: if it uses torch, hold torch's intra-op pool to ``thread_limit()``."""
    n = thread_limit()
    torch = sys.modules.get("torch")
    if n and torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(n)


def load_engine_class(wrapper: str) -> type[Engine]:
    """Import a wrapper script by path and find its Engine subclass.

    A module attribute ``ENGINE`` wins; otherwise the script must define exactly one
    Engine subclass.
    """
    path = os.path.abspath(wrapper)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"wrapper script not found: {path}")
    module_name = "fanren_wrapper_" + "".join(
        c if c.isalnum() else "_" for c in os.path.splitext(os.path.basename(path))[0]
    )
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.append(os.path.dirname(path))  # helpers beside the wrapper, never shadowing packages
    spec.loader.exec_module(module)
    explicit = getattr(module, "ENGINE", None)
    if explicit is not None:
        return cast("type[Engine]", explicit)
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Engine) and obj is not Engine and obj.__module__ == module_name
    ]
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise TypeError(
            f"{path} must define exactly one fanren_worker.Engine subclass (found: {names}); "
            "set ENGINE = YourClass to choose"
        )
    return found[0]


def _callable_methods(engine: Engine) -> dict[str, Callable[..., Any]]:
    out = {}
    for name in dir(type(engine)):
        if name.startswith("_") or name in _RESERVED:
            continue
        attr = getattr(engine, name, None)
        if callable(attr):
            out[name] = attr
    return out
