"""Builds the UNet / VAE / TAESD reference outputs the C parity tests compare
against, and the tiny TAESD fixture (tests/fixtures/, committed).

Usage:
    .venv-tools/bin/python tools/make_model_fixtures.py --out tests/fixtures

Needs the tiny SD models tools/make_fixtures.py writes (tiny-sd1/, tiny-sd2/);
loads them with diffusers' from_pretrained (local files only, float32), then
computes every reference in float64 (`.double()`) and stores it as f32.
Deterministic: fixed seeds, one thread, byte-identical files on a re-run.

Writes:
  reference/unet_sd{1,2}.safetensors
      per case N: N.latents [b,4,h,w], N.timesteps [b], N.context [b,T,32],
      N.output [b,4,h,w] = unet(latents, timesteps, encoder_hidden_states=context).sample
      __metadata__["cases"]: JSON list of {name, model, batch, height, width, tokens}.
      The sinusoidal timestep embedding is computed in float64 as well (diffusers
      builds it in float32 whatever the model's dtype; see f64_timestep_embedding).
  reference/vae_sd{1,2}.safetensors
      decode.latents -> decode.image            vae.decode(z).sample, no clamping; z is
                                                the unscaled latent (already / scaling_factor)
      decode_batch.latents -> decode_batch.image
      encode.image (in [-1,1]) -> encode.mean, encode.logvar   (latent_dist.mean / .logvar)
      tiled.latents -> tiled.image              vae.enable_tiling() with small tiles,
                                                __metadata__["tiling"] gives them
      The tiny VAE has two blocks, so its spatial factor is 2 (not 8): 8x8 latents
      decode to 16x16 images; __metadata__["scale_factor"] says so.
  tiny-taesd/                       diffusers AutoencoderTiny folder (config.json,
                                    diffusion_pytorch_model.safetensors, f16),
                                    16 channels, the default block counts
  tiny-taesd-encoder.safetensors    the same weights in madebyollin/taesd's
  tiny-taesd-decoder.safetensors    original naming (nn.Sequential indices), f16
  reference/taesd.safetensors       decode.latents -> decode.image,
                                    encode.image -> encode.latents (diffusers'
                                    AutoencoderTiny conventions, in __metadata__)

TAESD naming (taesd.py's Encoder()/Decoder() nn.Sequential vs diffusers'
EncoderTiny/DecoderTiny `layers` Sequential):
  encoder.layers.{i}.*  ->  {i}.*      (same indices: conv, Block, conv(stride 2), ...)
  decoder.layers.{i}.*  ->  {i+1}.*    (taesd.py's Decoder starts with a parameterless
                                        Clamp() module that diffusers applies in forward)
  inside a Block: conv.{0,2,4}.{weight,bias} (convs between ReLUs), skip.weight only when
  channels change (never in SD's TAESD), fuse = ReLU (no parameters).
The script checks this by loading the original-named files into a re-implementation
of taesd.py (taesd_encoder/taesd_decoder below, strict load) and comparing with
diffusers' modules.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sd_layout as L  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

DIFFUSERS_VERSION = "0.35.2"
FAMILIES = ("sd1", "sd2")
SEEDS = {"unet_sd1": 3101, "unet_sd2": 3201, "vae_sd1": 3102, "vae_sd2": 3202,
         "taesd_weights": 3301, "taesd_inputs": 3302}

# name, batch, height, width, tokens, timesteps
UNET_CASES = [
    ("t1", 1, 8, 8, 77, [1.0]),
    ("t981", 1, 8, 8, 77, [981.0]),
    ("batch2", 2, 8, 8, 77, [500.0, 500.0]),  # two different contexts, as in a CFG step
    ("nonsquare", 1, 8, 16, 77, [250.0]),
    ("long_context", 1, 8, 8, 154, [700.0]),  # two 77-token windows concatenated
    ("fractional", 1, 8, 8, 77, [333.25]),  # Karras-type samplers pass non-integer t
]

TILE_LATENT = 8
TILE_OVERLAP = 0.25


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def f32(t: torch.Tensor) -> torch.Tensor:
    return t.detach().float().contiguous()


# --------------------------------------------------------------------------
# float64 timestep embedding


def f64_timestep_embedding(timesteps, embedding_dim, flip_sin_to_cos=False, downscale_freq_shift=1,
                           scale=1, max_period=10000):
    """diffusers.models.embeddings.get_timestep_embedding, in float64 throughout
    (the original forces float32 for the frequencies and the products)."""
    assert len(timesteps.shape) == 1
    half_dim = embedding_dim // 2
    exponent = -math.log(max_period) * torch.arange(0, half_dim, dtype=torch.float64)
    exponent = exponent / (half_dim - downscale_freq_shift)
    emb = timesteps[:, None].double() * torch.exp(exponent)[None, :]
    emb = scale * emb
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half_dim:], emb[:, :half_dim]], dim=-1)
    if embedding_dim % 2 == 1:
        emb = torch.nn.functional.pad(emb, (0, 1, 0, 0))
    return emb


@contextmanager
def float64_timesteps():
    import diffusers.models.embeddings as E

    saved = E.get_timestep_embedding
    E.get_timestep_embedding = f64_timestep_embedding
    try:
        yield
    finally:
        E.get_timestep_embedding = saved


# --------------------------------------------------------------------------
# UNet


def load_unet(fixtures: Path, family: str):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(fixtures / f"tiny-{family}" / "unet", torch_dtype=torch.float32,
                                                local_files_only=True).eval()


@torch.no_grad()
def build_unet_reference(fixtures: Path, family: str) -> None:
    unet = load_unet(fixtures, family)
    unet64 = load_unet(fixtures, family).double()
    dim = unet.config.cross_attention_dim
    g = gen(SEEDS[f"unet_{family}"])
    tensors, cases, lines = {}, [], []
    worst_f32 = 0.0
    worst_temb = 0.0
    for name, b, h, w, tokens, steps in UNET_CASES:
        latents = torch.randn(b, 4, h, w, generator=g, dtype=torch.float64).float().double()
        context = torch.randn(b, tokens, dim, generator=g, dtype=torch.float64).float().double()
        t = torch.tensor(steps, dtype=torch.float64)
        assert torch.equal(t.float().double(), t)  # the stored f32 timesteps are exact
        with float64_timesteps():
            out = unet64(latents, t, encoder_hidden_states=context).sample
        scale = out.abs().max().item()
        # How far the references are from diffusers' own f32 / f32-embedding paths (guides tolerances).
        plain = unet64(latents, t, encoder_hidden_states=context).sample  # f32 time embedding
        o32 = unet(latents.float(), t.float(), encoder_hidden_states=context.float()).sample
        rel32 = ((o32.double() - out).abs().max() / scale).item()
        temb = ((plain - out).abs().max() / scale).item()
        worst_f32, worst_temb = max(worst_f32, rel32), max(worst_temb, temb)
        tensors.update({f"{name}.latents": f32(latents), f"{name}.timesteps": f32(t),
                        f"{name}.context": f32(context), f"{name}.output": f32(out)})
        cases.append({"name": name, "model": f"tiny-{family}", "batch": b, "height": h, "width": w,
                      "tokens": tokens})
        lines.append(f"    {name:13} b={b} {h}x{w} T={tokens:3} t={steps}: output |max| {scale:.3f} "
                     f"std {out.std().item():.3f}; diffusers f32 rel err {rel32:.1e}, "
                     f"f32 time-embedding rel err {temb:.1e}")
    if family == "sd1":
        # batch2's two rows differ only in their context: check the outputs do too.
        o = tensors["batch2.output"]
        assert (o[0] - o[1]).abs().max() > 1e-2 * o.abs().max(), "batch2 rows should differ"
    meta = {"cases": json.dumps(cases), "computed_in": "float64", "model": f"tiny-{family}",
            "timestep_embedding": "float64 (diffusers computes it in float32)", "format": "pt"}
    path = fixtures / "reference" / f"unet_{family}.safetensors"
    L.save_safetensors(tensors, path, metadata=meta)
    print(f"  {path.relative_to(fixtures)} ({L.human(path.stat().st_size)}), {len(cases)} cases:")
    print("\n".join(lines))
    print(f"    worst relative error: diffusers in f32 {worst_f32:.1e}; f32 time embedding {worst_temb:.1e}")


# --------------------------------------------------------------------------
# VAE


def load_vae(fixtures: Path, family: str):
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(fixtures / f"tiny-{family}" / "vae", torch_dtype=torch.float32,
                                         local_files_only=True).eval()


@torch.no_grad()
def build_vae_reference(fixtures: Path, family: str) -> None:
    vae = load_vae(fixtures, family).double()
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    g = gen(SEEDS[f"vae_{family}"])

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).float().double()

    t = {}
    t["decode.latents"] = randn(1, 4, 8, 8)
    t["decode.image"] = vae.decode(t["decode.latents"]).sample
    t["decode_batch.latents"] = randn(2, 4, 8, 16)
    t["decode_batch.image"] = vae.decode(t["decode_batch.latents"]).sample
    t["encode.image"] = (torch.rand(1, 3, 64, 64, generator=g, dtype=torch.float64) * 2 - 1).float().double()
    dist = vae.encode(t["encode.image"]).latent_dist
    t["encode.mean"], t["encode.logvar"] = dist.mean, dist.logvar
    # diffusers clamps logvar to [-30, 20]; say if a reference sits on the clamp.
    if (dist.logvar <= -30).any() or (dist.logvar >= 20).any():
        print("    note: encode.logvar hits diffusers' clamp [-30, 20]")

    t["tiled.latents"] = randn(1, 4, 16, 16)
    untiled = vae.decode(t["tiled.latents"]).sample
    tile_sample = TILE_LATENT * factor
    vae.enable_tiling()
    vae.tile_latent_min_size = TILE_LATENT
    vae.tile_sample_min_size = tile_sample
    vae.tile_overlap_factor = TILE_OVERLAP
    t["tiled.image"] = vae.decode(t["tiled.latents"]).sample
    vae.disable_tiling()
    assert t["tiled.image"].shape == untiled.shape, (t["tiled.image"].shape, untiled.shape)
    tile_diff = (t["tiled.image"] - untiled).abs().max().item()
    if tile_diff < 1e-3 * untiled.abs().max().item():
        raise AssertionError(f"vae_{family}: tiled decode equals the untiled one ({tile_diff}); tiling did not happen")
    # Tiled decode of a latent no larger than one tile is the plain decode (diffusers' rule).
    assert torch.equal(vae.decode(t["decode.latents"]).sample, t["decode.image"])

    overlap = int(TILE_LATENT * (1 - TILE_OVERLAP))
    tiling = {"tile_sample": tile_sample, "tile_latent": TILE_LATENT, "overlap_factor": TILE_OVERLAP,
              "latent_stride": overlap, "blend_extent": int(tile_sample * TILE_OVERLAP),
              "row_limit": tile_sample - int(tile_sample * TILE_OVERLAP),
              "algorithm": "diffusers 0.35.2 AutoencoderKL.tiled_decode"}
    meta = {"computed_in": "float64", "model": f"tiny-{family}", "scale_factor": str(factor),
            "tiling": json.dumps(tiling, sort_keys=True), "format": "pt",
            "conventions": "latents unscaled (already divided by scaling_factor); images in [-1,1], "
                           "decode outputs not clamped"}
    path = fixtures / "reference" / f"vae_{family}.safetensors"
    L.save_safetensors({k: f32(v) for k, v in t.items()}, path, metadata=meta)
    print(f"  {path.relative_to(fixtures)} ({L.human(path.stat().st_size)}), spatial factor {factor}:")
    for k in sorted(t):
        v = t[k]
        print(f"    {k:22} {str(list(v.shape)):16} |max| {v.abs().max().item():.3f}")
    print(f"    tiled vs untiled decode: max abs diff {tile_diff:.3f} (tiling {tiling['tile_latent']}-latent / "
          f"{tile_sample}-pixel tiles, stride {overlap})")
    vae32 = load_vae(fixtures, family)
    rel = ((vae32.decode(t["decode.latents"].float()).sample.double() - t["decode.image"]).abs().max()
           / t["decode.image"].abs().max()).item()
    print(f"    diffusers f32 vs f64 decode: relative max error {rel:.1e}")


# --------------------------------------------------------------------------
# TAESD

TAESD_CHANNELS = 16
TAESD_CONFIG = {
    "_class_name": "AutoencoderTiny",
    "_diffusers_version": DIFFUSERS_VERSION,
    "act_fn": "relu",
    "decoder_block_out_channels": [TAESD_CHANNELS] * 4,
    "encoder_block_out_channels": [TAESD_CHANNELS] * 4,
    "force_upcast": False,
    "in_channels": 3,
    "latent_channels": 4,
    "latent_magnitude": 3,
    "latent_shift": 0.5,
    "num_decoder_blocks": [3, 3, 3, 1],
    "num_encoder_blocks": [1, 3, 3, 3],
    "out_channels": 3,
    "scaling_factor": 1.0,
    "shift_factor": 0.0,
    "upsample_fn": "nearest",
    "upsampling_scaling_factor": 2,
}


# A re-implementation of madebyollin/taesd's taesd.py (Encoder / Decoder), with
# the channel count a parameter (taesd.py hard-codes 64).
def _conv(n_in, n_out, **kwargs):
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kwargs)


class _Clamp(nn.Module):
    def forward(self, x):
        return torch.tanh(x / 3) * 3


class _Block(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.conv = nn.Sequential(_conv(n_in, n_out), nn.ReLU(), _conv(n_out, n_out), nn.ReLU(), _conv(n_out, n_out))
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
        self.fuse = nn.ReLU()

    def forward(self, x):
        return self.fuse(self.conv(x) + self.skip(x))


def taesd_encoder(c: int, latent_channels: int = 4) -> nn.Sequential:
    return nn.Sequential(
        _conv(3, c), _Block(c, c),
        _conv(c, c, stride=2, bias=False), _Block(c, c), _Block(c, c), _Block(c, c),
        _conv(c, c, stride=2, bias=False), _Block(c, c), _Block(c, c), _Block(c, c),
        _conv(c, c, stride=2, bias=False), _Block(c, c), _Block(c, c), _Block(c, c),
        _conv(c, latent_channels),
    )


def taesd_decoder(c: int, latent_channels: int = 4) -> nn.Sequential:
    return nn.Sequential(
        _Clamp(), _conv(latent_channels, c), nn.ReLU(),
        _Block(c, c), _Block(c, c), _Block(c, c), nn.Upsample(scale_factor=2), _conv(c, c, bias=False),
        _Block(c, c), _Block(c, c), _Block(c, c), nn.Upsample(scale_factor=2), _conv(c, c, bias=False),
        _Block(c, c), _Block(c, c), _Block(c, c), nn.Upsample(scale_factor=2), _conv(c, c, bias=False),
        _Block(c, c), _conv(c, 3),
    )


def taesd_original_names(state: dict) -> tuple[dict, dict]:
    """diffusers AutoencoderTiny state dict -> (encoder, decoder) state dicts in
    taesd.py's naming."""
    enc, dec = {}, {}
    for k, v in state.items():
        part, layers, index, rest = k.split(".", 3)
        assert layers == "layers", k
        if part == "encoder":
            enc[f"{int(index)}.{rest}"] = v
        elif part == "decoder":
            dec[f"{int(index) + 1}.{rest}"] = v  # taesd.py's Decoder has Clamp() at index 0
        else:
            raise KeyError(k)
    return enc, dec


def make_taesd(seed: int):
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    model = AutoencoderTiny.from_config(TAESD_CONFIG).eval()
    g = gen(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                # He-normal, scaled down inside residual blocks so activations stay O(1)
                # through 10 blocks (keeps the references well-conditioned).
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                gain = 0.5 if ".conv." in name else 1.0
                p.copy_(torch.randn(p.shape, generator=g) * gain * (2.0 / fan_in) ** 0.5)
            else:  # biases: non-zero so an implementation ignoring them fails
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            p.copy_(p.half().float())
    return model


def load_taesd(folder: Path):
    from diffusers import AutoencoderTiny

    return AutoencoderTiny.from_pretrained(folder, torch_dtype=torch.float32, local_files_only=True).eval()


@torch.no_grad()
def build_taesd(fixtures: Path) -> None:
    model = make_taesd(SEEDS["taesd_weights"])
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    folder = fixtures / "tiny-taesd"
    folder.mkdir(parents=True, exist_ok=True)
    L.write_json(folder / "config.json", TAESD_CONFIG)
    L.save_safetensors(state, folder / "diffusion_pytorch_model.safetensors", metadata={"format": "pt"})
    enc, dec = taesd_original_names(state)
    L.save_safetensors(enc, fixtures / "tiny-taesd-encoder.safetensors")
    L.save_safetensors(dec, fixtures / "tiny-taesd-decoder.safetensors")

    taesd = load_taesd(folder).double()
    for k, v in taesd.state_dict().items():
        assert torch.equal(v, state[k].double()), f"tiny-taesd: {k} differs after from_pretrained"

    g = gen(SEEDS["taesd_inputs"])
    t = {}
    # Latents wide enough that taesd's tanh clamp (|z| -> 3 tanh(z/3)) is non-linear.
    t["decode.latents"] = (torch.randn(1, 4, 8, 8, generator=g, dtype=torch.float64) * 2.5).float().double()
    t["decode.image"] = taesd.decode(t["decode.latents"]).sample
    t["encode.image"] = (torch.rand(1, 3, 64, 64, generator=g, dtype=torch.float64) * 2 - 1).float().double()
    t["encode.latents"] = taesd.encode(t["encode.image"]).latents

    # The original naming, through a re-implementation of taesd.py.
    e_orig, d_orig = taesd_encoder(TAESD_CHANNELS), taesd_decoder(TAESD_CHANNELS)
    e_orig.load_state_dict(load_file(fixtures / "tiny-taesd-encoder.safetensors"), strict=True)
    d_orig.load_state_dict(load_file(fixtures / "tiny-taesd-decoder.safetensors"), strict=True)
    e_orig.double().eval()
    d_orig.double().eval()
    # taesd.py: encoder takes images in [0,1], decoder returns [0,1]; diffusers
    # maps [-1,1] around them.
    got_img = d_orig(t["decode.latents"]).mul(2).sub(1)
    got_lat = e_orig(t["encode.image"].add(1).div(2))
    err_d = (got_img - t["decode.image"]).abs().max().item()
    err_e = (got_lat - t["encode.latents"]).abs().max().item()
    if err_d > 1e-12 or err_e > 1e-12:
        raise AssertionError(f"taesd.py naming mismatch: decoder {err_d}, encoder {err_e}")
    # And module by module, in the same order as the Sequential.
    assert len(d_orig) == len(taesd.decoder.layers) + 1 and len(e_orig) == len(taesd.encoder.layers)

    meta = {
        "computed_in": "float64", "model": "tiny-taesd", "format": "pt",
        "conventions": json.dumps({
            "decode": "decode.image = AutoencoderTiny.decode(latents).sample = taesd_decoder(latents) * 2 - 1; "
                      "image in [-1,1] (not clamped); latents are raw TAESD/SD latents (scaled space, i.e. "
                      "vae latents * 0.18215 for SD; AutoencoderTiny.scaling_factor = 1.0); the decoder "
                      "first soft-clamps latents: 3 * tanh(z / 3)",
            "encode": "encode.latents = AutoencoderTiny.encode(image).latents = taesd_encoder((image + 1) / 2); "
                      "image in [-1,1]",
            "original": "madebyollin/taesd taesd.py: encoder input and decoder output in [0,1]; "
                        "encoder.layers.i -> i, decoder.layers.i -> i+1 (Clamp at index 0)",
        }, sort_keys=True),
    }
    path = fixtures / "reference" / "taesd.safetensors"
    L.save_safetensors({k: f32(v) for k, v in t.items()}, path, metadata=meta)
    sizes = ", ".join(f"{p.name if p.is_file() else p.name + '/'} {L.human(L.dir_size(p))}" for p in (
        folder, fixtures / "tiny-taesd-encoder.safetensors", fixtures / "tiny-taesd-decoder.safetensors", path))
    print(f"  tiny TAESD: {len(state)} tensors, {sum(v.numel() for v in state.values())} parameters; {sizes}")
    print(f"    taesd.py re-implementation with the original names == diffusers (max abs diff: "
          f"decoder {err_d:.1e}, encoder {err_e:.1e})")
    for k in sorted(t):
        v = t[k]
        print(f"    {k:15} {str(list(v.shape)):16} |max| {v.abs().max().item():.3f} std {v.std().item():.3f}")
    t32 = load_taesd(folder)
    rel = ((t32.decode(t["decode.latents"].float()).sample.double() - t["decode.image"]).abs().max()
           / t["decode.image"].abs().max()).item()
    print(f"    diffusers f32 vs f64 decode: relative max error {rel:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="tests/fixtures", type=Path)
    parser.add_argument("--only", choices=("unet", "vae", "taesd"), action="append",
                        help="build only these (repeatable; default: all)")
    args = parser.parse_args()
    for family in FAMILIES:
        if not (args.out / f"tiny-{family}" / "unet" / "config.json").exists():
            raise SystemExit(f"{args.out}/tiny-{family} missing: run tools/make_fixtures.py first")
    (args.out / "reference").mkdir(parents=True, exist_ok=True)
    only = set(args.only or ("unet", "vae", "taesd"))
    if "unet" in only:
        print("== UNet references")
        for family in FAMILIES:
            build_unet_reference(args.out, family)
    if "vae" in only:
        print("== VAE references")
        for family in FAMILIES:
            build_vae_reference(args.out, family)
    if "taesd" in only:
        print("== TAESD")
        build_taesd(args.out)
    written = [args.out / "reference" / f"{c}_{f}.safetensors" for c in ("unet", "vae") for f in FAMILIES]
    written += [args.out / "reference" / "taesd.safetensors", args.out / "tiny-taesd",
                args.out / "tiny-taesd-encoder.safetensors", args.out / "tiny-taesd-decoder.safetensors"]
    total = sum(L.dir_size(p) for p in written if p.exists())
    print(f"total written: {L.human(total)}")


if __name__ == "__main__":
    main()
