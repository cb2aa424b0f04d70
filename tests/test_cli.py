"""The command lines, run as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_config
from fanren_tts.cli.support import run_cli
from fanren_tts.config import PROJECT_ROOT

pytestmark = pytest.mark.usefixtures("default_envs")


def run(*args: str, stdin: str | None = None, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_say_from_argument_stdin_and_file(tmp_path: Path) -> None:
    out = run("fanren_tts", "say", "Hello from the command line.", "-o", str(tmp_path / "a.wav"))
    assert out.returncode == 0, out.stderr
    assert "engine piper" in out.stdout and (tmp_path / "a.wav").exists()
    assert "1 segment," in out.stdout  # not "1 segments"
    out = run("fanren_tts", "say", "-o", str(tmp_path / "b.wav"), stdin="你好，世界")
    assert out.returncode == 0 and "engine espeak" in out.stdout, out.stderr
    text = tmp_path / "line.txt"
    text.write_text("From a file.", encoding="utf-8")
    out = run("fanren_tts", "say", "-f", str(text), "-o", str(tmp_path / "c.wav"), "-e", "espeak")
    assert out.returncode == 0 and "engine espeak" in out.stdout, out.stderr


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["say", "hi", "-o", "x.aiff"], 2, "use one of .wav, .flac, .mp3"),
        (["say", "hi", "-o", "x.wav", "-e", "nope"], 2, "no engine named 'nope'"),
        (["say", "hi", "-o", "x.wav", "-f", "/no/such/file"], 2, "cannot read text file"),
        (["say", "hi", "-o", "x.wav", "-c", "/no/config.yaml"], 2, "config file not found"),
    ],
)
def test_say_errors_are_clear_with_distinct_exit_codes(
    args: list[str], code: int, message: str, tmp_path: Path
) -> None:
    out = run("fanren_tts", *args, cwd=tmp_path)
    assert out.returncode == code, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_say_reports_engine_errors_and_shows_the_remote_traceback_with_debug(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", {"espeak": {"voice": "klingon"}})
    out = run("fanren_tts", "say", "hi", "-o", str(tmp_path / "x.wav"), "-c", str(cfg))
    assert out.returncode == 5
    assert "raised ValueError during load" in out.stderr and "klingon" in out.stderr
    assert "Traceback" not in out.stderr and "--debug" in out.stderr
    out = run("fanren_tts", "say", "hi", "-o", str(tmp_path / "x.wav"), "-c", str(cfg), "--debug")
    assert out.returncode == 5
    assert "espeak_wrapper.py" in out.stderr  # the remote traceback, for the bug report
    assert "in run_cli" in out.stderr  # and the host's


@pytest.mark.parametrize(
    "args,stdin,message",
    [
        (["say", "hi", "-o", "/proc/x.wav"], None, "cannot create files in /proc"),
        (["say", "hi", "-o", "FILE/x.wav"], None, "is a file, not a folder"),
        (["say", "-o", "x.wav"], "caf\udce9", "not UTF-8"),
        (["say", "-f", "LATIN1", "-o", "x.wav"], None, "is not UTF-8"),
        (["say", "-f", "NUL", "-o", "x.wav"], None, "U+0000 at index 3"),
    ],
)
def test_bad_input_and_output_are_one_line_errors_with_exit_2(
    args: list[str], stdin: str | None, message: str, tmp_path: Path
) -> None:
    (tmp_path / "FILE").write_text("a file")
    (tmp_path / "LATIN1").write_bytes("café".encode("latin-1"))
    (tmp_path / "NUL").write_bytes(b"nul\x00byte")
    proc = subprocess.run(
        [sys.executable, "-m", "fanren_tts", *args],
        input=stdin.encode("utf-8", "surrogateescape") if stdin else None,
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
    )
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, err
    assert message in err and "Traceback" not in err, err
    assert not list(tmp_path.glob("**/*.wav"))


def test_an_unexpected_error_is_one_line_unless_debug(capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> int:
        raise RuntimeError("something nobody expected")

    assert run_cli(broken) == 1
    err = capsys.readouterr().err
    assert "error: unexpected RuntimeError: something nobody expected" in err
    assert "Traceback" not in err and "--debug" in err
    assert run_cli(broken, debug=True) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "something nobody expected" in err


def test_say_reports_a_missing_env_with_exit_3(tmp_path: Path) -> None:
    project = tmp_path / "ghost"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname='ghost'\nversion='0'\n")
    (project / "uv.lock").write_text("version = 1\n")
    cfg = write_config(tmp_path / "c.yaml", {"ghost": {"env": str(project), "wrapper": "w.py"}})
    out = run("fanren_tts", "say", "hi", "-o", str(tmp_path / "x.wav"), "-c", str(cfg))
    assert out.returncode == 3 and f"fanren_tts.envs --config {cfg.resolve()} sync ghost" in out.stderr


def test_envs_status_and_sync() -> None:
    out = run("fanren_tts.envs", "status")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "piper" in out.stdout and "espeak" in out.stdout and "ready" in out.stdout
    out = run("fanren_tts.envs", "sync", "espeak")
    assert out.returncode == 0 and "espeak" in out.stdout


@pytest.mark.parametrize("name,text", [("piper", "Standalone."), ("espeak", "独立运行")])
def test_wrappers_run_standalone_with_their_env_interpreter(name: str, text: str, tmp_path: Path) -> None:
    python = PROJECT_ROOT / "envs" / name / ".venv" / "bin" / "python"
    out_wav = tmp_path / f"{name}.wav"
    out = subprocess.run(
        [str(python), str(PROJECT_ROOT / "wrappers" / f"{name}_wrapper.py"), "--text", text, "--out", str(out_wav)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out_wav.stat().st_size > 10_000


def test_say_streams_wav_and_pcm_to_stdout(tmp_path: Path) -> None:
    import struct

    cmd = [sys.executable, "-m", "fanren_tts", "say", "今天天气很好。我们去公园散步吧。", "-o", "-", "-e", "espeak"]
    wav = subprocess.run(cmd, capture_output=True, cwd=PROJECT_ROOT, timeout=120)
    assert wav.returncode == 0, wav.stderr
    head, body = wav.stdout[:44], wav.stdout[44:]
    assert head[:4] == b"RIFF" and head[8:16] == b"WAVEfmt " and head[36:40] == b"data"
    channels, rate, _, _, bits = struct.unpack("<HIIHH", head[22:36])
    assert (channels, rate, bits) == (1, 22050, 16) and struct.unpack("<I", head[40:44])[0] == 0xFFFFFFFF
    assert len(body) > rate  # over half a second of 16-bit audio, streamed
    pcm = subprocess.run([*cmd, "--format", "pcm"], capture_output=True, cwd=PROJECT_ROOT, timeout=120)
    assert pcm.returncode == 0 and abs(len(pcm.stdout) - len(body)) < rate  # raw samples, no header
    assert pcm.stdout[:4] != b"RIFF"


def test_a_player_that_goes_away_ends_the_stream_quietly() -> None:
    cmd = f"{sys.executable} -m fanren_tts say -e espeak -o - '{'很长的一句话，' * 60}' | head -c 1000 > /dev/null"
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_os_error_is_one_line_and_not_called_a_bug(capsys: pytest.CaptureFixture[str]) -> None:
    def disk_full() -> int:
        raise OSError(28, "No space left on device", "/data/out.wav")

    assert run_cli(disk_full) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "/data/out.wav" in err
    assert "Traceback" not in err and "bug" not in err
