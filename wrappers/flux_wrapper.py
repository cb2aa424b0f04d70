"""flux engine: FLUX.1 images with diffusers' FluxPipeline, through the generic call path.

    tts.call("flux", "generate", prompt="a misty mountain temple", output_path="frame.png", seed=7)

``model_path`` is a local diffusers folder (FLUX.1-schnell or -dev). Returns the
PNG bytes with size and seed; with ``output_path`` the file is written atomically.
schnell wants guidance 0 and about 4 steps; dev about 3.5 and 50.

``seed`` (option or per call) makes an image repeatable: python ``random``, numpy,
torch (CPU and CUDA) and the pipeline's generator are all seeded with it right
before each image. Without one a fresh seed is drawn and returned, so any image
can be made again.

Standalone: envs/flux/.venv/bin/python wrappers/flux_wrapper.py --option model_path=DIR --describe
"""

from __future__ import annotations

import inspect
import io
import os
import random
from typing import Any

from fanren_worker import Engine, atomic_write, local_path, main, seed_everything

_CALL = (
    "height",
    "width",
    "num_inference_steps",
    "guidance_scale",
    "max_sequence_length",
    "seed",
    "negative_prompt",
    "true_cfg_scale",
)
_SEED_RANGE = 2**32  # numpy's legacy seeding takes [0, 2**32); torch and random take more


def offload_target(device: str) -> dict[str, Any]:
    """``enable_model_cpu_offload`` arguments for ``device``: ``cuda:N`` -> gpu_id=N.

    diffusers offloads to GPU 0 unless told the index, and refuses ``device="cuda:N"``
    together with ``gpu_id``; so the index goes in ``gpu_id`` and the type in ``device``.
    """
    kind, _, index = device.partition(":")
    if not index:
        return {"device": kind}
    if not index.isdigit():
        raise ValueError(f"device {device!r}: the part after ':' must be a GPU index such as cuda:1")
    return {"gpu_id": int(index), "device": kind}


class Flux(Engine):
    name = "flux"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        model_path = options.get("model_path")
        if not model_path:
            raise ValueError("flux needs model_path: a local diffusers FLUX.1 folder (model_index.json inside)")
        model_path = local_path(model_path, "diffusers pipeline", contains="model_index.json")
        self.progress("importing torch and diffusers")
        import torch
        from diffusers import FluxPipeline

        self.torch = torch
        dtype_name = options.get("dtype", "auto")
        if dtype_name == "auto":  # bf16 where the device has it, float32 elsewhere
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        else:
            dtype = getattr(torch, dtype_name)
        self.progress(f"loading {model_path} ({dtype})")
        # CPU first, then to the device (or offloaded layer by layer on small GPUs).
        self.pipe = FluxPipeline.from_pretrained(model_path, torch_dtype=dtype, local_files_only=True)
        if options.get("cpu_offload") and device.startswith("cuda"):
            self.pipe.enable_model_cpu_offload(**offload_target(device))
            # where diffusers will run each model (it keeps them on the CPU in between)
            self.runs_on = f"{getattr(self.pipe, '_offload_device', device)} (model cpu offload)"
        else:
            self.pipe.to(device)
            self.runs_on = device
        self.model_path = model_path
        self.dtype = str(dtype)
        self.accepted = set(inspect.signature(self.pipe.__call__).parameters)
        self.defaults = {k: options[k] for k in _CALL if options.get(k) is not None}

    def generate(self, prompt: str, output_path: str | None = None, **options: Any) -> dict[str, Any]:
        unknown = set(options) - set(_CALL)
        if unknown:
            raise TypeError(f"flux has no option(s) {sorted(unknown)}; allowed: {list(_CALL)}")
        if not prompt or not str(prompt).strip():
            raise ValueError("prompt must be a non-empty string")
        # A None per call means "not given": the configured default (if any) applies.
        o = {**self.defaults, **{k: v for k, v in options.items() if v is not None}}
        for side in ("height", "width"):
            if side in o and int(o[side]) % 16:
                raise ValueError(f"{side} must be a multiple of 16, got {o[side]}")
        seed = o.pop("seed", None)
        if seed is None:
            seed = random.SystemRandom().randrange(_SEED_RANGE)
        elif not 0 <= int(seed) < _SEED_RANGE:
            raise ValueError(f"seed must be in [0, 2**32), got {seed}")
        seed = int(seed)
        unsupported = sorted(k for k in o if k not in self.accepted)
        if unsupported:
            raise TypeError(f"this diffusers FluxPipeline does not take {unsupported} (negative_prompt needs >= 0.32)")
        seed_everything(seed)  # every RNG the pipeline might use; its latents come from this generator
        generator = self.torch.Generator("cpu").manual_seed(seed)
        image = self.pipe(prompt=prompt, generator=generator, **o).images[0]
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        png = buffer.getvalue()
        if output_path:

            def write(tmp: str) -> None:
                with open(tmp, "wb") as f:
                    f.write(png)

            atomic_write(os.path.expanduser(output_path), write)
        return {"png": png, "width": image.width, "height": image.height, "seed": seed, "path": output_path}

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "image",
            "model_path": self.model_path,
            "dtype": self.dtype,
            "device": self.runs_on,
            "methods": ["generate"],
            "options": list(_CALL),
        }


if __name__ == "__main__":
    raise SystemExit(main(Flux))
