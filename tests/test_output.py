"""An output path that cannot be written fails before any synthesis, with a typed error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fanren_tts import ConfigError, OutputError, TTSGenerator
from fanren_tts.audio.paths import check_output_path


@pytest.mark.parametrize(
    "where,message",
    [
        ("/proc/fanren-test.wav", "cannot create files in /proc"),
        ("/sys/fanren-test.wav", "cannot create files in /sys"),
        ("/proc/self/no-such-folder/x.wav", "cannot create files in /proc/self"),
        ("FILE/x.wav", "is a file, not a folder"),
        ("FILE/deeper/x.wav", "is a file, not a folder"),
        ("FIFO", "exists and is not a regular file"),
    ],
)
def test_unwritable_output_fails_before_synthesis(echo_config, tmp_path: Path, where: str, message: str) -> None:
    (tmp_path / "FILE").write_text("a file where a folder should be")
    os.mkfifo(tmp_path / "FIFO.wav")
    target = tmp_path / where.replace("FIFO", "FIFO.wav") if not where.startswith("/") else Path(where)
    with TTSGenerator(echo_config()) as gen:
        with pytest.raises(OutputError, match=message) as info:
            gen.generate("Hello there.", target)
        assert isinstance(info.value, ConfigError)  # an argument problem: exit code 2 on the CLI
        assert str(target) in str(info.value)
        assert not gen.worker("echo").alive, "nothing may be synthesized for an output that cannot be written"


def test_missing_folders_are_fine_and_nothing_is_left_behind(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "x.wav"
    assert check_output_path(target) == target
    assert not (tmp_path / "new").exists()  # checked, not created
    assert os.listdir(tmp_path) == []


def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="Permission denied"):
            check_output_path(folder / "x.wav")
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize(
    "name,message",
    [("a\x00b.wav", "NUL"), ("\ud800.wav", "cannot be encoded"), ("x" * 300 + ".wav", "File name too long")],
)
def test_paths_the_file_system_cannot_take_are_output_errors(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(OutputError, match=message):
        check_output_path(tmp_path / name)


def test_undecodable_bytes_in_a_path_are_fine(tmp_path: Path) -> None:
    target = tmp_path / os.fsdecode(b"caf\xe9.wav")
    assert check_output_path(target) == target
