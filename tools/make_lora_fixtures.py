#!/usr/bin/env python3
"""Builds tiny LoRA / LyCORIS / textual-inversion files of every format for
the committed tiny models, and the references diffusers 0.35.2 + peft 0.21.2
compute with them (issue 14).

Usage:
    .venv-tools/bin/python tools/make_lora_fixtures.py [--out tests/fixtures] [--only sd1|sd2|sdxl ...]
        (or: make fixtures; needs the tiny models of make_fixtures.py / make_sdxl_fixtures.py)

Deterministic: one thread, fixed seeds, byte-identical files on a re-run.
Every stored factor is exactly representable in f16 AND bf16 (so the file's
dtype never changes a value); the references use exactly the stored values.

FILES (tests/fixtures/lora/)
============================
Module names. "diffusers names": diffusers' UNet2DConditionModel module
names (down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q,
down_blocks.1.resnets.0.conv_shortcut, up_blocks.0.upsamplers.0.conv, ...)
and transformers' CLIPTextModel names (text_model.encoder.layers.3.mlp.fc1,
...self_attn.{q,k,v,out}_proj). "LDM names": the original UNet names
(input_blocks.N.{0: resnet, 1: attention}, middle_block.{0,1,2},
output_blocks.N.{0,1,2}; resnet conv1 = in_layers.2, conv2 = out_layers.3,
time_emb_proj = emb_layers.1, conv_shortcut = skip_connection, downsampler =
input_blocks.N.0.op, upsampler = output_blocks.N.{1|2}.conv), as
tools/sd_layout.py's unet_key_to_ldm maps them. Module kinds covered:
attention to_q/to_k/to_v/to_out.0 (self and cross), ff.net.0.proj (GEGLU,
out = 8 x width), ff.net.2, proj_in/proj_out (1x1 convolutions in SD 1.x,
Linear in SD 2.x / SDXL), resnet conv1/conv2 (3x3), conv_shortcut (1x1),
time_emb_proj, down/upsampler convolutions (3x3); text encoders q/k/v/out_proj,
fc1, fc2 (tiny SD 1.x fc1 is 37 wide: LoKr factors 37 = 1 x 37).

kohya naming: "<prefix><module name with every '.' replaced by '_'>" + "." + tensor,
  prefix lora_unet_ (UNet), lora_te_ (SD 1.x / 2.x text encoder), lora_te1_ /
  lora_te2_ (SDXL text_encoder / text_encoder_2; transformers names for both).
  e.g. lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0,
       lora_unet_input_blocks_4_1_transformer_blocks_0_ff_net_0_proj (LDM),
       lora_te_text_model_encoder_layers_0_mlp_fc1
  Real files: sd-scripts writes SD 1.x / 2.x LoRAs with the diffusers UNet
  names and SDXL ones with the LDM (SGM) names; A1111 accepts both for every
  model (networks.py: convert_diffusers_name_to_compvis, then
  "lora_unet" -> "diffusion_model"). diffusers 0.35.2 maps LDM names only for
  SDXL (_maybe_map_sgm_blocks_to_diffusers with the UNet config): it refuses
  the SD 1.x LDM-named file (NoMatchingPeftModuleError), so that file's
  references are our own merge, which equals the diffusers-named file's.

Every kohya-format module carries <name>.alpha (0-d tensor, file dtype) but
where noted; ss_* metadata as sd-scripts writes (ss_base_model_version sd_v1 /
sd_v2 / sdxl_base_v1-0, ss_v2, ss_network_module, ss_network_dim / _alpha /
_args) plus diffuse_fixture.

file                         format     dtype  modules  UNet names
sd1_lora_peft                peft       f16    147      diffusers   (full LoCon: every UNet + TE module above)
sd1_lora_kohya               kohya      f16    147      diffusers   (same weights as sd1_lora_peft)
sd1_lora_kohya_ldm           kohya      f16    147      LDM         (same weights again)
sd1_lora_b_kohya             kohya      f16     51      diffusers   (attn1 to_q/to_out.0, attn2 to_k/to_v, conv1; TE q/v/out_proj)
sd1_loha                     loha       f16     80      diffusers
sd1_lokr                     lokr       f16     80      diffusers
sd2_lora_kohya               kohya      f16     80      diffusers
sdxl_lora_peft               peft       f32    261      diffusers   (SDXL: transformer_blocks.0 only, but all of
                                                                     down_blocks.1.attentions.0; text_encoder_2 layers 0,4,5,9)
sdxl_lora_kohya              kohya      f16    261      LDM         (same weights as sdxl_lora_peft)
sdxl_lora_b_kohya            kohya      bf16    92      LDM
sdxl_loha                    loha       f16    130      LDM
sdxl_lokr                    lokr       bf16   130      LDM
(LoHa / LoKr / sd2 cover one attention block per path, a few resnets, the
samplers and the whole text encoders: see lycoris_subset.)

LoRA, PEFT format (diffusers' save_lora_weights):
  <component>.<diffusers module>.lora_A.weight   Linear [r, in]; Conv [r, in, kh, kw]
  <component>.<diffusers module>.lora_B.weight   Linear [out, r]; Conv [out, r, 1, 1]
  component: unet, text_encoder, text_encoder_2.
  __metadata__: format "pt", lora_adapter_metadata = JSON object of
  LoraConfig.to_dict() per component, keys prefixed "<component>." (e.g.
  "unet.r": 4, "unet.lora_alpha": 2.0, "unet.rank_pattern": {"conv1": 2,
  "conv2": 2, "downsamplers.0.conv": 2, "upsamplers.0.conv": 2},
  "unet.alpha_pattern": {}, "unet.target_modules": [...], "unet.use_rslora":
  false, "unet.use_dora": false), what diffusers >= 0.34 writes and reads
  back. scale = lora_alpha / r_module (alpha_pattern would override alpha,
  use_rslora would make it lora_alpha / sqrt(r); neither is used here).
  rank_pattern keys are regexes matched as (.*\.)?(key)$ against module names;
  the rank always equals lora_A.shape[0]. A PEFT file WITHOUT
  lora_adapter_metadata (older diffusers, most hub files) has no alpha at
  all: diffusers then uses lora_alpha = r, scale 1.
  Here: Linear and 1x1 conv r 4, 3x3 conv r 2, lora_alpha 2 (scales 0.5 and 1).
LoRA, kohya format:
  <name>.lora_down.weight  [r, in] / [r, in, kh, kw] (3x3 LoCon: kh = kw = 3)
  <name>.lora_up.weight    [out, r] / [out, r, 1, 1]
  <name>.alpha             0-d;  scale = alpha / r (r = lora_down.shape[0])
  no alpha: A1111 uses scale 1 (alpha = r); diffusers would use the most
  common alpha of the file (none of these files lack one).
  main files: r 4 (Linear, 1x1 conv) / 2 (3x3), alpha 2 everywhere;
  *_lora_b_*: r 3 alpha 1.5 (Linear), r 2 alpha 0.5 (3x3): per-module alphas differ.
  delta W = scale * (up.reshape(out, r) @ down.reshape(r, -1)).reshape(W.shape)
LoHa (LyCORIS, kohya names):
  <name>.hada_w1_a [out, r]   <name>.hada_w1_b [r, in*kh*kw]
  <name>.hada_w2_a [out, r]   <name>.hada_w2_b [r, in*kh*kw]   <name>.alpha
  (3x3 convolutions keep w1_b / w2_b flattened to 2-d, as LyCORIS' non-Tucker
  conv LoHa does; no hada_t1/t2 here)
  delta W = ((w1_a @ w1_b) * (w2_a @ w2_b)).reshape(W.shape) * alpha / r, r = w1_b.shape[0]
  here r 4 alpha 2 (Linear, 1x1), r 2 alpha 1 (3x3).
LoKr (LyCORIS, kohya names): per module, w1 full [a, c] or factored
  lokr_w1_a [a, r] + lokr_w1_b [r, c]; w2 full lokr_w2 [b, d] (Linear) /
  [b, d, kh, kw] (conv) or factored lokr_w2_a [b, r] + lokr_w2_b [r, d*kh*kw];
  out = a * b, in = c * d ((a, b), (c, d) = LyCORIS factorization(dim): m <= n,
  m closest to sqrt(dim), e.g. 32 = 4 x 8, 256 = 16 x 16, 37 = 1 x 37).
  w1 = lokr_w1 or w1_a @ w1_b; w2 = lokr_w2 or w2_a @ w2_b;
  delta W = kron(w1, w2) * scale, reshaped to W.shape (a 4-d w2:
  kron(w1[:, :, None, None], w2); a factored conv w2 is [b, d*kh*kw] and the
  2-d kron [a*b, c*d*kh*kw] is reshaped to [out, in, kh, kw]: the same numbers).
  scale: dim = w2_b.shape[0] if w2 is factored, else w1_b.shape[0] if w1 is,
  else none; scale = alpha / dim if alpha and dim exist, else 1.0 (A1111
  network_lokr.py + network.py calc_scale, ComfyUI lokr.py; LyCORIS stores
  alpha = dim for two full factors). Forms in these files:
    to_q/k/v/out.0, q/k/v/out_proj, conv2, samplers: lokr_w1 + lokr_w2_a/_b, r 2, alpha 1
    ff.net.0.proj, ff.net.2, fc1, fc2, conv1 (3x3, 4-d w2): lokr_w1 + lokr_w2, alpha 4 (IGNORED: scale 1)
    proj_in, proj_out: lokr_w1_a/_b + lokr_w2_a/_b (both factored), r 2, alpha 1
    time_emb_proj, conv_shortcut: lokr_w1 + lokr_w2_a/_b and NO alpha key (scale 1)
Merging with a user multiplier s (per component: UNet / text encoders):
  W' = W + s * delta W, for every format.

Bad inputs:
  sd1_lora_nomatch.safetensors   well-formed kohya LoRA, 3 modules, names match
                                 nothing in tiny-sd1 (down_blocks_7, up_blocks_3,
                                 text encoder layer 11)
  sd1_lora_truncated.safetensors the attn1 modules of sd1_lora_kohya, header whole,
                                 tensor data cut in half
  sdxl_lora_kohya on tiny-sd1 / sd1_lora_kohya on tiny-sdxl: the wrong-model cases
  (the reference's bad_inputs lists what diffusers does with each).

Textual inversion embeddings (float32):
  sd1style.safetensors    A1111: {"emb_params": [2, 32]}; token = file stem "sd1style"
  sd1concept.safetensors  diffusers learned_embeds: {"sd1concept": [32]} (1-d; the key
                          is diffusers' token, A1111 would use the file stem: equal here)
  sdxlstyle.safetensors   SDXL: {"clip_l": [2, 8] (text_encoder), "clip_g": [2, 12]
                          (text_encoder_2)}; token "sdxlstyle"
  diffusers adds tokens <tok>, <tok>_1, ... (ids 49408, 49409, ...), rewrites
  "<tok>" in the prompt to "<tok> <tok>_1" and sets their input embeddings to
  the vectors: the same as A1111 putting the n vectors in place of the
  word. The token ids it used are in __metadata__["diffusers"][case].

REFERENCES (tests/fixtures/reference/lora_{sd1,sd2,sdxl}.safetensors)
=====================================================================
__metadata__:
  cases      JSON list of generation cases: make_pipeline_fixtures.py's case
             fields (SD 1.x / 2.x: name, model, sampler, schedule, spacing,
             steps, guidance_scale, prompt, negative_prompt, seed, width,
             height, batch, clip_skip, strength, init_image, eta) or
             make_sdxl_fixtures.py's (SDXL; negative_prompt null = not passed
             = zeros), plus
               loras: [{file (repo-relative), format (peft | kohya | kohya_ldm |
                        loha | lokr), adapter, unet_scale, text_encoder_scale
                        (, text_encoder_2_scale)}] in load order
               embeddings: [{file, token, format (a1111 | diffusers | sdxl), vectors}]
               lora_application: "diffusers_peft" (diffusers' unfused PEFT
                        layers: y = W x + sum s * scale * B(A x)), "merged"
                        (LoHa / LoKr: the plain pipeline on W + s * delta W), null
               loaded_then_unloaded: LoRAs loaded, then unload_lora_weights()
                        before the run (case "unloaded": equal to "base", asserted)
               equal_to: the case whose tensors these equal, or null
  merges     JSON list: {name, loras (as above; one each), by ("diffusers":
             load_lora_weights + fuse_lora(lora_scale=s), checked against our
             float64 formula within 2e-6 relative; "own": our formula,
             base + s * delta in float64 then f32), same_as (another merge with the
             same weights under other names), modules_touched,
             fused_vs_float64_rel, targets: [{component, param (diffusers name,
             e.g. down_blocks.0.resnets.0.conv1.weight), key (the tensor),
             shape, base_absmax, delta_absmax}]}
  files      JSON {file stem: {path, model, format, unet_names, dtype, modules, tensors, bytes}}
  embeddings JSON {stem: {path, bytes, tensors: {name: shape}}} (this family's)
  bad_inputs JSON list {file, model, expect, diffusers (what load_lora_weights did)}
  diffusers  JSON per case: scheduler details, timesteps, 1e-6 perturbation
             guide (as pipeline_*.safetensors), prompt/negative token ids for
             embedding cases, fused_vs_unfused_latent_absdiff (lora_peft: how
             much merging instead of diffusers' unfused layers moves the
             latents), cross_attention_kwargs_scale_latent_absdiff
  notes, diffusers_version, peft_version
tensors:
  <case>.latents                 f32 [1, 4, h/2, w/2]  final latents (before the VAE)
  <case>.image                   f32 [1, h, w, 3]      the uint8 image as f32
  <case>.prompt_embeds           f32 [1, 77, C]        encode_prompt with the case's
                                 LoRAs / embeddings (SDXL: C = 20, and
                                 <case>.pooled_prompt_embeds [1, 10]);
                                 <case>.negative_prompt_embeds (and pooled) only
                                 where the negative prompt holds an embedding
  merge.<merge>.<component>.<param>  f32, the merged weight W + s * delta W
Generation settings: Euler, the model's scheduler json, 6 steps, 24 x 24,
guidance 7.5 (SD) / 5.0 (SDXL), prompt "a photograph of an astronaut riding a
horse" unless stated, negative "" (SD) / "blurry, low quality" (SDXL).

Checks (the script fails loudly): every LoRA diffusers loads is injected with
exactly the file's factors and scaling alpha / r (the kohya files through
diffusers' own kohya converter: so the kohya and PEFT files load to the same
weights); fused weights equal base + s * delta (float64) within 2e-6; the
LDM-named SD 1.x file, merged by our formula, equals the fused diffusers-named
one; two LoKr formulas (kron, einsum) agree; after unload_lora_weights /
unload_textual_inversion the pipeline is bit-identical to the base and the
"unloaded" case equals "base"; cross_attention_kwargs={"scale": 0.7} equals
set_adapters(0.7); every LoRA / embedding case changes the image.

Doubtful points / diffusers limitations seen (0.35.2):
  * no LoHa / LoKr loader (kohya converter: "keys have not been correctly renamed");
  * SD 1.x kohya files with LDM UNet names are refused;
  * a kohya text-encoder LoRA with neither out_proj nor mlp modules fails
    ("Could not automatically infer state dict type"), so *_lora_b_* include out_proj;
  * pipe._lora_scale (set by a call with cross_attention_kwargs scale) scales
    text-encoder LoRAs loaded afterwards: reset here;
  * the tiny random models are chaotic: any LoRA moves the image by ~40-50 of 255
    on average, so image comparisons need the usual tolerances, not "similar to base".
"""

from __future__ import annotations

import argparse
import json
import math
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
from safetensors.torch import load_file  # noqa: E402

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

import diffusers.utils.logging as _dlog  # noqa: E402
_dlog.disable_progress_bar()

import make_pipeline_fixtures as P  # noqa: E402
import make_sdxl_fixtures as S  # noqa: E402

DIFFUSERS_VERSION = "0.35.2"
PEFT_VERSION = "0.21.2"
LORA_DIR = "tests/fixtures/lora"
FAMILIES = ("sd1", "sd2", "sdxl")
MODEL = {"sd1": "tiny-sd1", "sd2": "tiny-sd2", "sdxl": "tiny-sdxl"}
COMPONENTS = {"sd1": ("unet", "text_encoder"), "sd2": ("unet", "text_encoder"),
              "sdxl": ("unet", "text_encoder", "text_encoder_2")}

# --------------------------------------------------------------------------
# Which modules a LoRA targets

UNET_LINEAR = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out",
               "time_emb_proj")
UNET_CONV = ("conv1", "conv2", "conv_shortcut", "downsamplers.0.conv", "upsamplers.0.conv")
TE_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


def _suffix(name: str, suffixes) -> str | None:
    for s in suffixes:
        if name == s or name.endswith("." + s):
            return s
    return None


def target_modules(component: str, model) -> dict:
    """Every module a full LoCon (kohya's LoRA with conv_dim) targets:
    diffusers module name -> weight shape. UNet: the Linear / Conv2d leaves
    of the transformer blocks (attention q/k/v/out, GEGLU ff, proj_in/out),
    the resnets (conv1, conv2, conv_shortcut, time_emb_proj) and the
    down/upsampler convolutions. Text encoders: q/k/v/out_proj, fc1, fc2 of
    every layer."""
    out = {}
    for name, m in model.named_modules():
        if not isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
            continue
        if component == "unet":
            if _suffix(name, UNET_LINEAR + UNET_CONV) and name.startswith(("down_blocks", "mid_block", "up_blocks")):
                out[name] = tuple(m.weight.shape)
        elif name.startswith("text_model.encoder.layers.") and _suffix(name, TE_TARGETS):
            out[name] = tuple(m.weight.shape)
    return out


def is_conv3(shape) -> bool:
    return len(shape) == 4 and shape[2:] != (1, 1)


# --------------------------------------------------------------------------
# Exact values: every stored factor is representable in f16 AND bf16, so a
# file can hold it in either and every reference uses the same numbers.


def exact(t: torch.Tensor) -> torch.Tensor:
    v = t.float().bfloat16().float().half().float()
    assert torch.equal(v.bfloat16().float(), v) and torch.equal(v.half().float(), v)
    return v


def randn(g, *shape) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def factorization(dim: int) -> tuple[int, int]:
    """LyCORIS' factorization(dim, factor=-1): m <= n, m * n = dim, m as
    close to sqrt(dim) as possible (37 -> (1, 37))."""
    m = int(math.isqrt(dim))
    while dim % m:
        m -= 1
    return m, dim // m


# --------------------------------------------------------------------------
# Network entries. An entry is a dict:
#   type "lora":  down [r, in(, kh, kw)], up [out, r(, 1, 1)], alpha
#   type "loha":  w1a [out, r], w1b [r, in*kh*kw], w2a, w2b (same), alpha
#   type "lokr":  w1 [a, c] | w1a [a, r] + w1b [r, c];
#                 w2 [b, d(, kh, kw)] | w2a [b, r] + w2b [r, d*kh*kw]; alpha or None
# (float32 tensors holding f16/bf16-exact values), plus "shape" (the target
# weight's shape).


def lora_delta(e: dict) -> torch.Tensor:
    """kohya / PEFT LoRA: delta = (alpha / r) * up @ down (convolutions: up
    [out, r, 1, 1] times down [r, in, kh, kw] flattened to [r, in*kh*kw]).
    float64, the network's own scale included, the user's multiplier not."""
    up, down = e["up"].double(), e["down"].double()
    r = down.shape[0]
    scale = e["alpha"] / r if e["alpha"] is not None else 1.0
    return (up.reshape(up.shape[0], r) @ down.reshape(r, -1)).reshape(e["shape"]) * scale


def loha_delta(e: dict) -> torch.Tensor:
    """LoHa (LyCORIS lycoris/modules/loha.py get_weight; A1111
    extensions-builtin/Lora/network_hada.py calc_updown): delta =
    ((w1a @ w1b) * (w2a @ w2b)) * alpha / r, r = w1b.shape[0]; a
    convolution's w1b / w2b are [r, in*kh*kw] and the product is reshaped to
    the weight's [out, in, kh, kw]."""
    w1 = e["w1a"].double() @ e["w1b"].double().reshape(e["w1b"].shape[0], -1)
    w2 = e["w2a"].double() @ e["w2b"].double().reshape(e["w2b"].shape[0], -1)
    r = e["w1b"].shape[0]
    scale = e["alpha"] / r if e["alpha"] is not None else 1.0
    return (w1 * w2).reshape(e["shape"]) * scale


def lokr_scale(e: dict) -> float:
    """A1111 network_lokr.py + network.py calc_scale (ComfyUI's lokr.py is
    the same): dim = w2b.shape[0] if w2 is factored, else w1b.shape[0] if w1
    is, else none; scale = alpha / dim when both alpha and dim exist, else
    1.0 (so two full matrices ignore alpha: LyCORIS itself stores alpha =
    lora_dim in that case, scale 1)."""
    dim = None
    if e.get("w1b") is not None:
        dim = e["w1b"].shape[0]
    if e.get("w2b") is not None:
        dim = e["w2b"].shape[0]
    if e["alpha"] is None or dim is None:
        return 1.0
    return e["alpha"] / dim


def lokr_delta(e: dict) -> torch.Tensor:
    """LoKr (LyCORIS lycoris/modules/lokr.py get_weight + functional/lokr.py
    make_kron; A1111 network_lokr.py): w1 = lokr_w1 or w1a @ w1b; w2 =
    lokr_w2 or w2a @ w2b; delta = kron(w1, w2) * scale, reshaped to the
    weight's shape. A 4-d w2 [b, d, kh, kw] is kron'ed with w1[:, :, None,
    None]; a factored convolution's w2 = w2a @ w2b is [b, d*kh*kw] and
    kron(w1, w2) [a*b, c*d*kh*kw] is reshaped to [out, in, kh, kw]."""
    w1 = e["w1"].double() if e.get("w1") is not None else e["w1a"].double() @ e["w1b"].double()
    w2 = e["w2"].double() if e.get("w2") is not None else e["w2a"].double() @ e["w2b"].double()
    if w2.dim() == 4:
        w1 = w1[:, :, None, None]
    return torch.kron(w1, w2).reshape(e["shape"]) * lokr_scale(e)


def lokr_delta_einsum(e: dict) -> torch.Tensor:
    """The same by explicit indices (an independent check of lokr_delta):
    delta[i*b + j, p*d + q, u, v] = w1[i, p] * w2[j, q, u, v] * scale."""
    w1 = e["w1"].double() if e.get("w1") is not None else e["w1a"].double() @ e["w1b"].double()
    w2 = e["w2"].double() if e.get("w2") is not None else e["w2a"].double() @ e["w2b"].double()
    shape = e["shape"]
    a, c = w1.shape
    b = w2.shape[0]
    d = shape[1] // c
    w2 = w2.reshape(b, d, *shape[2:])
    out = torch.einsum("ip,jq...->ijpq...", w1, w2).reshape(shape)
    return out * lokr_scale(e)


DELTA = {"lora": lora_delta, "loha": loha_delta, "lokr": lokr_delta}


def delta_of(e: dict) -> torch.Tensor:
    return DELTA[e["type"]](e)


def _normalize(e: dict, base: torch.Tensor, rel: float, which: list[str]) -> None:
    """Scales the factors named in `which` (all by the same factor, in
    total c) so that ||delta|| = rel * ||base||: visible but sane."""
    d = delta_of(e)
    c = rel * base.norm().item() / max(d.norm().item(), 1e-30)
    f = c ** (1.0 / len(which))
    for k in which:
        e[k] = exact(e[k].double() * f)


def make_lora(g, shape, rank, alpha, base, rel) -> dict:
    out, inp = shape[0], int(np.prod(shape[1:]))
    down = randn(g, rank, *shape[1:]) / math.sqrt(inp)
    up = randn(g, out, rank, *([1, 1] if len(shape) == 4 else [])) / math.sqrt(rank)
    e = {"type": "lora", "shape": shape, "down": exact(down), "up": exact(up), "alpha": alpha}
    _normalize(e, base, rel, ["up"])
    return e


def make_loha(g, shape, rank, alpha, base, rel) -> dict:
    out, inp = shape[0], int(np.prod(shape[1:]))
    e = {"type": "loha", "shape": shape, "alpha": alpha}
    for w in ("w1", "w2"):
        e[w + "a"] = exact(randn(g, out, rank) / math.sqrt(rank))
        e[w + "b"] = exact(randn(g, rank, inp) / math.sqrt(inp) ** 0.5)
    _normalize(e, base, rel, ["w1a", "w2a"])
    return e


def make_lokr(g, shape, form, rank, alpha, base, rel) -> dict:
    """form: "w1+w2" (two full matrices), "w1+w2ab" (full w1, factored w2),
    "w1ab+w2ab" (both factored: LyCORIS decompose_both)."""
    a, b = factorization(shape[0])
    c, d = factorization(shape[1])
    k = list(shape[2:])
    kk = int(np.prod(k)) if k else 1
    e = {"type": "lokr", "shape": shape, "alpha": alpha}
    if form.startswith("w1ab"):
        e["w1a"] = exact(randn(g, a, rank))
        e["w1b"] = exact(randn(g, rank, c))
    else:
        e["w1"] = exact(randn(g, a, c))
    if form.endswith("w2ab"):
        e["w2a"] = exact(randn(g, b, rank))
        e["w2b"] = exact(randn(g, rank, d * kk) / math.sqrt(d * kk))
    else:
        e["w2"] = exact(randn(g, b, d, *k) / math.sqrt(d * kk))
    _normalize(e, base, rel, ["w1a" if "w1a" in e else "w1"])
    return e


# --------------------------------------------------------------------------
# The networks (what each file holds)


def lycoris_subset(component: str, name: str) -> bool:
    """LoHa / LoKr files cover one attention block per path, a few resnets
    and the whole text encoder (smaller files; every module kind)."""
    if component != "unet":
        return True
    keep = ("down_blocks.0.attentions.0.", "mid_block.attentions.0.", "up_blocks.1.attentions.2.",
            "down_blocks.1.attentions.0.", "up_blocks.0.attentions.2.",
            "down_blocks.0.resnets.0.", "down_blocks.1.resnets.0.", "up_blocks.1.resnets.2.",
            "up_blocks.2.resnets.2.", "mid_block.resnets.0.")
    return name.startswith(keep)


def b_subset(component: str, name: str) -> bool:
    """The second LoRA of the two-LoRA cases: self-attention q / out,
    cross-attention k / v, the resnets' conv1; q_proj / v_proj / out_proj in
    the text encoders (diffusers 0.35.2 cannot load a kohya text-encoder
    LoRA without out_proj or mlp modules: "Could not automatically infer
    state dict type")."""
    if component == "unet":
        return name.endswith(("attn1.to_q", "attn1.to_out.0", "attn2.to_k", "attn2.to_v", ".conv1"))
    return name.endswith(("q_proj", "v_proj", "out_proj"))


def lokr_form(component: str, name: str, shape) -> tuple[str, float | None]:
    """LoKr per module: which factor form and which alpha (None: no alpha
    key, scale 1)."""
    if name.endswith(("time_emb_proj", "conv_shortcut")):
        return "w1+w2ab", None
    if name.endswith(("ff.net.0.proj", "ff.net.2", "fc1", "fc2", "conv1")):
        return "w1+w2", 4.0  # alpha present but ignored: both factors full
    if name.endswith(("proj_in", "proj_out")):
        return "w1ab+w2ab", 1.0
    return "w1+w2ab", 1.0  # q/k/v/out, conv2, samplers


def sdxl_subset(component: str, name: str) -> bool:
    """SDXL networks skip the deeper transformer blocks (but for one
    attention, so block indices above 0 occur) and half of text_encoder_2's
    layers: every module kind and naming path stays, the files stay small."""
    if component == "unet" and ".transformer_blocks." in name:
        index = int(name.split(".transformer_blocks.")[1].split(".")[0])
        return index == 0 or name.startswith("down_blocks.1.attentions.0.")
    if component == "text_encoder_2":
        return int(name.split(".")[3]) in (0, 4, 5, 9)
    return True


def build_network(family: str, kind: str, models: dict, seed: int) -> dict:
    """-> {"kind", "family", "entries": {(component, module): entry}}"""
    g = torch.Generator().manual_seed(seed)
    entries = {}
    candidates = {}
    for component in COMPONENTS[family]:
        candidates[component] = sorted(target_modules(component, models[component]))
        model = models[component]
        rel = 0.35 if component == "unet" else 0.25
        for name, shape in sorted(target_modules(component, model).items()):
            if family == "sdxl" and not sdxl_subset(component, name):
                continue
            if family == "sd2" and not lycoris_subset(component, name):
                continue
            base = model.get_submodule(name).weight.detach().double()
            conv3 = is_conv3(shape)
            if kind == "lora":
                e = make_lora(g, shape, 2 if conv3 else 4, 2.0, base, rel)
            elif kind == "lora_b":
                if not b_subset(component, name):
                    continue
                e = make_lora(g, shape, 2 if conv3 else 3, 0.5 if conv3 else 1.5, base, 0.3)
            elif kind == "loha":
                if not lycoris_subset(component, name):
                    continue
                e = make_loha(g, shape, 2 if conv3 else 4, 1.0 if conv3 else 2.0, base, 0.3)
            elif kind == "lokr":
                if not lycoris_subset(component, name):
                    continue
                form, alpha = lokr_form(component, name, shape)
                e = make_lokr(g, shape, form, 2, alpha, base, 0.3)
            else:
                raise ValueError(kind)
            entries[(component, name)] = e
    return {"kind": kind, "family": family, "entries": entries, "candidates": candidates}


# --------------------------------------------------------------------------
# File writers

KOHYA_TE_PREFIX = {("sd1", "text_encoder"): "lora_te_", ("sd2", "text_encoder"): "lora_te_",
                   ("sdxl", "text_encoder"): "lora_te1_", ("sdxl", "text_encoder_2"): "lora_te2_"}


def kohya_name(family: str, component: str, module: str, unet_naming: str, unet_config: dict) -> str:
    """kohya / A1111 module names: "lora_unet_" + the UNet module name with
    "." -> "_" (unet_naming "diffusers": diffusers' names, as sd-scripts
    writes SD 1.x / 2.x LoRAs; "ldm": the original LDM / SGM names, as
    sd-scripts writes SDXL LoRAs); "lora_te_" (SD 1.x / 2.x) or "lora_te1_"
    / "lora_te2_" (SDXL) + the transformers CLIPTextModel module name."""
    if component == "unet":
        if unet_naming == "ldm":
            module = L.unet_key_to_ldm(module + ".weight", unet_config)[: -len(".weight")]
        return "lora_unet_" + module.replace(".", "_")
    return KOHYA_TE_PREFIX[(family, component)] + module.replace(".", "_")


def kohya_tensors(net: dict, unet_naming: str, unet_config: dict, dtype) -> dict:
    out = {}
    for (component, module), e in net["entries"].items():
        name = kohya_name(net["family"], component, module, unet_naming, unet_config)
        if e["type"] == "lora":
            parts = {"lora_down.weight": e["down"], "lora_up.weight": e["up"]}
        elif e["type"] == "loha":
            parts = {"hada_w1_a": e["w1a"], "hada_w1_b": e["w1b"], "hada_w2_a": e["w2a"], "hada_w2_b": e["w2b"]}
        else:
            parts = {f"lokr_{k[:2]}" + (f"_{k[2]}" if len(k) == 3 else ""): e[k]
                     for k in ("w1", "w1a", "w1b", "w2", "w2a", "w2b") if e.get(k) is not None}
        if e["alpha"] is not None:
            parts["alpha"] = torch.tensor(e["alpha"], dtype=torch.float32)
        for k, v in parts.items():
            key = f"{name}.{k}"
            assert key not in out, key
            out[key] = v.to(dtype).contiguous()
    return out


def kohya_metadata(net: dict) -> dict:
    """A few of sd-scripts' ss_* keys, as real files carry them (A1111 reads
    ss_base_model_version / ss_v2 to tell SDXL / SD2 networks apart)."""
    family, kind = net["family"], net["kind"]
    meta = {"ss_base_model_version": {"sd1": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0"}[family],
            "ss_v2": str(family == "sd2"),
            "ss_network_module": "networks.lora" if kind.startswith("lora") else "lycoris.kohya",
            "ss_output_name": "", "diffuse_fixture": "tools/make_lora_fixtures.py"}
    if kind.startswith("lora"):
        lin = [e for e in net["entries"].values() if not is_conv3(e["shape"])]
        conv = [e for e in net["entries"].values() if is_conv3(e["shape"])]
        meta["ss_network_dim"] = str(lin[0]["down"].shape[0])
        meta["ss_network_alpha"] = str(lin[0]["alpha"])
        meta["ss_network_args"] = json.dumps({"conv_dim": str(conv[0]["down"].shape[0]),
                                              "conv_alpha": str(conv[0]["alpha"])}) if conv else "{}"
    else:
        meta["ss_network_args"] = json.dumps({"algo": kind})
    return meta


def peft_config_dict(net: dict, component: str) -> dict:
    """LoraConfig(...).to_dict() of the adapter the file's weights fit (what
    diffusers' save_lora_weights(..., unet_lora_adapter_metadata=...)
    stores), sets as sorted lists so the JSON is deterministic."""
    from peft import LoraConfig

    entries = {m: e for (c, m), e in net["entries"].items() if c == component}
    suffixes = sorted({_suffix(m, UNET_LINEAR + UNET_CONV + TE_TARGETS) for m in entries})
    # the suffixes when they target exactly the file's modules, else the full module names
    # (PEFT injects every module target_modules matches, and diffusers uses the metadata as is)
    matched = {m for m in net["candidates"][component] if _suffix(m, suffixes)}
    targets = suffixes if matched == set(entries) else sorted(entries)
    ranks = {e["down"].shape[0] for e in entries.values()}
    alphas = {e["alpha"] for e in entries.values()}
    assert len(alphas) == 1, alphas
    r = max(ranks)
    rank_pattern = {}
    for s in suffixes:
        rs = {e["down"].shape[0] for m, e in entries.items() if _suffix(m, (s,))}
        assert len(rs) == 1, (s, rs)
        if rs != {r}:
            rank_pattern[s] = rs.pop()
    cfg = LoraConfig(r=r, lora_alpha=alphas.pop(), target_modules=targets, rank_pattern=rank_pattern,
                     init_lora_weights="gaussian").to_dict()
    out = {}
    for k, v in cfg.items():
        if isinstance(v, set):
            v = sorted(v)
        elif hasattr(v, "value"):
            v = v.value
        out[k] = v
    return out


def peft_tensors(net: dict, dtype) -> tuple[dict, dict]:
    tensors = {}
    for (component, module), e in net["entries"].items():
        tensors[f"{component}.{module}.lora_A.weight"] = e["down"].to(dtype).contiguous()
        tensors[f"{component}.{module}.lora_B.weight"] = e["up"].to(dtype).contiguous()
    adapter = {}
    for component in COMPONENTS[net["family"]]:
        if any(c == component for c, _ in net["entries"]):
            adapter.update({f"{component}.{k}": v for k, v in peft_config_dict(net, component).items()})
    meta = {"format": "pt", "lora_adapter_metadata": json.dumps(adapter, indent=2, sort_keys=True)}
    return tensors, meta


# --------------------------------------------------------------------------
# What is written

# name -> (family, network kind, format, dtype); format: "peft" (diffusers /
# PEFT names), "kohya" (kohya names, diffusers UNet module names for SD 1.x /
# 2.x, LDM / SGM ones for SDXL, as sd-scripts writes them), "kohya_ldm"
# (kohya names with LDM UNet names on SD 1.x: what A1111 also accepts).
FILES = {
    "sd1_lora_peft": ("sd1", "lora", "peft", torch.float16),
    "sd1_lora_kohya": ("sd1", "lora", "kohya", torch.float16),
    "sd1_lora_kohya_ldm": ("sd1", "lora", "kohya_ldm", torch.float16),
    "sd1_lora_b_kohya": ("sd1", "lora_b", "kohya", torch.float16),
    "sd1_loha": ("sd1", "loha", "kohya", torch.float16),
    "sd1_lokr": ("sd1", "lokr", "kohya", torch.float16),
    "sd2_lora_kohya": ("sd2", "lora", "kohya", torch.float16),
    "sdxl_lora_peft": ("sdxl", "lora", "peft", torch.float32),
    "sdxl_lora_kohya": ("sdxl", "lora", "kohya", torch.float16),
    "sdxl_lora_b_kohya": ("sdxl", "lora_b", "kohya", torch.bfloat16),
    "sdxl_loha": ("sdxl", "loha", "kohya", torch.float16),
    "sdxl_lokr": ("sdxl", "lokr", "kohya", torch.bfloat16),
}
NET_SEEDS = {("sd1", "lora"): 5001, ("sd1", "lora_b"): 5002, ("sd1", "loha"): 5003, ("sd1", "lokr"): 5004,
             ("sd2", "lora"): 5101,
             ("sdxl", "lora"): 5201, ("sdxl", "lora_b"): 5202, ("sdxl", "loha"): 5203, ("sdxl", "lokr"): 5204}
EMBEDDING_SEED = 5301


def rel(name: str) -> str:
    return f"{LORA_DIR}/{name}.safetensors"


def file_format(name: str) -> str:
    family, kind, fmt, _ = FILES[name]
    return kind if kind in ("loha", "lokr") else fmt


def write_networks(out: Path, nets: dict, unet_configs: dict) -> dict:
    """Writes every FILES entry; returns {name: info for the metadata}."""
    (out / "lora").mkdir(parents=True, exist_ok=True)
    info = {}
    for name, (family, kind, fmt, dtype) in FILES.items():
        net = nets[(family, kind)]
        path = out / "lora" / f"{name}.safetensors"
        if fmt == "peft":
            tensors, meta = peft_tensors(net, dtype)
        else:
            naming = "ldm" if fmt == "kohya_ldm" or (fmt == "kohya" and family == "sdxl") else "diffusers"
            tensors = kohya_tensors(net, naming, unet_configs[family], dtype)
            meta = kohya_metadata(net)
        L.save_safetensors(tensors, path, meta)
        info[name] = {"path": rel(name), "model": MODEL[family], "format": file_format(name),
                      "unet_names": ("diffusers" if fmt == "peft" else
                                     "ldm" if fmt == "kohya_ldm" or family == "sdxl" else "diffusers"),
                      "dtype": str(dtype).replace("torch.", ""), "modules": len(net["entries"]),
                      "tensors": len(tensors), "bytes": path.stat().st_size}
    return info


def write_bad_files(out: Path) -> dict:
    """A LoRA whose names match nothing in tiny-sd1 (kohya names of blocks and
    layers the tiny model lacks, well-formed), and a truncated file (the
    first half of sd1_lora_kohya.safetensors: the header promises more data
    than there is)."""
    g = torch.Generator().manual_seed(5401)
    tensors = {}
    for name, (o, i) in (("lora_unet_down_blocks_7_attentions_0_proj_in", (32, 32)),
                         ("lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn1_to_q", (32, 32)),
                         ("lora_te_text_model_encoder_layers_11_self_attn_q_proj", (32, 32))):
        tensors[f"{name}.lora_down.weight"] = exact(randn(g, 4, i) * 0.1).half()
        tensors[f"{name}.lora_up.weight"] = exact(randn(g, o, 4) * 0.1).half()
        tensors[f"{name}.alpha"] = torch.tensor(2.0, dtype=torch.float16)
    L.save_safetensors(tensors, out / "lora" / "sd1_lora_nomatch.safetensors",
                       {"ss_base_model_version": "sd_v1", "ss_network_module": "networks.lora"})
    # the truncated file: a few modules of sd1_lora_kohya, cut in the middle of the tensor data
    full = load_file(out / "lora" / "sd1_lora_kohya.safetensors")
    keep = {k: v for k, v in full.items() if k.startswith("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_")}
    path = out / "lora" / "sd1_lora_truncated.safetensors"
    L.save_safetensors(keep, path, {"ss_base_model_version": "sd_v1", "ss_network_module": "networks.lora"})
    data = path.read_bytes()
    header = 8 + int.from_bytes(data[:8], "little")
    path.write_bytes(data[: header + (len(data) - header) // 2])
    return {"sd1_lora_nomatch": rel("sd1_lora_nomatch"), "sd1_lora_truncated": rel("sd1_lora_truncated")}


# --------------------------------------------------------------------------
# Textual inversion embeddings


def write_embeddings(out: Path, widths: dict) -> dict:
    """sd1style: A1111 safetensors {"emb_params": [2, 32]}; sd1concept:
    diffusers learned_embeds format {"sd1concept": [32]} (one 1-d vector);
    sdxlstyle: SDXL {"clip_l": [2, 8], "clip_g": [2, 12]}. float32, values
    like the tiny models' token embeddings (N(0, 1))."""
    g = torch.Generator().manual_seed(EMBEDDING_SEED)
    files = {
        "sd1style": {"emb_params": exact(randn(g, 2, widths["sd1"]))},
        "sd1concept": {"sd1concept": exact(randn(g, widths["sd1"]))},
        "sdxlstyle": {"clip_l": exact(randn(g, 2, widths["sdxl_l"])), "clip_g": exact(randn(g, 2, widths["sdxl_g"]))},
    }
    info = {}
    for name, tensors in files.items():
        path = out / "lora" / f"{name}.safetensors"
        L.save_safetensors({k: v.float().contiguous() for k, v in tensors.items()}, path)
        info[name] = {"path": rel(name), "bytes": path.stat().st_size,
                      "tensors": {k: list(v.shape) for k, v in tensors.items()}}
    return info


# --------------------------------------------------------------------------
# Pipelines


def sd_factory(fixtures: Path, family: str):
    def make():
        pipes = P.build_pipes(fixtures, MODEL[family])
        return {"txt2img": pipes["txt2img"], "img2img": pipes["img2img"],
                "scheduler_config": pipes["scheduler_config"], "pipe": pipes["txt2img"]}
    return make


def sdxl_factory(fixtures: Path):
    def make():
        base = S.load_pipeline(fixtures, False)
        return {"base": base, "scheduler_config": base.scheduler.config, "pipe": base}
    return make


def components_of(pipe, family: str) -> dict:
    return {c: getattr(pipe, c) for c in COMPONENTS[family]}


def adapter_weight(family: str, lora: dict):
    """set_adapters weight for one LoRA entry of a case: a float when every
    component has the same scale, else diffusers' per-component dict."""
    scales = {c: lora[f"{c}_scale"] for c in COMPONENTS[family]}
    if len(set(scales.values())) == 1:
        return next(iter(scales.values()))
    return scales


def lora_entry(family: str, name: str, scale=1.0, **per_component) -> dict:
    d = {"file": rel(name), "format": file_format(name), "adapter": name}
    for c in COMPONENTS[family]:
        d[f"{c}_scale"] = per_component.get(c, scale)
    return d


# --------------------------------------------------------------------------
# Checks: what diffusers / PEFT load equals the networks


def peft_layers(model) -> dict:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return {n: m for n, m in model.named_modules() if isinstance(m, BaseTunerLayer)}


def check_loaded(pipe, family: str, net: dict, adapter: str) -> int:
    """The LoRA layers diffusers injected hold exactly the network's factors
    and scaling alpha / r."""
    n = 0
    for component, model in components_of(pipe, family).items():
        layers = peft_layers(model)
        want = {m: e for (c, m), e in net["entries"].items() if c == component}
        got = {m for m, layer in layers.items() if adapter in layer.lora_A}
        if got != set(want):
            raise AssertionError(f"{adapter}/{component}: LoRA layers differ: missing "
                                 f"{sorted(set(want) - got)[:3]}, extra {sorted(got - set(want))[:3]}")
        for m, e in want.items():
            layer = layers[m]
            a, b = layer.lora_A[adapter].weight.detach(), layer.lora_B[adapter].weight.detach()
            if not (torch.equal(a.float(), e["down"]) and torch.equal(b.float(), e["up"])):
                raise AssertionError(f"{adapter}: {component}.{m} factors differ from the network")
            want_scaling = e["alpha"] / e["down"].shape[0]
            if abs(layer.scaling[adapter] - want_scaling) > 1e-12:
                raise AssertionError(f"{adapter}: {component}.{m} scaling {layer.scaling[adapter]} != {want_scaling}")
            n += 1
    return n


def own_merged(pipe, family: str, loras: list[tuple[dict, dict]], module_filter=None) -> dict:
    """(component, module) -> base + sum(scale_c * delta) in float64, for
    every module any of the networks touches. loras: [(net, entry)]."""
    comps = components_of(pipe, family)
    out = {}
    for net, entry in loras:
        for (c, m), e in net["entries"].items():
            key = (c, m)
            if key not in out:
                out[key] = comps[c].get_submodule(m).weight.detach().double().clone()
            out[key] += entry[f"{c}_scale"] * delta_of(e)
    return out


def snapshot(pipe, family: str) -> dict:
    return {c: {k: v.detach().clone() for k, v in m.state_dict().items()}
            for c, m in components_of(pipe, family).items()}


def restore_and_check(pipe, family: str, snap: dict, what: str) -> None:
    """After unloading: the pipeline must be the plain base model again
    (same modules, bit-identical weights, tokenizers back to 49,408)."""
    for c, model in components_of(pipe, family).items():
        if peft_layers(model):
            raise AssertionError(f"{what}: {c} still has LoRA layers after unloading")
        state = model.state_dict()
        if set(state) != set(snap[c]):
            raise AssertionError(f"{what}: {c} state keys changed: {sorted(set(state) ^ set(snap[c]))[:4]}")
        for k, v in snap[c].items():
            if not torch.equal(state[k], v):
                raise AssertionError(f"{what}: {c}.{k} differs from the base after unloading")
    for tok in ("tokenizer", "tokenizer_2"):
        t = getattr(pipe, tok, None)
        if t is not None:
            assert len(t) == 49408, (what, tok, len(t))


def unload_embeddings(pipe, family: str, tokens) -> None:
    if family == "sdxl":
        pipe.unload_textual_inversion(tokens=list(tokens), tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder)
        pipe.unload_textual_inversion(tokens=list(tokens), tokenizer=pipe.tokenizer_2,
                                      text_encoder=pipe.text_encoder_2)
    else:
        pipe.unload_textual_inversion()


def load_lora_file(pipe, path: str, adapter: str) -> None:
    """pipe.load_lora_weights on a repo-relative file (offline, diffusers
    wants the folder and weight_name)."""
    full = L.REPO / path
    pipe.load_lora_weights(str(full.parent), weight_name=full.name, adapter_name=adapter, local_files_only=True)


def load_loras(pipe, family: str, loras: list[dict], nets_by_file: dict) -> None:
    """diffusers' own route: load_lora_weights per file, set_adapters with the
    case's scales (per-component dicts where they differ)."""
    for lora in loras:
        load_lora_file(pipe, lora["file"], lora["adapter"])
        check_loaded(pipe, family, nets_by_file[Path(lora["file"]).stem], lora["adapter"])
    pipe.set_adapters([x["adapter"] for x in loras], adapter_weights=[adapter_weight(family, x) for x in loras])
    # set_adapters took each component's scale: scaling = s_component * alpha / r in every layer
    for lora in loras:
        net = nets_by_file[Path(lora["file"]).stem]
        for (c, m), e in net["entries"].items():
            layer = getattr(pipe, c).get_submodule(m)
            want = lora[f"{c}_scale"] * e["alpha"] / e["down"].shape[0]
            got = layer.scaling[lora["adapter"]]
            if abs(got - want) > 1e-12:
                raise AssertionError(f"{lora['adapter']}: {c}.{m} scaling {got} after set_adapters, want {want}")


def apply_merged(pipe, family: str, merged: dict) -> None:
    comps = components_of(pipe, family)
    with torch.no_grad():
        for (c, m), w in merged.items():
            comps[c].get_submodule(m).weight.copy_(w.float())


# --------------------------------------------------------------------------
# Merge references

# Merge targets: one module of each kind (widths in brackets are SD1's); the
# big SD1 / SD2 tensors appear once, the small SDXL ones cover the rest.
MERGE_TARGETS = {
    "sd1": [("unet", m) for m in (
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
        "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k",
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0",
        "down_blocks.0.attentions.0.proj_in",          # a 1x1 convolution in SD 1.x
        "up_blocks.1.attentions.2.proj_out",
        "down_blocks.0.resnets.0.conv1",               # 3x3
        "down_blocks.1.resnets.0.conv_shortcut",       # 1x1, 32 -> 64
    )] + [("text_encoder", f"text_model.encoder.layers.{m}") for m in (
        "0.self_attn.q_proj", "2.self_attn.out_proj", "4.mlp.fc1")],
    "sd2": [("unet", m) for m in (
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
        "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k",
        "down_blocks.0.attentions.0.proj_in",          # a Linear in SD 2.x (use_linear_projection)
        "up_blocks.1.attentions.2.proj_out",
        "down_blocks.1.resnets.0.conv_shortcut",
    )] + [("text_encoder", f"text_model.encoder.layers.{m}") for m in ("0.self_attn.q_proj", "4.mlp.fc1")],
    "sdxl": [("unet", m) for m in (
        "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q",
        "down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k",
        "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0",
        "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj",
        "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.2",
        "down_blocks.1.attentions.0.proj_in",
        "up_blocks.0.attentions.2.proj_out",
        "mid_block.attentions.0.transformer_blocks.0.attn1.to_v",
        "down_blocks.0.resnets.0.conv1",
        "down_blocks.0.resnets.0.conv2",
        "down_blocks.0.resnets.0.time_emb_proj",
        "down_blocks.1.resnets.0.conv_shortcut",
        "down_blocks.0.downsamplers.0.conv",
        "up_blocks.1.upsamplers.0.conv",
        "up_blocks.2.resnets.2.conv1",
        "mid_block.resnets.0.conv1",
    )] + [("text_encoder", f"text_model.encoder.layers.{m}") for m in ("0.self_attn.q_proj", "3.mlp.fc1")]
      + [("text_encoder_2", f"text_model.encoder.layers.{m}") for m in (
          "0.self_attn.k_proj", "9.self_attn.out_proj", "5.mlp.fc2")],
}


def merge_cases(family: str) -> list[dict]:
    """name, the LoRAs with their scales, and how the reference is made:
    "diffusers" = load_lora_weights + fuse_lora(lora_scale=s) (checked
    against our float64 formula), "own" = base + s * delta by our formula
    (diffusers cannot load the file)."""
    e = lambda name, s: [lora_entry(family, name, s)]  # noqa: E731
    if family == "sd1":
        return [{"name": "peft", "loras": e("sd1_lora_peft", 1.0), "by": "diffusers"},
                {"name": "kohya_0.7", "loras": e("sd1_lora_kohya", 0.7), "by": "diffusers"},
                {"name": "kohya_ldm_0.7", "loras": e("sd1_lora_kohya_ldm", 0.7), "by": "own",
                 "same_as": "kohya_0.7"},
                {"name": "b_kohya_neg0.5", "loras": e("sd1_lora_b_kohya", -0.5), "by": "diffusers"},
                {"name": "loha", "loras": e("sd1_loha", 1.0), "by": "own"},
                {"name": "lokr_0.8", "loras": e("sd1_lokr", 0.8), "by": "own"}]
    if family == "sd2":
        return [{"name": "kohya", "loras": e("sd2_lora_kohya", 1.0), "by": "diffusers"}]
    return [{"name": "peft", "loras": e("sdxl_lora_peft", 1.0), "by": "diffusers"},
            {"name": "kohya_0.7", "loras": e("sdxl_lora_kohya", 0.7), "by": "diffusers"},
            {"name": "b_kohya_neg0.6", "loras": e("sdxl_lora_b_kohya", -0.6), "by": "diffusers"},
            {"name": "loha", "loras": e("sdxl_loha", 1.0), "by": "own"},
            {"name": "lokr_0.8", "loras": e("sdxl_lokr", 0.8), "by": "own"}]


def build_merges(family: str, pipe, snap: dict, nets_by_file: dict, tensors: dict) -> list[dict]:
    comps = components_of(pipe, family)
    by_value = {}  # identical tensors are stored once
    out = []
    for mc in merge_cases(family):
        pairs = [(nets_by_file[Path(x["file"]).stem], x) for x in mc["loras"]]
        want = own_merged(pipe, family, pairs)
        got = {}
        if mc["by"] == "diffusers":
            (net, lora), = pairs
            s = lora["unet_scale"]
            load_lora_file(pipe, lora["file"], lora["adapter"])
            check_loaded(pipe, family, net, lora["adapter"])
            pipe.fuse_lora(components=list(COMPONENTS[family]), lora_scale=s, adapter_names=[lora["adapter"]])
            worst = 0.0
            for (c, m), w in want.items():
                fused = comps[c].get_submodule(m).get_base_layer().weight.detach().clone()
                err = ((fused.double() - w).abs().max() / w.abs().max()).item()
                worst = max(worst, err)
                if err > 2e-6:
                    raise AssertionError(f"{family}/{mc['name']}: fused {c}.{m} differs from base + s*delta ({err:.1e})")
                got[(c, m)] = fused
            pipe.unfuse_lora(components=list(COMPONENTS[family]))
            pipe.unload_lora_weights()
            for c, model in comps.items():  # unfuse subtracts again: put the exact base back
                model.load_state_dict(snap[c])
            restore_and_check(pipe, family, snap, mc["name"])
            mc["fused_vs_float64_rel"] = worst
        else:
            got = {k: w.float() for k, w in want.items()}
            if any(e["type"] == "lokr" for net, _ in pairs for e in net["entries"].values()):
                for net, _ in pairs:
                    for k, e in net["entries"].items():
                        d1, d2 = lokr_delta(e), lokr_delta_einsum(e)
                        assert torch.allclose(d1, d2, rtol=1e-12, atol=1e-14), k
        if mc.get("same_as"):  # the same weights under other names: the same expected tensors
            prev = next(x for x in out if x["name"] == mc["same_as"])
            for t in prev["targets"]:
                w = want[(t["component"], t["param"][: -len(".weight")])].float()
                err = ((w.double() - tensors[t["key"]].double()).abs().max() / w.abs().max()).item()
                assert err < 2e-6, (mc["name"], t["param"], err)
            mc["targets"] = prev["targets"]
            mc["modules_touched"] = len(want)
            out.append(mc)
            print(f"  merge {family}/{mc['name']:16s} = {mc['same_as']} (own formula on the other names agrees)")
            continue
        targets = []
        for c, m in MERGE_TARGETS[family]:
            if (c, m) not in got:
                continue
            base = snap[c][m + ".weight"]
            t = got[(c, m)].float().contiguous()
            sig = (tuple(t.shape), t.numpy().tobytes())
            key = by_value.get(sig)
            if key is None:
                key = f"merge.{mc['name']}.{c}.{m}.weight"
                by_value[sig] = key
                tensors[key] = t
            targets.append({"component": c, "param": f"{m}.weight", "key": key, "shape": list(t.shape),
                            "base_absmax": float(base.abs().max()),
                            "delta_absmax": float((t.double() - base.double()).abs().max())})
        assert targets, mc["name"]
        mc["targets"] = targets
        mc["modules_touched"] = len(want)
        out.append(mc)
        print(f"  merge {family}/{mc['name']:16s} by {mc['by']:9s} {len(want):3d} modules, {len(targets)} targets"
              + (f", fused vs float64 {mc['fused_vs_float64_rel']:.1e}" if mc["by"] == "diffusers" else ""))
    return out


# --------------------------------------------------------------------------
# Generation references

STEPS = 6
SIZE = 24
TI_PROMPT = {"sd1style": "a photograph of sd1style riding a horse",
             "sdxlstyle": "a photograph of sdxlstyle riding a horse"}


def gen_case(family: str, name: str, *, loras=(), embeddings=(), application="diffusers_peft", prompt=None,
             negative=None, seed=0, equal_to=None, unloaded=()) -> dict:
    if family == "sdxl":
        c = S.case(name, "euler", steps=STEPS, negative=P.NEGATIVE if negative is None else negative,
                   width=SIZE, height=SIZE, prompt=prompt or P.PROMPT)
    else:
        c = P.case(name, MODEL[family], "euler", steps=STEPS, size=SIZE, prompt=prompt or P.PROMPT,
                   negative="" if negative is None else negative)
    c.update(seed=seed, loras=list(loras), embeddings=list(embeddings),
             lora_application=application if loras else None, equal_to=equal_to,
             loaded_then_unloaded=list(unloaded))
    return c


def emb(name: str, token: str, fmt: str, vectors: int) -> dict:
    return {"file": rel(name), "token": token, "format": fmt, "vectors": vectors}


def generation_cases(family: str) -> list[dict]:
    e = lambda name, s=1.0, **kw: lora_entry(family, name, s, **kw)  # noqa: E731
    if family == "sd1":
        cases = [
            gen_case(family, "base"),
            gen_case(family, "lora_peft", loras=[e("sd1_lora_peft")]),
            gen_case(family, "lora_kohya_0.7", loras=[e("sd1_lora_kohya", 0.7)]),
            gen_case(family, "two_loras", loras=[e("sd1_lora_peft", 0.8), e("sd1_lora_b_kohya", -0.5)]),
            gen_case(family, "lora_split_scales", loras=[e("sd1_lora_peft", unet=0.6, text_encoder=1.5)]),
            gen_case(family, "lora_text_encoder_only", loras=[e("sd1_lora_kohya", unet=0.0, text_encoder=1.0)]),
            gen_case(family, "loha", loras=[e("sd1_loha")], application="merged"),
            gen_case(family, "lokr_0.8", loras=[e("sd1_lokr", 0.8)], application="merged"),
            gen_case(family, "ti_a1111", prompt=TI_PROMPT["sd1style"],
                     embeddings=[emb("sd1style", "sd1style", "a1111", 2)]),
            gen_case(family, "ti_diffusers_negative", negative="sd1concept, blurry",
                     embeddings=[emb("sd1concept", "sd1concept", "diffusers", 1)]),
            gen_case(family, "lora_and_ti", prompt=TI_PROMPT["sd1style"], loras=[e("sd1_lora_kohya", 0.7)],
                     embeddings=[emb("sd1style", "sd1style", "a1111", 2)]),
            gen_case(family, "unloaded", equal_to="base", unloaded=[e("sd1_lora_peft"), e("sd1_lora_b_kohya", -0.5)]),
        ]
        base_seed = 6001
    elif family == "sd2":
        cases = [gen_case(family, "base"), gen_case(family, "lora_kohya", loras=[e("sd2_lora_kohya")])]
        base_seed = 6101
    else:
        cases = [
            gen_case(family, "base"),
            gen_case(family, "lora_peft", loras=[e("sdxl_lora_peft")]),
            gen_case(family, "lora_kohya_0.7", loras=[e("sdxl_lora_kohya", 0.7)]),
            gen_case(family, "two_loras", loras=[e("sdxl_lora_peft", 0.8), e("sdxl_lora_b_kohya", -0.6)]),
            gen_case(family, "lora_split_scales",
                     loras=[e("sdxl_lora_kohya", unet=0.5, text_encoder=1.0, text_encoder_2=1.5)]),
            gen_case(family, "loha", loras=[e("sdxl_loha")], application="merged"),
            gen_case(family, "lokr_0.8", loras=[e("sdxl_lokr", 0.8)], application="merged"),
            gen_case(family, "ti_sdxl", prompt=TI_PROMPT["sdxlstyle"],
                     embeddings=[emb("sdxlstyle", "sdxlstyle", "sdxl", 2)]),
            gen_case(family, "unloaded", equal_to="base", unloaded=[e("sdxl_lora_kohya")]),
        ]
        base_seed = 6201
    for i, c in enumerate(cases):
        c["seed"] = base_seed + (0 if c["name"] == "unloaded" else i)  # unloaded replays base
    return cases


def load_embeddings(pipe, family: str, embeddings: list[dict]) -> list[str]:
    tokens = []
    for x in embeddings:
        path = str(L.REPO / x["file"])
        if x["format"] == "sdxl":
            sd = load_file(path)
            pipe.load_textual_inversion(sd["clip_l"], token=x["token"], text_encoder=pipe.text_encoder,
                                        tokenizer=pipe.tokenizer)
            pipe.load_textual_inversion(sd["clip_g"], token=x["token"], text_encoder=pipe.text_encoder_2,
                                        tokenizer=pipe.tokenizer_2)
        elif x["format"] == "a1111":
            pipe.load_textual_inversion(path, token=x["token"])  # {"emb_params": ...}: the token is the file stem
        else:
            pipe.load_textual_inversion(path)  # diffusers: the key is the token
        tokens += [x["token"]] + [f"{x['token']}_{i}" for i in range(1, x["vectors"])]
    return tokens


def token_ids(pipe, family: str, text: str) -> dict:
    out = {}
    for tok in ("tokenizer", "tokenizer_2"):
        t = getattr(pipe, tok, None)
        if t is not None:
            converted = pipe.maybe_convert_prompt(text, t)
            ids = t(converted, truncation=True, max_length=77)["input_ids"]  # up to the EOS, unpadded
            out[tok] = ids
            out[tok + "_converted_prompt"] = converted
    return out


@torch.no_grad()
def prompt_embeds(pipe, family: str, c: dict) -> dict:
    if family == "sdxl":
        neg = c["negative_prompt"]
        pe, npe, pooled, npooled = pipe.encode_prompt(c["prompt"], device="cpu", num_images_per_prompt=1,
                                                      do_classifier_free_guidance=True, negative_prompt=neg)
        return {"prompt_embeds": pe, "negative_prompt_embeds": npe, "pooled_prompt_embeds": pooled,
                "negative_pooled_prompt_embeds": npooled}
    pe, npe = pipe.encode_prompt(c["prompt"], "cpu", 1, True, c["negative_prompt"])
    return {"prompt_embeds": pe, "negative_prompt_embeds": npe}


def run(family: str, pipes: dict, c: dict):
    torch.manual_seed(0)  # nothing should use the global generator; keep it fixed anyway
    if family == "sdxl":
        t, info = S.run_pipeline_case(pipes, c)
        return t[f"{c['name']}.latents"], t[f"{c['name']}.image"], info
    return P.run_case(pipes, c, L.REPO)


@torch.no_grad()
def quick_latents(family: str, pipes: dict, c: dict, **extra) -> torch.Tensor:
    """The case's latents through the plain pipeline call (for checks)."""
    pipe = pipes["pipe"]
    pipe.scheduler = P.make_scheduler(pipes["scheduler_config"], c)[0]
    kw = dict(num_inference_steps=c["steps"], guidance_scale=c["guidance_scale"], width=c["width"],
              height=c["height"], generator=torch.Generator("cpu").manual_seed(c["seed"]), output_type="latent")
    if family == "sdxl":
        kw.update(S.prompt_kwargs(c), **S.time_kwargs(c, False))
    else:
        kw.update(prompt=c["prompt"], negative_prompt=c["negative_prompt"])
    kw.update(extra)
    return pipe(**kw).images


def build_generations(family: str, pipes: dict, snap: dict, nets_by_file: dict, tensors: dict) -> tuple:
    pipe = pipes["pipe"]
    cases = generation_cases(family)
    infos = {}
    results = {}
    for c in cases:
        name = c["name"]
        info = {}
        if c["loaded_then_unloaded"]:
            # diffusers' own unloading, no weights put back by hand: the base again, bit for bit
            load_loras(pipe, family, c["loaded_then_unloaded"], nets_by_file)
            pipe.unload_lora_weights()
            restore_and_check(pipe, family, snap, f"{family}/{name}")
        tokens = load_embeddings(pipe, family, c["embeddings"]) if c["embeddings"] else []
        if tokens:
            for which, text in (("prompt", c["prompt"]), ("negative_prompt", c["negative_prompt"] or "")):
                info[which + "_ids"] = token_ids(pipe, family, text)
        if c["lora_application"] == "diffusers_peft":
            load_loras(pipe, family, c["loras"], nets_by_file)
        elif c["lora_application"] == "merged":
            pairs = [(nets_by_file[Path(x["file"]).stem], x) for x in c["loras"]]
            apply_merged(pipe, family, own_merged(pipe, family, pairs))
        lat, img, run_info = run(family, pipes, c)
        info.update(run_info)
        with torch.no_grad():
            for k, v in prompt_embeds(pipe, family, c).items():
                if k.startswith("negative") and not any(x["token"] in (c["negative_prompt"] or "")
                                                        for x in c["embeddings"]):
                    continue
                tensors[f"{name}.{k}"] = v.float().contiguous()
        if name == "lora_kohya_0.7" and family == "sd1":
            # cross_attention_kwargs={"scale": s} (the LoRA at weight 1) is the same as set_adapters(s)
            pipe.set_adapters([c["loras"][0]["adapter"]], adapter_weights=[1.0])
            alt = quick_latents(family, pipes, c, cross_attention_kwargs={"scale": 0.7})
            # diffusers keeps the last call's LoRA scale in pipe._lora_scale, and load_lora_weights
            # scales a text encoder LoRA loaded later by it: reset it
            pipe._lora_scale = 1.0
            info["cross_attention_kwargs_scale_latent_absdiff"] = float((alt - lat).abs().max())
            assert info["cross_attention_kwargs_scale_latent_absdiff"] < 1e-4, info
        if name == "lora_peft":
            # how far fusing (what a merging implementation does) moves the result
            pipe.fuse_lora(components=list(COMPONENTS[family]), lora_scale=1.0)
            fused = quick_latents(family, pipes, c)
            info["fused_vs_unfused_latent_absdiff"] = float((fused - lat).abs().max())
            pipe.unfuse_lora(components=list(COMPONENTS[family]))
        if c["lora_application"] == "diffusers_peft":
            pipe.unload_lora_weights()
        if tokens:
            unload_embeddings(pipe, family, tokens)
        if c["lora_application"] is not None:  # merged / fused+unfused: put the exact base weights back
            for comp, model in components_of(pipe, family).items():
                model.load_state_dict(snap[comp])
        restore_and_check(pipe, family, snap, f"{family}/{name}")
        tensors[f"{name}.latents"] = lat
        tensors[f"{name}.image"] = img
        results[name] = (lat, img)
        infos[name] = info
        if c["equal_to"]:
            a, b = results[c["equal_to"]]
            if not (torch.equal(a, lat) and torch.equal(b, img)):
                raise AssertionError(f"{family}/{name}: differs from {c['equal_to']}")
        diff = (img - results["base"][1]).abs().mean().item() if name != "base" else 0.0
        info["image_mean_absdiff_vs_base"] = diff
        if c["loras"] or c["embeddings"]:
            if diff < 3.0:
                raise AssertionError(f"{family}/{name}: barely changes the image ({diff:.2f})")
        print(f"  {family}/{name:24s} lat |max| {lat.abs().max():6.3f} std {lat.std():6.3f} "
              f"img mean {img.mean():5.1f} sat {float(((img == 0) | (img == 255)).float().mean()):4.2f} "
              f"|img - base| {diff:5.1f}  1e-6 pert: img max {info['perturbed_1e-6_image_maxdiff']}")
    return cases, infos


# --------------------------------------------------------------------------
# How diffusers treats the files it cannot (or must not) load


def probe(pipe, family: str, snap: dict, path: str) -> str:
    """What pipe.load_lora_weights does with the file: the exception it
    raises, or how many LoRA layers it injected (then unloaded again)."""
    import diffusers.utils.logging as dlog
    dlog.set_verbosity(dlog.CRITICAL)  # diffusers logs the failures it raises
    try:
        load_lora_file(pipe, path, "probe")
    except Exception as exc:  # noqa: BLE001 - recording what diffusers does
        import re
        msg = " ".join(str(exc).split()).replace(str(L.REPO) + "/", "")
        # python sets print in hash order: sort them so the file is deterministic
        msg = re.sub(r"\{('[^{}]*')\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", msg)
        result = f"raises {type(exc).__name__}: {msg[:240]}"
    else:
        n = sum(len(peft_layers(m)) for m in components_of(pipe, family).values())
        result = f"loads without error, {n} LoRA layers injected"
    finally:
        dlog.set_verbosity(dlog.ERROR)
    if any(peft_layers(m) for m in components_of(pipe, family).values()):
        pipe.unload_lora_weights()
    for c, model in components_of(pipe, family).items():
        model.load_state_dict(snap[c])
    restore_and_check(pipe, family, snap, f"probe {path}")
    return result


def bad_inputs(family: str, pipe, snap: dict) -> list[dict]:
    if family == "sd1":
        probes = [("sdxl_lora_kohya", "wrong model: an SDXL LoRA (lora_te1_/lora_te2_, SGM UNet names, "
                                      "other widths) on SD 1.x: must be refused"),
                  ("sd1_lora_nomatch", "no key matches a module of tiny-sd1: must be refused (or at least "
                                       "reported), not silently ignored"),
                  ("sd1_lora_truncated", "truncated safetensors file (the header is whole, the tensor data is cut in half): must be refused"),
                  ("sd1_lora_kohya_ldm", "kohya names with LDM UNet names on SD 1.x: A1111 loads it (same "
                                         "weights as sd1_lora_kohya); the reference merges are merge "
                                         "case kohya_ldm_0.7"),
                  ("sd1_loha", "LyCORIS LoHa: diffusers has no loader; the references merge it by formula"),
                  ("sd1_lokr", "LyCORIS LoKr: diffusers has no loader; the references merge it by formula")]
    elif family == "sdxl":
        probes = [("sd1_lora_kohya", "wrong model: an SD 1.x LoRA on SDXL: must be refused")]
    else:
        probes = []
    out = []
    for name, what in probes:
        path = f"{LORA_DIR}/{name}.safetensors"
        result = probe(pipe, family, snap, path)
        out.append({"file": path, "model": MODEL[family], "expect": what, "diffusers": result})
        print(f"  probe {MODEL[family]} <- {name}: {result[:150]}")
    return out


# --------------------------------------------------------------------------
# main

NOTES = (
    "See tools/make_lora_fixtures.py's docstring. Generation cases: diffusers' float32 pipeline, "
    "torch.Generator('cpu').manual_seed(seed), Euler, the model's scheduler json; LoRA cases with "
    "lora_application 'diffusers_peft' run diffusers' unfused PEFT layers (W x + s * scaling * B(A x)), "
    "'merged' ones run the plain pipeline on W + s * delta (LoHa / LoKr, by this tool's formula). "
    "Per-LoRA scales per component: <component>_scale. Merges: base + s * delta in float32 as fuse_lora "
    "computes it (or this tool's float64 formula for LoHa / LoKr / the LDM-named file), key per target."
)


def family_pipes(fixtures: Path, family: str) -> dict:
    return sdxl_factory(fixtures)() if family == "sdxl" else sd_factory(fixtures, family)()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=L.REPO / "tests" / "fixtures")
    parser.add_argument("--only", action="append", choices=FAMILIES,
                        help="references for these families only (the LoRA files are always all written)")
    args = parser.parse_args()
    fixtures = args.out
    import diffusers
    import peft
    assert diffusers.__version__ == DIFFUSERS_VERSION, diffusers.__version__
    assert peft.__version__ == PEFT_VERSION, peft.__version__

    print("== networks")
    pipes = {f: family_pipes(fixtures, f) for f in FAMILIES}
    snaps = {f: snapshot(pipes[f]["pipe"], f) for f in FAMILIES}
    nets = {}
    for (family, kind), seed in NET_SEEDS.items():
        nets[(family, kind)] = build_network(family, kind, components_of(pipes[family]["pipe"], family), seed)
    unet_configs = {f: dict(pipes[f]["pipe"].unet.config) for f in FAMILIES}
    files = write_networks(fixtures, nets, unet_configs)
    nets_by_file = {name: nets[(FILES[name][0], FILES[name][1])] for name in FILES}
    write_bad_files(fixtures)
    widths = {"sd1": pipes["sd1"]["pipe"].text_encoder.config.hidden_size,
              "sdxl_l": pipes["sdxl"]["pipe"].text_encoder.config.hidden_size,
              "sdxl_g": pipes["sdxl"]["pipe"].text_encoder_2.config.hidden_size}
    embeddings = write_embeddings(fixtures, widths)
    for name, i in files.items():
        print(f"  {i['path']:48s} {i['format']:9s} {i['dtype']:8s} {i['modules']:4d} modules "
              f"{i['tensors']:4d} tensors {L.human(i['bytes'])}")
    for name, i in embeddings.items():
        print(f"  {i['path']:48s} {i['tensors']}")

    for family in args.only or FAMILIES:
        print(f"== {family}")
        p = pipes[family]
        pipe, snap = p["pipe"], snaps[family]
        tensors = {}
        bad_info = bad_inputs(family, pipe, snap)
        merges = build_merges(family, pipe, snap, nets_by_file, tensors)
        cases, infos = build_generations(family, p, snap, nets_by_file, tensors)
        path = fixtures / "reference" / f"lora_{family}.safetensors"
        mine = {k: v for k, v in files.items() if FILES[k][0] == family}
        L.save_safetensors(tensors, path, {
            "cases": json.dumps(cases, ensure_ascii=False),
            "merges": json.dumps(merges),
            "files": json.dumps(mine, sort_keys=True),
            "embeddings": json.dumps({k: v for k, v in embeddings.items() if k.startswith(family)},
                                     sort_keys=True),
            "bad_inputs": json.dumps(bad_info),
            "diffusers": json.dumps(infos, sort_keys=True),
            "notes": NOTES, "diffusers_version": diffusers.__version__, "peft_version": peft.__version__,
        })
        print(f"  wrote {path.relative_to(fixtures.parent.parent) if fixtures.is_absolute() else path} "
              f"({L.human(path.stat().st_size)}, {len(tensors)} tensors)")
    written = [fixtures / "lora"] + [fixtures / "reference" / f"lora_{f}.safetensors" for f in FAMILIES]
    print(f"total of the LoRA fixtures: {L.human(sum(L.dir_size(p) for p in written if p.exists()))}")


if __name__ == "__main__":
    main()
