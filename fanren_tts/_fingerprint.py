"""What a file named in an option contributes to a cache key: its content, not its name.

The segment cache's key held a reference recording's *path*: overwrite the WAV at
the same path and the cache served the old voice. Every option that names a file
(reference audio, prompt speech, emotion audio, a lexicon) now enters the key as
the SHA-256 of the file's bytes, and every option that names a folder (a model
folder, a source checkout: the engine's identity) as a digest of its file list.

Hashing is not free, so a file's digest is kept in-process, keyed by what ``stat``
says of it: path, device, inode, size, mtime and ctime (nanoseconds). An unchanged
file is not read again; any write changes the ctime, which no tool can set back, so
a rewrite with the same size and a restored mtime is still seen. A file changed
within the last ``RACY_SECONDS`` is hashed on every use and not kept: file system
timestamps are coarse (a clock tick, or 2 s on FAT), and a second write in the same
tick would otherwise leave the same stamp on new content (git's "racy clean" case).

A folder is not read byte by byte: model folders hold many GB of weights, and
reading them on every start would cost minutes. Its digest covers each file's path
inside it, size and mtime (and a symlink's target, which in a Hugging Face cache is
itself the blob's hash), walked in sorted order, skipping hidden folders and
``__pycache__``. Replacing weights changes their size or mtime, so it changes the
key; a copy that keeps both (``cp -p`` of different content at equal size) does not.
The same holds for a single file past ``WHOLE_FILE_LIMIT`` (a checkpoint named as
a file): it enters the key by size and mtime, as a folder's files do. Reference
audio, prompts and lexicons are far smaller, and always go by their bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

__all__ = ["RACY_SECONDS", "WHOLE_FILE_LIMIT", "content_keys", "file_digest", "folder_digest"]

#: A file changed this recently is hashed again on every use (see the module docstring).
RACY_SECONDS = 2.0
#: Files larger than this are weights: keyed by size and mtime, not read (1 GB takes seconds to hash).
WHOLE_FILE_LIMIT = 256 << 20
#: Digests kept in-process; the oldest go first.
_KEEP = 4096
#: A folder's digest covers at most this many entries (walked in sorted order).
_MAX_ENTRIES = 200_000
_BLOCK = 1 << 20

_digests: OrderedDict[tuple[Any, ...], str] = OrderedDict()
_lock = threading.Lock()


def _stamp(path: str, st: os.stat_result) -> tuple[Any, ...]:
    return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _hash_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the file's bytes, read again only when ``stat`` says it changed."""
    name = os.path.abspath(path)
    before = os.stat(name)
    stamp = _stamp(name, before)
    with _lock:
        known = _digests.get(stamp)
        if known is not None:
            _digests.move_to_end(stamp)
            return known
    digest = _hash_file(name)
    after = os.stat(name)
    settled = time.time_ns() - after.st_ctime_ns > RACY_SECONDS * 1e9
    if settled and _stamp(name, after) == stamp:  # unchanged while read, and not too fresh to trust its stamp
        with _lock:
            _digests[stamp] = digest
            while len(_digests) > _KEEP:
                _digests.popitem(last=False)
    return digest


def folder_digest(path: str | os.PathLike[str]) -> str:
    """A digest of every file's relative path, size and mtime under ``path`` (not their bytes)."""
    root = os.path.abspath(path)
    digest = hashlib.sha256()
    count = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root)
            try:
                st = os.stat(full)
                target = os.readlink(full) if os.path.islink(full) else ""
            except OSError:
                continue  # a dangling link or a file removed while walking
            digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{target}\n".encode("utf-8", "surrogateescape"))
            count += 1
            if count >= _MAX_ENTRIES:
                return digest.hexdigest()
    return digest.hexdigest()


def content_keys(
    options: Mapping[str, Any],
    is_path: re.Pattern[str],
    resolve: Callable[[str], Path | str],
    folders: MutableMapping[str, str],
) -> dict[str, Any]:
    """``options`` with every value that names an existing file or folder replaced by its content.

    ``is_path`` picks the option names whose values are paths (a string, or a mapping
    of them); ``resolve`` makes such a value absolute. A file becomes ``sha256:...``; a
    folder ``tree:...``, looked up in and added to ``folders`` (a folder is walked once
    per owner of that mapping). A value naming nothing that exists stays as it is.
    """

    def key(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        path = os.fspath(resolve(value))
        try:
            if os.path.isdir(path):
                found = folders.get(path)
                if found is None:
                    found = folders[path] = "tree:" + folder_digest(path)
                return found
            if os.path.isfile(path):
                st = os.stat(path)
                if st.st_size > WHOLE_FILE_LIMIT:
                    return f"stat:{st.st_size}:{st.st_mtime_ns}"
                return "sha256:" + file_digest(path)
        except OSError:
            pass  # unreadable now: the engine will say why; the key keeps the name
        return value

    out = dict(options)
    for name, value in options.items():
        if not is_path.search(name):
            continue
        if isinstance(value, Mapping):
            out[name] = {k: key(v) for k, v in value.items()}
        else:
            out[name] = key(value)
    return out
