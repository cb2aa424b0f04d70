"""Batches from a video script (``--text-key``), and Ctrl-C during a batch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ECHO, write_config
from fanren_tts import ConfigError, load_script

SCENES = {
    "title": "episode 1",
    "scenes": [
        {"id": 1, "narration": "The first scene.", "shot": "wide", "duration": 12.0},
        {"id": 2, "narration": "", "shot": "close-up"},  # a silent scene
        {"id": "three", "narration": "The third scene.", "image_prompt": "a temple", "engine": "echo"},
    ],
}


def test_text_key_reads_a_video_script(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(SCENES), encoding="utf-8")
    lines = load_script(path, text_key="narration")
    assert [(line.id, line.text, line.engine) for line in lines] == [
        ("1", "The first scene.", None),
        ("three", "The third scene.", "echo"),
    ]
    assert lines[0].duration is None  # a scene's length is its shot's, not the narration's
    with pytest.raises(ConfigError, match="'text'.*narration, shot, duration"):
        load_script(path, text_key="text")
    with pytest.raises(ConfigError):  # without --text-key the scenes are not lines
        load_script(path)


def echo_batch(tmp_path: Path, bare_python: Path, lines: int, delay: float) -> tuple[Path, Path]:
    cfg = write_config(
        tmp_path / "c.yaml",
        {"echo": {"python": str(bare_python), "wrapper": str(ECHO)}},
        cache={"enabled": False},
    )
    script = tmp_path / "script.json"
    scenes = [{"id": f"s{i}", "narration": f"Line {i}.", "options": {"delay": delay}} for i in range(lines)]
    script.write_text(json.dumps({"scenes": scenes}))
    return cfg, script


def test_batch_cli_with_text_key(tmp_path: Path, bare_python: Path) -> None:
    cfg, script = echo_batch(tmp_path, bare_python, 2, 0.0)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fanren_tts",
            "batch",
            str(script),
            "-o",
            str(tmp_path / "out"),
            "-c",
            str(cfg),
            "--text-key",
            "narration",
            "--no-subtitles",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [e["text"] for e in manifest["lines"]] == ["Line 0.", "Line 1."]


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


BY_LIBRARY = """
import sys
from fanren_tts import TTSGenerator, load_script
from fanren_tts._batch import BatchInterrupted
with TTSGenerator(sys.argv[1]) as gen:
    try:
        gen.generate_many(load_script(sys.argv[2], text_key="narration"), sys.argv[3], subtitles=False)
    except BatchInterrupted as exc:
        print("caught", len(exc.result.results), exc.result.manifest, flush=True)
        raise SystemExit(130)
"""


@pytest.mark.parametrize("how", ["cli", "library"])
@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_the_batch_and_leaves_a_manifest(
    tmp_path: Path, bare_python: Path, how: str, presses: int
) -> None:
    cfg, script = echo_batch(tmp_path, bare_python, 30, 1.0)
    out = tmp_path / "out"
    if how == "cli":
        cmd = [sys.executable, "-m", "fanren_tts", "batch", str(script), "-o", str(out), "-c", str(cfg)]
        cmd += ["--text-key", "narration", "--no-subtitles"]
    else:
        cmd = [sys.executable, "-c", BY_LIBRARY, str(cfg), str(script), str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: (out / "001_s0.wav").exists(), 60), "the first line never finished"
        proc.send_signal(signal.SIGINT)
        if presses == 2:
            time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)  # 30 lines of 1 s each would take longer
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    # 130; a second press that lands while the interpreter shuts down ends it by the signal
    # itself, which a shell reports as 130 too
    assert proc.returncode == 130 or (presses == 2 and proc.returncode == -signal.SIGINT), stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["interrupted"] is True and manifest["ok"] is False
    done = [e for e in manifest["lines"] if e["ok"]]
    stopped = [e for e in manifest["lines"] if not e["ok"]]
    assert done and stopped and len(done) + len(stopped) == 30
    assert all(e.get("interrupted") for e in stopped)
    assert all((out / e["wav"]).is_file() for e in done)  # finished lines keep their files
    wavs = sorted(p.name for p in out.glob("*.wav"))
    assert wavs == sorted(e["wav"] for e in done)  # and nothing else was written
    assert not list(out.glob(".*tmp*"))
    if how == "library":
        assert stdout.startswith("caught")
    else:
        assert "manifest" in stderr
