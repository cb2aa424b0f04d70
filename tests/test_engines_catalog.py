"""The engine catalog: ``fanren-tts engines [add|remove]``, end to end against a loopback hub.

The hub is ``tests/hubmock.py`` on 127.0.0.1 (``HF_ENDPOINT``), serving the joe voice the
piper env ships as if it were a hub repo; nothing here reaches the internet. The end-to-end
test builds a piper env from the committed lock in a temporary ``FANREN_TTS_HOME`` (from
uv's cache), so the worktree's own envs are never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hubmock import Hub, piper_voice_files

from fanren_tts import ConfigError
from fanren_tts._envs import env_status
from fanren_tts._exceptions import HubError
from fanren_tts.config import PROJECT_ROOT, load_config
from fanren_tts.engines import catalog, listing
from fanren_tts.engines.hub import fetch, is_hub_id
from fanren_tts.engines.yamltext import remove_block, set_block

USER_CONFIG = """\
# my narration config: every comment here must survive
tts:
  engine: espeak   # the default engine

  # a comment between blocks
  espeak:
    voice: en-us   # an inline comment
    rate: 170

# the pipeline's own section, which fanren_tts never reads
pipeline:
  fps: 24
"""


def _piper_site() -> Path:
    status = env_status(PROJECT_ROOT / "envs" / "piper", "piper")
    if not status.ready:
        pytest.skip("piper env not built: python scripts/quickstart.py")
    return next((status.venv / "lib").glob("python3*/site-packages"))


# --------------------------------------------------------------------------- the config text


def test_a_block_goes_in_with_every_comment_kept_and_comes_out_again(tmp_path: Path) -> None:
    added = set_block(USER_CONFIG, "piper", {"model_path": "/w/v.onnx"}, "fanren-tts engines add piper")
    assert all(line in added.splitlines() for line in USER_CONFIG.splitlines())
    doc = yaml.safe_load(added)
    assert doc["tts"]["piper"] == {"model_path": "/w/v.onnx"} and doc["pipeline"] == {"fps": 24}
    assert added.index("  piper:") < added.index("# the pipeline's own section")
    assert remove_block(added, "piper") == USER_CONFIG


def test_an_option_is_set_in_an_existing_block_in_place() -> None:
    changed = set_block(USER_CONFIG, "espeak", {"rate": 200, "pitch": 40}, None)
    assert "    rate: 200" in changed and "    voice: en-us   # an inline comment" in changed
    assert yaml.safe_load(changed)["tts"]["espeak"] == {"voice": "en-us", "rate": 200, "pitch": 40}
    assert set_block(USER_CONFIG, "espeak", {}, "x") == USER_CONFIG  # already there: nothing to add
    inline = set_block(USER_CONFIG.replace("tts:\n", "tts:\n  piper: {}\n"), "piper", {"model_path": "m"}, None)
    assert yaml.safe_load(inline)["tts"]["piper"] == {"model_path": "m"}


def test_config_without_tts_or_without_the_block_is_refused() -> None:
    with pytest.raises(ConfigError, match="no `tts:` section"):
        set_block("pipeline:\n  fps: 24\n", "piper", {}, None)
    with pytest.raises(ConfigError, match="no tts.piper block"):
        remove_block(USER_CONFIG, "piper")


def test_the_shipped_config_is_never_edited(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ships"):
        catalog.user_config(PROJECT_ROOT / "config.yaml")
    with pytest.raises(ConfigError, match="init"):
        catalog.user_config(tmp_path / "nothing.yaml")


def test_disk_usage_counts_a_hard_linked_file_once_and_frees_only_what_is_not_linked_elsewhere(
    tmp_path: Path,
) -> None:
    venv, cache = tmp_path / "venv", tmp_path / "cache"
    venv.mkdir()
    cache.mkdir()
    (cache / "big").write_bytes(b"x" * 1000)
    os.link(cache / "big", venv / "big")  # what uv does from its cache
    os.link(venv / "big", venv / "big-again")
    (venv / "own").write_bytes(b"y" * 10)
    assert listing.disk_usage(venv) == (1010, 10)
    (cache / "big").unlink()
    assert listing.disk_usage(venv) == (1010, 1010)


def test_a_local_folder_is_checked_against_the_rows_layout(tmp_path: Path) -> None:
    from fanren_tts.engines import BUILTIN

    folder = tmp_path / "kokoro"
    folder.mkdir()
    (folder / "kokoro-v1.0.onnx").write_bytes(b"m")
    (folder / "voices-v1.0.npz").write_bytes(b"v")
    placed = catalog._place_local(BUILTIN["kokoro"], folder)
    assert placed == folder / "kokoro-v1.0.onnx"
    assert catalog._also(BUILTIN["kokoro"], placed) == {"voices_path": str(folder / "voices-v1.0.npz")}
    (folder / "other.onnx").write_bytes(b"m")
    with pytest.raises(ConfigError, match="kokoro-v1.0.onnx, other.onnx: give the file itself"):
        catalog._place_local(BUILTIN["kokoro"], folder)
    qwen = tmp_path / "qwen"
    qwen.mkdir()
    with pytest.raises(ConfigError, match=r"put config.json in .*qwen \(every file of the release"):
        catalog._place_local(BUILTIN["qwen3"], qwen)
    (qwen / "config.json").write_text("{}")
    assert catalog._place_local(BUILTIN["qwen3"], qwen) == qwen


def test_hub_ids_and_paths_are_told_apart(tmp_path: Path) -> None:
    assert is_hub_id("rhasspy/piper-voices") and is_hub_id("Qwen/Qwen3-TTS-12Hz-1.7B-Base@main")
    assert not is_hub_id("voice.onnx") and not is_hub_id("a/b/c") and not is_hub_id("a b/c")
    (tmp_path / "owner").mkdir()
    (tmp_path / "owner" / "name").mkdir()
    os.chdir(tmp_path)
    assert not is_hub_id("owner/name")  # a folder that exists here is a path


def test_removing_the_default_engine_says_so_and_leaves_the_file(tmp_path: Path) -> None:
    config = tmp_path / "my.yaml"
    config.write_text(USER_CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        catalog.remove("espeak", config, say=lambda _: None)
    assert "tts.engine names espeak" in str(info.value) and f"{config} left as it was" in str(info.value)
    assert ".check.yaml" not in str(info.value) and config.read_text(encoding="utf-8") == USER_CONFIG
    assert not list(tmp_path.glob(".*check.yaml"))


def test_adding_an_engine_that_needs_weights_and_a_checkout_says_what_is_left(tmp_path: Path) -> None:
    config = tmp_path / "my.yaml"
    config.write_text(USER_CONFIG, encoding="utf-8")
    said: list[str] = []
    done = catalog.add("cosyvoice", config, build=False, speak=False, say=said.append)
    assert done["ready"] is False
    assert any("--weights PATH_OR_HUB_ID" in line and "FunAudioLLM/CosyVoice2-0.5B" in line for line in said)
    assert any("source_path" in line and "github.com/FunAudioLLM/CosyVoice" in line for line in said)
    assert "cosyvoice" in load_config(config).engines  # the block is in, every comment kept
    assert all(line in config.read_text(encoding="utf-8").splitlines() for line in USER_CONFIG.splitlines())


# --------------------------------------------------------------------------- the hub download


@pytest.fixture(scope="module")
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")  # the side hub client is installed once for the module


def test_a_broken_download_resumes_with_a_range_request(tmp_path: Path, data_home: Path) -> None:
    site = _piper_site()
    files = piper_voice_files(site)
    with Hub("rhasspy/joe", files) as hub:
        hub.drop.add("en_US-joe-medium.onnx")
        os.environ["HF_ENDPOINT"] = hub.url
        try:
            got = fetch(
                site.parents[2] / "bin" / "python",
                "rhasspy/joe",
                tmp_path / "w",
                uv=shutil.which("uv") or catalog.uv_bin(),
                home=data_home,
                backoff=0.01,
            )
        finally:
            os.environ.pop("HF_ENDPOINT", None)
    gets = [(p, r) for m, p, r in hub.requests if m == "GET" and p.endswith(".onnx")]
    assert len(gets) == 2 and gets[0][1] is None and gets[1][1] is not None and gets[1][1].startswith("bytes=")
    assert int(gets[1][1][6:].split("-")[0]) > 0  # it asked only for the rest
    for name, data in files.items():
        assert (tmp_path / "w" / name).read_bytes() == data
    assert dict(got.files) == {n: len(d) for n, d in files.items()} and got.commit


def test_a_file_that_fails_its_hash_is_deleted_and_named(tmp_path: Path, data_home: Path) -> None:
    site = _piper_site()
    with Hub("rhasspy/joe", piper_voice_files(site)) as hub:
        hub.corrupt.add("en_US-joe-medium.onnx.json")
        os.environ["HF_ENDPOINT"] = hub.url
        try:
            with pytest.raises(HubError, match=r"en_US-joe-medium.onnx.json: git blob id .* \(deleted\)"):
                fetch(
                    site.parents[2] / "bin" / "python",
                    "rhasspy/joe",
                    tmp_path / "w",
                    uv=catalog.uv_bin(),
                    home=data_home,
                    backoff=0.01,
                )
        finally:
            os.environ.pop("HF_ENDPOINT", None)
    assert not (tmp_path / "w" / "en_US-joe-medium.onnx.json").exists()
    assert (tmp_path / "w" / "en_US-joe-medium.onnx").is_file()  # the good file stays


# --------------------------------------------------------------------------- end to end


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fanren_tts", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_engines_add_and_remove_piper_with_a_loopback_hub(tmp_path: Path, data_home: Path) -> None:
    site = _piper_site()
    home = tmp_path / "home"
    (home / "envs" / "piper").mkdir(parents=True)
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(PROJECT_ROOT / "envs" / "piper" / name, home / "envs" / "piper" / name)
    (home / "wrappers").symlink_to(PROJECT_ROOT / "wrappers")
    shutil.copy(PROJECT_ROOT / "config.yaml", home / "config.yaml")
    config = tmp_path / "my.yaml"
    config.write_text(USER_CONFIG, encoding="utf-8")
    local = tmp_path / "voice"
    local.mkdir()
    files = piper_voice_files(site)
    (local / "en_US-joe-medium.onnx").write_bytes(files["en_US-joe-medium.onnx"])

    with Hub("rhasspy/joe-voice", files) as hub:
        env = dict(
            os.environ,
            FANREN_TTS_HOME=str(home),
            FANREN_TTS_DATA=str(data_home),
            HF_ENDPOINT=hub.url,
            UV_PYTHON_DOWNLOADS="never",
        )
        env.pop("FANREN_TTS_CONFIG", None)
        # a local folder without the voice's config: named file by file, nothing written
        bad = _cli(["engines", "add", "piper", "--weights", str(local), "--no-try", "-c", str(config)], env, tmp_path)
        assert bad.returncode == 2, bad.stderr
        assert "en_US-joe-medium.onnx.json" in bad.stderr and str(local) in bad.stderr
        assert config.read_text(encoding="utf-8") == USER_CONFIG and not (home / "envs" / "piper" / ".venv").exists()

        listed = _cli(["engines", "-c", str(config)], env, tmp_path)
        assert listed.returncode == 0, listed.stderr
        piper_line = next(line for line in listed.stdout.splitlines() if line.startswith("piper "))
        assert "missing" in piper_line and "piper-tts 1.8.0" in piper_line

        hub.drop.add("en_US-joe-medium.onnx")
        added = _cli(["engines", "add", "piper", "--weights", "rhasspy/joe-voice", "-c", str(config)], env, tmp_path)
        assert added.returncode == 0, added.stdout + added.stderr
    out = added.stdout
    print(out)  # what it measured, for the note (pytest -s)
    assert "env: ready" in out and "every hash matched" in out and "RTF" in out, out
    assert any(r and r.startswith("bytes=") for _, p, r in hub.requests if p.endswith(".onnx")), "no resume"
    text = config.read_text(encoding="utf-8")
    assert all(line in text.splitlines() for line in USER_CONFIG.splitlines())  # comments kept
    placed = data_home / "weights" / "piper" / "rhasspy--joe-voice" / "en_US-joe-medium.onnx"
    assert load_config(config).engines["piper"].options["model_path"] == str(placed)
    assert placed.read_bytes() == files["en_US-joe-medium.onnx"]
    venv = home / "envs" / "piper" / ".venv"
    assert env_status(home / "envs" / "piper", "piper").ready

    listed = _cli(["engines", "-c", str(config)], env, tmp_path)
    piper_line = next(line for line in listed.stdout.splitlines() if line.startswith("piper "))
    assert " piper " in piper_line and "ready" in piper_line and "MB" in piper_line

    removed = _cli(["engines", "remove", "piper", "-c", str(config)], env, tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert "freed" in removed.stdout and not venv.exists() and not placed.parent.exists()
    assert config.read_text(encoding="utf-8") == USER_CONFIG


def test_the_listing_says_what_to_run_for_an_env_that_is_not_ready() -> None:
    def state(name: str, envs: dict[str, str]) -> listing.EngineState:
        return listing.EngineState(name, [], envs, 0, {}, [], "MIT", ["en"], "no")

    table = listing.render([state("piper", {"piper": "ready"}), state("qwen3", {"qwen3": "missing"})])
    assert "not built (qwen3): `fanren-tts engines add NAME`" in table and "envs sync NAME" in table
    assert "drifted" not in table
    table = listing.render([state("vits", {"vits": "ready", "vits-tf457": "drifted"})])
    assert "drifted or incomplete (vits-tf457): `fanren-tts envs sync NAME`" in table
    assert "engines add" not in listing.render([state("piper", {"piper": "ready"})])
