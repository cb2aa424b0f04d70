"""A content-addressed cache of synthesized segments.

The key hashes everything that decides the audio: engine, model identity (env
lock, wrapper source, constructor options), call options and the segment's text.
Entries are WAVs (PCM16, or 24-bit for 24-bit output) written atomically, so several processes can share one
cache directory: the worst a race costs is synthesizing the same segment twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from ._runtime.fanren_worker import Audio, write_wav
from ._subtitles import write_json
from ._wavout import WavWriter, decode_pcm

__all__ = ["SegmentCache", "cache_key"]

_VERSION = 1


def cache_key(**parts: Any) -> str:
    blob = json.dumps({"v": _VERSION, **parts}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _read(path: Path) -> Audio:
    with wave.open(str(path), "rb") as w:
        width, rate, channels = w.getsampwidth(), w.getframerate(), w.getnchannels()
        raw = w.readframes(w.getnframes())
    if width == 2:
        return Audio(raw, rate, "s16", channels)
    if width == 3:
        return Audio(decode_pcm(raw, 24, channels).astype("<f4").tobytes(), rate, "f32", channels)
    raise ValueError(f"{path}: unexpected {8 * width}-bit entry")


class SegmentCache:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.wav"

    def get(self, key: str) -> Audio | None:
        path = self._path(key)
        try:
            audio = _read(path)
        except FileNotFoundError:
            return None
        except (OSError, EOFError, ValueError, wave.Error):  # damaged entry: drop it and synthesize again
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # recently used entries survive pruning by age
        except OSError:
            pass
        return audio

    def get_words(self, key: str) -> list[Any] | None:
        """The engine's word timings stored with an entry, if it reported any."""
        try:
            words = json.loads(self._path(key).with_suffix(".words.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return words if isinstance(words, list) else None

    def put(self, key: str, audio: Audio, words: list[Any] | None = None) -> None:
        """Store PCM16 as is; float samples (24-bit output, see ``_audio.quantize``) as 24-bit PCM.

        Word timings go beside the audio first, so an entry whose WAV exists has its words.
        """
        if words:
            write_json(self._path(key).with_suffix(".words.json"), words)
        if audio.sample_format == "s16":
            write_wav(self._path(key), audio)
            return
        data = np.frombuffer(audio.pcm, dtype="<f4").reshape(-1, audio.channels)
        with WavWriter(self._path(key), audio.sample_rate, audio.channels, 24) as w:
            w.write(data)
            w.commit()

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
