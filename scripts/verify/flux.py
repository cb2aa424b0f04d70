"""flux: the real diffusers FluxPipeline on a tiny random FLUX.1-schnell-shaped folder.

diffusers is on PyPI, so there is no source checkout (``SOURCE_VAR`` is None) and
this runs in CI: it builds ``envs/flux`` from its lock when missing (torch 2.8 from PyPI,
whose CUDA build runs on the CPU too; hard-linked from the uv cache, where the qwen3,
chattts and f5tts envs put the same torch).

``flux_tiny.py`` builds the folder inside that env; then every image goes through
``TTSGenerator.call("flux", "generate", ...)`` and ``wrappers/flux_wrapper.py``.
An image is ok when it is a PNG of the requested size whose pixels are not all the
same; the seed mode also checks that one seed gives the same PNG twice and another
seed a different one. Images have no sample rate or duration: both are reported as 0.
The last mode loads the folder with ``device: cuda:1, cpu_offload: true`` and checks
that diffusers' own ``enable_model_cpu_offload`` will run the models on cuda:1 (the
load alone needs no GPU; generating would).
"""

from __future__ import annotations

import struct
import subprocess
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from fanren_tts import TTSGenerator, env_status, sync_env
from fanren_tts.config import PROJECT_ROOT

from ._common import EngineRun, ModeResult, loaded_once

ENGINE = "flux"
SOURCE_VAR = None
OFFLOAD = "flux_offload"  # a second block of the same kind, to check where cpu_offload sends cuda:1

HERE = Path(__file__).resolve().parent
PROMPT = "a misty mountain temple at dawn"
#: Kept tiny so the test suite stays fast: 64 px sides (the smallest FLUX allows is 16), 2 steps.
OPTIONS: dict[str, Any] = {
    "num_inference_steps": 2,
    "guidance_scale": 0.0,  # schnell
    "max_sequence_length": 64,
    "height": 64,
    "width": 96,  # the configured default; modes that pass a size override it
}


def pick_env() -> tuple[Path, str]:
    """(uv project, label) of envs/flux, built here from its lock if needed.

    A lock that no longer builds is a failure, not a skip, so CI notices.
    """
    env = PROJECT_ROOT / "envs" / "flux"
    status = sync_env(env, "flux")
    if not status.ready:
        raise RuntimeError(f"envs/flux is not ready after building it: {status.detail}")
    return env, "envs/flux"


def versions(python: Path) -> str:
    """diffusers / transformers / torch versions in the env, read from package metadata."""
    code = (
        "from importlib.metadata import version as v; "
        "print(', '.join(f'{p} {v(p)}' for p in ('diffusers', 'transformers', 'torch')))"
    )
    return subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def build_model(python: Path, out: Path) -> None:
    """Run flux_tiny.py with the env's interpreter (the host venv has no torch)."""
    done = subprocess.run(
        [str(python), str(HERE / "flux_tiny.py"), str(out)], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"building the tiny FLUX.1 folder failed (exit {done.returncode}):\n{tail}")


def png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, channels, rows of pixel bytes) of an 8-bit non-interlaced PNG, with the stdlib."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("not a PNG (bad signature)")
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unexpected PNG format: depth {depth}, color type {color}, interlace {interlace}")
    raw, stride = zlib.decompress(idat), width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError(f"PNG data is {len(raw)} bytes, expected {height * (stride + 1)} for {width}x{height}")
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):  # undo the scanline filter (PNG spec, section 9)
            a = line[i - channels] if i >= channels else 0
            b, c = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def png_facts(data: bytes) -> tuple[int, int, bool]:
    """(width, height, pixels vary) of a PNG.

    "Pixels vary" is the image analogue of "not silent": a frame of one colour means
    the pipeline ran but produced nothing.
    """
    width, height, channels, rows = png_pixels(data)
    uniform = rows[0][:channels] * width if rows else b""
    return width, height, any(row != uniform for row in rows)


def check_image(out: dict[str, Any], width: int, height: int, path: Path | None = None) -> list[str]:
    """What is wrong with one ``generate`` result (empty when nothing is)."""
    png = out["png"]
    w, h, varies = png_facts(png)
    problems = []
    if (w, h) != (width, height) or (out["width"], out["height"]) != (width, height):
        problems.append(f"size {w}x{h} (reported {out['width']}x{out['height']}), expected {width}x{height}")
    if not varies:
        problems.append("blank image: every pixel the same")
    if path is not None and (not path.is_file() or path.read_bytes() != png):
        problems.append(f"{path} missing or not the returned PNG")
    if not isinstance(out.get("seed"), int):
        problems.append(f"no integer seed in the result: {out.get('seed')!r}")
    return problems


def run_mode(check: Callable[[], list[str]]) -> ModeResult:
    """Time ``check`` and turn what it finds (or raises) into a ModeResult; images have no rate."""
    t0 = time.perf_counter()
    try:
        problems = check()
    except Exception as exc:  # a verify run reports every failure, it does not stop
        first = str(exc).splitlines()[0] if str(exc) else ""
        problems = [f"{type(exc).__name__}: {first}"]
    return ModeResult(not problems, time.perf_counter() - t0, 0, 0.0, "; ".join(problems))


def verify(work: Path, source: Path | None) -> EngineRun:
    project, label = pick_env()
    python = env_status(project).python
    work.mkdir(parents=True, exist_ok=True)
    model = work / "FLUX.1-tiny"
    build_model(python, model)
    config = work / "config.yaml"
    block = {"env": str(project), "device": "auto", "model_path": str(model), **OPTIONS}
    # Load-only: diffusers records the offload GPU without touching it, so this runs on a CPU too.
    offload = {"type": ENGINE, "env": str(project), "device": "cuda:1", "cpu_offload": True, "model_path": str(model)}
    engines = {ENGINE: block, OFFLOAD: offload}
    doc = {"tts": {"engine": ENGINE, "output": {"sample_rate": None}, "cache": {"enabled": False}, **engines}}
    config.write_text(yaml.safe_dump(doc))
    upstream = f"{versions(python)} ({label})"

    modes: dict[str, ModeResult] = {}
    with TTSGenerator(config) as gen:
        first: dict[str, Any] = {}

        def generate() -> list[str]:
            path = work / "generate.png"
            out = gen.call(ENGINE, "generate", prompt=PROMPT, output_path=str(path), height=64, width=64, seed=7)
            first.update(out)
            return check_image(out, 64, 64, path) + ([] if out["seed"] == 7 else [f"seed {out['seed']}, asked 7"])

        def seed() -> list[str]:
            again = gen.call(ENGINE, "generate", prompt=PROMPT, height=64, width=64, seed=7)
            other = gen.call(ENGINE, "generate", prompt=PROMPT, height=64, width=64, seed=8)
            problems = check_image(again, 64, 64) + check_image(other, 64, 64)
            if first and again["png"] != first["png"]:
                problems.append("seed 7 twice gave two different images")
            if other["png"] == again["png"]:
                problems.append("seeds 7 and 8 gave the same image")
            return problems

        def defaults() -> list[str]:  # configured size, no seed: a fresh one comes back
            return check_image(gen.call(ENGINE, "generate", prompt=PROMPT), OPTIONS["width"], OPTIONS["height"])

        modes["generate"] = run_mode(generate)
        pid = gen.worker(ENGINE).pid
        modes["seed"] = run_mode(seed)
        modes["config defaults"] = run_mode(defaults)
        restarted = loaded_once(gen, ENGINE, pid)

        def offload_gpu() -> list[str]:
            runs_on = gen.call(OFFLOAD, "describe")["device"]
            expected = "cuda:1 (model cpu offload)"
            return [] if runs_on == expected else [f"offloads to {runs_on!r}, expected {expected!r}"]

        modes["cpu_offload cuda:1 (load)"] = run_mode(offload_gpu)
    if restarted:
        for m in (modes["generate"], modes["seed"], modes["config defaults"]):
            m.ok, m.error = False, "; ".join(filter(None, (m.error, restarted)))
    return EngineRun.from_modes(upstream, modes)
