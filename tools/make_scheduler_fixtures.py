#!/usr/bin/env python3
"""make_scheduler_fixtures.py — reference runs of diffusers' schedulers for
tests/test_scheduler.c, written to tests/fixtures/reference/schedulers.safetensors.

Each case builds a diffusers scheduler from the SD 1.5 scheduler config (plus
the case's overrides: spacing, Karras, prediction type, algorithm type) and
runs the StableDiffusionPipeline loop (or StableDiffusionImg2ImgPipeline's,
when strength < 1) on a [2, 4, 4, 4] latent with a synthetic denoiser that
depends on both x and t and uses only correctly rounded float32 operations,
so the C test can compute it bit for bit:

    c0 = float32(0.3 * cos(t / 100)),  c1 = float32(0.1 + 0.05 * sin(t / 50))
    eps(x, t) = (0.5 * x) / (1 + x * x) + c1 * x + c0

Noise comes from torch.Generator("cpu").manual_seed(seed), drawn as the
pipelines draw it (initial latents, then each step's noise via randn_tensor;
for img2img the stand-in "encoded image" latents, then the add_noise noise).

Stored per case: "<case>.timesteps" (float32), "<case>.sigmas" (float32, for
schedulers that have them) and "<case>.final" (the latents after the loop);
metadata "cases" is a JSON list describing each case.

Cases with a "config" (the text of a checkpoint's scheduler_config.json, as a
string because diffusers writes -Infinity, which is not JSON) are built the
way a diffusers user switches samplers: the checkpoint's own class loads the
config (from_pretrained), then the chosen class is made with
Chosen.from_config(pipe.scheduler.config). Keys the file does not set take
the *chosen* class's __init__ defaults (ConfigMixin's _use_default_values);
keys it sets flow through, even to classes whose __init__ lacks them
(hidden config entries such as sigma_min reaching Heun's Karras sigmas).
A sampler named by a diffusers class takes no overrides; the short names
fix what makes them that sampler (PLMS: skip_prk_steps, DPM++ 2M: the
algorithm and order 2).

Run: .venv-tools/bin/python tools/make_scheduler_fixtures.py
"""
import inspect
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

import diffusers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sd_layout import save_safetensors  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "reference" / "schedulers.safetensors"

SD15_CONFIG = {
    "_class_name": "PNDMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}

CLASSES = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "lms": ("LMSDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "lcm": ("LCMScheduler", {}),
}

SHAPE = (2, 4, 4, 4)


def denoiser(x: torch.Tensor, t) -> torch.Tensor:
    tv = float(t)
    c0 = float(np.float32(0.3 * math.cos(tv / 100.0)))
    c1 = float(np.float32(0.1 + 0.05 * math.sin(tv / 50.0)))
    a = 0.5 * x
    b = x * x
    b = 1.0 + b
    a = a / b
    a = a + c1 * x
    return a + c0


def make_scheduler(case: dict):
    if case["sampler"] in CLASSES:
        cls_name, extra = CLASSES[case["sampler"]]
    else:  # a diffusers class name: from_config with no overrides
        cls_name, extra = case["sampler"], {}
    cls = getattr(diffusers, cls_name)
    overrides = dict(extra)
    if case.get("spacing"):
        overrides["timestep_spacing"] = case["spacing"]
    if case.get("karras"):
        overrides["use_karras_sigmas"] = True
    if "config" not in case:
        overrides["prediction_type"] = case.get("prediction", "epsilon")
        return cls.from_config(SD15_CONFIG, **overrides)
    if case.get("prediction"):
        overrides["prediction_type"] = case["prediction"]
    file_config = json.loads(case["config"])
    own = getattr(diffusers, file_config.get("_class_name", cls_name))
    own_sched = own.from_config(file_config)  # what from_pretrained builds
    return cls.from_config(own_sched.config, **overrides)


def run_case(case: dict):
    sched = make_scheduler(case)
    steps = case["steps"]
    sched.set_timesteps(steps)
    gen = torch.Generator("cpu").manual_seed(case["seed"])
    strength = case.get("strength", 1.0)

    params = set(inspect.signature(sched.step).parameters)
    kwargs = {}
    if "eta" in params:
        kwargs["eta"] = case.get("eta", 0.0)
    if "generator" in params:
        kwargs["generator"] = gen

    if strength >= 1.0:
        timesteps = sched.timesteps
        latents = torch.randn(SHAPE, generator=gen, dtype=torch.float32)
        latents = latents * sched.init_noise_sigma
    else:
        # StableDiffusionImg2ImgPipeline.get_timesteps + prepare_latents.
        init_timestep = min(int(steps * strength), steps)
        t_start = max(steps - init_timestep, 0)
        timesteps = sched.timesteps[t_start * sched.order:]
        if hasattr(sched, "set_begin_index"):
            sched.set_begin_index(t_start * sched.order)
        original = torch.randn(SHAPE, generator=gen, dtype=torch.float32)
        noise = torch.randn(SHAPE, generator=gen, dtype=torch.float32)
        latent_timestep = timesteps[:1].repeat(SHAPE[0])
        latents = sched.add_noise(original, noise, latent_timestep)

    for t in timesteps:
        model_input = sched.scale_model_input(latents, t)
        model_output = denoiser(model_input, t)
        latents = sched.step(model_output, t, latents, **kwargs, return_dict=False)[0]

    out = {
        "timesteps": torch.as_tensor(timesteps).to(torch.float32).contiguous(),
        "final": latents.to(torch.float32).contiguous(),
    }
    sig = getattr(sched, "sigmas", None)
    if isinstance(sig, torch.Tensor) and type(sched).__name__ not in ("DDIMScheduler", "PNDMScheduler", "LCMScheduler"):
        out["sigmas"] = sig.to(torch.float32).contiguous()
    return out


CASES = [
    {"name": "euler", "sampler": "euler", "steps": 8, "seed": 1},
    {"name": "euler_karras", "sampler": "euler", "karras": True, "steps": 8, "seed": 2},
    {"name": "euler_trailing", "sampler": "euler", "spacing": "trailing", "steps": 8, "seed": 3},
    {"name": "euler_leading", "sampler": "euler", "spacing": "leading", "steps": 7, "seed": 4},
    {"name": "euler_v", "sampler": "euler", "prediction": "v_prediction", "steps": 8, "seed": 5},
    {"name": "euler_a", "sampler": "euler_a", "steps": 8, "seed": 6},
    {"name": "euler_a_v", "sampler": "euler_a", "prediction": "v_prediction", "steps": 8, "seed": 7},
    {"name": "heun", "sampler": "heun", "steps": 4, "seed": 8},
    {"name": "heun_karras", "sampler": "heun", "karras": True, "steps": 4, "seed": 9},
    {"name": "ddim", "sampler": "ddim", "steps": 8, "seed": 10},
    {"name": "ddim_trailing", "sampler": "ddim", "spacing": "trailing", "steps": 8, "seed": 11},
    {"name": "ddim_linspace", "sampler": "ddim", "spacing": "linspace", "steps": 7, "seed": 12},
    {"name": "ddim_eta", "sampler": "ddim", "eta": 0.5, "steps": 8, "seed": 13},
    {"name": "ddim_v", "sampler": "ddim", "prediction": "v_prediction", "steps": 8, "seed": 14},
    {"name": "pndm", "sampler": "pndm", "steps": 8, "seed": 15},
    {"name": "pndm_v", "sampler": "pndm", "prediction": "v_prediction", "steps": 8, "seed": 16},
    {"name": "lms", "sampler": "lms", "steps": 8, "seed": 17},
    {"name": "lms_karras", "sampler": "lms", "karras": True, "steps": 8, "seed": 18},
    {"name": "dpmpp_2m", "sampler": "dpmpp_2m", "steps": 8, "seed": 19},
    {"name": "dpmpp_2m_karras", "sampler": "dpmpp_2m", "karras": True, "steps": 8, "seed": 20},
    {"name": "dpmpp_2m_v", "sampler": "dpmpp_2m", "prediction": "v_prediction", "steps": 8, "seed": 21},
    {"name": "dpmpp_2m_sde", "sampler": "dpmpp_2m_sde", "steps": 8, "seed": 22},
    {"name": "dpmpp_2m_sde_karras", "sampler": "dpmpp_2m_sde", "karras": True, "steps": 8, "seed": 23},
    {"name": "lcm", "sampler": "lcm", "steps": 4, "seed": 24},
    {"name": "lcm_v", "sampler": "lcm", "prediction": "v_prediction", "steps": 6, "seed": 25},
    {"name": "euler_img2img", "sampler": "euler", "strength": 0.6, "steps": 8, "seed": 26},
    {"name": "ddim_img2img", "sampler": "ddim", "strength": 0.6, "steps": 8, "seed": 27},
    {"name": "dpmpp_2m_img2img", "sampler": "dpmpp_2m", "strength": 0.6, "steps": 8, "seed": 28},
    {"name": "heun_img2img", "sampler": "heun", "strength": 0.6, "steps": 5, "seed": 29},
    {"name": "pndm_img2img", "sampler": "pndm", "strength": 0.6, "steps": 8, "seed": 30},
]

# Scheduler configs as checkpoints ship them, for the from_config cases.
BETAS_SD = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
# SD-Turbo / SDXL style: an Euler config with the beta schedule and little else.
EULER_MINIMAL = {"_class_name": "EulerDiscreteScheduler", **BETAS_SD, "num_train_timesteps": 1000}
# Not even the beta schedule: every class's own betas (linear 1e-4..0.02; Heun, LCM 0.00085..0.012).
EULER_BARE = {"_class_name": "EulerDiscreteScheduler"}
# A DDIM config that clips and sets alpha to one: clip_sample reaches Heun and LCM too.
DDIM_CLIPPING = {"_class_name": "DDIMScheduler", **BETAS_SD, "clip_sample": True, "clip_sample_range": 1.5,
                 "set_alpha_to_one": True, "steps_offset": 1, "prediction_type": "epsilon"}
# Euler's Karras bounds, hidden config entries for Heun and LMS, init keys of DPM.
EULER_KARRAS_BOUNDS = {"_class_name": "EulerDiscreteScheduler", **BETAS_SD, "use_karras_sigmas": True,
                       "sigma_min": 0.1, "sigma_max": 8.0, "steps_offset": 1, "timestep_spacing": "leading"}
EULER_SIGMA_MIN = {"_class_name": "EulerDiscreteScheduler", **BETAS_SD, "final_sigmas_type": "sigma_min",
                   "timestep_spacing": "trailing", "prediction_type": "v_prediction"}
# What DPMSolverMultistepScheduler.save_config writes (lambda_min_clipped: -Infinity).
DPM_SDE = {"_class_name": "DPMSolverMultistepScheduler", **BETAS_SD, "algorithm_type": "sde-dpmsolver++",
           "solver_order": 2, "lambda_min_clipped": float("-inf"), "lower_order_final": True,
           "solver_type": "midpoint", "steps_offset": 1, "timestep_spacing": "leading",
           "final_sigmas_type": "zero", "variance_type": None, "use_karras_sigmas": True}

# An LCM checkpoint's config: its own step grid and boundary scaling.
LCM_OWN = {"_class_name": "LCMScheduler", **BETAS_SD, "original_inference_steps": 25, "timestep_scaling": 5.0,
           "num_train_timesteps": 1000}

ALL_SAMPLERS = ["euler", "euler_a", "heun", "ddim", "pndm", "lms", "dpmpp_2m", "dpmpp_2m_sde", "lcm"]
_seed = 100
# Leading spacing without steps_offset: every class's offset 0, not SD's 1.
EULER_LEADING = {**EULER_MINIMAL, "timestep_spacing": "leading"}
for _cfg_name, _cfg in (("min", EULER_MINIMAL), ("bare", EULER_BARE), ("lead", EULER_LEADING)):
    for _sampler in ALL_SAMPLERS:
        _seed += 1
        CASES.append({"name": f"{_cfg_name}_{_sampler}", "sampler": _sampler, "config": json.dumps(_cfg),
                      "steps": 4 if _sampler in ("heun", "lcm") else 6, "seed": _seed})
for _cfg_name, _cfg, _samplers in (
    ("clip", DDIM_CLIPPING, ["heun", "lcm", "ddim", "euler", "pndm"]),
    ("kbounds", EULER_KARRAS_BOUNDS, ["euler", "heun", "lms", "dpmpp_2m", "euler_a"]),
    ("sigmamin", EULER_SIGMA_MIN, ["EulerDiscreteScheduler", "heun", "dpmpp_2m"]),
    ("dpmsde", DPM_SDE, ["DPMSolverMultistepScheduler", "dpmpp_2m", "ddim"]),
    ("lcmown", LCM_OWN, ["LCMScheduler", "ddim", "euler"]),
):
    for _sampler in _samplers:
        _seed += 1
        CASES.append({"name": f"{_cfg_name}_{_sampler}", "sampler": _sampler, "config": json.dumps(_cfg),
                      "steps": 4 if _sampler in ("heun", "lcm") else 6, "seed": _seed})
# 15 steps or more: DPM's last step is second order unless final_sigmas_type is
# zero or euler_at_final is set.
for _cfg_name, _cfg in (("sigmamin16", EULER_SIGMA_MIN), ("eulerfinal16", {**EULER_SIGMA_MIN, "euler_at_final": True})):
    _seed += 1
    CASES.append({"name": f"{_cfg_name}_dpmpp_2m", "sampler": "dpmpp_2m", "config": json.dumps(_cfg),
                  "steps": 16, "seed": _seed})


def main():
    tensors = {}
    for case in CASES:
        for key, value in run_case(case).items():
            tensors[f"{case['name']}.{key}"] = value
    meta = {
        "cases": json.dumps(CASES),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "shape": json.dumps(list(SHAPE)),
    }
    save_safetensors(tensors, OUT, meta)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(CASES)} cases)")


if __name__ == "__main__":
    main()
