#!/usr/bin/env python3
"""Builds the end-to-end pipeline references the C generation tests compare
against: diffusers' StableDiffusionPipeline / StableDiffusionImg2ImgPipeline
run on the committed tiny models, for every sampler diffuse offers.

Usage:
    .venv-tools/bin/python tools/make_pipeline_fixtures.py [--out tests/fixtures]

Needs the tiny SD models tools/make_fixtures.py writes (tiny-sd1/, tiny-sd2/;
they have no tokenizer/ folder, so the tokenizer is sd_layout.make_tokenizer
over our vocabulary: SD1 pads with <|endoftext|>, SD2 with "!"). Every
component loads with from_pretrained (local files only, float32, CPU).
Deterministic: one thread, fixed seeds, byte-identical files on a re-run.

Writes:
  images/init-16x16.png, images/init-24x24.png
      img2img init images (RGB8, a smooth gradient with a few shapes), drawn
      with Pillow; the pipelines read them back from the PNG.
  reference/pipeline_sd1.safetensors, reference/pipeline_sd2.safetensors
      __metadata__["cases"]: JSON list of request objects, with the C API's
      field names:
        name, model ("tiny-sd1" | "tiny-sd2"), sampler (df_sampler_parse short
        name), schedule ("default" | "karras"), spacing ("default" | "leading" |
        "trailing" | "linspace"), steps, guidance_scale, prompt,
        negative_prompt ("" = none, diffusers' default with CFG), seed, width,
        height, batch, clip_skip (A1111 meaning: 1 = last layer, 2 =
        penultimate = diffusers clip_skip=1), strength (1.0 for txt2img),
        init_image (repo-relative path or null), eta (0).
      per case N:
        N.latents  f32 [batch, 4, height/2, width/2]  the final latents
                   (pipeline output_type="latent"), before VAE decoding
        N.image    f32 [batch, height, width, 3]       the pipeline's uint8
                   output (integers 0..255 stored as f32)
      __metadata__["diffusers"]: JSON object, per case the scheduler class, the
      from_config overrides, the effective timestep_spacing / prediction_type /
      use_karras_sigmas, the timesteps run and init_noise_sigma (debug aid).
      __metadata__["notes"]: the conventions below, in words.

Conventions (what the C side must reproduce):
  * scheduler = SchedulerClass.from_config(model's scheduler_config, **overrides);
    overrides only use_karras_sigmas (schedule "karras"), timestep_spacing
    (spacing other than "default"), and algorithm_type / solver_order for
    DPM++. Keys the json lacks take the *target* class's defaults
    (diffusers' _use_default_values), so "default" spacing is linspace for
    Euler / Euler a / Heun / LMS / DPM++, leading for DDIM / PNDM / LCM.
  * generator = torch.Generator("cpu").manual_seed(seed), one for the batch:
    txt2img draws randn([batch,4,h,w]) * init_noise_sigma first, then the
    step noise (Euler a, DPM++ 2M SDE, LCM) in the same generator.
    img2img draws, in order: the VAE posterior sample
    (latent_dist.sample: mean + std * randn([1,4,h,w])), scaled by
    scaling_factor, then the add_noise noise randn([batch,4,h,w]), then the
    step noise.
  * img2img init image: VaeImageProcessor.preprocess of the PNG at its own
    size (no resize happens: Pillow's resize to the same size is a copy),
    float32 x / 255 then 2 * x - 1 (checked here to equal x / 127.5 - 1 in
    float32 for every 0..255 value, see check_normalization).
  * image = round(clamp(decode(latents / scaling_factor) / 2 + 0.5, 0, 1) * 255)
    (postprocess "np" then * 255 .round(); equal to the "pil" output, which
    this script checks for every case).
  * clip_skip: diffusers' pipeline applies clip_skip to the prompt only, not
    to the negative prompt. AUTOMATIC1111 (and diffuse) skip both, so the
    clip_skip case with CFG passes prompt_embeds / negative_prompt_embeds
    that the pipeline's own encode_prompt made, both with clip_skip; the
    "_nocfg" case (guidance 1) is the plain pipeline call.
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
import sd_layout as L  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

PROMPT = "a photograph of an astronaut riding a horse"
NEGATIVE = "blurry, low quality"
SD1_SIZE, SD2_SIZE = 16, 24

# short name -> (diffusers class name, fixed overrides)
SAMPLERS = {
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


def case(name, model, sampler, *, steps=8, schedule="default", spacing="default", guidance=7.5,
         prompt=PROMPT, negative="", size=None, width=None, height=None, batch=1, clip_skip=1,
         strength=1.0, init_image=None):
    size = size or (SD1_SIZE if model == "tiny-sd1" else SD2_SIZE)
    return {"name": name, "model": model, "sampler": sampler, "schedule": schedule, "spacing": spacing,
            "steps": steps, "guidance_scale": guidance, "prompt": prompt, "negative_prompt": negative,
            "seed": None, "width": width or size, "height": height or size, "batch": batch,
            "clip_skip": clip_skip, "strength": strength, "init_image": init_image, "eta": 0.0}


INIT16 = "tests/fixtures/images/init-16x16.png"
INIT24 = "tests/fixtures/images/init-24x24.png"


def sd1_cases():
    m = "tiny-sd1"
    cases = [case(s, m, s, steps=4 if s == "heun" else 8)
             for s in ("euler", "euler_a", "heun", "ddim", "pndm", "lms", "dpmpp_2m", "dpmpp_2m_sde")]
    cases += [case(f"{s}_karras", m, s, schedule="karras") for s in ("euler", "lms", "dpmpp_2m")]
    cases += [
        case("lcm", m, "lcm", steps=4, guidance=1.0, spacing="trailing"),
        case("euler_negative", m, "euler", negative=NEGATIVE),
        case("euler_a_batch2", m, "euler_a", batch=2),
        case("euler_16x32", m, "euler", width=16, height=32),
        case("euler_clip_skip2", m, "euler", clip_skip=2),
        case("euler_clip_skip2_nocfg", m, "euler", clip_skip=2, guidance=1.0),
        case("euler_nocfg", m, "euler", guidance=1.0),
        case("ddim_trailing", m, "ddim", spacing="trailing"),
        case("img2img_euler", m, "euler", steps=10, strength=0.6, init_image=INIT16),
        case("img2img_ddim", m, "ddim", steps=10, strength=0.5, init_image=INIT16),
        case("img2img_dpmpp_2m", m, "dpmpp_2m", steps=10, strength=0.75, init_image=INIT16),
    ]
    for i, c in enumerate(cases):
        c["seed"] = 1234 + i
    return cases


def sd2_cases():
    m = "tiny-sd2"
    cases = [
        case("euler", m, "euler"),
        case("euler_a", m, "euler_a"),
        case("ddim", m, "ddim"),
        case("dpmpp_2m", m, "dpmpp_2m"),
        case("heun", m, "heun", steps=4),
        case("euler_negative", m, "euler", negative=NEGATIVE),
        case("img2img_euler", m, "euler", steps=10, strength=0.6, init_image=INIT24),
    ]
    for i, c in enumerate(cases):
        c["seed"] = 2234 + i
    return cases


# --------------------------------------------------------------------------
# init images


def make_init_image(size: int) -> Image.Image:
    """A smooth colourful gradient with a disc, a square and a line on it."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)
    r = 40 + 200 * x
    g = 30 + 180 * y
    b = 220 - 150 * (x + y) / 2 + 30 * np.sin(np.pi * x * y)
    rgb = np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)
    im = Image.fromarray(rgb, "RGB")
    d = ImageDraw.Draw(im)
    s = size / 16
    d.ellipse([round(2 * s), round(2 * s), round(8 * s), round(8 * s)], fill=(250, 230, 40))
    d.rectangle([round(9 * s), round(9 * s), round(14 * s), round(13 * s)], fill=(30, 60, 200))
    d.line([(0, size - 1 - round(2 * s)), (size - 1, round(6 * s))], fill=(240, 240, 240), width=1)
    return im


def write_init_images(out: Path) -> None:
    for size, rel in ((16, INIT16), (24, INIT24)):
        path = out / "images" / Path(rel).name
        make_init_image(size).save(path, "PNG", optimize=False, compress_level=9)
        back = Image.open(path)
        assert back.mode == "RGB" and back.size == (size, size), (back.mode, back.size)


def check_normalization() -> list:
    """VaeImageProcessor: float32 x/255, then 2*x-1; the C side uses x/127.5-1."""
    v = np.arange(256, dtype=np.float32)
    diffusers_way = (2.0 * torch.from_numpy(v / np.float32(255.0)) - 1.0).numpy()
    c_way = v / np.float32(127.5) - np.float32(1.0)
    diff = np.nonzero(diffusers_way != c_way)[0]
    return diff.tolist()


# --------------------------------------------------------------------------
# pipelines


def load_components(fixtures: Path, model: str) -> dict:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.schedulers import PNDMScheduler, DDIMScheduler  # noqa: F401
    import diffusers
    from transformers import CLIPTextModel

    folder = fixtures / model
    with open(folder / "scheduler" / "scheduler_config.json") as f:
        sched_cls = getattr(diffusers, json.load(f)["_class_name"])
    pad = L.END_TOKEN if model == "tiny-sd1" else "!"
    tok = L.make_tokenizer(pad)
    assert tok.pad_token_id == (49407 if model == "tiny-sd1" else 0)
    return dict(
        vae=AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=torch.float32, local_files_only=True).eval(),
        text_encoder=CLIPTextModel.from_pretrained(folder / "text_encoder", torch_dtype=torch.float32,
                                                   local_files_only=True).eval(),
        tokenizer=tok,
        unet=UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=torch.float32,
                                                  local_files_only=True).eval(),
        scheduler=sched_cls.from_pretrained(folder / "scheduler", local_files_only=True),
    )


def make_scheduler(base_config, c: dict):
    import diffusers

    cls_name, overrides = SAMPLERS[c["sampler"]]
    overrides = dict(overrides)
    if c["schedule"] == "karras":
        overrides["use_karras_sigmas"] = True
    if c["spacing"] != "default":
        overrides["timestep_spacing"] = c["spacing"]
    return getattr(diffusers, cls_name).from_config(base_config, **overrides), cls_name, overrides


def encode_both_skipped(pipe, c: dict, clip_skip: int):
    """prompt and negative prompt embeddings, both with diffusers clip_skip."""
    pos, _ = pipe.encode_prompt(c["prompt"], "cpu", 1, False, clip_skip=clip_skip)
    neg, _ = pipe.encode_prompt(c["negative_prompt"], "cpu", 1, False, clip_skip=clip_skip)
    return pos, neg


def run_case(pipes: dict, c: dict, fixtures_repo: Path):
    txt2img, img2img = pipes["txt2img"], pipes["img2img"]
    base_config = pipes["scheduler_config"]
    sched, cls_name, overrides = make_scheduler(base_config, c)
    pipe = img2img if c["init_image"] else txt2img
    pipe.scheduler = sched
    assert c["eta"] == 0.0

    kwargs = dict(num_inference_steps=c["steps"], guidance_scale=c["guidance_scale"],
                  num_images_per_prompt=c["batch"], eta=c["eta"])
    diffusers_skip = c["clip_skip"] - 1
    if diffusers_skip > 0 and c["guidance_scale"] > 1.0:
        pos, neg = encode_both_skipped(pipe, c, diffusers_skip)
        kwargs.update(prompt_embeds=pos, negative_prompt_embeds=neg)
    else:
        kwargs.update(prompt=c["prompt"], negative_prompt=c["negative_prompt"],
                      clip_skip=diffusers_skip if diffusers_skip > 0 else None)
    if c["init_image"]:
        image = Image.open(fixtures_repo / c["init_image"]).convert("RGB")
        assert image.size == (c["width"], c["height"])
        kwargs.update(image=image, strength=c["strength"])
    else:
        kwargs.update(width=c["width"], height=c["height"])

    def gen():
        return torch.Generator("cpu").manual_seed(c["seed"])

    with torch.no_grad():
        latents = pipe(**kwargs, generator=gen(), output_type="latent").images
        timesteps = [float(t) for t in pipe.scheduler.timesteps]
        info = {"class": cls_name, "overrides": overrides,
                "timestep_spacing": pipe.scheduler.config.get("timestep_spacing"),
                "prediction_type": pipe.scheduler.config.get("prediction_type"),
                "use_karras_sigmas": pipe.scheduler.config.get("use_karras_sigmas", False),
                "init_noise_sigma": float(pipe.scheduler.init_noise_sigma),
                "scheduler_timesteps": timesteps}
        if c["init_image"]:
            init_timestep = min(int(c["steps"] * c["strength"]), c["steps"])
            info["t_start"] = max(c["steps"] - init_timestep, 0)  # img2img runs timesteps[t_start * order:]
        vae = pipe.vae
        decoded = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
        np_img = pipe.image_processor.postprocess(decoded, output_type="np",
                                                  do_denormalize=[True] * decoded.shape[0])
        image_u8 = (np_img * 255).round().astype(np.uint8)

        # the same run decoded by the pipeline itself
        pipe.scheduler = make_scheduler(base_config, c)[0]
        pil = pipe(**kwargs, generator=gen(), output_type="pil").images
        info.update(sensitivity(pipe, base_config, c, kwargs, gen, latents, image_u8))
    pil_u8 = np.stack([np.array(p) for p in pil])
    if not np.array_equal(pil_u8, image_u8):
        raise AssertionError(f"{c['name']}: manual decode differs from output_type='pil' "
                             f"({int((pil_u8 != image_u8).sum())} values)")
    b, H, W = c["batch"], c["height"], c["width"]
    assert tuple(latents.shape) == (b, 4, H // 2, W // 2), latents.shape
    assert image_u8.shape == (b, H, W, 3), image_u8.shape
    if not torch.isfinite(latents).all():
        raise AssertionError(f"{c['name']}: non-finite latents")
    return latents.float().contiguous(), torch.from_numpy(image_u8.astype(np.float32)).contiguous(), info


def sensitivity(pipe, base_config, c, kwargs, gen, latents, image_u8) -> dict:
    """How much float32-rounding-sized noise moves the result: every UNet output
    times (1 + 1e-6 * n), n ~ N(0,1) from a separate generator. A guide for the
    C test's tolerances (its UNet differs from torch's at about this level)."""
    g = torch.Generator("cpu").manual_seed(99)

    def hook(module, args, out):
        s = out[0] if isinstance(out, tuple) else out.sample
        s = s + s * 1e-6 * torch.randn(s.shape, generator=g, dtype=s.dtype)
        return (s,) + tuple(out[1:]) if isinstance(out, tuple) else type(out)(sample=s)

    handle = pipe.unet.register_forward_hook(hook)
    try:
        pipe.scheduler = make_scheduler(base_config, c)[0]
        lat = pipe(**kwargs, generator=gen(), output_type="latent").images
    finally:
        handle.remove()
    vae = pipe.vae
    dec = vae.decode(lat / vae.config.scaling_factor, return_dict=False)[0]
    img = (pipe.image_processor.postprocess(dec, output_type="np", do_denormalize=[True] * dec.shape[0])
           * 255).round().astype(np.uint8)
    d = (img.astype(np.int32) - image_u8.astype(np.int32))
    return {"perturbed_1e-6_latent_absdiff": float((lat - latents).abs().max()),
            "perturbed_1e-6_image_maxdiff": int(np.abs(d).max()),
            "perturbed_1e-6_image_changed": int((d != 0).sum())}


def self_checks(pipes: dict, fixtures_repo: Path) -> None:
    """The prompt_embeds route (used for clip_skip with CFG) equals the prompt
    route, and img2img preprocessing is x/255*2-1 at the image's own size."""
    pipe = pipes["txt2img"]
    c = case("check", "tiny-sd1", "euler", steps=3)
    sched = lambda: make_scheduler(pipes["scheduler_config"], c)[0]  # noqa: E731
    common = dict(num_inference_steps=3, guidance_scale=7.5, width=16, height=16, output_type="latent")
    with torch.no_grad():
        pipe.scheduler = sched()
        a = pipe(prompt=PROMPT, negative_prompt="", generator=torch.Generator("cpu").manual_seed(5), **common).images
        pos, _ = pipe.encode_prompt(PROMPT, "cpu", 1, False)
        neg, _ = pipe.encode_prompt("", "cpu", 1, False)
        pipe.scheduler = sched()
        b = pipe(prompt_embeds=pos, negative_prompt_embeds=neg, generator=torch.Generator("cpu").manual_seed(5),
                 **common).images
    assert torch.equal(a, b), "prompt_embeds route differs from the prompt route"
    for rel in (INIT16, INIT24):
        im = Image.open(fixtures_repo / rel).convert("RGB")
        got = pipes["img2img"].image_processor.preprocess(im).numpy()
        want = (np.array(im).astype(np.float32) / np.float32(127.5) - np.float32(1.0)).transpose(2, 0, 1)[None]
        assert got.dtype == np.float32 and np.array_equal(got, want), f"{rel}: preprocess is not x/127.5-1"


def build_pipes(fixtures: Path, model: str) -> dict:
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

    comps = load_components(fixtures, model)
    extra = dict(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    txt2img = StableDiffusionPipeline(**comps, **extra)
    img2img = StableDiffusionImg2ImgPipeline(**comps, **extra)
    for p in (txt2img, img2img):
        p.set_progress_bar_config(disable=True)
    assert txt2img.vae_scale_factor == 2
    return {"txt2img": txt2img, "img2img": img2img, "scheduler_config": comps["scheduler"].config}


NOTES = (
    "Seeds: torch.Generator('cpu').manual_seed(seed), one generator for the whole batch. "
    "Schedulers: SchedulerClass.from_config(scheduler_config.json, overrides); spacing 'default' = "
    "the class default (json has no timestep_spacing). img2img draws the VAE posterior noise "
    "(randn [1,4,h,w]) before the add_noise noise. clip_skip cases with CFG skip the negative "
    "prompt too (A1111), unlike diffusers' pipeline. image = round(clamp(vae.decode(lat/0.18215)/2+0.5,0,1)*255)."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=L.REPO / "tests" / "fixtures")
    parser.add_argument("--only", default=None, help="comma-separated case names (debugging; writes nothing)")
    args = parser.parse_args()
    fixtures = args.out
    import diffusers
    assert diffusers.__version__ == "0.35.2", diffusers.__version__

    write_init_images(fixtures)
    bad = check_normalization()
    print(f"init images written; x/255*2-1 vs x/127.5-1 (float32) differ at {len(bad)} values {bad[:8]}")

    only = set(args.only.split(",")) if args.only else None
    for family, cases in (("sd1", sd1_cases()), ("sd2", sd2_cases())):
        model = f"tiny-{family}"
        pipes = build_pipes(fixtures, model)
        if family == "sd1":
            self_checks(pipes, L.REPO)
            print("checks: prompt_embeds route == prompt route; img2img preprocess == x/127.5-1, no resize")
        print(f"{model}: scheduler_config {pipes['scheduler_config']['_class_name']}, "
              f"prediction_type {pipes['scheduler_config'].get('prediction_type')}")
        tensors, infos = {}, {}
        for c in cases:
            if only and c["name"] not in only:
                continue
            torch.manual_seed(0)  # nothing should use the global generator; keep it fixed anyway
            lat, img, info = run_case(pipes, c, L.REPO)
            tensors[f"{c['name']}.latents"] = lat
            tensors[f"{c['name']}.image"] = img
            infos[c["name"]] = info
            print(f"  {c['name']:24s} {info['class']:32s} spacing={info['timestep_spacing']:9s} "
                  f"lat absmax={lat.abs().max():8.4f} std={lat.std():7.4f}  "
                  f"img mean={img.mean():6.1f} sat={float(((img == 0) | (img == 255)).float().mean()):4.2f}  "
                  f"1e-6 pert: lat {info['perturbed_1e-6_latent_absdiff']:.1e} "
                  f"img max {info['perturbed_1e-6_image_maxdiff']} n {info['perturbed_1e-6_image_changed']}")
        if only:
            continue
        path = fixtures / "reference" / f"pipeline_{family}.safetensors"
        L.save_safetensors(tensors, path, {
            "cases": json.dumps(cases), "diffusers": json.dumps(infos, sort_keys=True),
            "notes": NOTES, "diffusers_version": diffusers.__version__,
        })
        print(f"wrote {path} ({L.human(path.stat().st_size)})")


if __name__ == "__main__":
    main()
