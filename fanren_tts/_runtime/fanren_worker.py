"""fanren_worker: the worker side of fanren_tts, and the wire protocol both sides share.

This file (with ``fanren_watchdog`` beside it, stdlib only, for killing child
processes) is all an engine env needs from fanren_tts. It imports only the
standard library and msgpack, so it runs in any interpreter, whatever that
interpreter's transformers, torch or numpy. The host imports the same file, so the
two ends can never disagree about framing.

Frame: a 4-byte big-endian unsigned length, then that many bytes of msgpack (a map
with a ``kind`` key). Audio travels as raw PCM bytes, never base64 or pickle: up to
64 KiB as the msgpack ext type ``EXT_AUDIO`` (head, then PCM); larger as
``EXT_AUDIO_REF`` (head, index, length) whose PCM is a bin in the list under
``PCM_KEY``, the frame's last entry. So each side touches the PCM once: the sender
writes it from the caller's own bytes (``os.writev``), the receiver gets it as the
one copy msgpack makes of a bin, with no ext payload to slice.

Messages (h = host, w = worker)::

    kind      dir   fields                                  meaning
    --------  ----  --------------------------------------  ------------------------------------------
    hello     w->h  protocol engine pid python packages     first frame, sent before any engine import
                    device platform
    init      h->w  options                                 load the engine with these options
    progress  w->h  id message                              still working; re-arms the host's deadline
    ready     w->h  info load_s                             engine loaded; info = Engine.describe()
    call      h->w  id method kwargs                        run a public method of the engine
    chunk     w->h  id value                                one piece of a streaming call's result
    cancel    h->w  id                                      stop the streaming call ``id`` after this piece
    result    w->h  id value                                the method's return value; for a streaming
                                                            call the end: value = {chunks, cancelled}
    error     w->h  id stage type module message traceback  the engine raised (stage: load, call)
    ping      h->w  id                                      liveness check
    pong      w->h  id                                      answer to ping
    shutdown  h->w  id                                      close the engine and exit
    bye       w->h  id                                      sent just before a clean exit

A call whose method returns an iterator (a generator method such as
``Engine.stream``) is a streaming call: each item goes out as a ``chunk`` frame as
soon as it is made (each re-arms the host's deadline), then one ``result`` ends it.
Between items the worker looks for a ``cancel`` frame without blocking, so a host
that stops listening gets its worker back after the current piece.

Start a worker with ``python -m fanren_worker WRAPPER --engine NAME``; run a wrapper
on its own with ``python WRAPPER --text ... --out out.wav`` (see ``main``).
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import inspect
import os
import platform
import signal
import struct
import sys
import threading
import time
import traceback
import wave
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn

try:
    import msgpack
except ImportError:  # pragma: no cover - exercised by a worker in an env without msgpack
    sys.stderr.write(
        "fanren_worker: msgpack is not installed in this interpreter "
        f"({sys.executable}). Install it there: {sys.executable} -m pip install msgpack\n"
    )
    raise SystemExit(3) from None

__all__ = [
    "EXT_AUDIO",
    "EXT_AUDIO_REF",
    "MAX_FRAME",
    "MESSAGES",
    "PCM_KEY",
    "PROTOCOL_VERSION",
    "Audio",
    "BodyBuffer",
    "Engine",
    "ProtocolError",
    "atomic_write",
    "decode_length",
    "encode_frame",
    "frame_parts",
    "half_dtype",
    "local_path",
    "main",
    "pack",
    "package_versions",
    "read_wav",
    "resolve_device",
    "safe_text",
    "seed_everything",
    "serve",
    "thread_limit",
    "unpack",
    "write_parts",
    "write_wav",
]

PROTOCOL_VERSION = 3
HEADER = struct.Struct(">I")
#: Largest frame either side sends or accepts (FANREN_TTS_MAX_FRAME overrides).
MAX_FRAME = int(os.environ.get("FANREN_TTS_MAX_FRAME", 256 * 1024 * 1024))
EXT_AUDIO = 1
EXT_AUDIO_REF = 2
#: Last entry of a frame that holds EXT_AUDIO_REF values: their PCM, in order.
PCM_KEY = "_pcm"

#: kind -> (direction, fields). The docstring's table, as data.
MESSAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "hello": ("w->h", ("protocol", "engine", "pid", "python", "packages", "device", "platform")),
    "init": ("h->w", ("options",)),
    "progress": ("w->h", ("id", "message")),
    "ready": ("w->h", ("info", "load_s")),
    "call": ("h->w", ("id", "method", "kwargs")),
    "chunk": ("w->h", ("id", "value")),
    "cancel": ("h->w", ("id",)),
    "result": ("w->h", ("id", "value")),
    "error": ("w->h", ("id", "stage", "type", "module", "message", "traceback")),
    "ping": ("h->w", ("id",)),
    "pong": ("w->h", ("id",)),
    "shutdown": ("h->w", ("id",)),
    "bye": ("w->h", ("id",)),
}

#: Packages whose versions the hello reports (read from metadata; nothing is imported).
KEY_PACKAGES = ("transformers", "torch", "torchaudio", "numpy", "onnxruntime", "protobuf")

_SAMPLE_WIDTH = {"s16": 2, "f32": 4}


class ProtocolError(Exception):
    """A frame that cannot be part of the protocol: bad length, garbled body, wrong kind."""


# --------------------------------------------------------------------------- audio


class Audio:
    """Mono or interleaved PCM plus what is needed to play it: the protocol's audio value."""

    __slots__ = ("channels", "pcm", "sample_format", "sample_rate")

    def __init__(self, pcm: bytes, sample_rate: int, sample_format: str = "s16", channels: int = 1):
        if sample_format not in _SAMPLE_WIDTH:
            raise ValueError(f"sample_format must be one of {sorted(_SAMPLE_WIDTH)}, got {sample_format!r}")
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels!r}")
        frame = _SAMPLE_WIDTH[sample_format] * channels
        if len(pcm) % frame:
            raise ValueError(f"{len(pcm)} bytes of PCM is not a whole number of {sample_format} frames")
        self.pcm = bytes(pcm)
        self.sample_rate = int(sample_rate)
        self.sample_format = sample_format
        self.channels = int(channels)

    @classmethod
    def from_array(cls, samples: Any, sample_rate: int) -> Audio:
        """Build from a numpy-like array: float in [-1, 1] becomes f32, integers become s16.

        Duck-typed so this module never imports numpy; 2-D input is (frames, channels).
        """
        kind = getattr(getattr(samples, "dtype", None), "kind", None)
        if kind is None:
            raise TypeError(f"expected a numpy-like array, got {type(samples).__name__}")
        channels = 1 if samples.ndim == 1 else int(samples.shape[1])
        if kind == "f":
            return cls(samples.astype("<f4").tobytes(), sample_rate, "f32", channels)
        if kind in "iu":
            return cls(samples.astype("<i2").tobytes(), sample_rate, "s16", channels)
        raise TypeError(f"unsupported sample dtype {samples.dtype}")

    @classmethod
    def concat(cls, parts: Iterable[Audio]) -> Audio:
        """Join chunks that share rate, format and channel count."""
        parts = list(parts)
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        for p in parts[1:]:
            if (p.sample_rate, p.sample_format, p.channels) != (first.sample_rate, first.sample_format, first.channels):
                raise ValueError("chunks differ in sample rate, format or channels")
        return cls(b"".join(p.pcm for p in parts), first.sample_rate, first.sample_format, first.channels)

    @property
    def frames(self) -> int:
        return len(self.pcm) // (_SAMPLE_WIDTH[self.sample_format] * self.channels)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def to_s16(self) -> bytes:
        """PCM16 little-endian, clipping float samples to [-1, 1]."""
        if self.sample_format == "s16":
            return self.pcm
        from array import array

        floats = array("f")
        floats.frombytes(self.pcm)
        if sys.byteorder != "little":
            floats.byteswap()
        out = array("h", [int(max(-1.0, min(1.0, x)) * 32767.0) for x in floats])
        if sys.byteorder != "little":
            out.byteswap()
        return out.tobytes()

    def peak(self) -> float:
        """Largest absolute sample, scaled to [0, 1]: a cheap check for silence."""
        from array import array

        if self.sample_format == "s16":
            a = array("h")
            a.frombytes(self.pcm)
            return max((abs(x) for x in a), default=0) / 32768.0
        floats = array("f")
        floats.frombytes(self.pcm)
        return max((abs(x) for x in floats), default=0.0)

    def __repr__(self) -> str:
        return f"Audio({self.duration:.3f}s, {self.sample_rate} Hz, {self.sample_format}, {self.channels} ch)"


# EXT_AUDIO payload: sample rate (u32), channels (u16), format (2 ASCII bytes: s2 / f4), then raw PCM.
_AUDIO_HEAD = struct.Struct(">IH2s")
_FORMAT_CODE = {"s16": b"s2", "f32": b"f4"}
_CODE_FORMAT = {v: k for k, v in _FORMAT_CODE.items()}


def _audio_head(audio: Audio) -> bytes:
    return _AUDIO_HEAD.pack(audio.sample_rate, audio.channels, _FORMAT_CODE[audio.sample_format])


def _ext_default(obj: Any) -> Any:
    if isinstance(obj, Audio):
        return msgpack.ExtType(EXT_AUDIO, _audio_head(obj) + obj.pcm)
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    if hasattr(obj, "__fspath__"):
        return os.fspath(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    if isinstance(obj, int):  # msgpack hands over only ints it cannot encode
        raise OverflowError(f"integer {obj} is out of range: the protocol carries 64-bit integers")
    raise TypeError(f"cannot send a {type(obj).__name__} over the fanren_tts protocol")


def _audio_from_head(data: bytes, pcm: bytes = b"") -> Audio:
    rate, channels, fmt = _AUDIO_HEAD.unpack_from(data)
    if fmt not in _CODE_FORMAT:
        raise ProtocolError(f"unknown audio sample format {fmt!r}")
    return Audio(pcm, rate, _CODE_FORMAT[fmt], channels)


def _ext_hook(code: int, data: bytes) -> Any:
    if code == EXT_AUDIO:
        return _audio_from_head(data, data[_AUDIO_HEAD.size :])
    return msgpack.ExtType(code, data)


def pack(msg: Any) -> bytes:
    """One value as msgpack, audio inline (``EXT_AUDIO``)."""
    return msgpack.packb(msg, default=_ext_default, use_bin_type=True)


def unpack(body: bytes | bytearray) -> Any:
    return msgpack.unpackb(body, ext_hook=_ext_hook, raw=False, strict_map_key=False)


#: Audio with at least this much PCM goes by reference (``EXT_AUDIO_REF``).
_BY_REFERENCE = 1 << 16
#: EXT_AUDIO_REF payload: the EXT_AUDIO head, then the index into ``_pcm`` and the PCM length.
_REF_TAIL = struct.Struct(">II")
_IOV_MAX = 512


def frame_parts(msg: dict, limit: int = MAX_FRAME) -> list[bytes]:
    """The frame as buffers to write in order (``write_parts``): header first.

    Large PCM is never copied here: it goes by reference (see the module docstring)
    and the buffers include each ``Audio.pcm`` itself. Packing a second of float
    audio inline copied its megabyte three times (ext payload, packer buffer,
    result), each into fresh memory that the kernel faults in page by page: that
    was most of a round trip's cost. A frame without large audio is one buffer.
    """
    held: list[Audio] = []

    def hold(obj: Any) -> Any:
        if isinstance(obj, Audio) and len(obj.pcm) >= _BY_REFERENCE:
            held.append(obj)
            return msgpack.ExtType(EXT_AUDIO_REF, _audio_head(obj) + _REF_TAIL.pack(len(held) - 1, len(obj.pcm)))
        return _ext_default(obj)

    body = msgpack.packb(msg, default=hold, use_bin_type=True)
    if not held:
        if len(body) > limit:
            raise _too_big(msg, len(body), limit)
        return [HEADER.pack(len(body)) + body]
    # The same map with one more entry, PCM_KEY: [bin, ...], last, its bins by reference.
    count, skip = _map_header(body)
    packer = msgpack.Packer(use_bin_type=True)
    head = packer.pack_map_header(count + 1)
    tail = packer.pack(PCM_KEY) + packer.pack_array_header(len(held))
    size = len(head) + len(body) - skip + len(tail) + sum(5 + len(a.pcm) for a in held)
    if size > limit:
        raise _too_big(msg, size, limit)
    parts = [HEADER.pack(size) + head + body[skip:] + tail]
    for i, audio in enumerate(held):
        bin_head = b"\xc6" + HEADER.pack(len(audio.pcm))  # bin 32
        if i:
            parts.append(bin_head)
        else:
            parts[0] += bin_head
        parts.append(audio.pcm)
    return parts


def _map_header(body: bytes) -> tuple[int, int]:
    """(entries, header bytes) of the msgpack map that ``body`` starts with."""
    first = body[0]
    if 0x80 <= first <= 0x8F:
        return first & 0x0F, 1
    if first == 0xDE:
        return struct.unpack_from(">H", body, 1)[0], 3
    if first == 0xDF:
        return struct.unpack_from(">I", body, 1)[0], 5
    raise ProtocolError("a frame must be a map")


def _too_big(msg: dict, size: int, limit: int) -> ProtocolError:
    return ProtocolError(
        f"refusing to send a {size}-byte {msg.get('kind')!r} frame: the limit is {limit} bytes "
        "(set FANREN_TTS_MAX_FRAME to raise it on both ends)"
    )


class BodyBuffer:
    """One reused buffer for large frame bodies.

    A fresh megabyte for every frame costs more than reading into it: the kernel
    faults its pages in one by one, and the C library often hands the memory back
    to it as soon as it is freed. A body is decoded before the next one is read,
    and decoding copies what it keeps, so one buffer serves every frame. Bodies
    above ``keep`` bytes get their own buffer, so a rare huge frame is not held.
    """

    def __init__(self, keep: int = 4 << 20) -> None:
        self.keep = keep
        self._buf = bytearray()

    def take(self, n: int) -> memoryview:
        """A writable view of ``n`` bytes, valid until the next ``take``."""
        if n > self.keep:
            return memoryview(bytearray(n))
        if len(self._buf) < n:
            self._buf = bytearray(n)
        return memoryview(self._buf)[:n]


def write_parts(fd: int, parts: list[bytes], wait: Callable[[], None] | None = None) -> None:
    """Write ``parts`` in order with as few system calls as the pipe allows.

    ``wait`` is called when a non-blocking ``fd`` is full (and bounds the wait).
    """
    views = [memoryview(p) for p in parts if p]
    while views:
        try:
            written = os.writev(fd, views[:_IOV_MAX])
        except BlockingIOError:
            if wait is None:
                raise
            wait()
            continue
        while written:
            first = len(views[0])
            if written < first:
                views[0] = views[0][written:]
                break
            written -= first
            del views[0]


def encode_frame(msg: dict, limit: int = MAX_FRAME) -> bytes:
    return b"".join(frame_parts(msg, limit))


def decode_length(header: bytes | bytearray | memoryview, limit: int = MAX_FRAME) -> int:
    """The body length a header announces, or ProtocolError showing the offending bytes.

    A length that is really ASCII ("Erro", "Trac") almost always means something
    printed to the protocol stream; the message says so.
    """
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise ProtocolError(
            f"frame length {length} exceeds the limit of {limit} bytes; first bytes {bytes(header)!r}"
            + (" look like text: something printed to the protocol stream" if _looks_textual(header) else "")
        )
    return length


def decode_body(body: bytes | bytearray | memoryview) -> dict:
    """The message in a frame body, its ``EXT_AUDIO_REF`` values given their PCM.

    The PCM is the one copy msgpack makes of each bin (``body`` may be reused).
    """
    refs: list[tuple[Audio, int]] = []

    def hook(code: int, data: bytes) -> Any:
        if code != EXT_AUDIO_REF:
            return _ext_hook(code, data)
        if len(data) != _AUDIO_HEAD.size + _REF_TAIL.size:
            raise ProtocolError(f"audio reference of {len(data)} bytes")
        index, length = _REF_TAIL.unpack_from(data, _AUDIO_HEAD.size)
        if index != len(refs):
            raise ProtocolError(f"audio reference {index} out of order")
        refs.append((_audio_from_head(data), length))
        return refs[-1][0]

    try:
        msg = msgpack.unpackb(body, ext_hook=hook, raw=False, strict_map_key=False)
    except Exception as exc:
        raise ProtocolError(f"garbled frame body ({exc}); first bytes {bytes(body[:32])!r}") from None
    if not isinstance(msg, dict) or msg.get("kind") not in MESSAGES:
        raise ProtocolError(f"not a protocol message: {str(msg)[:120]!r}")
    pcms = msg.pop(PCM_KEY, None)
    if refs or pcms is not None:
        if not isinstance(pcms, list) or len(pcms) != len(refs):
            raise ProtocolError(f"{len(refs)} audio references but {PCM_KEY} is {type(pcms).__name__}")
        for (audio, length), pcm in zip(refs, pcms):  # noqa: B905 - same length, checked; 3.9 has no strict=
            if (
                not isinstance(pcm, bytes)
                or len(pcm) != length
                or length % (_SAMPLE_WIDTH[audio.sample_format] * audio.channels)
            ):
                raise ProtocolError(f"audio reference announces {length} bytes of PCM; the frame holds something else")
            audio.pcm = pcm
    return msg


def _looks_textual(data: bytes | bytearray | memoryview) -> bool:
    return all(32 <= b < 127 or b in (9, 10, 13) for b in data)


# --------------------------------------------------------------------------- audio files


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temp file beside ``path``, then rename it into place.

    A failed or interrupted write never leaves a partial file at ``path``, and a
    previous file there survives until the new one is complete.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_wav(path: str | os.PathLike[str], audio: Audio) -> None:
    """Write PCM16 WAV atomically (see ``atomic_write``)."""

    def write(tmp: str) -> None:
        with wave.open(tmp, "wb") as w:
            w.setnchannels(audio.channels)
            w.setsampwidth(2)
            w.setframerate(audio.sample_rate)
            w.writeframes(audio.to_s16())

    atomic_write(path, write)


def read_wav(path: str | os.PathLike[str]) -> Audio:
    """Read a PCM16 WAV (as written by ``write_wav``)."""
    with wave.open(os.fspath(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * w.getsampwidth()}-bit")
        return Audio(w.readframes(w.getnframes()), w.getframerate(), "s16", w.getnchannels())


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
        return explicit
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


# --------------------------------------------------------------------------- serving


class _Channel:
    """The worker's end of the protocol, on private copies of fds 0 and 1."""

    def __init__(self, fd_in: int, fd_out: int) -> None:
        self.fd_in = fd_in
        self.fd_out = fd_out
        self._write_lock = threading.Lock()
        self._buf = bytearray()  # bytes read past the last frame
        self._spare = BodyBuffer()

    def send(self, msg: dict) -> None:
        parts = frame_parts(msg)
        with self._write_lock:
            write_parts(self.fd_out, parts)

    def _read_exact(self, n: int) -> bytearray | memoryview | None:
        """n bytes: small reads are buffered (one syscall per small frame), large go
        in place, into the reused body buffer (valid until the next read)."""
        if len(self._buf) < n and n - len(self._buf) < 65536:
            while len(self._buf) < n:
                chunk = os.read(self.fd_in, 65536)
                if not chunk:
                    return None
                self._buf += chunk
        if len(self._buf) >= n:
            out = self._buf[:n]
            del self._buf[:n]
            return out
        body = self._spare.take(n)
        have = len(self._buf)
        body[:have] = self._buf
        self._buf.clear()
        view = body[have:]
        while view:
            got = os.readv(self.fd_in, [view])
            if not got:
                return None
            view = view[got:]
        return body

    def pending(self) -> bool:
        """True when a frame (or part of one) is waiting: checked between stream pieces."""
        if self._buf:
            return True
        import select

        ready, _, _ = select.select([self.fd_in], [], [], 0)
        return bool(ready)

    def receive(self) -> dict | None:
        """The next message, or None when the host has closed our stdin (it is gone)."""
        header = self._read_exact(HEADER.size)
        if header is None:
            return None
        body = self._read_exact(decode_length(header))
        if body is None:
            return None
        return decode_body(body)


def _take_stdio() -> _Channel:
    """Move the protocol off fds 0/1 so nothing an engine prints can reach it.

    After this, fd 1 (and sys.stdout) is stderr, fd 0 is /dev/null, and the
    protocol lives on private, non-inheritable duplicates.
    """
    sys.stdout.flush()
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return _Channel(proto_in, proto_out)


def _kill_descendants() -> None:
    """Take our children along, and the orphans we adopted as child subreaper, even those
    in sessions of their own: nothing an engine started outlives its worker."""
    try:
        import fanren_watchdog  # beside this file on the worker's path; stdlib only
    except ImportError:  # pragma: no cover - the runtime folder always holds it
        return
    try:
        fanren_watchdog.kill_descendants()
    except Exception as exc:  # pragma: no cover - best effort on the way out
        sys.stderr.write(f"fanren_worker: could not stop child processes: {safe_text(exc)}\n")


def _abandon(reason: str) -> NoReturn:
    """The host is gone: end now, taking the engine's child processes along."""
    try:
        sys.stderr.write(f"fanren_worker: {reason}; exiting\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # the host read our stderr; it may be a broken pipe now
        pass
    _kill_descendants()
    if os.getpgrp() == os.getpid():  # started as its own group by the host
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(70)


def _watch_parent(host_pid: int) -> None:
    """Exit when the host dies while the main thread is busy.

    stdin EOF is the primary signal; this (and PR_SET_PDEATHSIG on Linux) is the
    backup for a main thread that is not reading. Both need this interpreter to
    run: a main thread stuck in C code holding the GIL is ended from outside, by
    the host's fanren_watchdog process.
    """

    def orphaned() -> bool:
        return os.getppid() != host_pid

    def die() -> None:
        _abandon("host process is gone")

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            # PR_SET_PDEATHSIG fires when the *thread* that forked us exits, so the
            # signal only means "check"; the ppid decides.
            signal.signal(signal.SIGUSR1, lambda *_: die() if orphaned() else None)
            libc.prctl(1, signal.SIGUSR1, 0, 0, 0)
            # PR_SET_CHILD_SUBREAPER: orphans of our children (double forks, setsid
            # daemons) are re-parented to us, not to init, so they stay in our tree,
            # where the host's fanren_watchdog finds and kills them. The price: such
            # an adopted process that exits stays a zombie until we exit.
            libc.prctl(36, 1, 0, 0, 0)
        except (OSError, AttributeError, ValueError):
            pass
    if orphaned():
        die()

    def poll() -> None:
        while True:
            time.sleep(0.5)
            if orphaned():
                die()

    threading.Thread(target=poll, name="fanren-parent-watch", daemon=True).start()


#: Longest message or traceback an error frame carries, in characters.
_MAX_ERROR_TEXT = 64 * 1024


def safe_text(value: Any, limit: int = _MAX_ERROR_TEXT) -> str:
    """``str(value)`` that never raises and always encodes as UTF-8.

    str() of an engine's exception may itself raise; a message may hold a path's
    undecodable bytes (surrogateescape, as os.fsdecode gives them) or a lone
    surrogate, which msgpack cannot encode. Such bytes are shown as \\xNN escapes.
    """
    try:
        text = str(value)
    except Exception as exc:  # a broken __str__ must not take the worker down
        text = f"<unprintable {type(value).__name__}: str() raised {type(exc).__name__}>"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:  # bytes smuggled in by surrogateescape: show them as the bytes they were
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # other lone surrogates
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > limit:
        text = text[:limit] + f"... [{len(text) - limit} more characters]"
    return text


def _format_traceback(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception as err:  # pragma: no cover - format_exception guards str() itself
        return f"<traceback unavailable: {type(err).__name__}>"


def _error_frame(req_id: Any, stage: str, exc: BaseException) -> dict:
    """The error frame for ``exc``; building it never raises, and the frame always encodes."""
    return {
        "kind": "error",
        "id": req_id,
        "stage": stage,
        "type": safe_text(type(exc).__qualname__),
        "module": safe_text(type(exc).__module__),
        "message": safe_text(exc),
        "traceback": safe_text(_format_traceback(exc), 4 * _MAX_ERROR_TEXT),
    }


def _is_stream(value: Any) -> bool:
    """An iterator to send piece by piece (not a value that merely is iterable)."""
    return isinstance(value, Iterator) and not isinstance(value, (str, bytes, bytearray, dict, list, tuple))


def _send_stream(channel: _Channel, req_id: Any, pieces: Iterator[Any]) -> dict[str, Any]:
    """Send each piece as a chunk frame; stop early on the host's cancel. The summary ends it."""
    sent = 0
    try:
        for piece in pieces:
            channel.send({"kind": "chunk", "id": req_id, "value": piece})
            sent += 1
            if channel.pending():
                msg = channel.receive()
                if msg is None:
                    _abandon("host closed the protocol")
                if msg.get("kind") == "cancel" and msg.get("id") == req_id:
                    return {"chunks": sent, "cancelled": True}
                raise ProtocolError(f"unexpected {msg.get('kind')!r} frame during streaming call {req_id}")
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # a generator's own cleanup (its finally blocks) runs now, not at GC
    return {"chunks": sent, "cancelled": False}


def serve(wrapper: str, engine_name: str, device: str = "auto", host_pid: int | None = None) -> int:
    """Run the worker loop until shutdown or host EOF; returns the exit code."""
    global _progress_reporter
    channel = _take_stdio()
    if host_pid:
        _watch_parent(host_pid)
    channel.send(
        {
            "kind": "hello",
            "protocol": PROTOCOL_VERSION,
            "engine": engine_name,
            "pid": os.getpid(),
            "python": platform.python_version(),
            "executable": sys.executable,
            "packages": package_versions(),
            "device": resolve_device(device),
            "platform": f"{sys.platform}-{platform.machine()}",
        }
    )
    current_id: list[Any] = [None]

    def _progress_reporter(message):
        return channel.send({"kind": "progress", "id": current_id[0], "message": safe_text(message)})

    msg = channel.receive()
    if msg is None:
        _abandon("host closed the protocol before init")
    if msg["kind"] != "init":
        raise ProtocolError(f"expected init, got {msg['kind']!r}")
    started = time.perf_counter()
    try:
        engine_cls = load_engine_class(wrapper)
        engine = engine_cls(dict(msg.get("options") or {}), resolve_device(device))
        _limit_torch_threads()
        methods = _callable_methods(engine)
        info = dict(engine.describe() or {})
        info.setdefault("methods", sorted(methods))
    except BaseException as exc:  # report everything, then leave: a half-loaded engine is useless
        channel.send(_error_frame(None, "load", exc))
        return 3
    channel.send({"kind": "ready", "info": info, "load_s": time.perf_counter() - started})

    while True:
        msg = channel.receive()
        if msg is None:
            _abandon("host closed the protocol")
        kind, req_id = msg["kind"], msg.get("id")
        if kind == "ping":
            channel.send({"kind": "pong", "id": req_id})
        elif kind == "call":
            current_id[0] = req_id
            method = methods.get(msg.get("method", ""))
            try:
                if method is None:
                    raise AttributeError(
                        f"engine {engine_name!r} has no callable method {msg.get('method')!r}; "
                        f"available: {', '.join(sorted(methods))}"
                    )
                value = method(**(msg.get("kwargs") or {}))
                if _is_stream(value):
                    value = _send_stream(channel, req_id, value)
                reply = {"kind": "result", "id": req_id, "value": value}
                channel.send(reply)
            except Exception as exc:
                channel.send(_error_frame(req_id, "call", exc))
            finally:
                current_id[0] = None
        elif kind == "cancel":
            pass  # the streaming call it names had already ended when it arrived
        elif kind == "shutdown":
            try:
                engine.close()
            finally:
                _kill_descendants()
                channel.send({"kind": "bye", "id": req_id})
            break
        else:
            channel.send(_error_frame(req_id, "protocol", ProtocolError(f"unexpected {kind!r} frame")))
    return 0


# --------------------------------------------------------------------------- standalone use


def _parse_option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    for convert in (int, float):
        try:
            return key, convert(raw)
        except ValueError:
            pass
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    return key, raw


def main(engine_cls: type[Engine] | None = None, argv: list[str] | None = None) -> int:
    """One-shot synthesis with this interpreter: ``python WRAPPER --text ... --out ...``.

    Options for the engine's constructor come from ``--option KEY=VALUE``; options
    for one call from ``--set KEY=VALUE``.
    """
    parser = argparse.ArgumentParser(description="Synthesize one text with a fanren_tts engine wrapper.")
    parser.add_argument("--text", help="text to speak ('-' reads stdin)")
    parser.add_argument("--out", help="output WAV path")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--option", action="append", type=_parse_option, default=[], metavar="KEY=VALUE")
    parser.add_argument("--set", action="append", type=_parse_option, default=[], metavar="KEY=VALUE")
    parser.add_argument("--describe", action="store_true", help="print voices, languages and modes, then exit")
    args = parser.parse_args(argv)
    if engine_cls is None:
        raise SystemExit("fanren_worker.main() needs the Engine subclass")
    engine = engine_cls(dict(args.option), resolve_device(args.device))
    if args.describe:
        import json

        print(json.dumps(engine.describe(), indent=2, ensure_ascii=False, default=str))
        return 0
    if not args.text or not args.out:
        parser.error("--text and --out are required (or use --describe)")
    text = sys.stdin.read() if args.text == "-" else args.text
    reply = engine.synthesize(text, **dict(args.set))
    audio = reply["audio"] if isinstance(reply, dict) else reply
    write_wav(args.out, audio)
    sys.stderr.write(f"wrote {args.out}: {audio!r}\n")
    return 0


def _exit_now(code: int) -> NoReturn:
    """End the worker process once ``serve`` is done, without tearing the interpreter down.

    By then the engine's ``close()`` has run, its child processes are gone and the
    host has its ``bye``. What is left is freeing every object and module one by
    one: 120-250 ms with an ONNX model loaded (more with torch), during which the
    host waits. ``atexit`` handlers (logging, tempfile and ``weakref.finalize``
    clean-ups) still run and the standard streams are flushed; objects' own
    ``__del__`` at teardown does not, which CPython never promised anyway.
    """
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(code)


def _worker_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fanren_worker")
    parser.add_argument("wrapper")
    parser.add_argument("--engine", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--host-pid", type=int, default=None)
    args = parser.parse_args(argv)
    return serve(args.wrapper, args.engine, args.device, args.host_pid)


if __name__ == "__main__":
    # Run from the importable module, not __main__, so wrappers that import
    # fanren_worker share its Engine class and progress reporter.
    import fanren_worker

    fanren_worker._exit_now(fanren_worker._worker_main())
