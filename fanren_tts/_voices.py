"""Named voices: a reference recording (or a speaker id) kept on disk under a name, so
the same narrator is reused across episodes and restarts.

Each voice is two files in ``tts.voices.dir``: ``NAME.json`` (engine, transcript,
speaker, content hash) and ``NAME-HASH.wav`` (the reference, mono PCM16 at
``tts.voices.sample_rate``). The WAV is written first under its content hash, then
the JSON replaces the old one atomically, so a reader sees the old voice or the new
one, never half of either. Bad references are refused before anything is written:
not audio, too short or too long, or a rate too low to carry a voice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._exceptions import ConfigError
from .server.config import VoicesConfig

__all__ = ["Voice", "VoiceStore", "read_reference"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Names Windows reserves for devices, whatever the extension ("con.json" is the console there).
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(10)}
)


def valid_name(name: object) -> bool:
    """Whether ``name`` is a voice name that is a safe file name on every OS.

    A full match of ``_NAME`` (``re.match`` with ``$`` let ``"evil\\n"`` through: ``$``
    matches before a trailing newline), no trailing dot (Windows drops it, so ``a.`` and
    ``a`` would be one file), no device name of Windows as its stem (``con``, ``NUL.x``,
    ``com1``), and not ``default`` (the engine's own voice).
    """
    return (
        isinstance(name, str)
        and _NAME.fullmatch(name) is not None
        and not name.endswith(".")
        and name.split(".")[0].upper() not in _RESERVED
        and name != "default"
    )


@dataclasses.dataclass(frozen=True)
class Voice:
    """One named voice. ``audio`` is the stored reference (None for a speaker-id voice)."""

    name: str
    engine: str
    sha256: str
    transcript: str | None = None
    speaker: str | None = None
    audio: Path | None = None
    duration: float = 0.0
    created: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["audio"] = self.audio.name if self.audio else None
        return data


def _probe(data: bytes) -> tuple[int, int, str]:
    """Rate, frame count and kind (``wav`` or ``soundfile``) from the file's header alone:
    nothing is decoded, so an upload's length is checked before its samples take memory."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            return w.getframerate(), w.getnframes(), "wav"
    except (wave.Error, EOFError):
        pass
    try:
        import soundfile
    except ImportError:
        raise ConfigError(
            "reference audio is not a PCM WAV file (install fanren-tts[server] for FLAC, OGG and MP3)"
        ) from None
    try:
        info = soundfile.info(io.BytesIO(data))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise ConfigError(f"reference audio is not audio that can be read (WAV, FLAC, OGG, MP3): {exc}") from None
    return int(info.samplerate), int(info.frames), "soundfile"


def _decode(data: bytes, kind: str, max_frames: int) -> tuple[np.ndarray, int]:
    """Samples (float32, frames x channels) and rate, at most ``max_frames`` of them: a
    header that understates the length (MP3 has none to trust) cannot make it decode more."""
    if kind == "wav":
        with wave.open(io.BytesIO(data)) as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            raw = w.readframes(min(w.getnframes(), max_frames))
        if width == 2:
            samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
        elif width == 1:
            samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
        elif width == 4:
            samples = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
        else:
            raise ConfigError(f"reference audio: {8 * width}-bit WAV is not supported; use 16-bit PCM")
        return samples.reshape(-1, channels), rate
    import soundfile

    try:
        array, rate = soundfile.read(io.BytesIO(data), frames=max_frames, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise ConfigError(f"reference audio is not audio that can be read (WAV, FLAC, OGG, MP3): {exc}") from None
    return array, int(rate)


def _too_long(seconds: float, limits: VoicesConfig, *, over: bool = False) -> ConfigError:
    return ConfigError(
        f"reference audio is {'over ' if over else ''}{seconds:.1f}s long; at most {limits.max_seconds:.0f}s is accepted: "
        "cut a clean stretch of the speaker (5 to 15 s is typical)"
    )


def read_reference(data: bytes, limits: VoicesConfig) -> tuple[np.ndarray, float]:
    """The reference as mono float32 at ``limits.sample_rate``, checked; and its length in seconds."""
    if not data:
        raise ConfigError("reference audio is empty")
    rate, frames, kind = _probe(data)  # the header first: a long file is refused before it is decoded
    if rate < limits.min_sample_rate:
        raise ConfigError(
            f"reference audio is {rate} Hz; at least {limits.min_sample_rate} Hz is needed to carry a voice "
            "(resampling up cannot add what was never recorded): record or export it at 16 kHz or more"
        )
    max_frames = int(limits.max_seconds * rate)
    if frames > max_frames:
        raise _too_long(frames / rate, limits)
    samples, rate = _decode(data, kind, max_frames + 1)
    seconds = len(samples) / rate if rate else 0.0
    if len(samples) > max_frames:  # the header said less than there was
        raise _too_long(limits.max_seconds, limits, over=True)
    if seconds < limits.min_seconds:
        raise ConfigError(f"reference audio is {seconds:.2f}s long; at least {limits.min_seconds}s is needed")
    mono = samples.mean(axis=1).astype(np.float32)
    if rate != limits.sample_rate:
        import soxr

        mono = soxr.resample(mono, rate, limits.sample_rate, quality="HQ").astype(np.float32)
    if not np.isfinite(mono).all() or float(np.abs(mono).max(initial=0.0)) < 1e-4:
        raise ConfigError("reference audio is silent after resampling: nothing to clone a voice from")
    return mono, seconds


def _wav_bytes(mono: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.clip(np.round(mono * 32767.0), -32768, 32767).astype("<i2").tobytes())
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class VoiceStore:
    """The named voices of one config: ``add``, ``get``, ``list``, ``remove``; safe across threads."""

    def __init__(
        self,
        directory: Path,
        limits: VoicesConfig | None = None,
        engines: list[str] | None = None,
        check: Callable[[str, bool, str | None, str | None], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.limits = limits or VoicesConfig()
        self.engines = engines
        self.check = check  # (engine, has audio, speaker, transcript): refuses what the engine cannot use
        self._lock = threading.Lock()

    @staticmethod
    def check_name(name: str) -> str:
        if not valid_name(name):
            raise ConfigError(
                f"voice name {name!r} is not allowed: use 1-64 letters, digits, '_', '.' or '-', "
                "starting with a letter or digit, not ending in '.', not a Windows device name "
                "(CON, PRN, AUX, NUL, COM0-9, LPT0-9, with or without an extension) and not 'default'"
            )
        return name

    def add(
        self,
        name: str,
        audio: str | os.PathLike[str] | bytes | None = None,
        transcript: str | None = None,
        *,
        engine: str,
        speaker: str | None = None,
    ) -> Voice:
        """Store (or replace) voice ``name`` for ``engine``: a reference recording
        (path or bytes, with its transcript where the engine clones from text and audio)
        or, for engines with built-in voices (piper, espeak), a ``speaker`` id."""
        self.check_name(name)
        if self.engines is not None and engine not in self.engines:
            raise ConfigError(f"voice {name!r}: no engine named {engine!r}; configured: {', '.join(self.engines)}")
        if audio is None and speaker is None:
            raise ConfigError(f"voice {name!r}: give reference audio, or a speaker id for engines with built-in voices")
        transcript = transcript.strip() if transcript and transcript.strip() else None
        if self.check is not None:
            self.check(engine, audio is not None, speaker, transcript)
        wav: bytes | None = None
        seconds = 0.0
        if audio is not None:
            if isinstance(audio, bytes):
                data = audio
            else:
                try:
                    data = Path(audio).read_bytes()
                except OSError as exc:
                    raise ConfigError(f"voice {name!r}: cannot read reference audio {audio}: {exc.strerror}") from None
            mono, seconds = read_reference(data, self.limits)
            wav = _wav_bytes(mono, self.limits.sample_rate)
        digest = hashlib.sha256()
        for part in (engine, speaker or "", transcript or ""):
            digest.update(part.encode() + b"\0")
        digest.update(wav or b"")
        sha = digest.hexdigest()
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            old = self._read(name)
            path = None
            if wav is not None:
                path = self.directory / f"{name}-{sha[:16]}.wav"
                _write_atomic(path, wav)
            voice = Voice(name, engine, sha, transcript, speaker, path, round(seconds, 3), time.time())
            _write_atomic(self.directory / f"{name}.json", json.dumps(voice.to_json(), ensure_ascii=False).encode())
            if old is not None and old.audio is not None and old.audio != path:
                old.audio.unlink(missing_ok=True)
        return voice

    def _read(self, name: str) -> Voice | None:
        try:
            data = json.loads((self.directory / f"{name}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"voice {name!r}: its record {self.directory / name}.json is unreadable: {exc}") from None
        audio = self.directory / data["audio"] if data.get("audio") else None
        return Voice(
            name=data["name"],
            engine=data["engine"],
            sha256=data["sha256"],
            transcript=data.get("transcript"),
            speaker=data.get("speaker"),
            audio=audio,
            duration=float(data.get("duration", 0.0)),
            created=float(data.get("created", 0.0)),
        )

    def get(self, name: str) -> Voice | None:
        """The voice called ``name``, or None."""
        if not valid_name(name):
            return None
        return self._read(name)

    def list(self) -> list[Voice]:
        if not self.directory.is_dir():
            return []
        found = (self._read(p.stem) for p in sorted(self.directory.glob("*.json")) if valid_name(p.stem))
        return [v for v in found if v is not None]

    def remove(self, name: str) -> bool:
        """Delete voice ``name``; False when there was none."""
        with self._lock:
            voice = self.get(name)
            if voice is None:
                return False
            (self.directory / f"{name}.json").unlink(missing_ok=True)
            if voice.audio is not None:
                voice.audio.unlink(missing_ok=True)
            return True
