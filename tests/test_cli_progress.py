"""A long ``say`` shows how far it is: ``segment k/n`` on stderr, asked for with
``--progress`` or by default on a terminal; nothing in a pipe unless asked.

In process (``main``), real echo workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fanren_tts.cli.commands import main

TEXT = "The first sentence is here. The second one follows. And a third to end."


def test_say_with_progress_shows_each_segment_of_all(
    echo_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["say", TEXT, "-o", str(tmp_path / "a.wav"), "-c", str(echo_config()), "--no-cache", "--progress"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert [line for line in err.splitlines() if line.startswith("segment")] == [
        "segment 1/3",
        "segment 2/3",
        "segment 3/3",
    ]


def test_say_into_a_pipe_stays_quiet_unless_asked(
    echo_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["say", TEXT, "-o", str(tmp_path / "a.wav"), "-c", str(echo_config())]) == 0
    assert "segment" not in capsys.readouterr().err
