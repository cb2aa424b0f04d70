"""The engine registry: one complete row per built-in engine, and every other place reads it.

These fail when a built-in engine is added halfway (an env without a row, a row
without a wrapper, a README that names other engines than the registry, a lock
outside the row's pins) and when a module grows its own table of engines again.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest
import tomllib
import yaml

import fanren_tts
from fanren_tts import ConfigError
from fanren_tts._options import Strict
from fanren_tts._pins import known_conflicts
from fanren_tts.config import PROJECT_ROOT, load_config
from fanren_tts.engines import BUILTIN, EngineRow, Pin, Weights, options_model, row, table

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(fanren_tts.__file__).resolve().parent


def _locked(env: str) -> dict[str, str]:
    lock = tomllib.loads((PROJECT_ROOT / "envs" / env / "uv.lock").read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for package in lock.get("package", []):
        found.setdefault(package["name"], package.get("version", ""))
    return found


@pytest.mark.parametrize("name", list(BUILTIN))
def test_each_row_is_complete(name: str) -> None:
    r = BUILTIN[name]
    assert r.name == name and row(name) is r
    assert issubclass(r.options, Strict) and options_model(name) is r.options
    assert r.licence.strip() and r.languages and all(lang.strip() for lang in r.languages)
    assert r.gpu in ("no", "optional", "recommended", "required")
    assert r.capacity.max_batch >= 1 and r.capacity.concurrency >= 1
    assert (PROJECT_ROOT / r.wrapper).is_file(), f"{name}: no wrapper {r.wrapper}"
    assert r.envs, f"{name}: no env"
    for env in r.envs:
        assert (PROJECT_ROOT / "envs" / env / "pyproject.toml").is_file(), f"{name}: envs/{env} has no pyproject"
        assert (PROJECT_ROOT / "envs" / env / "uv.lock").is_file(), f"{name}: envs/{env} has no committed lock"
    w = r.weights
    if w.needed:
        assert w.key and w.files, f"{name}: weights the user must give need an option and a file layout"
    else:
        assert w.shipped, f"{name}: say where its weights come from"
    if w.key is not None:
        assert w.key in r.options.model_fields, f"{name}: weights option {w.key} is not an option of it"
    for option, _pattern in w.also:
        assert option in r.options.model_fields, f"{name}: weights option {option} is not an option of it"
    if r.rate is not None:
        assert r.rate.option in r.options.model_fields, f"{name}: rate control {r.rate.option} is not an option"
        assert r.rate.low <= r.rate.default <= r.rate.high
    if r.voice is not None:
        assert r.voice.takes in ("audio", "speaker", "either")
    if r.instruct is not None:
        assert r.instruct in r.options.model_fields, f"{name}: instruct option {r.instruct} is not an option"
    if r.speaks is not None:
        assert all(re.fullmatch(r"[a-z]{2,3}", code) for code in r.speaks), f"{name}: speaks takes ISO codes"
    if r.source is not None:
        assert "source_path" in r.options.model_fields and r.source.files
    if r.verify is not None:
        assert (REPO / "scripts" / "verify" / f"{r.verify}.py").is_file(), f"{name}: no verify builder {r.verify}"
    if r.package is not None and r.source is None:
        assert r.package in _locked(r.envs[0]), f"{name}: {r.package} is not in envs/{r.envs[0]}/uv.lock"


def test_a_wrapper_that_states_a_licence_states_its_rows() -> None:
    """describe() runs in the engine's env, which cannot import the registry: its LICENSE must match the row."""
    for r in BUILTIN.values():
        tree = ast.parse((PROJECT_ROOT / r.wrapper).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "LICENSE" for t in node.targets):
                assert ast.literal_eval(node.value) == r.licence, f"{r.wrapper}'s LICENSE differs from {r.name}'s row"


def test_every_env_folder_has_a_row_and_every_row_env_a_folder() -> None:
    folders = {p.name for p in (PROJECT_ROOT / "envs").iterdir() if (p / "pyproject.toml").is_file()}
    claimed = [env for r in BUILTIN.values() for env in r.envs]
    assert len(claimed) == len(set(claimed)), "an env folder is claimed by two rows"
    assert folders - set(claimed) == set(), "env folders without a registry row (add one to engines/builtin.py)"
    assert set(claimed) - folders == set(), "registry rows naming env folders that do not exist"


def test_every_committed_lock_is_inside_its_rows_pins() -> None:
    for r in BUILTIN.values():
        for env in r.envs[:1]:  # the default env; an extra env (vits-tf457) exists to differ
            locked = _locked(env)
            for pin in r.pins:
                assert pin.package in locked, f"{r.name}: pin on {pin.package}, which envs/{env} does not lock"
                assert not known_conflicts(r.name, {pin.package: locked[pin.package]}), (r.name, pin)
            if r.torchaudio_io and "torchaudio" in locked:
                assert not known_conflicts(r.name, {"torchaudio": locked["torchaudio"]}), r.name


def test_check_envs_reads_pins_from_the_row(monkeypatch: pytest.MonkeyPatch) -> None:
    import fanren_tts._pins as check

    assert known_conflicts("piper", {"onnxruntime": "1.0.0"}) == []
    rows = dict(BUILTIN)
    rows["piper"] = dataclasses.replace(BUILTIN["piper"], pins=(Pin("onnxruntime", ">=1.20", "onnxruntime>=1.20"),))
    monkeypatch.setattr(check, "BUILTIN", rows)
    [problem] = known_conflicts("piper", {"onnxruntime": "1.0.0"})
    assert problem.code == "onnxruntime-range" and "piper supports onnxruntime>=1.20" in problem.message
    assert problem.fix.startswith("pin onnxruntime>=1.20")
    rows["piper"] = dataclasses.replace(BUILTIN["piper"], torchaudio_io=True)
    assert [p.code for p in known_conflicts("piper", {"torchaudio": "2.9.0"})] == ["torchaudio-torchcodec"]


def test_fit_and_voices_read_the_row(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import fanren_tts._fit as fit
    import fanren_tts._voicemap as voicemap

    assert fit.rate_control("piper", None) is BUILTIN["piper"].rate
    assert fit.rate_control("qwen3", None) is None
    rows = dict(BUILTIN)
    rows["qwen3"] = dataclasses.replace(BUILTIN["qwen3"], rate=BUILTIN["kokoro"].rate)
    monkeypatch.setattr(fit, "BUILTIN", rows)
    assert fit.rate_control("qwen3", None) is BUILTIN["kokoro"].rate

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"tts": {"engine": "flux", "flux": {"python": "/usr/bin/python3"}}}))
    config = load_config(path, environ={})
    with pytest.raises(ConfigError, match="no voices to choose"):
        voicemap.check_voice(config, "flux", False, "x", None)
    rows["flux"] = dataclasses.replace(BUILTIN["flux"], voice=BUILTIN["espeak"].voice)
    monkeypatch.setattr(voicemap, "BUILTIN", rows)
    voicemap.check_voice(config, "flux", False, "en-us", None)  # the row now says it takes a speaker


def test_a_speaker_engine_names_its_own_kind_of_speaker(tmp_path: Path) -> None:
    """openai's hint was lost: a second ``_SPEAKER_HINT`` table overwrote the first."""
    import fanren_tts._voicemap as voicemap

    path = tmp_path / "c.yaml"
    blocks = {k: {"python": "/usr/bin/python3"} for k in ("openai", "piper", "kokoro")}
    path.write_text(yaml.safe_dump({"tts": {"engine": "openai", **blocks}}))
    config = load_config(path, environ={})
    for engine, hint in [("openai", "remote server's voice"), ("piper", "integer"), ("kokoro", "jf_alpha")]:
        with pytest.raises(ConfigError, match=hint):
            voicemap.check_voice(config, engine, True, None, None)


def test_no_module_keeps_its_own_table_of_engines() -> None:
    """A collection literal naming two or more built-in engines outside engines/ is a second truth."""
    names = set(BUILTIN)
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "engines" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            keys: list[ast.expr | None] = []
            if isinstance(node, ast.Dict):
                keys = list(node.keys)
            elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                keys = list(node.elts)
            found = {k.value for k in keys if isinstance(k, ast.Constant) and k.value in names}
            if len(found) >= 2:
                offenders.append(f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', '?')} {sorted(found)}")
    assert not offenders, "engine tables outside fanren_tts/engines: " + "; ".join(offenders)


def test_the_old_tables_are_gone() -> None:
    import fanren_tts._check as check
    import fanren_tts._fit as fit
    import fanren_tts._options as options
    import fanren_tts._voicemap as voicemap

    gone = {
        options: ("BUILTIN_OPTIONS", "SOURCE_ENGINES", "SELF_NORMALIZING"),
        voicemap: ("RULES", "_NONE", "_SPEAKER_HINT"),
        fit: ("RATE_CONTROLS",),
        check: ("ENGINE_PACKAGES", "TRANSFORMERS_RANGES", "TORCHAUDIO_IO", "MODEL_FILES", "NEEDS_MODEL"),
    }
    left = [f"{m.__name__}.{n}" for m, ns in gone.items() for n in ns if hasattr(m, n)]
    assert not left


def test_the_registry_sits_low_in_the_layers() -> None:
    """The registry imports the options models and the error tree only (the bottom layer, which
    ``_legacy`` reads it from), never config, voices, pool, generator or server."""
    allowed = {"fanren_tts._options", "fanren_tts._exceptions"}
    for path in (PACKAGE / "engines").glob("*.py"):
        if path.name in ("catalog.py", "listing.py", "command.py"):
            continue  # the catalog is a front end: it sits beside the CLI, above everything
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 2:  # TYPE_CHECKING imports count too
                assert f"fanren_tts.{node.module}" in allowed, f"{path.name} imports fanren_tts.{node.module}"


def test_readme_engine_tables_agree_with_the_registry() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert table.replace(readme) == readme, (
        "README's engine table is stale: python -m fanren_tts.engines.table README.md"
    )
    section = readme.split("\n## Engines\n", 1)[1].lstrip().split("\n\n", 1)[0]
    rows = {m.group(1): line for line in section.splitlines() if (m := re.match(r"\| `([\w-]+)` \|", line))}
    assert set(rows) == set(BUILTIN), "the README's engine table and the registry name different engines"
    for name, line in rows.items():
        r = BUILTIN[name]
        if r.package is None or r.source is not None:
            continue
        version = _locked(r.envs[0])[r.package]
        short = re.sub(r"(\.0)+$", "", version)
        assert f"{r.package} {version}" in line or f"{r.package} {short}" in line or r.package == "transformers", (
            f"README's {name} row does not give {r.package} {version}, the version envs/{r.envs[0]} locks"
        )


def test_verify_script_lists_the_rows_with_a_builder() -> None:
    spec = importlib.util.spec_from_file_location("verify_engines", REPO / "scripts" / "verify_engines.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.ENGINES) == {n for n, r in BUILTIN.items() if r.verify}


def test_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="built-in: piper"):
        row("chattts-typo")


def test_weights_layout_lists_what_is_missing(tmp_path: Path) -> None:
    folder = Weights(files=(("config.json",), ("a.yaml", "b.yaml"), ("*.safetensors",)), needed=True)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    assert folder.missing(tmp_path / "m") == ["a.yaml or b.yaml", "*.safetensors"]
    (tmp_path / "m" / "b.yaml").write_text("")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"x")
    assert folder.missing(tmp_path / "m") == []
    piper = BUILTIN["piper"].weights
    voice = tmp_path / "en_US-x[1].onnx"
    voice.write_bytes(b"onnx")
    assert piper.missing(voice) == ["en_US-x[1].onnx.json"]
    (tmp_path / "en_US-x[1].onnx.json").write_text("{}")
    assert piper.missing(voice) == []
    assert piper.missing(tmp_path / "nothing.onnx") == [f"{tmp_path / 'nothing.onnx'} (a file ending in .onnx)"]


def test_rows_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        BUILTIN["piper"].licence = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        BUILTIN["x"] = BUILTIN["piper"]  # type: ignore[index]
    assert isinstance(BUILTIN["piper"], EngineRow)
