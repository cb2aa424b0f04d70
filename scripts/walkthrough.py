"""The installed user's first minutes, timed: from a wheel in a fresh venv to the studio
speaking a line in a browser, following only the README's Install text.

    .venv/bin/python scripts/walkthrough.py [--python python3.11] [--screenshot PATH] [--keep]

Steps (each timed, wall seconds):

1. ``uv build --wheel`` from this checkout (nothing added to the package for this);
2. ``python3.11 -m venv`` in a temp folder (the system Python, not this checkout's venv);
3. ``pip install 'WHEEL[server]'``;
4. ``fanren-tts --version`` and ``fanren-tts init`` (in an empty work folder);
5. ``fanren-tts engines``;
6. ``fanren-tts envs sync piper espeak`` (the default engines, from their locks);
7. ``fanren-tts say "Hello" -o hello.wav`` (piper) and a Mandarin line (routed to espeak);
8. ``fanren-tts serve`` on loopback, until ``/health`` answers;
9. the studio at ``/`` in headless Chromium (the system's, driven by this checkout's
   Playwright): a line typed, *Make rows*, *Play*, until the row has its audio; a screenshot;
10. ``/docs`` and ``/redoc`` rendered, with every request the pages make to the server.

The installed user's folders (``FANREN_TTS_DATA``: envs and voices, ``FANREN_TTS_CACHE_DIR``:
the segment cache) point into the temp folder so that nothing of the user's is touched; uv's
own cache stays where it is (a warm cache makes step 6 fast; the table says so). Every wait is
bounded, the server is stopped (SIGTERM, then kill) and the temp folder removed at the end
(``--keep`` keeps it). Prints a markdown table: step, seconds, result. Exits 1 if a step failed.

A script, not a test: it builds envs and takes a minute or more.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
#: Variables that would point an installed user's fanren-tts at this checkout or a key.
_UNSET = ("FANREN_TTS_CONFIG", "FANREN_TTS_HOME", "FANREN_TTS_API_KEY", "VIRTUAL_ENV", "PYTHONPATH")
STUDIO_LINE = "The studio speaks this line, each word lit as it is heard."


@dataclass
class Step:
    name: str
    seconds: float
    ok: bool
    result: str


class Walk:
    """Runs the steps in order, timing each; stops at the first failure."""

    def __init__(self, tmp: Path, python: str) -> None:
        self.tmp = tmp
        self.python = python
        self.venv = tmp / "venv"
        self.bin = self.venv / ("Scripts" if os.name == "nt" else "bin")
        self.work = tmp / "work"
        self.work.mkdir()
        self.steps: list[Step] = []
        self.env = {k: v for k, v in os.environ.items() if k not in _UNSET}
        self.env.update(
            FANREN_TTS_DATA=str(tmp / "data"),
            FANREN_TTS_CACHE_DIR=str(tmp / "cache"),
            UV_PYTHON_DOWNLOADS=os.environ.get("UV_PYTHON_DOWNLOADS", "never"),
            PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        self.wheel = Path()
        self.server: subprocess.Popen[bytes] | None = None
        self.url = ""

    def step(self, name: str, body: Callable[[], str]) -> bool:
        """Time ``body``; its string is the result. An exception fails the step."""
        print(f"==> {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            result, ok = body(), True
        except Exception as exc:  # a failed step is a row of the table, not a traceback
            result, ok = f"FAILED: {type(exc).__name__}: {str(exc).strip()[-600:]}", False
        self.steps.append(Step(name, time.perf_counter() - t0, ok, result))
        print(f"    {self.steps[-1].seconds:.1f}s {result}", file=sys.stderr, flush=True)
        return ok

    def run(self, cmd: list[str], timeout: float, cwd: Path | None = None) -> str:
        """Run ``cmd`` in the user's environment; its output (stdout and stderr) on success,
        else an error with the output's end."""
        out = subprocess.run(
            cmd,
            cwd=cwd or self.work,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        text = "\n".join(line for line in out.stdout.splitlines() if not line.startswith("WARNING: Location"))
        if out.returncode != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` exited {out.returncode}:\n{text[-1500:]}")
        return text

    # -- the steps ---------------------------------------------------------------------

    def build(self) -> str:
        dist = self.tmp / "dist"
        self.run([sys.executable, "-m", "uv", "build", "--wheel", "-o", str(dist), str(ROOT)], 600, cwd=ROOT)
        (self.wheel,) = dist.glob("*.whl")
        return f"{self.wheel.name} ({self.wheel.stat().st_size / 1e6:.1f} MB)"

    def make_venv(self) -> str:
        self.run([self.python, "-m", "venv", str(self.venv)], 300)
        base = self.run(
            [str(self.bin / "python"), "-c", "import sys; print(sys.version.split()[0], sys._base_executable)"], 30
        )
        version, _, where = base.strip().partition(" ")
        return f"Python {version} ({where})"

    def pip_install(self) -> str:
        self.run([str(self.bin / "python"), "-m", "pip", "install", f"{self.wheel}[server]"], 1200)
        where = self.run([str(self.bin / "python"), "-c", "import fanren_tts; print(fanren_tts.__file__)"], 60)
        if not Path(where.strip()).is_relative_to(self.venv):
            raise RuntimeError(f"fanren_tts imports from {where.strip()}, not the venv")
        return "fanren-tts[server] installed in the venv"

    def init(self) -> str:
        version = self.run(["fanren-tts", "--version"], 60).strip()
        self.run(["fanren-tts", "init"], 60)
        config = self.work / "config.yaml"
        return f"{version}; wrote config.yaml ({sum(1 for _ in config.open(encoding='utf-8'))} lines)"

    def engines(self) -> str:
        out = self.run(["fanren-tts", "engines"], 120)
        table = out.split("\n\n")[0].splitlines()[2:]  # under the header and its rule, up to the licences
        rows = {line.split()[0]: line.split()[2] for line in table if len(line.split()) > 2}
        return f"{len(rows)} engines listed; piper: {rows.get('piper')}, espeak: {rows.get('espeak')}"

    def sync(self) -> str:
        out = self.run(["fanren-tts", "envs", "sync", "piper", "espeak"], 1200)
        ready = [line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["ready"]]
        if sorted(ready) != ["espeak", "piper"]:
            raise RuntimeError(f"not both ready:\n{out[-800:]}")
        return "piper, espeak ready"

    def say(self) -> str:
        said = []
        for text, name in (
            ("Hello", "hello.wav"),
            ("你好，世界。这是普通话。", "zh.wav"),
        ):  # the README's, then Mandarin
            out = self.run(["fanren-tts", "say", text, "-o", name], 300).strip().splitlines()[-1]
            with wave.open(str(self.work / name)) as w:
                seconds = w.getnframes() / w.getframerate()
            if seconds < 0.2:
                raise RuntimeError(f"{name} is {seconds:.2f}s long: {out}")
            said.append(f"{name} {seconds:.2f}s ({out.split('engine ')[1].split(',')[0]})")
        return ", ".join(said)

    def serve(self) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        log = (self.tmp / "serve.log").open("wb")
        self.server = subprocess.Popen(
            ["fanren-tts", "serve", "--port", str(port)], cwd=self.work, env=self.env, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 120
        while True:
            if self.server.poll() is not None:
                raise RuntimeError(f"serve exited {self.server.returncode}: {self._serve_log()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no /health in 120 s: {self._serve_log()}")
            time.sleep(0.2)
        return f"/health answers on {self.url}"

    def _serve_log(self) -> str:
        return (self.tmp / "serve.log").read_text(errors="replace")[-1500:]

    def studio(self, chromium: str, screenshot: Path) -> str:
        from playwright.sync_api import expect, sync_playwright

        host = urlsplit(self.url).netloc
        requested: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=["--autoplay-policy=no-user-gesture-required"]
            )
            try:
                page = browser.new_page(viewport={"width": 1360, "height": 620})
                page.on("request", lambda r: requested.append(r.url))
                page.goto(self.url + "/", timeout=30_000)
                expect(page.locator("#engine option[value=piper]")).to_have_count(1, timeout=30_000)
                page.fill("#script", STUDIO_LINE + "\n你好，世界。")  # not said before: no cache answers it
                page.click("#load")
                row = page.locator("#rows tbody tr").nth(0)
                expect(row.locator(".engine")).to_have_text("piper", timeout=30_000)
                row.locator("button[data-action=play]").click()
                expect(row).to_have_attribute("data-done", "1", timeout=120_000)
                pcm = int(row.get_attribute("data-bytes") or 0)
                page.wait_for_timeout(500)  # a word lit, mid-line
                page.screenshot(path=str(screenshot), full_page=True)
            finally:
                browser.close()
        elsewhere = [
            u for u in requested if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != host
        ]
        if elsewhere:
            raise RuntimeError(f"the page asked other hosts: {elsewhere}")
        if pcm <= 0:
            raise RuntimeError("the row is done but no audio arrived")
        return f"the line played ({pcm // 1024} KiB of PCM arrived over the WebSocket); screenshot {screenshot}"

    def docs(self, chromium: str) -> str:
        from playwright.sync_api import expect, sync_playwright

        host = urlsplit(self.url).netloc
        requested: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True)
            try:
                page = browser.new_page()
                page.on("request", lambda r: requested.append(r.url))
                page.goto(self.url + "/docs", timeout=30_000)
                expect(page.locator(".swagger-ui .info .title")).to_contain_text("fanren_tts", timeout=30_000)
                page.wait_for_load_state("networkidle", timeout=30_000)
                page.goto(self.url + "/redoc", timeout=30_000)
                expect(page.locator("h1", has_text="fanren_tts")).to_be_visible(timeout=30_000)
                page.wait_for_load_state("networkidle", timeout=30_000)
            finally:
                browser.close()
        elsewhere = [
            u for u in requested if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != host
        ]
        if elsewhere:
            raise RuntimeError(f"the docs asked other hosts: {elsewhere}")
        return f"/docs and /redoc rendered; {len(requested)} requests, all to the server"

    def stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(30)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait(10)


def find_chromium() -> str | None:
    """``FANREN_TTS_CHROMIUM``, else a Chromium or Chrome on PATH (the browser test uses this too)."""
    given = os.environ.get("FANREN_TTS_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu})"


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def uv_cache_state() -> str:
    """Whether uv's cache already holds the default engines' packages (then step 6 mostly links)."""
    try:
        out = subprocess.run([sys.executable, "-m", "uv", "cache", "dir"], capture_output=True, text=True, timeout=30)
        cache = Path(out.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    wheels = list(cache.glob("wheels-*/*/piper-tts"))
    return f"warm (holds piper-tts already: {cache})" if wheels else f"cold or unknown ({cache})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--python", default="python3.11", help="the Python that makes the fresh venv (default: python3.11)")
    ap.add_argument(
        "--screenshot",
        type=Path,
        default=Path(tempfile.gettempdir()) / "fanren-tts-walkthrough.png",
        help="where the studio's screenshot goes",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (venv, envs, work folder)")
    args = ap.parse_args(argv)

    started = datetime.now(timezone.utc)
    load_before, cache = load(), uv_cache_state()
    tmp = Path(tempfile.mkdtemp(prefix="fanren-walk-"))
    walk = Walk(tmp, args.python)
    chromium = find_chromium()
    try:
        steps: list[tuple[str, Callable[[], str]]] = [
            ("uv build --wheel", walk.build),
            (f"{args.python} -m venv", walk.make_venv),
            ("pip install 'WHEEL[server]'", walk.pip_install),
            ("fanren-tts --version; fanren-tts init", walk.init),
            ("fanren-tts engines", walk.engines),
            ("fanren-tts envs sync piper espeak", walk.sync),
            ("fanren-tts say (English, Mandarin)", walk.say),
            ("fanren-tts serve (until /health)", walk.serve),
        ]
        if chromium:
            steps.append(("studio at / plays a line (Chromium)", lambda: walk.studio(chromium, args.screenshot)))
            steps.append(("/docs and /redoc render offline", lambda: walk.docs(chromium)))
        for name, body in steps:
            if not walk.step(name, body):
                break
        if not chromium:
            walk.steps.append(Step("studio in a browser", 0.0, False, "not run: no Chromium found"))
    finally:
        walk.stop_server()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    total = sum(s.seconds for s in walk.steps)
    print(f"Walkthrough of {started:%Y-%m-%d %H:%M} UTC on {machine()}; Python {args.python}.")
    print(f"Load average (1/5/15 min) before: {load_before}, after: {load()}. uv cache: {cache}.\n")
    print("| step | seconds | result |")
    print("|---|---:|---|")
    for s in walk.steps:
        print(f"| `{s.name}` | {s.seconds:.1f} | {s.result.replace('|', '/').replace(chr(10), ' ')} |")
    print(f"| **total** | **{total:.1f}** | |")
    return 0 if walk.steps and all(s.ok for s in walk.steps) else 1


if __name__ == "__main__":
    sys.exit(main())
