"""Stand-in for diffusers.FluxPipeline (call signature as of v0.32+)."""

import os
import random
import struct
import zlib

import numpy
import torch

from standin_log import log


class _Image:
    def __init__(self, width, height, pixels):
        self.width, self.height, self._pixels = width, height, pixels

    def save(self, fp, format=None):
        assert format == "PNG"
        raw = b"".join(b"\x00" + self._pixels[y * self.width * 3:(y + 1) * self.width * 3] for y in range(self.height))

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        fp.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0))
                 + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class _Output:
    def __init__(self, images):
        self.images = images


class FluxPipeline:
    @classmethod
    def from_pretrained(cls, path, torch_dtype=None, local_files_only=False, **kwargs):
        if not os.path.isfile(os.path.join(path, "model_index.json")):
            raise OSError(f"{path} is not a diffusers pipeline")
        log("from_pretrained", path=path, torch_dtype=str(torch_dtype), local_files_only=local_files_only)
        return cls()

    def to(self, device):
        log("to", device=device)
        return self

    def enable_model_cpu_offload(self, gpu_id=None, device=None):
        # as diffusers >= 0.30: an index both in gpu_id and in device is refused
        if gpu_id is not None and device is not None and torch.device(device).index is not None:
            raise ValueError(f"You have passed both `gpu_id`={gpu_id} and an index as part of the passed device")
        log("enable_model_cpu_offload", gpu_id=gpu_id, device=device)

    def __call__(self, prompt=None, prompt_2=None, negative_prompt=None, negative_prompt_2=None, true_cfg_scale=1.0,
                 height=None, width=None, num_inference_steps=28, sigmas=None, guidance_scale=3.5,
                 num_images_per_prompt=1, generator=None, latents=None, prompt_embeds=None,
                 pooled_prompt_embeds=None, output_type="pil", return_dict=True, joint_attention_kwargs=None,
                 callback_on_step_end=None, callback_on_step_end_tensor_inputs=None, max_sequence_length=512):
        height, width = height or 64, width or 64
        log("call", prompt=prompt, height=height, width=width, num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale, max_sequence_length=max_sequence_length, negative_prompt=negative_prompt,
            # draws from the global RNGs, to show whether the wrapper seeded them
            rngs=[random.random(), float(numpy.random.rand()), torch.rand(1).item()])
        pixels = torch.randint(0, 256, (height * width * 3,), generator=generator, dtype=torch.uint8)
        return _Output([_Image(width, height, bytes(pixels.tolist()))])
