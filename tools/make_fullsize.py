"""Writes full-size, random-weight Stable Diffusion 1.5 / 2.1 checkpoints with
the exact tensor names, shapes and configs of the released models
(runwayml/stable-diffusion-v1-5, stabilityai/stable-diffusion-2-1), for
testing loaders and timing at real size without downloading weights. The
values are a cheap random fill (normal(0, 0.02), norms around 1): names and
shapes matter, not quality.

SDXL, both layouts like the others (the single file in Stability's SGM
naming: conditioner.embedders.*, model.diffusion_model.* with label_emb,
first_stage_model.*; no DDPM schedule buffers):
  sdxl          stabilityai/stable-diffusion-xl-base-1.0: CLIP ViT-L text_encoder
                (768), OpenCLIP bigG text_encoder_2 (1280 wide, 32 layers,
                projection 1280), UNet block_out_channels (320, 640, 1280),
                transformer_layers_per_block (1, 2, 10), attention_head_dim
                (5, 10, 20), cross_attention_dim 2048, addition_time_embed_dim
                256, projection_class_embeddings_input_dim 2816, sample_size 128;
                VAE scaling_factor 0.13025, force_upcast; EulerDiscreteScheduler,
                timestep_spacing "leading". About 6.9 GB per layout in f16.
  sdxl-refiner  stabilityai/stable-diffusion-xl-refiner-1.0: text_encoder_2 only
                (conditioner.embedders.0.model.* in the single file), UNet
                (384, 768, 1536, 1536), transformer_layers_per_block 4,
                attention_head_dim (6, 12, 24, 24), cross_attention_dim 1280,
                projection_class_embeddings_input_dim 2560,
                requires_aesthetics_score. About 6.1 GB per layout.
  sdxl-turbo    stabilityai/sdxl-turbo: the SDXL base networks at sample_size 64
                (512x512), EulerAncestralDiscreteScheduler with timestep_spacing
                "trailing".

Two more shapes for the one-step benchmark (bench/bench_anchors.py):
  sd-turbo  what stabilityai/sd-turbo ships: the SD 2.1 architecture
            (OpenCLIP-H text encoder, 1024 wide; UNet attention_head_dim
            (5, 10, 20, 20), linear projections), epsilon prediction,
            sample_size 64 (512x512), EulerDiscreteScheduler with
            timestep_spacing "trailing".
  taesd     diffusers' AutoencoderTiny with its default config (what
            madebyollin/taesd ships), as a folder: DIR/taesd/config.json and
            diffusion_pytorch_model.safetensors (--layout is ignored).

Usage:
    .venv-tools/bin/python tools/make_fullsize.py \\
        --model sd15|sd21|sd-turbo|sdxl|sdxl-refiner|sdxl-turbo|taesd \\
        --layout diffusers|single|both --dtype f16|f32 --out DIR [--no-verify]

Writes DIR/<name>/ (diffusers folder: model_index.json, scheduler/,
tokenizer/, text_encoder/, unet/, vae/; SDXL: tokenizer_2/ and text_encoder_2/
too, the refiner without tokenizer/ and text_encoder/) and/or
DIR/<name>.safetensors, <name> being the model (sd15, sd21, sdxl, ...) for
f16 and <model>-f32 for f32
(original single-file layout: cond_stage_model.* -- for SD 2.1 the 24-block
OpenCLIP text tower whose last block diffusers drops --, model.diffusion_model.*,
first_stage_model.*, and the DDPM schedule buffers; no diffuse_config metadata,
so loaders must infer the real configs as they do for real checkpoints).

One component is built and written at a time (the single file is streamed),
so peak memory stays around one UNet (resident size also counts the mmapped
files the check reads). Deterministic (fixed seeds).

Check (unless --no-verify): diffusers' single-file converters run on the
written single file give back exactly the folder's tensors (every tensor when
both layouts are written; names and shapes otherwise); for SDXL, diffusers'
checkpoint detection must also call the file xl_base / xl_refiner.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sd_layout as L  # noqa: E402

import torch  # noqa: E402

MODELS = {
    "sd15": dict(family="sd1", text_encoder=L.SD15_TEXT_ENCODER, unet=L.SD15_UNET, vae=L.SD15_VAE,
                 scheduler=L.SD15_SCHEDULER, pad="<|endoftext|>", diffusers_version="0.6.0"),
    "sd21": dict(family="sd2", text_encoder=L.SD21_TEXT_ENCODER, unet=L.SD21_UNET, vae=L.SD21_VAE,
                 scheduler=L.SD21_SCHEDULER, pad="!", diffusers_version="0.10.0.dev0"),
    # stabilityai/sd-turbo's configs: SD 2.1's networks at 512 px, epsilon
    # prediction, Euler with trailing timesteps (one step starts at t = 999).
    "sd-turbo": dict(family="sd2", text_encoder=L.SD21_TEXT_ENCODER,
                     unet=dict(L.SD21_UNET, _diffusers_version="0.24.0.dev0", sample_size=64,
                               upcast_attention=False),
                     vae=dict(L.SD21_VAE, _diffusers_version="0.24.0.dev0", sample_size=512),
                     scheduler={
                         "_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.24.0.dev0",
                         "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                         "clip_sample": False, "interpolation_type": "linear", "num_train_timesteps": 1000,
                         "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False,
                         "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "trailing",
                         "trained_betas": None, "use_karras_sigmas": False},
                     pad="!", diffusers_version="0.24.0.dev0"),
    "sdxl": dict(family="sdxl", text_encoder=L.SDXL_TEXT_ENCODER, text_encoder_2=L.SDXL_TEXT_ENCODER_2,
                 unet=L.SDXL_UNET, vae=L.SDXL_VAE, scheduler=L.SDXL_SCHEDULER, diffusers_version="0.19.0.dev0"),
    "sdxl-refiner": dict(family="sdxl_refiner", text_encoder_2=L.SDXL_TEXT_ENCODER_2, unet=L.SDXL_REFINER_UNET,
                         vae=L.SDXL_VAE, scheduler=L.SDXL_SCHEDULER, diffusers_version="0.19.0.dev0"),
    # stabilityai/sdxl-turbo: SDXL base's networks at 512 px, Euler ancestral
    # with trailing timesteps.
    "sdxl-turbo": dict(family="sdxl", text_encoder=L.SDXL_TEXT_ENCODER, text_encoder_2=L.SDXL_TEXT_ENCODER_2,
                       unet=dict(L.SDXL_UNET, _diffusers_version="0.24.0.dev0", sample_size=64),
                       vae=L.SDXL_VAE, scheduler=L.SDXL_TURBO_SCHEDULER, diffusers_version="0.24.0.dev0"),
}
TAESD_SEED = 15
SEED = {"text_encoder": 11, "unet": 12, "vae": 13, "extra": 14, "text_encoder_2": 16}
FILES = {"text_encoder": "model.safetensors", "text_encoder_2": "model.safetensors",
         "unet": "diffusion_pytorch_model.safetensors", "vae": "diffusion_pytorch_model.safetensors"}
SDXL_FAMILIES = ("sdxl", "sdxl_refiner")


def components(spec: dict) -> tuple:
    if spec["family"] == "sdxl":
        return ("text_encoder", "text_encoder_2", "unet", "vae")
    if spec["family"] == "sdxl_refiner":
        return ("text_encoder_2", "unet", "vae")
    return ("text_encoder", "unet", "vae")


def ldm_prefixes(spec: dict, component: str) -> tuple:
    """The single file's name prefixes of a component."""
    if component == "unet":
        return (L.UNET_PREFIX,)
    if component == "vae":
        return (L.VAE_PREFIX,)
    if spec["family"] == "sdxl":
        return (L.SDXL_CLIP_PREFIX,) if component == "text_encoder" else (L.SDXL_OPENCLIP_PREFIX,)
    if spec["family"] == "sdxl_refiner":
        return (L.SDXL_REFINER_OPENCLIP_PREFIX,)
    return ("cond_stage_model.",)


def meta_model(component: str, config: dict, layers: int | None = None):
    """The model on the meta device: names, shapes and module types, no memory."""
    with torch.device("meta"):
        if component in ("text_encoder", "text_encoder_2"):
            from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

            cfg = {k: v for k, v in config.items() if not k.startswith("_")}
            if layers is not None:
                cfg["num_hidden_layers"] = layers
            cls = CLIPTextModelWithProjection if component == "text_encoder_2" else CLIPTextModel
            return cls(CLIPTextConfig(**cfg))
        if component == "unet":
            from diffusers import UNet2DConditionModel

            return UNet2DConditionModel.from_config(config)
        from diffusers import AutoencoderKL

        return AutoencoderKL.from_config(config)


def norm_weight_names(model) -> set[str]:
    names = set()
    for mod_name, module in model.named_modules():
        if isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)) and module.weight is not None:
            names.add(f"{mod_name}.weight")
    return names


def random_state(model, seed: int, dtype: torch.dtype, prefix: str = "") -> dict:
    """normal(0, 0.02) for everything, norm weights around 1; generated per
    tensor in f32 and cast at once, so only one f32 tensor exists at a time."""
    gen = torch.Generator().manual_seed(seed)
    norms = norm_weight_names(model)
    out = {}
    with torch.no_grad():
        for name, meta in model.state_dict().items():
            if not name.startswith(prefix):
                continue
            t = torch.empty(meta.shape, dtype=torch.float32).normal_(0.0, 0.02, generator=gen)
            if name in norms:
                t += 1.0
            out[name] = t.to(dtype)
            del t
    return out


def meta_state(model, prefix: str = "") -> dict:
    return {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}


def to_ldm(component: str, state: dict, spec: dict, extra: dict | None, dtype: torch.dtype) -> dict:
    if component == "unet":
        return L.unet_to_ldm(state, spec["unet"])
    if component == "vae":
        return L.vae_to_ldm(state, spec["vae"])
    meta = next(iter(state.values())).device.type == "meta"
    if spec["family"] in SDXL_FAMILIES and component == "text_encoder":
        ldm = L.clip_to_ldm(state, prefix=L.SDXL_CLIP_PREFIX)
        ldm[L.SDXL_CLIP_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None]
        return ldm
    if spec["family"] in SDXL_FAMILIES:  # text_encoder_2: OpenCLIP names, every layer kept
        prefix = L.SDXL_OPENCLIP_PREFIX if spec["family"] == "sdxl" else L.SDXL_REFINER_OPENCLIP_PREFIX
        logit = torch.empty((), dtype=dtype, device="meta") if meta else torch.tensor(4.6052, dtype=dtype)
        return L.sdxl_openclip_to_sgm(state, spec["text_encoder_2"]["num_hidden_layers"], prefix, logit_scale=logit)
    if spec["family"] == "sd1":
        ldm = L.clip_to_ldm(state)
        ldm[L.CLIP_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None]
        return ldm
    d = spec["text_encoder"]["hidden_size"]
    if meta:
        projection = torch.empty((d, d), dtype=dtype, device="meta")
        logit = torch.empty((), dtype=dtype, device="meta")
    else:
        gen = torch.Generator().manual_seed(SEED["extra"] + 1)
        projection = torch.empty((d, d)).normal_(0, d ** -0.5, generator=gen).to(dtype)
        logit = torch.tensor(4.6052, dtype=dtype)
    return L.openclip_to_ldm(state, spec["text_encoder"]["num_hidden_layers"], extra=extra,
                             text_projection=projection, logit_scale=logit)


def extra_layer(spec: dict, dtype: torch.dtype, meta: bool) -> dict | None:
    """SD 2.x single files carry OpenCLIP's 24th block, which diffusers drops."""
    if spec["family"] != "sd2":
        return None
    n = spec["text_encoder"]["num_hidden_layers"]
    model = meta_model("text_encoder", spec["text_encoder"], layers=n + 1)
    prefix = f"text_model.encoder.layers.{n}."
    return meta_state(model, prefix) if meta else random_state(model, SEED["extra"], dtype, prefix)


def build(args) -> list[Path]:
    spec = dict(MODELS[args.model])
    spec["name"] = args.model
    dtype = torch.float16 if args.dtype == "f16" else torch.float32
    base = args.model if args.dtype == "f16" else f"{args.model}-{args.dtype}"  # bench/run.sh expects DIR/sd15
    folder = args.out / base
    single = args.out / f"{base}.safetensors"
    write_folder = args.layout in ("diffusers", "both")
    write_single = args.layout in ("single", "both")
    args.out.mkdir(parents=True, exist_ok=True)
    written = []

    sdxl = spec["family"] in SDXL_FAMILIES
    comps = components(spec)
    if write_folder:
        for sub in ("scheduler",) + comps:
            (folder / sub).mkdir(parents=True, exist_ok=True)
        if sdxl:
            index = L.sdxl_model_index(spec["family"] == "sdxl_refiner", spec["diffusers_version"])
        else:
            index = L.model_index(spec["family"], spec["diffusers_version"], True)
        index["scheduler"] = ["diffusers", spec["scheduler"]["_class_name"]]
        L.write_json(folder / "model_index.json", index)
        L.write_json(folder / "scheduler" / "scheduler_config.json", spec["scheduler"])
        if "text_encoder" in comps:
            L.write_tokenizer_files(folder / "tokenizer", L.END_TOKEN if sdxl else spec["pad"], full=True)
        if "text_encoder_2" in comps:
            L.write_tokenizer_files(folder / "tokenizer_2", "!", full=True)
        for c in comps:
            L.write_json(folder / c / "config.json", spec[c])
        written.append(folder)

    writer = None
    # SGM (SDXL) checkpoints carry no DDPM schedule buffers
    buffers = {} if sdxl else L.ldm_scheduler_buffers(spec["scheduler"], dtype)
    if write_single:
        entries = []
        for c in comps:
            ldm = to_ldm(c, meta_state(meta_model(c, spec[c])), spec,
                         extra_layer(spec, dtype, meta=True) if c == "text_encoder" else None, dtype)
            entries += [(k, v.dtype if v.dtype == torch.int64 else dtype, tuple(v.shape)) for k, v in ldm.items()]
        entries += [(k, v.dtype, tuple(v.shape)) for k, v in buffers.items()]
        writer = L.SafetensorsStreamWriter(single, entries, {"format": "pt"})

    for c in comps:
        t0 = time.time()
        model = meta_model(c, spec[c])
        state = random_state(model, SEED[c], dtype)
        del model
        if write_folder:
            L.save_safetensors(state, folder / c / FILES[c], {"format": "pt"})
        if writer:
            extra = extra_layer(spec, dtype, meta=False) if c == "text_encoder" else None
            for k, v in to_ldm(c, state, spec, extra, dtype).items():
                writer.add(k, v)
            del extra
        n = sum(v.numel() for v in state.values())
        print(f"  {c}: {len(state)} tensors, {n / 1e6:.1f} M parameters ({time.time() - t0:.1f} s)", flush=True)
        del state
        gc.collect()
    if writer:
        for k, v in buffers.items():
            writer.add(k, v)
        writer.close()
        written.append(single)

    if not args.no_verify and write_single:
        verify(spec, single, folder if write_folder else None, dtype)
    return written


def build_taesd(args) -> list[Path]:
    """diffusers' AutoencoderTiny, default config (madebyollin/taesd's), random
    weights (normal(0, 0.02)), as a diffusers folder."""
    from diffusers import AutoencoderTiny

    dtype = torch.float16 if args.dtype == "f16" else torch.float32
    folder = args.out / ("taesd" if args.dtype == "f16" else f"taesd-{args.dtype}")
    folder.mkdir(parents=True, exist_ok=True)
    with torch.device("meta"):
        model = AutoencoderTiny()
    config = dict(model.config)
    config = {"_class_name": "AutoencoderTiny", "_diffusers_version": "0.20.0.dev0",
              **{k: list(v) if isinstance(v, tuple) else v for k, v in config.items() if not k.startswith("_")}}
    state = random_state(model, TAESD_SEED, dtype)
    L.write_json(folder / "config.json", config)
    L.save_safetensors(state, folder / "diffusion_pytorch_model.safetensors", {"format": "pt"})
    n = sum(v.numel() for v in state.values())
    print(f"  taesd: {len(state)} tensors, {n / 1e6:.2f} M parameters")
    if not args.no_verify:  # diffusers loads it back
        back = AutoencoderTiny.from_pretrained(folder, torch_dtype=torch.float32, local_files_only=True)
        assert sum(p.numel() for p in back.parameters()) == n
        print("  verified: AutoencoderTiny.from_pretrained loads it")
    return [folder]


def verify(spec: dict, single: Path, folder: Path | None, dtype: torch.dtype) -> None:
    from safetensors import safe_open

    t0 = time.time()
    configs = {c: spec[c] for c in components(spec)}
    with safe_open(single, "pt") as f:
        keys = list(f.keys())
        if spec["family"] in SDXL_FAMILIES:
            assert not any(k.startswith(("cond_stage_model.", "betas", "alphas_cumprod")) for k in keys)
        for c in components(spec):
            ldm = {k: f.get_tensor(k) for k in keys if k.startswith(ldm_prefixes(spec, c))}
            if folder is not None:
                # the folder's tensors are read one at a time while comparing
                want = L.LazySafetensors(folder / c / FILES[c])
                lines = L.verify_ldm_roundtrip(ldm, spec["family"], configs, {c: want})
            else:
                want = meta_state(meta_model(c, spec[c]))
                lines = verify_shapes(ldm, spec, configs, c, want)
            for line in lines:
                print(f"  converter round trip OK: {line}")
            del ldm, want
            gc.collect()
    print(f"  verified in {time.time() - t0:.1f} s")


def verify_shapes(ldm, spec, configs, component, want) -> list[str]:
    from diffusers.loaders import single_file_utils as sfu

    if component == "unet":
        got = sfu.convert_ldm_unet_checkpoint(ldm, configs["unet"])
    elif component == "vae":
        got = sfu.convert_ldm_vae_checkpoint(ldm, configs["vae"])
    elif spec["family"] in SDXL_FAMILIES and component == "text_encoder":
        got = sfu.convert_ldm_clip_checkpoint(ldm)
        got.pop("text_model.embeddings.position_ids", None)
    elif spec["family"] in SDXL_FAMILIES:
        prefix = ldm_prefixes(spec, component)[0]

        class _Cfg2:
            class config:
                hidden_size = configs[component]["hidden_size"]
        got = sfu.convert_open_clip_checkpoint(_Cfg2, ldm, prefix=prefix)
        kind = sfu.infer_diffusers_model_type(ldm)
        if kind != ("xl_base" if spec["family"] == "sdxl" else "xl_refiner"):
            raise AssertionError(f"diffusers detects {kind}")
    elif spec["family"] == "sd1":
        got = sfu.convert_ldm_clip_checkpoint(ldm)
        got.pop("text_model.embeddings.position_ids", None)
    else:
        class _Cfg:
            class config:
                hidden_size = configs["text_encoder"]["hidden_size"]
        got = sfu.convert_open_clip_checkpoint(_Cfg, ldm)
    if set(got) != set(want):
        raise AssertionError(f"{component}: converter names differ: {sorted(set(got) ^ set(want))[:8]}")
    for k in want:
        if tuple(got[k].shape) != tuple(want[k].shape):
            raise AssertionError(f"{component}: {k}: shape {tuple(got[k].shape)} != {tuple(want[k].shape)}")
    return [f"{component}: {len(want)} tensors, names and shapes match (values not compared: no folder written)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS) + ["taesd"], required=True)
    parser.add_argument("--layout", choices=("diffusers", "single", "both"), default="both")
    parser.add_argument("--dtype", choices=("f16", "f32"), default="f16")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-verify", action="store_true", help="skip the diffusers converter check")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    t0 = time.time()
    print(f"{args.model}: layout {args.layout}, {args.dtype}, into {args.out}", flush=True)
    for path in build_taesd(args) if args.model == "taesd" else build(args):
        print(f"wrote {path}: {L.human(L.dir_size(path))}")
    print(f"done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
