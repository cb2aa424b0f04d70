"""The command line as a new user meets it: init, --version, -c on either side of a
subcommand, the program's own name in usage lines and fix hints, and a description in
every --help. Run as a user runs them: ``python -m fanren_tts`` and the installed
``fanren-tts`` script of this interpreter's environment."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_config
from fanren_tts import __version__
from fanren_tts.__main__ import build_parser
from fanren_tts._exceptions import ConfigError
from fanren_tts.config import load_config

SCRIPT = Path(sys.executable).parent / "fanren-tts"


def module(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fanren_tts", *args], capture_output=True, text=True, cwd=cwd, timeout=120, env=env
    )


def script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not SCRIPT.exists():
        pytest.skip(f"no fanren-tts script beside {sys.executable} (package not installed in this env)")
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_init_writes_the_shipped_template_and_keeps_an_existing_file(tmp_path: Path) -> None:
    from fanren_tts.cli.init import TEMPLATE

    out = module("init", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    written = tmp_path / "config.yaml"
    assert written.read_bytes() == TEMPLATE.read_bytes()
    assert "\n  # " in written.read_text() and f"wrote {written.name}" in out.stdout  # the commented one
    assert load_config(written).engine  # loads as it is
    written.write_text("tts:\n  engine: mine\n  mine: {}\n")
    again = module("init", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    assert written.read_text().startswith("tts:\n  engine: mine")  # untouched
    forced = module("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and written.read_bytes() == TEMPLATE.read_bytes()
    (tmp_path / "proj").mkdir()
    into = module("init", "proj", cwd=tmp_path)
    assert into.returncode == 0 and (tmp_path / "proj" / "config.yaml").is_file()
    deep = module("init", "a/b/c.yaml", cwd=tmp_path)
    assert deep.returncode == 0 and (tmp_path / "a" / "b" / "c.yaml").is_file()
    assert not list(tmp_path.rglob("*.part"))


def test_init_never_replaces_a_file_without_force(tmp_path: Path) -> None:
    from fanren_tts.cli.init import TEMPLATE, write_template

    target = tmp_path / "config.yaml"
    target.write_text("mine")
    with pytest.raises(ConfigError, match="already exists"):
        write_template(target)
    assert target.read_text() == "mine"
    assert write_template(target, force=True) == target and target.read_bytes() == TEMPLATE.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_version(tmp_path: Path) -> None:
    out = module("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip().endswith(__version__)
    assert script("--version", cwd=tmp_path).stdout.strip() == f"fanren-tts {__version__}"


@pytest.mark.usefixtures("default_envs")
def test_config_before_or_after_the_subcommand(tmp_path: Path) -> None:
    cache = tmp_path / "here-cache"
    cfg = write_config(tmp_path / "c.yaml", {"espeak": {"voice": "en-us"}}, cache={"dir": str(cache)})
    for args in (
        ["envs", "status", "-c", str(cfg)],
        ["-c", str(cfg), "envs", "status"],
        [f"--config={cfg}", "envs", "status"],
        ["envs", "-c", str(cfg), "status"],
    ):
        out = module(*args, cwd=tmp_path)
        assert out.returncode == 0, (args, out.stderr)
        assert out.stdout.startswith("espeak") and "piper" not in out.stdout, args  # this config's engines
    own_cache = {k: v for k, v in os.environ.items() if k != "FANREN_TTS_CACHE_DIR"}  # the config's, here
    for args in (["cache", "info", "-c", str(cfg)], ["-c", str(cfg), "cache", "info"]):
        out = module(*args, cwd=tmp_path, env=own_cache)
        assert out.returncode == 0 and str(cache) in out.stdout, (args, out.stderr)
    out = module("-c", str(cfg), "check-envs", "--json", cwd=tmp_path)
    assert out.returncode == 0 and '"espeak"' in out.stdout and '"piper"' not in out.stdout, out.stderr
    # After the subcommand wins over before it, as the nearer one.
    out = module("-c", "/no/such.yaml", "cache", "info", "-c", str(cfg), cwd=tmp_path, env=own_cache)
    assert out.returncode == 0 and str(cache) in out.stdout, out.stderr


def test_usage_and_fix_hints_name_the_command_that_ran(tmp_path: Path) -> None:
    out = script("say", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("usage: fanren-tts say"), out.stderr
    assert "python -m" not in out.stderr
    out = module("say", cwd=tmp_path)
    assert out.stderr.startswith("usage: python -m fanren_tts say"), out.stderr
    project = tmp_path / "ghost"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname='ghost'\nversion='0'\n")
    (project / "uv.lock").write_text("version = 1\n")
    cfg = write_config(tmp_path / "c.yaml", {"ghost": {"env": str(project), "wrapper": "w.py"}})
    out = script("say", "hi", "-o", str(tmp_path / "x.wav"), "-c", str(cfg), cwd=tmp_path)
    assert out.returncode == 3 and f"fanren-tts envs --config {cfg.resolve()} sync ghost" in out.stderr, out.stderr
    out = script("envs", "status", "-c", str(cfg), cwd=tmp_path)
    assert out.returncode == 3 and "fix: fanren-tts envs" in out.stdout and "-m fanren_tts" not in out.stdout
    out = script("envs", "--help", cwd=tmp_path)
    assert out.stdout.startswith("usage: fanren-tts envs"), out.stdout


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_help_has_a_description(tmp_path: Path) -> None:
    programs = {"envs", "check-envs"}  # whole programs of their own, asked below
    for name, sub in _subcommands(build_parser()).items():
        if name in programs:
            continue
        assert sub.description, f"{name} --help has no description"
        for action in sub._actions:
            if action.option_strings and action.help != argparse.SUPPRESS:
                assert action.help, f"{name} {action.option_strings[0]} has no help"
    for args in (["envs", "sync", "--help"], ["envs", "status", "--help"], ["check-envs", "--help"], ["--help"]):
        out = module(*args, cwd=tmp_path)
        paragraphs = out.stdout.split("\n\n")
        assert out.returncode == 0 and len(paragraphs) > 2 and not paragraphs[1].startswith("positional"), args


def test_one_segment_is_singular() -> None:
    from fanren_tts.__main__ import _count

    assert _count(1, "segment") == "1 segment" and _count(2, "segment") == "2 segments"
    assert _count(0, "segment") == "0 segments"


def test_a_builtin_engine_missing_from_the_config_says_how_to_add_it(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", {"espeak": {"voice": "en-us"}})
    out = script("say", "hi", "-o", str(tmp_path / "x.wav"), "-e", "cosyvoice", "-c", str(cfg), cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "cosyvoice is a built-in engine" in out.stderr and "fanren-tts envs sync cosyvoice" in out.stderr
    out = module("say", "hi", "-o", str(tmp_path / "x.wav"), "-e", "nope", "-c", str(cfg), cwd=tmp_path)
    assert out.returncode == 2 and "no engine named 'nope'" in out.stderr and "built-in" not in out.stderr


def test_envs_sync_shows_uv_as_it_builds(tmp_path: Path) -> None:
    """uv's own report (interpreter, venv, downloads, errors) reaches the terminal live, not
    only a captured tail after the fact."""
    project = tmp_path / "ghost"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname='ghost'\nversion='0'\nrequires-python='>=3.10'\n")
    (project / "uv.lock").write_text("version = 1\n")  # uv refuses it: nothing is downloaded
    cfg = write_config(tmp_path / "c.yaml", {"ghost": {"env": str(project), "wrapper": "w.py"}})
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never")
    proc = subprocess.run(
        [sys.executable, "-m", "fanren_tts", "envs", "sync", "ghost", "-c", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, in the order it was written
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 3
    said = proc.stdout
    # uv's lines came as it ran, before the summary line, not as a tail quoted in it afterwards
    assert "Creating virtual environment" in said and "Failed to parse" in said
    assert said.index("Failed to parse") < said.index("ghost        failed")
    assert said.count("Failed to parse") == 1


def test_no_command_lists_the_commands(tmp_path: Path) -> None:
    """``fanren-tts`` alone said only "the following arguments are required: COMMAND";
    a new user who types it wants to see what the commands are."""
    for out in (module(cwd=tmp_path), module("-c", "x.yaml", cwd=tmp_path)):
        assert out.returncode == 2, out
        for name in ("init", "engines", "envs", "say", "serve"):
            assert f"\n    {name} " in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
