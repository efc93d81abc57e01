"""Applying a LoRA: diffuse against diffusers' load_lora_weights + fuse_lora,
on the full-size SD 1.5 weights, side by side in one run.

Usage:
    .venv-tools/bin/python bench/bench_lora.py [--model /tmp/diffuse-fullsize/sd15]
        [--rank 64] [--threads T] [--binary build/diffuse] [--markdown FILE]

The LoRA: a random kohya-named file of the given rank (f16, alpha = rank)
for every attention projection (to_q/k/v/out.0), feed-forward (ff.net.0.proj,
ff.net.2) and transformer proj_in/proj_out of the UNet and every q/k/v/out_proj
and fc1/fc2 of the text encoder, written next to the model once
(lora-sd15-r<rank>.safetensors): what a typical style LoRA touches.

diffuse: `BINARY generate -m MODEL --lora FILE --steps 1 -W 64 -H 64` in its
own process; its "applied N LoRA(s) in X s" line is the time to compute and
patch every touched weight (the whole generation is printed too). torch:
StableDiffusionPipeline from the folder in float32 (diffusers' CPU setting),
then load_lora_weights (reading and injecting the PEFT layers) and
fuse_lora (merging them into the weights), timed separately, in its own
process. Peak RSS of each process is reported (its VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import bench_text_encoder as BT  # noqa: E402  (run_child, vm_hwm_bytes)

UNET_TARGETS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_k",
                "attn2.to_v", "attn2.to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out")
TE_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


def make_lora(model: Path, rank: int, out: Path) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(64)
    tensors = {}
    for component, prefix, targets in (("unet", "lora_unet_", UNET_TARGETS),
                                       ("text_encoder", "lora_te_", TE_TARGETS)):
        folder = model / component
        path = next(p for p in folder.iterdir() if p.suffix == ".safetensors")
        with safe_open(path, "pt") as f:
            for key in f.keys():
                if not key.endswith(".weight"):
                    continue
                module = key[: -len(".weight")]
                if not module.endswith(targets):
                    continue
                shape = f.get_slice(key).get_shape()
                out_f, in_f = shape[0], shape[1]
                name = prefix + module.replace(".", "_")
                tensors[name + ".lora_down.weight"] = (torch.randn(rank, in_f, *shape[2:], generator=g)
                                                       * 0.01).half()
                tensors[name + ".lora_up.weight"] = (torch.randn(out_f, rank, *([1] * (len(shape) - 2)),
                                                                 generator=g) * 0.01).half()
                tensors[name + ".alpha"] = torch.tensor(float(rank)).half()
    save_file(tensors, str(out))


def torch_child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(args.model, torch_dtype=torch.float32, safety_checker=None,
                                                   requires_safety_checker=False, local_files_only=True)
    lora = Path(args.lora)
    start = time.perf_counter()
    pipe.load_lora_weights(str(lora.parent), weight_name=lora.name, adapter_name="bench")
    loaded = time.perf_counter()
    pipe.fuse_lora(lora_scale=1.0)
    fused = time.perf_counter()
    print(json.dumps({"load_seconds": loaded - start, "fuse_seconds": fused - loaded,
                      "peak_rss_bytes": BT.vm_hwm_bytes()}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="/tmp/diffuse-fullsize/sd15")
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--binary", default=str(REPO / "build" / "diffuse"))
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--torch-child", action="store_true")
    parser.add_argument("--lora")
    args = parser.parse_args()
    if args.torch_child:
        torch_child(args)
        return
    model = Path(args.model)
    lora = model.parent / f"lora-sd15-r{args.rank}.safetensors"
    if not lora.exists():
        make_lora(model, args.rank, lora)
    size_mb = lora.stat().st_size / 1e6

    start = time.perf_counter()
    run = subprocess.run(["/usr/bin/time", "-f", "rss_kb %M", args.binary, "generate", "-m", str(model),
                          "--lora", str(lora), "-p", "a lighthouse", "--steps", "1", "-W", "64", "-H", "64",
                          "-t", str(args.threads), "-o", "/tmp/bench_lora.png"],
                         capture_output=True, text=True)
    wall = time.perf_counter() - start
    if run.returncode:
        raise SystemExit(run.stderr)
    applied = float(re.search(r"applied \d+ LoRA\(s\) in ([0-9.]+) s", run.stderr).group(1))
    rss = int(re.search(r"rss_kb (\d+)", run.stderr).group(1)) / 1024
    t = BT.run_json_child([sys.executable, __file__, "--torch-child", "--model", str(model), "--lora", str(lora),
                           "--threads", str(args.threads)], "torch")
    print(f"LoRA {lora.name}: rank {args.rank}, {size_mb:.0f} MB; {args.threads} threads")
    print(f"  diffuse  apply {applied:.3f} s (whole 64x64 one-step run {wall:.1f} s), peak RSS {rss:.0f} MB")
    if t:
        print(f"  diffusers load_lora_weights {t['load_seconds']:.3f} s + fuse_lora {t['fuse_seconds']:.3f} s, "
              f"peak RSS {t['peak_rss_bytes'] / 2**20:.0f} MB")
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write(f"\n| LoRA apply, SD 1.5, rank {args.rank} ({size_mb:.0f} MB) | diffuse {applied:.3f} s | "
                    f"diffusers load {t['load_seconds']:.3f} s + fuse {t['fuse_seconds']:.3f} s |\n" if t else
                    f"\n| LoRA apply, SD 1.5, rank {args.rank} | diffuse {applied:.3f} s | diffusers: failed |\n")


if __name__ == "__main__":
    main()
