"""diffuse against diffusers on the bundled model: the same prompt, seed,
sampler, steps and guidance through StableDiffusionPipeline (torch, f32) and
through `diffuse generate`, and the largest pixel difference.

    .venv-tools/bin/python tools/compare_shapes_with_diffusers.py [build/diffuse] [models/shapes-128]

PLMS is diffusers' PNDMScheduler with skip_prk_steps (what diffuse's PLMS is).
Expect a max of about 0.5/255: diffuse writes 8-bit PNGs, diffusers' floats
are compared unrounded.
"""
import subprocess
import sys

import numpy as np
import torch
from PIL import Image
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler,
                       PNDMScheduler, StableDiffusionPipeline)

binary = sys.argv[1] if len(sys.argv) > 1 else "build/diffuse"
model = sys.argv[2] if len(sys.argv) > 2 else "models/shapes-128"
torch.set_num_threads(2)
pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None,
                                               requires_safety_checker=False)
base = pipe.scheduler.config
cases = [("Euler", EulerDiscreteScheduler.from_config(base)),
         ("DDIM", DDIMScheduler.from_config(base)),
         ("PLMS", PNDMScheduler.from_config(base, skip_prk_steps=True)),
         ("DPM++ 2M", DPMSolverMultistepScheduler.from_config(base))]
for (name, scheduler), (prompt, seed) in zip(cases, [
        ("a red circle on a blue background", 2), ("two red circles over a dark sea", 1001),
        ("a white square over a green field", 2), ("a blue square on a yellow background", 1)]):
    pipe.scheduler = scheduler
    reference = pipe(prompt, num_inference_steps=20, guidance_scale=7.5,
                     generator=torch.Generator().manual_seed(seed), output_type="np").images[0]
    subprocess.run([binary, "generate", "-m", model, "-p", prompt, "--seed", str(seed),
                    "--steps", "20", "--cfg", "7.5", "--sampler", name, "-o", "/tmp/diffuse-compare.png"],
                   check=True, capture_output=True)
    ours = np.asarray(Image.open("/tmp/diffuse-compare.png"), dtype=np.float64) / 255
    difference = np.abs(ours - reference)
    print(f"{name:9s} {prompt!r} seed {seed}: max {difference.max() * 255:.2f}/255, "
          f"mean {difference.mean() * 255:.3f}/255")
