"""The web studio at ``/``, in a real headless Chromium (Debian's ``chromium`` package) driven
by Playwright, against a real ``fanren-tts serve`` on loopback with the API key on.

The engines are real: piper and espeak from their committed locks (built by quickstart),
plus ``clone``, the stand-in server wrapper, which takes a reference recording (piper and
espeak speak only with their built-in voices, so a recording for them is refused: that
refusal is one of the checks). Every check reads the page, not the server.

Skips only when no Chromium can be found (``.ci/run`` installs Debian's). Set
``FANREN_TTS_STUDIO_SCREENSHOT=docs/studio.png`` to write the README's screenshot.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("fastapi")
import httpx
import pysubs2
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import TESTS, write_config

sys.path.insert(0, str(TESTS.parent / "scripts"))
from walkthrough import find_chromium

# The checks wait for the page; on a loaded CI machine a first preview (jieba's dictionary)
# or a first take can take longer than Playwright's 5 s default.
expect.set_options(timeout=15_000)

KEY = "studio key/1"  # a space and a slash: the page sends it hex-coded over the WebSocket


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found (apt-get install chromium, or set FANREN_TTS_CHROMIUM): the studio's browser test needs one",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tone_wav(seconds: float = 2.0, rate: int = 16000) -> bytes:
    frames = b"".join(
        struct.pack("<h", int(9000 * math.sin(2 * math.pi * 220 * i / rate))) for i in range(int(seconds * rate))
    )
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bare_python: Path, default_envs: None) -> Iterator[str]:
    """``fanren-tts serve`` with piper, espeak and a cloning stand-in; the key on."""
    root = tmp_path_factory.mktemp("studio")
    config = write_config(
        root / "config.yaml",
        {
            "piper": {},
            "espeak": {"voice": "cmn"},
            "clone": {"python": str(bare_python), "wrapper": str(TESTS / "wrappers" / "server_wrapper.py")},
        },
        "piper",
        routes={"zh": "espeak"},
        output={"sample_rate": 22050},
        cache={"dir": str(root / "cache")},
        voices={"dir": str(root / "voices")},
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (root / "serve.log").open("wb")
    cmd = [sys.executable, "-m", "fanren_tts", "serve", "-c", str(config), "--port", str(port), "--api-key", KEY]
    proc = subprocess.Popen([*cmd, "--warm", "piper", "espeak"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (root / "serve.log").read_text()
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve did not get ready: " + (root / "serve.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--autoplay-policy=no-user-gesture-required",
                "--use-fake-ui-for-media-stream",  # the Record button gets a fake microphone
                "--use-fake-device-for-media-stream",
            ],
        )
        yield chromium
        chromium.close()


class Offline:
    """Every request the page makes; anything not to the server is refused (and recorded)."""

    def __init__(self, page: Page, server: str) -> None:
        self.outside: list[str] = []
        host = urlsplit(server).netloc

        def route(r: Any) -> None:
            target = urlsplit(r.request.url)
            if target.scheme in ("http", "https", "ws", "wss") and target.netloc != host:
                self.outside.append(r.request.url)
                r.abort()
            else:
                r.continue_()

        page.route("**/*", route)


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1360, "height": 620})
    page = context.new_page()
    page.offline = Offline(page, server)  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))  # an uncaught exception in the page's scripts
    page.goto(server + "/")
    page.fill("#key", KEY)
    page.dispatch_event("#key", "change")
    expect(page.locator("#engine option[value=piper]")).to_have_count(1)
    yield page
    assert page.offline.outside == []  # type: ignore[attr-defined]
    assert errors == []
    context.close()


def test_without_the_key_the_page_says_so_and_keeps_the_key_in_the_session_only(browser: Browser, server: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(server + "/")  # the page itself needs no key
    expect(page.locator("#notice")).to_contain_text("API key")
    page.fill("#key", KEY)
    page.dispatch_event("#key", "change")
    expect(page.locator("#engine option[value=espeak]")).to_have_count(1)
    expect(page.locator("#notice")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('fanren-key')") == KEY
    assert page.evaluate("localStorage.length") == 0
    expect(page.locator("#health .badge.ready")).to_have_count(2)  # piper and espeak were warmed
    context.close()


def test_rows_show_the_engine_and_what_it_reads_then_play_with_words_lit_in_order(page: Page, tmp_path: Path) -> None:
    page.fill("#script", "The quick brown fox jumps over 3 lazy dogs.\n你好，世界。")
    page.click("#load")
    rows = page.locator("#rows tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".engine")).to_have_text("piper")
    expect(rows.nth(1).locator(".engine")).to_have_text("espeak")
    expect(rows.nth(0).locator(".spoken")).to_contain_text("three lazy dogs")  # the front end's reading

    # Record, through the page, every word that lights up, in the order it does.
    page.evaluate(
        """() => {
        window.lit = [];
        new MutationObserver((changes) => {
          for (const c of changes) {
            const el = c.target;
            if (el.classList && el.classList.contains('current') && !(c.oldValue || '').includes('current'))
              window.lit.push(Number(el.dataset.i));
          }
        }).observe(document.querySelector('#rows'), {subtree: true, attributes: true, attributeFilter: ['class'], attributeOldValue: true});
      }"""
    )
    first = rows.nth(0)
    first.locator("button[data-action=play]").click()
    expect(first).to_have_attribute("data-done", "1", timeout=30_000)
    assert int(first.get_attribute("data-bytes") or 0) > 22050  # audio arrived: over half a second of PCM16
    words = first.locator(".word")
    count = words.count()
    assert count >= 8
    expect(first.locator(".word.spoken")).to_have_count(count, timeout=20_000)  # every word was reached
    lit = page.evaluate("window.lit")
    assert lit == sorted(set(lit)), lit  # in order, each once
    assert len(lit) >= count // 2, (lit, count)  # most words lit on their own (a short one may fall between frames)
    assert words.nth(1).text_content() == "quick"

    second = rows.nth(1)
    second.locator("button[data-action=play]").click()
    expect(second).to_have_attribute("data-done", "1", timeout=30_000)
    expect(second.locator(".status")).to_contain_text("made")

    # Re-take one line: only that line goes back to the server, the other keeps its audio.
    opened: list[str] = []
    page.on("websocket", lambda ws: opened.append(ws.url))
    first.locator("button[data-action=re-take]").click()
    expect(first).to_have_attribute("data-done", "1", timeout=30_000)
    second.locator("button[data-action=play]").click()
    expect(second.locator(".status")).to_contain_text("kept")
    assert len(opened) == 1, opened

    shot = os.environ.get("FANREN_TTS_STUDIO_SCREENSHOT")
    page.wait_for_timeout(400)  # mid-line: a word lit
    page.screenshot(path=shot or str(tmp_path / "studio.png"), full_page=True)


def test_a_line_and_the_whole_script_download_as_wav_and_subtitles(page: Page, tmp_path: Path) -> None:
    page.fill("#script", "Hello there, general reader.\nSubtitles come with the audio.")
    page.click("#load")
    row = page.locator("#rows tbody tr").nth(0)
    expect(row).to_be_visible()
    for fmt in ("srt", "vtt", "ass"):
        with page.expect_download(timeout=30_000) as info:
            row.locator(f"button[data-action={fmt}]").click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        subs = pysubs2.load(str(path))
        assert subs.events, fmt
        assert "Hello" in subs.events[0].plaintext
        assert all(0 <= e.start < e.end for e in subs.events)
    with page.expect_download(timeout=30_000) as info:
        row.locator("button[data-action=wav]").click()
    info.value.save_as(tmp_path / "line.wav")
    with wave.open(str(tmp_path / "line.wav")) as w:
        line_frames = w.getnframes()
        assert w.getframerate() == 22050 and line_frames > 11025

    with page.expect_download(timeout=60_000) as info:
        page.click("[data-all=srt]")
    info.value.save_as(tmp_path / "script.srt")
    cues = pysubs2.load(str(tmp_path / "script.srt")).events
    assert "Hello" in cues[0].plaintext and "audio" in cues[-1].plaintext
    assert cues[-1].start >= line_frames / 22050  # the second line's cues come after the first line
    with page.expect_download(timeout=30_000) as info:
        page.click("[data-all=wav]")
    info.value.save_as(tmp_path / "script.wav")
    with wave.open(str(tmp_path / "script.wav")) as w:
        assert w.getnframes() > line_frames


def test_voices_are_made_from_an_upload_or_a_recording_and_refusals_show_why(page: Page, tmp_path: Path) -> None:
    good = tmp_path / "reference.wav"
    good.write_bytes(tone_wav())
    page.fill("#voice-name", "narrator")
    page.select_option("#voice-engine", "clone")
    page.set_input_files("#voice-file", str(good))
    page.fill("#voice-transcript", "a steady reference tone")
    page.click("#voice-form button[type=submit]")
    expect(page.locator("#voice-status")).to_have_class("ok")
    expect(page.locator("#voice-list li[data-voice=narrator]")).to_be_visible()

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio at all" * 10)
    page.fill("#voice-name", "broken")
    page.set_input_files("#voice-file", str(bad))
    page.click("#voice-form button[type=submit]")
    expect(page.locator("#voice-status")).to_have_class("error")
    expect(page.locator("#voice-status")).to_contain_text("refused:")
    expect(page.locator("#voice-list li[data-voice=broken]")).to_have_count(0)

    page.fill("#voice-name", "joe")
    page.select_option("#voice-engine", "piper")
    page.set_input_files("#voice-file", str(good))
    page.click("#voice-form button[type=submit]")
    expect(page.locator("#voice-status")).to_contain_text("built-in voices")  # the engine's reason, shown

    page.fill("#voice-name", "mic")
    page.select_option("#voice-engine", "clone")
    page.set_input_files("#voice-file", [])
    page.click("#record")
    expect(page.locator("#rec-state")).to_contain_text("recording")
    page.wait_for_timeout(1500)
    page.click("#record")
    expect(page.locator("#rec-state")).to_contain_text("recorded", timeout=10_000)
    page.click("#voice-form button[type=submit]")
    expect(page.locator("#voice-list li[data-voice=mic]")).to_be_visible()


def test_the_api_docs_render_offline(page: Page, server: str) -> None:
    """/docs and /redoc ask nothing of any host but the server: every request the pages make
    (scripts, styles, fonts, favicon, ReDoc's "API docs by Redocly" logo) is recorded."""
    host = urlsplit(server).netloc
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(server + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("fanren_tts", timeout=15_000)
    expect(page.locator(".opblock-summary-path", has_text="/v1/text/preview")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.goto(server + "/redoc")
    expect(page.locator("h1", has_text="fanren_tts")).to_be_visible(timeout=15_000)
    expect(page.locator("a[href='https://redocly.com/redoc/']")).to_be_visible()  # the sidebar, logo and all, drawn
    page.wait_for_load_state("networkidle")
    elsewhere = [
        u for u in requested if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != host
    ]
    assert elsewhere == []
    assert any(u.endswith("/redoc.standalone.js") for u in requested)  # the recording saw ReDoc's own load


def test_a_re_take_with_a_new_seed_is_the_take_that_downloads(page: Page) -> None:
    sent: list[dict[str, Any]] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(json.loads(payload))))
    page.select_option("#engine", "clone")
    page.check("#vary-seed")
    page.fill("#script", "one two three")
    page.click("#load")
    row = page.locator("#rows tbody tr").nth(0)
    expect(row.locator(".engine")).to_have_text("clone")
    row.locator("button[data-action=play]").click()
    expect(row).to_have_attribute("data-done", "1", timeout=30_000)
    row.locator("button[data-action=re-take]").click()
    expect(row).to_have_attribute("data-done", "1", timeout=30_000)
    assert len(sent) == 2 and "extra" not in sent[0]  # the first take: the engine's defaults
    seed = sent[1]["extra"]["seed"]
    with page.expect_request("**/v1/audio/speech/captioned") as request, page.expect_download(timeout=30_000):
        row.locator("button[data-action=srt]").click()
    body = request.value.post_data_json
    assert body is not None and body["extra"] == {"seed": seed}
