"""Named voices shared by a whole Ray Serve cluster, and the key that keeps each one warm.

Why a shared folder: the voice store (``fanren_tts._voices``) already writes each voice
atomically (the reference under its content hash first, then its record replaced in one
``os.replace``), and reads from disk on every lookup. So when ``tts.voices.dir`` is a folder
every node mounts (NFS, a Kubernetes ``ReadWriteMany`` volume, or the one disk of a
single-machine cluster), a voice added through any ingress replica is seen by every engine
replica on its next request, with no cache to invalidate and no extra service to run.

Why the key holds the content hash: Serve's model multiplexing sends a request to a
replica that already loaded its ``multiplexed_model_id``. Keyed by ``NAME@SHA12``, a voice
that is replaced under the same name gets a new key, so no replica keeps serving the old
one from its warm set. ``check_shared`` catches the one misconfiguration the design
cannot survive: an engine replica whose ``voices.dir`` is not the ingress's folder.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from .._exceptions import ConfigError
from .._voices import Voice, VoiceStore

__all__ = ["MARKER", "check_shared", "mark_shared", "model_id", "split_model_id", "warm_voice"]

#: The file the ingress writes into the voices folder; every engine replica checks it reads the same.
MARKER = ".fanren-shared"


def model_id(store: VoiceStore, name: object) -> str | None:
    """The multiplexing key of named voice ``name`` (``NAME@SHA12``), or None when ``name`` is
    not a stored voice (an engine's own speaker, or no voice: any replica will do)."""
    if not isinstance(name, str):
        return None
    voice = store.get(name)
    return None if voice is None else f"{voice.name}@{voice.sha256[:12]}"


def split_model_id(key: str) -> tuple[str, str]:
    """``(name, sha-prefix)`` of a key made by ``model_id``."""
    name, sep, sha = key.rpartition("@")
    if not sep or not name:
        raise ConfigError(f"multiplexed model id {key!r} is not NAME@SHA")
    return name, sha


def warm_voice(store: VoiceStore, key: str) -> Voice:
    """The stored voice behind ``key``, checked to be the version the ingress saw."""
    name, sha = split_model_id(key)
    voice = store.get(name)
    if voice is None:
        raise ConfigError(
            f"voice {name!r} is not in {store.directory} on this node: tts.voices.dir must be a folder "
            "every node of the cluster mounts (see README, 'Serving past one machine')"
        )
    if not voice.sha256.startswith(sha):
        raise ConfigError(f"voice {name!r} was replaced while the request was on its way; send it again")
    return voice


def mark_shared(directory: Path) -> str:
    """Write a fresh token into ``directory`` (atomically); engine replicas compare it."""
    directory.mkdir(parents=True, exist_ok=True)
    token = f"{socket.gethostname()}:{uuid.uuid4().hex}"
    tmp = directory / f"{MARKER}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(token, encoding="utf-8")
    os.replace(tmp, directory / MARKER)
    return token


def check_shared(directory: Path, token: str) -> None:
    """Raise ``ConfigError`` unless ``directory`` here holds the ingress's ``token``: the
    folder is not shared, and a voice added on one node would be unknown on this one."""
    try:
        seen = (directory / MARKER).read_text(encoding="utf-8")
    except OSError:
        seen = None
    if seen != token:
        raise ConfigError(
            f"the voices folder {directory} on node {socket.gethostname()} is not the ingress's "
            "(its marker differs or is missing): set tts.voices.dir to a path every node mounts"
        )
