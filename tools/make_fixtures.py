"""Builds the tiny random-weight Stable Diffusion models and the reference
outputs the C tests compare against (tests/fixtures/, committed).

Usage:
    .venv-tools/bin/python tools/make_fixtures.py --out tests/fixtures   (or: make fixtures)

Writes, deterministically (fixed seeds; a re-run gives identical files):
  tiny-sd1/, tiny-sd2/           diffusers folders: model_index.json,
                                 scheduler/, text_encoder/, unet/, vae/ (no tokenizer;
                                 the C library has the CLIP vocabulary built in)
  tiny-sd1.safetensors           the same weights in the original single-file
  tiny-sd2.safetensors           (LDM) naming; SD2 with OpenCLIP names, one extra
                                 resblock diffusers drops, and every tensor in f16.
                                 __metadata__["diffuse_config"] holds the three
                                 component configs (tiny dims cannot be inferred).
  reference/text_encoder_sd{1,2}.safetensors
                                 input_ids (i32 [P,77]), last_hidden_state and
                                 clip_skip_2 (f32 [P,77,32], computed in float64);
                                 __metadata__["prompts"] = the prompts as JSON.

Tiny models: CLIP text 32-d, 5 layers, 4 heads, intermediate 37, the real
49,408-token vocabulary (token embedding stored f16 everywhere, so the
references use f16-rounded embeddings); UNet block_out_channels (32, 64);
VAE block_out_channels (32, 64), one layer per block. Dtypes, chosen to cover
all three the loader reads while keeping the fixtures small: text encoders
are f32 but for the f16 token embedding (SD2's single file is all f16);
UNet and VAE are f16 in the folders, bf16 in SD1's single file and f16 in
SD2's. Weights are rounded so every layout of a family holds the same values
(SD1's UNet/VAE are representable in both f16 and bf16).

Checks (the script fails loudly): diffusers' own single-file converters turn
each single file back into exactly the folder's state dicts; diffusers /
transformers load every folder; the single file's text encoder, loaded
through diffusers, gives the reference outputs.
"""

from __future__ import annotations

import argparse
import copy
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

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
save_file = L.save_safetensors

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

DIFFUSERS_VERSION = "0.35.2"

PROMPTS = [
    "a photograph of an astronaut riding a horse",
    "",
    "A Café in Zürich — naïve “quotes”, 東京タワー and 🚀 émojis",
    "masterpiece, best quality, (detailed:1.2), 8k uhd, dslr, f/1.8, 50mm!!",
    "  Multiple   spaces\tand\nnew\r\nlines  ",
    "don't WON'T it's I'M you've they'll we'd",
    # ftfy's cleaning we reproduce (mojibake repair is not: see text_clean.c)
    "ﬁne ligatures, ｆｕｌｌ－ｗｉｄｔｈ &amp; html &lt;b&gt;entities&lt;/b&gt;",
    # longer than one window: the reference holds its first 77 tokens only
    "an intricately detailed oil painting of a sprawling futuristic city at dusk, "
    "towering glass skyscrapers reflecting the orange and purple sky, flying cars "
    "weaving between neon signs, crowded markets in the streets below, street "
    "vendors selling noodles, lanterns, rain-slick pavement, cinematic lighting, "
    "volumetric fog, ultra wide angle, by a famous artist, trending on artstation, "
    "highly detailed, sharp focus, octane render, unreal engine 5, 8k resolution",
]


def text_config(family: str) -> dict:
    return {
        "architectures": ["CLIPTextModel"],
        "attention_dropout": 0.0,
        "bos_token_id": 49406,
        "dropout": 0.0,
        "eos_token_id": 49407,
        "hidden_act": "quick_gelu" if family == "sd1" else "gelu",
        "hidden_size": 32,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "intermediate_size": 37,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77,
        "model_type": "clip_text_model",
        "num_attention_heads": 4,
        "num_hidden_layers": 5,
        "pad_token_id": 49407 if family == "sd1" else 0,
        "projection_dim": 32,
        "torch_dtype": "float32",
        "vocab_size": 49408,
    }


def unet_config(family: str) -> dict:
    config = {
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": DIFFUSERS_VERSION,
        "act_fn": "silu",
        "attention_head_dim": 4 if family == "sd1" else [2, 4],
        "block_out_channels": [32, 64],
        "center_input_sample": False,
        "cross_attention_dim": 32,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "downsample_padding": 1,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": 4,
        "layers_per_block": 2,
        "mid_block_scale_factor": 1,
        "norm_eps": 1e-05,
        "norm_num_groups": 8,
        "out_channels": 4,
        "sample_size": 8 if family == "sd1" else 12,
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    }
    if family == "sd2":
        config.update(use_linear_projection=True, upcast_attention=True)
    return config


def vae_config(family: str) -> dict:
    return {
        "_class_name": "AutoencoderKL",
        "_diffusers_version": DIFFUSERS_VERSION,
        "act_fn": "silu",
        "block_out_channels": [32, 64],
        "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
        "in_channels": 3,
        "latent_channels": 4,
        "layers_per_block": 1,
        "norm_num_groups": 32,
        "out_channels": 3,
        "sample_size": 64 if family == "sd1" else 96,
        "scaling_factor": 0.18215,
        "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
    }


def scheduler_config(family: str) -> dict:
    return copy.deepcopy(L.SD15_SCHEDULER if family == "sd1" else L.SD21_SCHEDULER)


SEEDS = {("sd1", "text_encoder"): 1001, ("sd1", "unet"): 1002, ("sd1", "vae"): 1003,
         ("sd2", "text_encoder"): 2001, ("sd2", "unet"): 2002, ("sd2", "vae"): 2003,
         ("sd2", "extra_layer"): 2004}


# --------------------------------------------------------------------------
# Models


def _perturb_norms_and_biases(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Default inits leave norms at 1/0 and many biases at 0, which would let
    a C implementation that ignores them pass; make them all random."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)):
                if module.weight is not None:
                    module.weight.copy_(torch.empty_like(module.weight).uniform_(0.6, 1.4, generator=gen))
                    module.bias.copy_(torch.empty_like(module.bias).normal_(0, 0.1, generator=gen))
            elif isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) and module.bias is not None:
                module.bias.copy_(torch.empty_like(module.bias).normal_(0, 0.05, generator=gen))


def make_text_encoder(family: str, config: dict, seed: int, layers: int | None = None):
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = dict(config)
    if layers is not None:
        cfg["num_hidden_layers"] = layers
    torch.manual_seed(seed)
    model = CLIPTextModel(CLIPTextConfig(**cfg)).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # Unit-variance weights keep activations O(1) through every layer and
        # make attention far from uniform; embeddings O(1) so the residual
        # stream is not dominated by the layer outputs.
        for name, p in model.named_parameters():
            if name.endswith("token_embedding.weight"):
                p.copy_(torch.randn(p.shape, generator=gen))
            elif name.endswith("position_embedding.weight"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif p.ndim == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
    _perturb_norms_and_biases(model, gen)
    return model


def make_unet(config: dict, seed: int):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    model = UNet2DConditionModel.from_config(config).eval()
    _perturb_norms_and_biases(model, torch.Generator().manual_seed(seed))
    return model


def make_vae(config: dict, seed: int):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    model = AutoencoderKL.from_config(config).eval()
    _perturb_norms_and_biases(model, torch.Generator().manual_seed(seed))
    return model


def round_to_f16(model: torch.nn.Module, only: str | None = None) -> None:
    """Makes weights exactly f16-representable (all, or the one named `only`)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if only is None or name == only:
                p.copy_(p.half().float())


def round_to_f16_and_bf16(model: torch.nn.Module) -> None:
    """Makes every weight exactly representable in both f16 and bf16, so one
    layout can store it as f16 and the other as bf16 with the same values
    (bf16 rounding keeps 8 significant bits; f16 then holds them exactly,
    or, below its normal range, drops bits bf16 can still hold)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.bfloat16().float().half().float())
            assert torch.equal(p.half().float(), p) and torch.equal(p.bfloat16().float(), p)


TOKEN_EMBEDDING = "text_model.embeddings.token_embedding.weight"


def stored_state(model: torch.nn.Module, f16_names=(), all_f16=False) -> dict:
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach().clone().contiguous()
        if all_f16 or k in f16_names:
            v = v.half()
        out[k] = v
    return out


def to_dtype(state: dict, dtype) -> dict:
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}


# --------------------------------------------------------------------------
# Reference outputs


@torch.no_grad()
def encode64(model, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    m = copy.deepcopy(model).double().eval()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # transformers builds its causal mask in it
    try:
        out = m(input_ids=ids.long(), output_hidden_states=True)
    finally:
        torch.set_default_dtype(previous)
    last = out.last_hidden_state
    again = m.text_model.final_layer_norm(out.hidden_states[-1])
    if not torch.equal(last, again):
        raise AssertionError("last_hidden_state is not final_layer_norm(hidden_states[-1])")
    skip2 = m.text_model.final_layer_norm(out.hidden_states[-2])
    return last, skip2


def tokenize(family: str, tok_dir: Path) -> torch.Tensor:
    pad = L.END_TOKEN if family == "sd1" else "!"
    tokenizer = L.make_tokenizer(pad, tok_dir)
    batch = tokenizer(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    ids = batch["input_ids"].to(torch.int32)
    pad_id = 49407 if family == "sd1" else 0
    assert tokenizer.pad_token_id == pad_id, tokenizer.pad_token_id
    assert ids.shape == (len(PROMPTS), 77)
    assert (ids[:, 0] == 49406).all()
    # Spot-check against the windows helper (the benchmark's tokenizer path).
    for i, prompt in enumerate(PROMPTS):
        first = L.token_windows(tokenizer, prompt, pad_id)[0]
        if first != ids[i].tolist():
            raise AssertionError(f"windowed tokenization differs for prompt {i}")
    return ids


# --------------------------------------------------------------------------


def build_family(family: str, out: Path, tok_dir: Path) -> None:
    print(f"== {family}")
    te_cfg, unet_cfg, vae_cfg = text_config(family), unet_config(family), vae_config(family)
    all_f16 = family == "sd2"

    te = make_text_encoder(family, te_cfg, SEEDS[(family, "text_encoder")])
    unet = make_unet(unet_cfg, SEEDS[(family, "unet")])
    vae = make_vae(vae_cfg, SEEDS[(family, "vae")])
    extra = None
    if family == "sd2":
        # One more OpenCLIP block, as real SD 2 checkpoints have (diffusers drops it).
        bigger = make_text_encoder(family, te_cfg, SEEDS[(family, "extra_layer")], layers=te_cfg["num_hidden_layers"] + 1)
        prefix = f"text_model.encoder.layers.{te_cfg['num_hidden_layers']}."
        extra = {k: v.detach().clone() for k, v in bigger.state_dict().items() if k.startswith(prefix)}
        extra = {k: v.half().float() for k, v in extra.items()}
    # Stored values are what the references are computed from: SD2 all
    # f16-representable, SD1 only its f16-stored token embedding.
    if all_f16:
        for model in (te, unet, vae):
            round_to_f16(model)
    else:
        round_to_f16(te, TOKEN_EMBEDDING)
        # SD1's UNet and VAE: f16 in the folder, bf16 in the single file.
        round_to_f16_and_bf16(unet)
        round_to_f16_and_bf16(vae)

    # diffusers folder
    folder = out / f"tiny-{family}"
    for sub in ("scheduler", "text_encoder", "unet", "vae"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    L.write_json(folder / "model_index.json", L.model_index(family, DIFFUSERS_VERSION, with_tokenizer=False))
    L.write_json(folder / "scheduler" / "scheduler_config.json", scheduler_config(family))
    L.write_json(folder / "text_encoder" / "config.json", te_cfg)
    L.write_json(folder / "unet" / "config.json", unet_cfg)
    L.write_json(folder / "vae" / "config.json", vae_cfg)
    te_state = stored_state(te, f16_names={TOKEN_EMBEDDING})
    # SD2's folder: UNet and VAE in f16 (an fp16-variant folder), text encoder
    # f32 but for its f16 token embedding, like SD1's.
    unet_state = stored_state(unet, all_f16=True)
    vae_state = stored_state(vae, all_f16=True)
    save_file(te_state, folder / "text_encoder" / "model.safetensors", metadata={"format": "pt"})
    save_file(unet_state, folder / "unet" / "diffusion_pytorch_model.safetensors", metadata={"format": "pt"})
    save_file(vae_state, folder / "vae" / "diffusion_pytorch_model.safetensors", metadata={"format": "pt"})

    # single file
    te32 = {k: v.float() for k, v in te_state.items()}
    unet_state = {k: v.float() for k, v in unet_state.items()}
    vae_state = {k: v.float() for k, v in vae_state.items()}
    if family == "sd1":
        ldm = L.clip_to_ldm(te_state)
        ldm[L.CLIP_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None]
    else:
        gen = torch.Generator().manual_seed(SEEDS[(family, "extra_layer")] + 1)
        d = te_cfg["hidden_size"]
        projection = (torch.randn(d, d, generator=gen) / d ** 0.5).half().float()
        ldm = L.openclip_to_ldm(te32, te_cfg["num_hidden_layers"], extra=extra, text_projection=projection,
                                logit_scale=torch.tensor(4.6052))
    ldm.update(L.unet_to_ldm(unet_state, unet_cfg))
    ldm.update(L.vae_to_ldm(vae_state, vae_cfg))
    ldm.update(L.ldm_scheduler_buffers(scheduler_config(family)))
    if all_f16:
        ldm = {k: (v.half() if v.is_floating_point() else v) for k, v in ldm.items()}
    else:
        ldm[L.CLIP_PREFIX + TOKEN_EMBEDDING] = ldm[L.CLIP_PREFIX + TOKEN_EMBEDDING].half()
        for k in ldm:
            if k.startswith(("model.diffusion_model.", "first_stage_model.")) and ldm[k].is_floating_point():
                ldm[k] = ldm[k].bfloat16()
    ldm = {k: v.contiguous() for k, v in ldm.items()}
    meta = {"format": "pt",
            "diffuse_config": json.dumps({"text_encoder": te_cfg, "unet": unet_cfg, "vae": vae_cfg}, sort_keys=True)}
    single = out / f"tiny-{family}.safetensors"
    save_file(ldm, single, metadata=meta)

    # --- checks: diffusers' converters invert our mapping exactly (on the file as written)
    loaded = load_file(single)
    configs = {"text_encoder": te_cfg, "unet": unet_cfg, "vae": vae_cfg}
    for line in L.verify_ldm_roundtrip(loaded, family, configs,
                                       {"text_encoder": te32, "unet": unet_state, "vae": vae_state}):
        print(f"  converter round trip OK: {line}")
    if family == "sd2":
        n = te_cfg["num_hidden_layers"]
        got_extra = {k for k in loaded if k.startswith(f"{L.OPENCLIP_PREFIX}transformer.resblocks.{n}.")}
        assert len(got_extra) == 12, got_extra
    check_folder_loads(folder, te_state, unet_state, vae_state)

    # --- reference outputs
    ids = tokenize(family, tok_dir)
    last, skip2 = encode64(te, ids)
    from_single = text_encoder_from_single_file(single, folder, family, te_cfg)
    last_s, skip2_s = encode64(from_single, ids)
    err = max((last - last_s).abs().max().item(), (skip2 - skip2_s).abs().max().item())
    if err != 0.0:
        raise AssertionError(f"{family}: single-file text encoder (via diffusers) differs from the folder's by {err}")
    print(f"  single file text encoder via diffusers' loader == folder (max abs diff {err})")
    folder_te = load_text_encoder_folder(folder)
    last_f, _ = encode64(folder_te, ids)
    assert (last_f - last).abs().max().item() == 0.0
    ref = {"input_ids": ids.contiguous(), "last_hidden_state": last.float().contiguous(),
           "clip_skip_2": skip2.float().contiguous()}
    (out / "reference").mkdir(parents=True, exist_ok=True)
    save_file(ref, out / "reference" / f"text_encoder_{family}.safetensors",
              metadata={"prompts": json.dumps(PROMPTS, ensure_ascii=False), "family": family,
                        "computed_in": "float64", "model": f"tiny-{family}"})
    print(f"  reference: {len(PROMPTS)} prompts, last_hidden_state |max| {last.abs().max():.3f} "
          f"std {last.std():.3f}; clip_skip_2 |max| {skip2.abs().max():.3f}; "
          f"f32 vs f64 reference rounding {(last.float().double() - last).abs().max():.2e}")
    # How far an f32 computation is from the f64 reference (guides C tolerances).
    with torch.no_grad():
        f32 = te(input_ids=ids.long()).last_hidden_state
    rel = ((f32.double() - last).abs().max() / last.abs().max()).item()
    print(f"  transformers f32 vs f64 reference: relative max error {rel:.2e}")


def load_text_encoder_folder(folder: Path):
    from transformers import CLIPTextModel

    return CLIPTextModel.from_pretrained(folder / "text_encoder", torch_dtype=torch.float32, local_files_only=True).eval()


def check_folder_loads(folder: Path, te_state, unet_state, vae_state) -> None:
    from diffusers import AutoencoderKL, UNet2DConditionModel

    te = load_text_encoder_folder(folder)
    unet = UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=torch.float32, local_files_only=True)
    vae = AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=torch.float32, local_files_only=True)
    for name, model, want in (("text_encoder", te, te_state), ("unet", unet, unet_state), ("vae", vae, vae_state)):
        got = model.state_dict()
        if set(got) != set(want):
            raise AssertionError(f"{folder}/{name}: loaded model's keys differ from the file's")
        for k in want:
            if not torch.equal(got[k].float(), want[k].float()):
                raise AssertionError(f"{folder}/{name}: {k} differs after from_pretrained")
    print(f"  {folder.name}: transformers/diffusers from_pretrained load every component; weights identical")


def text_encoder_from_single_file(single: Path, folder: Path, family: str, te_cfg: dict):
    """The single file's text encoder as diffusers' from_single_file builds it
    (its create_diffusers_clip_model_from_ldm, config from our folder)."""
    from diffusers.loaders import single_file_utils as sfu
    from transformers import CLIPTextModel

    checkpoint = load_file(single)
    checkpoint = {k: (v.float() if v.is_floating_point() else v) for k, v in checkpoint.items()}
    if family == "sd2":
        # diffusers drops OpenCLIP block 23 by name; ours is block num_hidden_layers.
        n = te_cfg["num_hidden_layers"]
        checkpoint = {k: v for k, v in checkpoint.items()
                      if not k.startswith(f"{L.OPENCLIP_PREFIX}transformer.resblocks.{n}.")}
    model = sfu.create_diffusers_clip_model_from_ldm(
        CLIPTextModel, checkpoint, subfolder="text_encoder", config=str(folder), torch_dtype=torch.float32,
        local_files_only=True)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="tests/fixtures", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="diffuse-tok-") as tok_root:
        for family in ("sd1", "sd2"):
            build_family(family, args.out, Path(tok_root) / family)
    total = L.dir_size(args.out)
    for p in sorted(args.out.rglob("*")):
        if p.is_file() and p.suffix in (".safetensors",):
            print(f"  {p.relative_to(args.out)}: {L.human(p.stat().st_size)}")
    print(f"total under {args.out}: {L.human(total)}")


if __name__ == "__main__":
    main()
