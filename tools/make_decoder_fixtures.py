#!/usr/bin/env python3
"""Builds the references of the TAESD final decoder and the few-step presets:
diffusers' StableDiffusionPipeline on the committed tiny SD 1.x model with
the committed tiny TAESD as its VAE (vae=AutoencoderTiny), as the C test
tests/test_decoder.c runs them with decoder "taesd".

Usage:
    .venv-tools/bin/python tools/make_decoder_fixtures.py [--out tests/fixtures]

Needs tiny-sd1/ and tiny-taesd/ (tools/make_fixtures.py). The tokenizer and
scheduler handling are make_pipeline_fixtures.py's (imported). Deterministic:
one thread, fixed seeds.

Writes reference/pipeline_taesd.safetensors in make_pipeline_fixtures.py's
format (__metadata__["cases"], per case N.latents and N.image, the image as
the pipeline's output_type="np" times 255, rounded: integers 0..255 as f32),
with two more case fields:
    preset            null, or the diffuse preset ("turbo", "lcm") whose
                      settings the case's steps / guidance_scale / sampler /
                      spacing are: the C test asks for the preset, not the values
    scheduler_config  null (tiny-sd1's own PNDM config), or the JSON text of
                      the checkpoint scheduler config the case runs with (the C
                      test writes it into a copy of tiny-sd1): SD-Turbo's
                      shipped EulerDiscreteScheduler config, trailing spacing
    width, height     0: the pipeline's default (unet.sample_size *
                      vae_scale_factor; AutoencoderTiny registers
                      block_out_channels with 4 entries, so the factor is 8
                      and the tiny model's default is 64, not the VAE's 16)

What the pipeline does with vae=AutoencoderTiny (diffusers 0.35.2):
    latents  = [batch, 4, H/8, W/8]     (vae_scale_factor 8)
    image    = vae.decode(latents / vae.config.scaling_factor)   (1.0)
             = DecoderTiny: tanh(z/3)*3 -> layers -> x*2-1
    output   = postprocess: clamp(image/2 + 0.5, 0, 1)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_pipeline_fixtures as P  # noqa: E402
import sd_layout as L  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

# stabilityai/sd-turbo's scheduler/scheduler_config.json as shipped (the
# _diffusers_version key left out): Euler, trailing spacing, epsilon.
SD_TURBO_SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "trailing",
    "trained_betas": None,
    "use_karras_sigmas": False,
}


def cases() -> list:
    m = "tiny-sd1"
    out = [
        P.case("euler", m, "euler", size=32),
        P.case("euler_a_batch2", m, "euler_a", size=32, batch=2),
        P.case("euler_16x48_nocfg", m, "euler", width=16, height=48, guidance=1.0),
        # The checkpoint's own scheduler (PNDM) at the pipeline's default size.
        P.case("pndm_default_size", m, "pndm", steps=6, size=1),
        # --preset turbo on an SD-Turbo-configured checkpoint: its own
        # scheduler (Euler, trailing), 1 step, guidance 0 (CFG off).
        P.case("preset_turbo", m, "euler", steps=1, guidance=0.0, spacing="trailing", size=32),
        # --preset lcm: LCMScheduler from the checkpoint's config, 4 steps,
        # guidance 1 (CFG off).
        P.case("preset_lcm", m, "lcm", steps=4, guidance=1.0, size=32),
    ]
    for c in out:
        c["preset"] = None
        c["scheduler_config"] = None
    default = out[3]
    default["width"] = default["height"] = 0
    out[4]["preset"] = "turbo"
    out[4]["scheduler_config"] = json.dumps(SD_TURBO_SCHEDULER, sort_keys=True)
    out[5]["preset"] = "lcm"
    for i, c in enumerate(out):
        c["seed"] = 4321 + i
    return out


def build_pipe(fixtures: Path):
    from diffusers import AutoencoderTiny, StableDiffusionPipeline

    comps = P.load_components(fixtures, "tiny-sd1")
    comps["vae"] = AutoencoderTiny.from_pretrained(fixtures / "tiny-taesd", torch_dtype=torch.float32,
                                                   local_files_only=True).eval()
    pipe = StableDiffusionPipeline(**comps, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vae_scale_factor == 8, pipe.vae_scale_factor
    assert pipe.vae.config.scaling_factor == 1.0
    return pipe, comps["scheduler"].config


def scheduler_for(base_config, c: dict):
    import diffusers

    if c["scheduler_config"]:
        # The checkpoint's own scheduler, as AutoPipelineForText2Image loads it.
        config = json.loads(c["scheduler_config"])
        return getattr(diffusers, config["_class_name"]).from_config(config)
    return P.make_scheduler(base_config, c)[0]


def run_case(pipe, base_config, c: dict):
    pipe.scheduler = scheduler_for(base_config, c)
    kwargs = dict(prompt=c["prompt"], negative_prompt=c["negative_prompt"],
                  num_inference_steps=c["steps"], guidance_scale=c["guidance_scale"],
                  num_images_per_prompt=c["batch"])
    if c["width"]:
        kwargs.update(width=c["width"], height=c["height"])

    def gen():
        return torch.Generator("cpu").manual_seed(c["seed"])

    with torch.no_grad():
        latents = pipe(**kwargs, generator=gen(), output_type="latent").images
        timesteps = [float(t) for t in pipe.scheduler.timesteps]
        pipe.scheduler = scheduler_for(base_config, c)
        np_img = pipe(**kwargs, generator=gen(), output_type="np").images
    image_u8 = (np_img * 255).round().astype(np.uint8)
    side_h = c["height"] or 64
    side_w = c["width"] or 64
    assert tuple(latents.shape) == (c["batch"], 4, side_h // 8, side_w // 8), latents.shape
    assert image_u8.shape == (c["batch"], side_h, side_w, 3), image_u8.shape
    # The same latents decoded by hand: what the C side does.
    with torch.no_grad():
        manual = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
    manual = pipe.image_processor.postprocess(manual, output_type="np", do_denormalize=[True] * c["batch"])
    assert np.array_equal((manual * 255).round().astype(np.uint8), image_u8), c["name"]
    info = {"class": type(pipe.scheduler).__name__, "timesteps": timesteps,
            "timestep_spacing": pipe.scheduler.config.get("timestep_spacing")}
    return latents.float().contiguous(), torch.from_numpy(image_u8.astype(np.float32)).contiguous(), info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=L.REPO / "tests" / "fixtures")
    args = parser.parse_args()
    import diffusers
    assert diffusers.__version__ == "0.35.2", diffusers.__version__
    pipe, base_config = build_pipe(args.out)
    tensors, infos = {}, {}
    all_cases = cases()
    for c in all_cases:
        torch.manual_seed(0)
        lat, img, info = run_case(pipe, base_config, c)
        tensors[f"{c['name']}.latents"] = lat
        tensors[f"{c['name']}.image"] = img
        infos[c["name"]] = info
        sat = float(((img == 0) | (img == 255)).float().mean())
        print(f"  {c['name']:20s} {info['class']:28s} t={info['timesteps']} "
              f"img {tuple(img.shape)} mean={img.mean():6.1f} std={img.std():5.1f} sat={sat:4.2f}")
    path = args.out / "reference" / "pipeline_taesd.safetensors"
    L.save_safetensors(tensors, path, {
        "cases": json.dumps(all_cases), "diffusers": json.dumps(infos, sort_keys=True),
        "notes": "StableDiffusionPipeline(tiny-sd1, vae=AutoencoderTiny(tiny-taesd)); "
                 "image = round(output_type='np' * 255)",
        "diffusers_version": diffusers.__version__,
    })
    print(f"wrote {path} ({L.human(path.stat().st_size)})")


if __name__ == "__main__":
    main()
