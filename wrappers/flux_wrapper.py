"""flux engine: FLUX.1 images with diffusers' FluxPipeline, through the generic call path.

    tts.call("flux", "generate", prompt="a misty mountain temple", output_path="frame.png", seed=7)

``model_path`` is a local diffusers folder (FLUX.1-schnell or -dev). Returns the
PNG bytes with size and seed; with ``output_path`` the file is written atomically.
schnell wants guidance 0 and about 4 steps; dev about 3.5 and 50.

Standalone: envs/flux/.venv/bin/python wrappers/flux_wrapper.py --option model_path=DIR --describe
"""

from __future__ import annotations

import inspect
import io
import os
from typing import Any

from fanren_worker import Engine, atomic_write, local_path, main

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
            self.pipe.enable_model_cpu_offload()
        else:
            self.pipe.to(device)
        self.model_path = model_path
        self.dtype = str(dtype)
        self.accepted = set(inspect.signature(self.pipe.__call__).parameters)
        self.defaults = {k: options[k] for k in _CALL if k in options}

    def generate(self, prompt: str, output_path: str | None = None, **options: Any) -> dict[str, Any]:
        unknown = set(options) - set(_CALL)
        if unknown:
            raise TypeError(f"flux has no option(s) {sorted(unknown)}; allowed: {list(_CALL)}")
        if not prompt or not str(prompt).strip():
            raise ValueError("prompt must be a non-empty string")
        o = {**self.defaults, **options}
        for side in ("height", "width"):
            if side in o and int(o[side]) % 16:
                raise ValueError(f"{side} must be a multiple of 16, got {o[side]}")
        seed = int(o.pop("seed", 0))
        unsupported = sorted(k for k in o if k not in self.accepted)
        if unsupported:
            raise TypeError(f"this diffusers FluxPipeline does not take {unsupported} (negative_prompt needs >= 0.32)")
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
            "methods": ["generate"],
            "options": list(_CALL),
        }


if __name__ == "__main__":
    raise SystemExit(main(Flux))
