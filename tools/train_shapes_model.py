"""Trains the bundled default model, models/shapes-128, from scratch on CPU.

    .venv-tools/bin/python tools/train_shapes_model.py --work /tmp/shapes-train \
        --out models/shapes-128

Phases, each saved under --work and skipped when its output exists (so a run
can be resumed and the phases timed apart):
  1. data   render the synthetic captioned scenes (tools/shapes_world.py)
  2. vae    train an AutoencoderKL (128x128 RGB <-> 16x16x4) on 64x64 crops,
            then fine-tune it on whole images (its attention must see 16x16)
  3. latents encode every scene with the trained encoder; the latent scaling
            factor is 1/std of the latents, as Stable Diffusion's 0.18215 was
  4. unet   train a CLIP text encoder and a UNet2DConditionModel together
            (epsilon prediction, SD 1.x's scaled-linear betas, 10% empty
            captions for classifier-free guidance, min-SNR weighting, EMA)
  5. export a diffusers folder, f16 weights, with the CLIP tokenizer files and
            training_log.json (the phase times and the settings)

Deterministic: every random choice comes from the seeds below, and torch runs
on a fixed number of threads (--threads, default 2; a different count can
change float summation order and so the last bits of the result).
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_world  # noqa: E402
import sd_layout  # noqa: E402

SEED = 20261203
TRAIN_SCENES = 30000

VAE_CONFIG = dict(in_channels=3, out_channels=3, latent_channels=4,
                  down_block_types=["DownEncoderBlock2D"] * 4,
                  up_block_types=["UpDecoderBlock2D"] * 4,
                  block_out_channels=[16, 32, 64, 64], layers_per_block=1,
                  norm_num_groups=16, sample_size=shapes_world.SIZE)
TEXT_CONFIG = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4,
                   num_attention_heads=4, max_position_embeddings=77,
                   vocab_size=49408, hidden_act="quick_gelu", projection_dim=128,
                   bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
UNET_CONFIG = dict(sample_size=shapes_world.SIZE // 8, in_channels=4, out_channels=4,
                   layers_per_block=1, block_out_channels=[64, 128, 128],
                   down_block_types=["DownBlock2D", "CrossAttnDownBlock2D",
                                     "CrossAttnDownBlock2D"],
                   up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                   "UpBlock2D"],
                   cross_attention_dim=128, attention_head_dim=8, norm_num_groups=32)
SCHEDULER_CONFIG = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                        beta_schedule="scaled_linear", prediction_type="epsilon",
                        timestep_spacing="leading", steps_offset=1)


def log(message):
    print(time.strftime("%H:%M:%S"), message, flush=True)


# --- 1. data ----------------------------------------------------------------

def phase_data(work, count):
    path = work / "scenes.pt"
    if path.exists():
        return torch.load(path)
    import numpy as np
    scenes = shapes_world.make_scenes(SEED, count)
    images = torch.empty(len(scenes), 3, shapes_world.SIZE, shapes_world.SIZE, dtype=torch.uint8)
    for i, (scene, _) in enumerate(scenes):
        images[i] = torch.from_numpy(np.asarray(shapes_world.render(scene))).permute(2, 0, 1)
        if i % 10000 == 0:
            log(f"data: {i}/{len(scenes)}")
    data = {"images": images, "captions": [c for _, c in scenes]}
    torch.save(data, path)
    return data


def to_float(images):
    return images.float() / 127.5 - 1.0


# --- 2. vae -----------------------------------------------------------------

def set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr


def vae_step(vae, optimizer, x, generator):
    """One optimiser step on images x: L1 + L2 reconstruction of a posterior
    sample and a small KL term (per pixel). Returns (reconstruction, kl)."""
    posterior = vae.encode(x).latent_dist
    z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator)
    y = vae.decode(z).sample
    reconstruction = (y - x).abs().mean() + F.mse_loss(y, x)
    kl = posterior.kl().mean() / (x.shape[2] * x.shape[3])
    loss = reconstruction + 1e-4 * kl
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
    optimizer.step()
    return reconstruction, kl


def phase_vae(work, data, steps):
    from diffusers import AutoencoderKL
    path = work / "vae"
    if path.exists():
        return AutoencoderKL.from_pretrained(path)
    torch.manual_seed(SEED + 1)
    vae = AutoencoderKL(**VAE_CONFIG)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    generator = torch.Generator().manual_seed(SEED + 2)
    images = data["images"]
    batch, crop = 16, 64
    for step in range(steps):
        # Warm-up, a long plateau, then a cosine over the last 30%: 1,800
        # steps of a plain cosine left colours washed out.
        tail = max(0.0, (step - 0.7 * steps) / (0.3 * steps))
        lr = 1e-3 * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * tail))
        set_lr(optimizer, lr)
        index = torch.randint(0, len(images), (batch,), generator=generator)
        offsets = torch.randint(0, shapes_world.SIZE - crop + 1, (batch, 2), generator=generator)
        x = torch.stack([images[i, :, oy:oy + crop, ox:ox + crop]
                         for i, (oy, ox) in zip(index.tolist(), offsets.tolist())])
        reconstruction, kl = vae_step(vae, optimizer, to_float(x), generator)
        if step % 100 == 0 or step == steps - 1:
            log(f"vae {step}/{steps} rec {reconstruction.item():.4f} kl {kl.item():.3f}")
    vae.save_pretrained(path)
    return vae


def phase_vae_full(work, data, vae, steps):
    """Fine-tunes the crop-trained VAE on whole 128x128 images: its mid-block
    attention saw only 8x8 latents on crops and washed colours out at 16x16
    (mean error 27/255 on whole images, 5/255 on crops, before this phase;
    4.6/255 after: tools/shapes_vae_error.py)."""
    from diffusers import AutoencoderKL
    path = work / "vae-full"
    if path.exists():
        return AutoencoderKL.from_pretrained(path)
    torch.manual_seed(SEED + 5)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=5e-4, weight_decay=0.0)
    generator = torch.Generator().manual_seed(SEED + 6)
    images = data["images"]
    batch = 4
    for step in range(steps):
        tail = max(0.0, (step - 0.5 * steps) / (0.5 * steps))
        lr = 5e-4 * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * tail))
        set_lr(optimizer, lr)
        index = torch.randint(0, len(images), (batch,), generator=generator)
        reconstruction, kl = vae_step(vae, optimizer, to_float(images[index]), generator)
        if step % 100 == 0 or step == steps - 1:
            log(f"vae (whole images) {step}/{steps} rec {reconstruction.item():.4f} kl {kl.item():.3f}")
    vae.save_pretrained(path)
    return vae


# --- 3. latents -------------------------------------------------------------

@torch.no_grad()
def phase_latents(work, data, vae):
    path = work / "latents.pt"
    if path.exists():
        return torch.load(path)
    vae.eval()
    moments = []
    for start in range(0, len(data["images"]), 256):
        x = to_float(data["images"][start:start + 256])
        posterior = vae.encode(x).latent_dist
        moments.append(torch.cat([posterior.mean, posterior.logvar], 1))
    moments = torch.cat(moments)
    scaling = 1.0 / moments[:, :4].std().item()
    log(f"latents: {tuple(moments.shape)}, scaling factor {scaling:.5f}")
    out = {"moments": moments, "scaling_factor": scaling}
    torch.save(out, path)
    return out


# --- 4. unet + text encoder -------------------------------------------------

def tokenize(tokenizer, captions):
    return tokenizer(captions, padding="max_length", max_length=77, truncation=True,
                     return_tensors="pt").input_ids


def phase_unet(work, data, latents, steps, batch, export_every, vae):
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    path = work / "unet-final.pt"
    torch.manual_seed(SEED + 3)
    text_encoder = CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))
    unet = UNet2DConditionModel(**UNET_CONFIG)
    if path.exists():
        state = torch.load(path)
        text_encoder.load_state_dict(state["text_encoder"])
        unet.load_state_dict(state["unet"])
        return text_encoder, unet
    tokenizer = sd_layout.make_tokenizer(sd_layout.END_TOKEN, work / "tokenizer-files")
    token_ids = tokenize(tokenizer, data["captions"])
    empty_ids = tokenize(tokenizer, [""])[0]

    betas = torch.linspace(SCHEDULER_CONFIG["beta_start"] ** 0.5,
                           SCHEDULER_CONFIG["beta_end"] ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1 - betas, 0).float()
    snr = alphas_cumprod / (1 - alphas_cumprod)

    models = [text_encoder, unet]
    params = [p for m in models for p in m.parameters()]
    ema = [p.detach().clone() for p in params]
    optimizer = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.01)
    generator = torch.Generator().manual_seed(SEED + 4)
    moments, scaling = latents["moments"], latents["scaling_factor"]
    peak_lr, warmup = 5e-4, 200
    for step in range(steps):
        lr = peak_lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        set_lr(optimizer, lr)
        index = torch.randint(0, len(moments), (batch,), generator=generator)
        mean, logvar = moments[index, :4], moments[index, 4:]
        z0 = (mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)) * scaling
        ids = token_ids[index].clone()
        drop = torch.rand(batch, generator=generator) < 0.1
        ids[drop] = empty_ids
        t = torch.randint(0, 1000, (batch,), generator=generator)
        noise = torch.randn(z0.shape, generator=generator)
        a = alphas_cumprod[t].view(-1, 1, 1, 1)
        zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
        context = text_encoder(ids).last_hidden_state
        prediction = unet(zt, t, context).sample
        # min-SNR-5 weighting for epsilon prediction (Hang et al. 2023).
        weight = torch.clamp(snr[t], max=5.0) / snr[t]
        loss = (weight * ((prediction - noise) ** 2).mean(dim=(1, 2, 3))).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        if step % 50 == 0 or step == steps - 1:
            log(f"unet {step}/{steps} loss {loss.item():.4f} lr {lr:.2e}")
        if export_every and step > 0 and step % export_every == 0:
            with torch.no_grad():
                saved = [p.detach().clone() for p in params]
                for e, p in zip(ema, params):
                    p.copy_(e)
                export(work / f"snapshot-{step}", vae, text_encoder, unet, scaling, {"step": step})
                for s, p in zip(saved, params):
                    p.copy_(s)
    with torch.no_grad():
        for e, p in zip(ema, params):
            p.copy_(e)
    torch.save({"text_encoder": text_encoder.state_dict(), "unet": unet.state_dict()}, path)
    return text_encoder, unet


# --- 5. export --------------------------------------------------------------

def export(out, vae, text_encoder, unet, scaling, training_log):
    import copy
    from diffusers import AutoencoderKL, EulerDiscreteScheduler
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vae16 = AutoencoderKL(**dict(VAE_CONFIG, scaling_factor=round(scaling, 5)))
    vae16.load_state_dict(vae.state_dict())
    vae16.to(torch.float16).save_pretrained(out / "vae")
    copy.deepcopy(unet).to(torch.float16).save_pretrained(out / "unet")
    copy.deepcopy(text_encoder).to(torch.float16).save_pretrained(out / "text_encoder")
    EulerDiscreteScheduler(**SCHEDULER_CONFIG).save_pretrained(out / "scheduler")
    sd_layout.write_tokenizer_files(out / "tokenizer", sd_layout.END_TOKEN, full=True)
    index = sd_layout.model_index("sd1", __import__("diffusers").__version__, True)
    index["scheduler"] = ["diffusers", "EulerDiscreteScheduler"]
    sd_layout.write_json(out / "model_index.json", index)
    sd_layout.write_json(out / "training_log.json", training_log)


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
    except Exception:
        return platform.processor()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vae-steps", type=int, default=3000)
    parser.add_argument("--vae-full-steps", type=int, default=1000)
    parser.add_argument("--unet-steps", type=int, default=2000)
    parser.add_argument("--scenes", type=int, default=TRAIN_SCENES)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--export-every", type=int, default=0,
                        help="also export work/snapshot-STEP every N UNet steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    times = {}
    timings = args.work / "timings.json"
    if timings.exists():
        times = json.loads(timings.read_text())

    def timed(name, function, *a):
        start = time.time()
        result = function(*a)
        if name not in times:
            times[name] = round(time.time() - start, 1)
            timings.write_text(json.dumps(times))
        return result

    data = timed("data_s", phase_data, args.work, args.scenes)
    vae = timed("vae_s", phase_vae, args.work, data, args.vae_steps)
    vae = timed("vae_full_s", phase_vae_full, args.work, data, vae, args.vae_full_steps)
    latents = timed("latents_s", phase_latents, args.work, data, vae)
    text_encoder, unet = timed("unet_s", phase_unet, args.work, data, latents, args.unet_steps,
                               args.batch, args.export_every, vae)
    training_log = {
        "seconds": times, "total_s": round(sum(times.values()), 1),
        "threads": args.threads, "cpu": cpu_model(), "torch": torch.__version__,
        "train_scenes": args.scenes, "seed": SEED, "vae_steps": args.vae_steps, "vae_full_steps": args.vae_full_steps,
        "unet_steps": args.unet_steps, "batch": args.batch,
        "scaling_factor": round(latents["scaling_factor"], 5),
    }
    export(args.out, vae, text_encoder, unet, latents["scaling_factor"], training_log)
    log(f"done: {json.dumps(training_log)}")


if __name__ == "__main__":
    main()
