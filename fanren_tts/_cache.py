"""A content-addressed cache of synthesized segments.

The key hashes everything that decides the audio: engine, model identity (env
lock, wrapper source, constructor options with every file they name by content,
see ``_fingerprint``), call options and the segment's text.
Entries are WAVs (PCM16, or 24-bit for 24-bit output) written atomically, so several processes can share one
cache directory: the worst a race costs is synthesizing the same segment twice.

Why every entry carries a check: a disk that fills up, a copy cut short or a bad
sector leaves a file that still parses as a WAV. Read as it is, a cut entry is half
the audio served as cached on every later call, and a header-only one is an empty
take. So each entry ends with an ``fnck`` chunk (after ``data``, where WAV readers
skip it) holding the frame count and the SHA-256 of the sample bytes; ``get``
checks the RIFF sizes, the frame count and the hash, and a damaged entry is logged,
removed and reported as a miss, so the segment is synthesized again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._runtime.fanren_worker import Audio, atomic_write
from ._subtitles import write_json
from .audio.wav import decode_pcm, encode_pcm

__all__ = ["DamagedEntry", "SegmentCache", "cache_key", "decode_entry", "encode_entry"]

log = logging.getLogger("fanren_tts.cache")

#: 2: entries carry the ``fnck`` check chunk; keys of version-1 entries (without it) never match.
_VERSION = 2
_CHECK = b"fnck"
_CHECK_FORMAT = "<Q32s"  # frames, SHA-256 of the data chunk's sample bytes


def cache_key(**parts: Any) -> str:
    blob = json.dumps({"v": _VERSION, **parts}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class DamagedEntry(ValueError):
    """A cache entry that fails its checks (what is wrong is the message). Internal:
    ``SegmentCache.get`` turns it into a logged miss."""


def _chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def encode_entry(audio: Audio) -> bytes:
    """``audio`` as a cache entry: PCM16 as is, float samples as 24-bit PCM, then the check chunk."""
    if audio.sample_format == "s16":
        bits, pcm = 16, audio.to_s16()
    else:
        bits = 24
        pcm = encode_pcm(np.frombuffer(audio.pcm, dtype="<f4").reshape(-1, audio.channels), 24)
    block = audio.channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, audio.channels, audio.sample_rate, audio.sample_rate * block, block, bits)
    check = struct.pack(_CHECK_FORMAT, len(pcm) // block, hashlib.sha256(pcm).digest())
    body = b"WAVE" + _chunk(b"fmt ", fmt) + _chunk(b"data", pcm) + _chunk(_CHECK, check)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def decode_entry(blob: bytes) -> Audio:
    """A cache entry back to ``Audio``, or ``DamagedEntry`` saying what does not add up."""
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise DamagedEntry("not a RIFF/WAVE file")
    riff_size = struct.unpack_from("<I", blob, 4)[0]
    if riff_size != len(blob) - 8:
        raise DamagedEntry(f"{len(blob)} bytes, the RIFF header says {riff_size + 8}")
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(blob):
        tag, size = blob[pos : pos + 4], struct.unpack_from("<I", blob, pos + 4)[0]
        if pos + 8 + size > len(blob):
            raise DamagedEntry(f"chunk {tag!r} runs {pos + 8 + size - len(blob)} bytes past the end")
        chunks[tag] = blob[pos + 8 : pos + 8 + size]
        pos += 8 + size + size % 2
    missing = [t.decode() for t in (b"fmt ", b"data", _CHECK) if t not in chunks]
    if missing:
        raise DamagedEntry(f"no {', '.join(missing)} chunk")
    fmt, pcm = chunks[b"fmt "], chunks[b"data"]
    if len(fmt) < 16 or len(chunks[_CHECK]) != struct.calcsize(_CHECK_FORMAT):
        raise DamagedEntry("fmt or check chunk of the wrong size")
    tag, channels, rate, _, block, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag != 1 or bits not in (16, 24) or channels < 1 or block != channels * bits // 8 or rate < 1:
        raise DamagedEntry(f"unexpected format: tag {tag}, {bits}-bit, {channels} channels at {rate} Hz")
    frames, digest = struct.unpack(_CHECK_FORMAT, chunks[_CHECK])
    if frames == 0 or len(pcm) != frames * block:
        raise DamagedEntry(f"{len(pcm) // block} frames of samples, the check says {frames}")
    if hashlib.sha256(pcm).digest() != digest:
        raise DamagedEntry("the samples do not match their SHA-256")
    if bits == 16:
        return Audio(pcm, rate, "s16", channels)
    return Audio(decode_pcm(pcm, 24, channels).astype("<f4").tobytes(), rate, "f32", channels)


class SegmentCache:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.wav"

    def get(self, key: str) -> Audio | None:
        """The entry's audio; None for a miss, or for a damaged entry, which is logged and removed."""
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                stat = os.fstat(f.fileno())
                blob = f.read()
            audio = decode_entry(blob)
        except FileNotFoundError:
            return None
        except OSError as exc:  # unreadable (permissions, I/O error): a miss, left for someone to look at
            log.warning("cache entry %s cannot be read (%s); synthesizing the segment again", path, exc)
            return None
        except DamagedEntry as exc:
            log.warning("cache entry %s is damaged (%s); removed, synthesizing the segment again", path, exc)
            self._drop(path, stat)
            return None
        try:
            os.utime(path)  # recently used entries survive pruning by age
        except OSError:
            pass
        return audio

    def _drop(self, path: Path, seen: os.stat_result) -> None:
        """Remove a damaged entry and its words, unless another process has just replaced it."""
        try:
            now = path.stat()
        except FileNotFoundError:
            return
        if (now.st_dev, now.st_ino) == (seen.st_dev, seen.st_ino):
            path.unlink(missing_ok=True)
            path.with_suffix(".words.json").unlink(missing_ok=True)

    def get_words(self, key: str) -> list[Any] | None:
        """The engine's word timings stored with an entry, if it reported any."""
        try:
            words = json.loads(self._path(key).with_suffix(".words.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return words if isinstance(words, list) else None

    def put(self, key: str, audio: Audio, words: list[Any] | None = None) -> None:
        """Store PCM16 as is; float samples (24-bit output, see ``audio.convert.quantize``) as 24-bit PCM.

        Word timings go beside the audio first, so an entry whose WAV exists has its words.
        An empty take is not stored: it would only ever be a damaged entry.
        """
        if audio.frames == 0:
            return
        if words:
            write_json(self._path(key).with_suffix(".words.json"), words)
        blob = encode_entry(audio)

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())

        atomic_write(self._path(key), write)

    def _entries(self) -> list[tuple[Path, os.stat_result]]:
        if not self.directory.is_dir():
            return []
        out = []
        for path in self.directory.glob("*/*.wav"):
            try:
                out.append((path, path.stat()))
            except FileNotFoundError:
                pass
        return out

    def stats(self) -> tuple[int, int]:
        """(entries, bytes)."""
        entries = self._entries()
        return len(entries), sum(st.st_size for _, st in entries)

    def prune(self, *, max_bytes: int | None = None, older_than: float | None = None) -> tuple[int, int]:
        """Drop entries unused for ``older_than`` seconds, then the least recently used
        until the cache fits in ``max_bytes``. Returns (entries removed, bytes freed)."""
        entries = sorted(self._entries(), key=lambda e: e[1].st_mtime)
        now = time.time()
        removed = freed = 0
        total = sum(st.st_size for _, st in entries)
        for path, st in entries:
            too_old = older_than is not None and now - st.st_mtime > older_than
            too_big = max_bytes is not None and total > max_bytes
            if not (too_old or too_big):
                continue
            path.unlink(missing_ok=True)
            path.with_suffix(".words.json").unlink(missing_ok=True)
            removed += 1
            freed += st.st_size
            total -= st.st_size
        return removed, freed

    def clear(self) -> tuple[int, int]:
        return self.prune(max_bytes=0)
