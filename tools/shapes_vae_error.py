"""Mean absolute reconstruction error (0..255) of a shapes VAE on 64 rendered
scenes at 128x128, through the posterior mean: the figure the model card
quotes (23/255 for the crop-trained VAE, WORK/vae; 4.3/255 after the
whole-image phase, WORK/vae-full or models/shapes-128/vae).

    .venv-tools/bin/python tools/shapes_vae_error.py [models/shapes-128/vae]
"""
import os
import sys

import numpy as np
import torch
from diffusers import AutoencoderKL

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_world  # noqa: E402

path = sys.argv[1] if len(sys.argv) > 1 else "models/shapes-128/vae"
torch.set_num_threads(2)
vae = AutoencoderKL.from_pretrained(path, torch_dtype=torch.float32).eval()
scenes = shapes_world.make_scenes(99, 64)
x = torch.stack([torch.from_numpy(np.asarray(shapes_world.render(s))).permute(2, 0, 1)
                 for s, _ in scenes]).float() / 127.5 - 1
with torch.no_grad():
    y = vae.decode(vae.encode(x).latent_dist.mean).sample
print(f"{path}: mean abs error {((y - x).abs().mean() * 127.5).item():.1f}/255 on 64 scenes")
