"""``fanren-tts text``: what each engine will read, from the command line, starting nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from fanren_tts.config import PROJECT_ROOT


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fanren_tts", "text", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


def test_text_shows_segments_engine_and_spoken_text(tmp_path: Path) -> None:
    out = run("-e", "piper", "Did Dr. Smith arrive at 5 p.m. yesterday? It cost $3.50.")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "1. engine piper (en, normalized)",
        "   text:   Did Dr. Smith arrive at 5 p.m. yesterday?",
        "   spoken: Did Doctor Smith arrive at five p m yesterday?",
        "2. engine piper (en, normalized)",
        "   text:   It cost $3.50.",
        "   spoken: It cost three dollars and fifty cents.",
    ]


def test_text_as_json_from_stdin_with_a_lexicon(tmp_path: Path) -> None:
    (tmp_path / "lexicon.yaml").write_text(yaml.safe_dump({"zh": {"单田芳": "善田芳"}}, allow_unicode=True))
    config = tmp_path / "config.yaml"
    doc = {"tts": {"engine": "espeak", "espeak": {}, "text": {"lexicon": "lexicon.yaml"}}}
    config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    out = run("--json", "-c", str(config), stdin="单田芳生于1934年。")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        {"text": "单田芳生于1934年。", "engine": "espeak", "language": "zh", "spoken": "善田芳生于一九三四年。"}
    ]


def test_text_says_when_an_engine_is_left_alone(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"tts": {"engine": "piper", "normalize": "off", "piper": {}}}))
    out = run("-c", str(config), "It cost $3.50.")
    assert out.returncode == 0, out.stderr
    assert "not normalized" in out.stdout and "spoken: It cost $3.50." in out.stdout
