"""The engine catalog: ``fanren-tts engines [list|add|remove]``, setting up a built-in engine in one command.

``list`` (``listing``) shows every row of the registry with where it stands here.
``add NAME`` does the whole setup, each step printed as it goes:

1. the engine's block goes into the user's config file as text, so every comment
   and the layout stay as they were; the new text is loaded and validated before
   it replaces the file (atomically);
2. its env is built from its committed lock, uv's progress on stderr;
3. ``--weights`` places its weights: a local path is checked file by file against
   the row's weights layout; a hub id (``owner/name[@rev]``) is fetched inside the
   env with its own hub client, resumable and hash-checked (``hub``), into
   ``data_home()/weights/NAME``; the block's weights option then points there;
4. it speaks one short line and says what it measured.

``remove NAME`` takes the block out again (comments elsewhere kept), deletes the
env's venv when no other block uses it, and deletes weights ``add`` fetched (never
a local folder of the user's), saying how much disk that freed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._envs import env_status, sync_env, uv_bin
from .._exceptions import ConfigError
from .._runtime.fanren_worker import atomic_write
from ..config import PROJECT_ROOT, Config, data_home, load_config, venv_dir
from . import row
from .hub import fetch, is_hub_id
from .listing import disk_size, disk_usage, size_text
from .row import EngineRow
from .yamltext import remove_block, set_block

__all__ = ["add", "remove", "user_config"]

#: A short line in the engine's first language, for the try after ``add``.
_LINES = {"zh": "你好，欢迎使用。", "ja": "こんにちは、ようこそ。", "en": "Hello, and welcome."}

Say = Callable[[str], None]


def _say(text: str) -> None:
    print(text, flush=True)


def user_config(path: str | os.PathLike[str] | None) -> Path:
    """The config file ``engines add/remove`` edits: ``-c``, else FANREN_TTS_CONFIG, else ./config.yaml.

    Never the shipped template: in a source checkout ./config.yaml is the template."""
    chosen = Path(path) if path else Path(os.environ.get("FANREN_TTS_CONFIG") or "config.yaml")
    if not chosen.is_file():
        raise ConfigError(f"{chosen} does not exist: write one with `python -m fanren_tts init {chosen}`, or pass -c")
    if chosen.resolve() == (PROJECT_ROOT / "config.yaml").resolve():
        raise ConfigError(
            f"{chosen} is the config.yaml fanren_tts ships, which stays as shipped: write your own with "
            "`python -m fanren_tts init my-config.yaml` and pass -c my-config.yaml"
        )
    return chosen


def _weights_home(name: str) -> Path:
    return data_home() / "weights" / name


# --------------------------------------------------------------------------- add


def _edit_config(path: Path, edit: Callable[[str], str], say: Say) -> Config:
    """Apply ``edit`` to the config's text; the result must load before it replaces the file."""
    old = path.read_text(encoding="utf-8")
    new = edit(old)
    if new == old:
        return load_config(path)
    fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check.yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
        load_config(probe, environ={})  # relative paths resolve as they will in the real file
    except ConfigError as exc:
        raise ConfigError(f"{str(exc).replace(probe, str(path))} ({path} left as it was)") from None
    finally:
        os.unlink(probe)
    atomic_write(path, lambda tmp: _write(tmp, new))
    say(f"config: {path} updated (its comments kept)")
    return load_config(path)


def _write(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")


def _place_local(r: EngineRow, source: Path) -> Path:
    """``source`` checked file by file against the row's layout; for a file layout a folder
    holding exactly one such file stands for it."""
    w = r.weights
    path = source.expanduser().resolve()
    if w.layout == "file" and path.is_dir():
        found = sorted(
            p for p in path.rglob(f"*{w.suffix or ''}") if p.is_file() and ".cache" not in p.relative_to(path).parts
        )
        if len(found) != 1:
            listed = ", ".join(p.name for p in found) or "none"
            raise ConfigError(
                f"{path}: {r.name} takes one {w.suffix} file; this folder has {listed}: give the file itself"
            )
        path = found[0]
    missing = w.missing(path)
    if missing:
        where = path if w.layout == "folder" else path.parent
        raise ConfigError(
            f"{r.name} weights at {path} are incomplete: put "
            + "; ".join(missing)
            + f" in {where} (every file of the release"
            + (f" {w.hub}" if w.hub else "")
            + ")"
        )
    return path


def _also(r: EngineRow, placed: Path) -> dict[str, str]:
    """The row's other weights options (kokoro's voices_path) where the download holds exactly one match."""
    folder = placed if placed.is_dir() else placed.parent
    out = {}
    for option, pattern in r.weights.also:
        found = [p for p in folder.rglob(pattern) if p.is_file() and ".cache" not in p.relative_to(folder).parts]
        if len(found) == 1:
            out[option] = str(found[0])
    return out


def _place_hub(r: EngineRow, hub_id: str, python: Path, include: list[str], say: Say) -> Path:
    dest = _weights_home(r.name) / hub_id.replace("/", "--").replace("@", "--")
    say(f"weights: fetching {hub_id} into {dest} with the {r.name} env's hub client (resumable, hash-checked)")
    t0 = time.perf_counter()
    got = fetch(python, hub_id, dest, uv=uv_bin(), home=data_home(), include=include)
    total = sum(size for _, size in got.files)
    say(
        f"weights: {len(got.files)} files, {size_text(total)}, every hash matched, commit {got.commit or '?'}, "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    return _place_local(r, dest)


def _try_line(config_path: Path, name: str, r: EngineRow, say: Say) -> dict[str, Any]:
    """Speak one short line through TTSGenerator, as a user would; what it measured."""
    from .._generator import TTSGenerator

    if r.speaks == ():
        say(f"try: {name} makes no speech (an image engine); skipped")
        return {}
    code = next((c for c in (*(r.speaks or ()), *r.languages) if c in _LINES), "en")
    text = _LINES[code]
    with tempfile.TemporaryDirectory(prefix="fanren-engines-") as tmp, TTSGenerator(config_path, engine=name) as tts:
        t0 = time.perf_counter()
        first = tts.generate(text, Path(tmp) / "first.wav", engine=name, cache=False)
        t1 = time.perf_counter()
        again = tts.generate(text, Path(tmp) / "again.wav", engine=name, cache=False)
        t2 = time.perf_counter()
    measured = {
        "text": text,
        "ready_and_first_s": round(t1 - t0, 3),
        "line_s": round(t2 - t1, 3),
        "audio_s": round(again.duration, 3),
        "rtf": round((t2 - t1) / again.duration, 3) if again.duration else None,
        "sample_rate": first.sample_rate,
    }
    say(
        f"try: {text!r}: started and spoke in {measured['ready_and_first_s']:.2f}s; again in "
        f"{measured['line_s']:.2f}s for {measured['audio_s']:.2f}s of audio (RTF {measured['rtf']}), "
        f"{first.sample_rate} Hz"
    )
    return measured


def add(
    name: str,
    config_path: str | os.PathLike[str] | None,
    *,
    weights: str | None = None,
    include: list[str] | None = None,
    build: bool = True,
    speak: bool = True,
    say: Say = _say,
) -> dict[str, Any]:
    """Set built-in engine ``name`` up in the user's config, env and weights; returns what it did."""
    r = row(name)
    path = user_config(config_path)
    report: dict[str, Any] = {"engine": name, "config": str(path)}
    placed: Path | None = None
    if weights:  # what can be checked before anything is written or built
        if r.weights.key is None:
            raise ConfigError(f"{name} has no weights of its own to place ({r.weights.shipped})")
        if Path(weights).expanduser().exists():
            placed = _place_local(r, Path(weights))
            say(f"weights: {placed} has every file {name} needs")
        elif not is_hub_id(weights):
            raise ConfigError(f"--weights {weights}: no such file or folder, and not a hub id (owner/name[@revision])")
    config = _edit_config(path, lambda text: set_block(text, name, {}, f"fanren-tts engines add {name}"), say)
    cfg = config.get(name)
    if cfg.kind != name:
        raise ConfigError(f"{path}: block {name!r} is of type {cfg.kind!r}, not {name!r}; remove or rename it first")
    if cfg.env_dir is not None and build:
        if not env_status(cfg.env_dir, name).ready:
            say(f"env: building {cfg.env_dir.name} from {cfg.env_dir / 'uv.lock'} (uv's progress below)")
        t0 = time.perf_counter()
        status = sync_env(cfg.env_dir, name, progress=True)
        report["env"] = {"state": status.state, "built_s": round(time.perf_counter() - t0, 1)}
        say(
            f"env: {status.state} ({status.detail}) in {report['env']['built_s']}s, "
            f"{size_text(disk_size(status.venv))} on disk"
        )
    if weights and placed is None:
        placed = _place_hub(r, weights, cfg.interpreter, include or [], say)
    if placed is not None and r.weights.key is not None:
        options = {r.weights.key: str(placed), **_also(r, placed)}
        config = _edit_config(path, lambda text: set_block(text, name, options, None), say)
        report["weights"] = options
    elif r.weights.needed and not cfg.options.get(r.weights.key or ""):
        say(f"weights: {name} needs its own: --weights PATH_OR_HUB_ID (the release: {r.weights.hub or 'see README'})")
        report["ready"] = False
    if r.source is not None and not cfg.options.get("source_path"):
        say(f"source: {name}'s code comes from a checkout: clone {r.source.repo}, set tts.{name}.source_path")
        report["ready"] = False
    if report.get("ready") is False:
        return report
    if speak:
        report["try"] = _try_line(path, name, r, say)
    report["ready"] = True
    return report


# --------------------------------------------------------------------------- remove


def remove(name: str, config_path: str | os.PathLike[str] | None, *, say: Say = _say) -> dict[str, Any]:
    """Undo ``add``: the block out of the config, the env's venv and fetched weights off the disk."""
    r = row(name)
    path = user_config(config_path)
    before = load_config(path)
    uses = [f"tts.routes.{lang}" for lang, engine in before.routes.items() if engine == name]
    if before.engine == name or uses:
        raise ConfigError(
            f"{path}: {', '.join(['tts.engine'] if before.engine == name else uses)} names {name}: point "
            f"{'it' if before.engine == name and not uses else 'them'} at another engine first ({path} left as it was)"
        )
    env_dir = before.engines[name].env_dir if name in before.engines else PROJECT_ROOT / "envs" / r.envs[0]
    config = _edit_config(path, lambda text: remove_block(text, name), say)
    freed = 0
    still = {cfg.env_dir for cfg in config.engines.values() if cfg.env_dir is not None}
    if env_dir is not None and env_dir not in still:
        venv = venv_dir(env_dir)
        if venv.is_dir():
            size, own = disk_usage(venv)
            shutil.rmtree(venv)
            freed += own
            shared = (
                f"; {size_text(size - own)} of it stays in uv's cache, hard-linked (uv cache prune)"
                if size > own
                else ""
            )
            say(f"env: {venv} deleted ({size_text(size)}{shared})")
    elif env_dir is not None:
        say(f"env: {env_dir.name} kept: another block in {path} uses it")
    fetched = _weights_home(name)
    if fetched.is_dir():
        size = disk_usage(fetched)[1]
        shutil.rmtree(fetched)
        freed += size
        say(f"weights: {fetched} deleted ({size_text(size)})")
    say(f"{name}: removed; {size_text(freed)} freed")
    return {"engine": name, "config": str(path), "freed_bytes": freed}
