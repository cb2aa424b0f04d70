"""The real diffusers FluxPipeline on a tiny random FLUX.1 folder, through the real wrapper.

Runs in the default suite: scripts/verify/flux.py builds envs/flux from its lock (torch
2.8 from PyPI, linked from the uv cache), builds the tiny folder with the libraries' own
save_pretrained, and generates 64 px images on the CPU in 2 steps.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import pytest

from fanren_tts.config import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))

from verify import flux
from verify._common import Skip


def _png(width: int, height: int, rows: list[bytes], filters: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(bytes([f]) + row for f, row in zip(filters, rows, strict=True))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_png_check_tells_a_blank_frame_from_an_image() -> None:
    blank = _png(2, 2, [b"\x0a\x14\x1e" * 2, b"\x00\x00\x00" * 2], b"\x00\x02")  # row 2 = "up": same colour
    assert flux.png_facts(blank) == (2, 2, False)
    sub = _png(2, 2, [b"\x0a\x14\x1e\x01\x00\x00", b"\x00" * 6], b"\x01\x02")  # pixel 2 = pixel 1 + 1 red
    assert flux.png_pixels(sub)[3] == [b"\x0a\x14\x1e\x0b\x14\x1e"] * 2
    assert flux.png_facts(sub) == (2, 2, True)
    with pytest.raises(ValueError, match="not a PNG"):
        flux.png_facts(b"GIF89a")


def test_flux_runs_for_real_on_a_tiny_checkpoint(tmp_path: Path) -> None:
    try:
        run = flux.verify(tmp_path / "flux", None)
    except Skip as exc:
        pytest.skip(str(exc))
    assert run.status == "ran", run.reason
    assert set(run.modes) == {"generate", "seed", "config defaults", "cpu_offload cuda:1 (load)"}
    assert all(m.ok for m in run.modes.values()), {n: m.error for n, m in run.modes.items()}
    assert run.upstream.startswith("diffusers 0.39.") and run.upstream.endswith("(envs/flux)")
    assert flux.png_facts((tmp_path / "flux" / "generate.png").read_bytes())[:2] == (64, 64)
