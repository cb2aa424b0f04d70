"""fanren_wire: the frames both ends write and read (see ``fanren_worker`` for the message table).

A frame is a 4-byte big-endian length, then msgpack; audio travels as raw PCM
(``EXT_AUDIO`` inline, ``EXT_AUDIO_REF`` by reference for large PCM). The host
and the worker import this same file, so the two ends never disagree about framing.
Stdlib and msgpack only.
"""

from __future__ import annotations

import os
import struct
import sys
import traceback
from collections.abc import Callable
from typing import Any

try:
    import msgpack
except ImportError:  # pragma: no cover - exercised by a worker in an env without msgpack
    sys.stderr.write(
        "fanren_worker: msgpack is not installed in this interpreter "
        f"({sys.executable}). Install it there: {sys.executable} -m pip install msgpack\n"
    )
    raise SystemExit(3) from None

try:  # in the host, a module of fanren_tts._runtime
    from .fanren_audio import _SAMPLE_WIDTH, Audio
except ImportError:  # in a worker, whose sys.path holds the runtime folder itself
    from fanren_audio import _SAMPLE_WIDTH, Audio  # type: ignore[no-redef]

__all__ = [
    "EXT_AUDIO",
    "EXT_AUDIO_REF",
    "HEADER",
    "MAX_FRAME",
    "MESSAGES",
    "PCM_KEY",
    "PROTOCOL_VERSION",
    "BodyBuffer",
    "ProtocolError",
    "decode_body",
    "decode_length",
    "encode_frame",
    "frame_parts",
    "pack",
    "safe_text",
    "unpack",
    "write_parts",
]

PROTOCOL_VERSION = 4
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
    "init": ("h->w", ("options", "limits")),
    "progress": ("w->h", ("id", "message")),
    "ready": ("w->h", ("info", "load_s")),
    "call": ("h->w", ("id", "method", "kwargs", "caller", "window")),
    "chunk": ("w->h", ("id", "value")),
    "cancel": ("h->w", ("id",)),
    "more": ("h->w", ("id", "n")),
    "result": ("w->h", ("id", "value")),
    "error": ("w->h", ("id", "stage", "type", "module", "message", "traceback")),
    "ping": ("h->w", ("id",)),
    "pong": ("w->h", ("id",)),
    "shutdown": ("h->w", ("id",)),
    "bye": ("w->h", ("id",)),
}


#: Packages whose versions the hello reports (read from metadata; nothing is imported).
class ProtocolError(Exception):
    """A frame that cannot be part of the protocol: bad length, garbled body, wrong kind."""


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
    packed: bytes = msgpack.packb(msg, default=_ext_default, use_bin_type=True)
    return packed


def unpack(body: bytes | bytearray) -> Any:
    return msgpack.unpackb(body, ext_hook=_ext_hook, raw=False, strict_map_key=False)


#: Audio with at least this much PCM goes by reference (``EXT_AUDIO_REF``).
_BY_REFERENCE = 1 << 16
#: EXT_AUDIO_REF payload: the EXT_AUDIO head, then the index into ``_pcm`` and the PCM length.
_REF_TAIL = struct.Struct(">II")
_IOV_MAX = 512


def frame_parts(msg: dict[str, Any], limit: int = MAX_FRAME) -> list[bytes]:
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


def _too_big(msg: dict[str, Any], size: int, limit: int) -> ProtocolError:
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


def encode_frame(msg: dict[str, Any], limit: int = MAX_FRAME) -> bytes:
    return b"".join(frame_parts(msg, limit))


def decode_length(header: bytes | bytearray | memoryview, limit: int = MAX_FRAME) -> int:
    """The body length a header announces, or ProtocolError showing the offending bytes.

    A length that is really ASCII ("Erro", "Trac") almost always means something
    printed to the protocol stream; the message says so.
    """
    length: int = HEADER.unpack(header)[0]
    if length > limit:
        raise ProtocolError(
            f"frame length {length} exceeds the limit of {limit} bytes; first bytes {bytes(header)!r}"
            + (" look like text: something printed to the protocol stream" if _looks_textual(header) else "")
        )
    return length


def decode_body(body: bytes | bytearray | memoryview) -> dict[str, Any]:
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


#: Longest message or traceback an error frame carries, in characters.
MAX_ERROR_TEXT = 64 * 1024


def safe_text(value: Any, limit: int = MAX_ERROR_TEXT) -> str:
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


def error_frame(req_id: Any, stage: str, exc: BaseException) -> dict[str, Any]:
    """The error frame for ``exc``; building it never raises, and the frame always encodes."""
    return {
        "kind": "error",
        "id": req_id,
        "stage": stage,
        "type": safe_text(type(exc).__qualname__),
        "module": safe_text(type(exc).__module__),
        "message": safe_text(exc),
        "traceback": safe_text(_format_traceback(exc), 4 * MAX_ERROR_TEXT),
    }
