"""Pins: which package versions an engine's env holds and which of them are known not to
work together (the registry rows' pin ranges, CUDA builds that cannot share one process).
check-envs turns each finding into a ``Problem``; ``fanren-tts engines`` reads the locks."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

from .engines import BUILTIN

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the same parser as the tomli package
    import tomli as tomllib

__all__ = ["Problem", "known_conflicts", "locked_versions", "version_matches"]


@dataclasses.dataclass
class Problem:
    severity: str  # "error" or "warning"
    code: str
    message: str
    fix: str


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in re.split(r"[.+-]", text):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def version_matches(version: str, spec: str) -> bool:
    """A small PEP 440 subset (==, !=, >=, <=, >, <, comma-joined); enough for our ranges."""
    have = _version_tuple(version)
    for clause in spec.split(","):
        m = re.match(r"\s*(==|!=|>=|<=|>|<)\s*([\w.]+)\s*$", clause)
        if not m:
            raise ValueError(f"unsupported version spec {clause!r}")
        op, want_text = m.groups()
        want = _version_tuple(want_text)
        cmp_have = have[: len(want)] if op in ("==", "!=") else have
        ok = {
            "==": cmp_have == want,
            "!=": cmp_have != want,
            ">=": have >= want,
            "<=": have <= want,
            ">": have > want,
            "<": have < want,
        }[op]
        if not ok:
            return False
    return True


def locked_versions(project: Path, names: list[str]) -> dict[str, str | None]:
    """Versions uv.lock pins for ``names`` (the first entry when markers split a package)."""
    try:
        lock = tomllib.loads((project / "uv.lock").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return dict.fromkeys(names)
    found: dict[str, str | None] = dict.fromkeys(names)
    for package in lock.get("package", []):
        name = package.get("name")
        if name in found and found[name] is None:
            found[name] = package.get("version")
    return found


def known_conflicts(engine: str, installed: dict[str, str | None]) -> list[Problem]:
    """Version combinations users hit, each with its one-line fix."""
    out = []
    numpy, torch = installed.get("numpy"), installed.get("torch")
    if numpy and torch and _version_tuple(numpy) >= (2,) and _version_tuple(torch) < (2, 4):
        out.append(
            Problem(
                "error",
                "numpy2-old-torch",
                f"numpy {numpy} with torch {torch}, which was built against numpy 1 "
                "('A module that was compiled using NumPy 1.x cannot be run in NumPy 2.x')",
                "pin numpy<2 (e.g. numpy==1.26.4) in the env's pyproject.toml, then uv lock and sync",
            )
        )
    protobuf, onnx = installed.get("protobuf"), installed.get("onnx")
    if protobuf and onnx:
        if _version_tuple(onnx) >= (1, 14) and _version_tuple(protobuf) < (3, 20, 2):
            out.append(
                Problem(
                    "error",
                    "protobuf-too-old-for-onnx",
                    f"onnx {onnx} needs protobuf>=3.20.2, found protobuf {protobuf}",
                    "pin protobuf>=3.20.2 (4.25 works for onnx 1.16), then uv lock and sync",
                )
            )
        if _version_tuple(onnx) < (1, 13) and _version_tuple(protobuf) >= (4,):
            out.append(
                Problem(
                    "error",
                    "protobuf-too-new-for-onnx",
                    f"onnx {onnx} was generated for protobuf 3; protobuf {protobuf} fails with "
                    "'Descriptors cannot be created directly'",
                    "pin protobuf==3.20.3, or upgrade onnx",
                )
            )
    if installed.get("sentencepiece") and protobuf and _version_tuple(protobuf) < (3, 20):
        out.append(
            Problem(
                "warning",
                "protobuf-old-for-sentencepiece",
                f"protobuf {protobuf} is older than the 3.20 that transformers' sentencepiece conversion expects",
                "pin protobuf>=3.20",
            )
        )
    row = BUILTIN.get(engine)
    for pin in row.pins if row is not None else ():
        have = installed.get(pin.package)
        if have and not version_matches(have, pin.spec):
            out.append(
                Problem(
                    "error",
                    f"{pin.package}-range",
                    f"{engine} supports {pin.say}, found {pin.package} {have}",
                    f"pin {pin.say} in the env's pyproject.toml, then uv lock and sync",
                )
            )
    ort_cuda = _onnxruntime_cuda_mismatch(installed)
    if ort_cuda:
        out.append(ort_cuda)
    torchaudio = installed.get("torchaudio")
    if torchaudio and row is not None and row.torchaudio_io and _version_tuple(torchaudio) >= (2, 9):
        out.append(
            Problem(
                "error",
                "torchaudio-torchcodec",
                f"torchaudio {torchaudio} routes load/save through TorchCodec; {engine} relies on "
                "torchaudio's soundfile backend (saturated or failing WAV I/O)",
                "pin torchaudio<2.9 together with its matching torch",
            )
        )
    return out


def _torch_cuda(torch: str, cudnn: str | None) -> tuple[int, int] | None:
    """(CUDA major, cuDNN major) a Linux torch wheel runs on; None for a CPU build.

    A ``+cuXYZ`` tag says the CUDA version; a plain PyPI version is the default CUDA
    build (CUDA 12 since torch 2.1). The installed nvidia-cudnn-cu12 wheel says the
    cuDNN major, else torch's own pin: cuDNN 9 since torch 2.4, cuDNN 8 before.
    """
    local = torch.partition("+")[2]
    if local.startswith("cpu") or local.startswith("rocm"):
        return None
    cuda = int(local[2:-1]) if local.startswith("cu") and local[2:].isdigit() else None
    if cuda is None:
        cuda = 12 if _version_tuple(torch) >= (2, 1) else 11
    if cudnn:
        return cuda, _version_tuple(cudnn)[0]
    return cuda, 9 if _version_tuple(torch) >= (2, 4) else 8


def _onnxruntime_cuda_mismatch(installed: dict[str, str | None]) -> Problem | None:
    """onnxruntime-gpu built for another CUDA/cuDNN major than torch's: its CUDA provider cannot load.

    PyPI's onnxruntime-gpu wheels are CUDA 11.8 + cuDNN 8 up to 1.18.x and CUDA 12 +
    cuDNN 9 from 1.19 (Microsoft's separate CUDA 12 feed is not on PyPI). onnxruntime
    then falls back to the CPU without an error.
    """
    ort, torch = installed.get("onnxruntime-gpu"), installed.get("torch")
    if not ort or not torch:
        return None
    have = _torch_cuda(torch, installed.get("nvidia-cudnn-cu12"))
    if have is None:
        return None
    need = (12, 9) if _version_tuple(ort) >= (1, 19) else (11, 8)
    if need == have:
        return None
    return Problem(
        "warning",
        "onnxruntime-cuda-mismatch",
        f"onnxruntime-gpu {ort} is built for CUDA {need[0]} + cuDNN {need[1]}, torch {torch} brings "
        f"CUDA {have[0]} + cuDNN {have[1]}: its CUDA provider cannot load and ONNX models run on the CPU",
        "pin onnxruntime-gpu==1.19.2 with torch==2.4.1 and torchaudio==2.4.1 (CUDA 12 + cuDNN 9 on PyPI), "
        "then uv lock and sync",
    )
