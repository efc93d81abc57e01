"""End-to-end text-to-image benchmark: one whole generation with diffusers'
StableDiffusionPipeline (SDXL folders: StableDiffusionXLPipeline; PyTorch,
CPU, float32) and with `diffuse generate`,
on the same weights, side by side in one run.

Usage:
    .venv-tools/bin/python bench/bench_generate.py --model DIR_OR_FILE \\
        [--threads T] [--steps 20] [--size 512] [--cfg 7.5] [--seed S] \\
        [--prompt TEXT] [--negative TEXT] [--binary build/diffuse] \\
        [--markdown FILE] [--skip-torch] [--check] [--keep DIR] [--taesd DIR]

The request (both sides): txt2img, batch 1, SIZE x SIZE, STEPS Euler steps
(diffusers' EulerDiscreteScheduler.from_config(the model's scheduler config):
linspace spacing, as diffuse's `--sampler euler`), guidance CFG with an empty
negative prompt unless --negative, seed S in torch's CPU generator.

Each side runs in its own child process, so its peak RSS is its own
(os.wait4's ru_maxrss of that child, via bench_text_encoder.run_child):
  torch    this script re-run with --torch-child: torch.set_num_threads(T);
           loads vae / text_encoder / unet (diffusers folder: from_pretrained
           in float32; single file: diffusers' LDM converters, through the
           loaders of bench_text_encoder.py / bench_unet_vae.py), the
           tokenizer (the folder's tokenizer/, else sd_layout.make_tokenizer)
           and builds StableDiffusionPipeline(..., safety_checker=None) --
           timed as "load"; then one pipeline call, generator =
           torch.Generator("cpu").manual_seed(S) -- timed as "generate";
           writes the PNG; reports VmHWM.
  diffuse  BINARY generate -m MODEL -p PROMPT --steps N --sampler euler
           --cfg X --seed S --width SIZE --height SIZE -t T -o OUT.png
           (not -q: its summary line "generated 1 image(s) of WxH in X s" is
           parsed for "generate"; "load" is the process wall time minus it).
No warm-up run on either side: a generation is minutes long here. The parent
records the load average before and after each side (the machine is shared;
read the numbers with it).

Prints a table (load s, generate s, process wall s, peak RSS MB, torch/diffuse
ratios); --markdown appends a row to FILE (a table header first unless FILE
already ends in this table).

--taesd DIR: the torch side decodes with diffusers' AutoencoderTiny from DIR
instead of the model's VAE (bench_anchors.py's turbo row passes diffuse its
own --decoder taesd through its extra flags).

--check: the two PNGs are compared pixel by pixel. With random weights the
image is noise, but the same seed must give the same image on both sides
(diffuse reproduces diffusers' RNG, scheduler and rounding): prints the max
and mean absolute difference (0..255) and how many channel values differ by
more than 1, and exits 1 when the max difference exceeds --tolerance.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "bench"))
import bench_text_encoder as BT  # noqa: E402  (run_child, last_json, vm_hwm_bytes, peak_rss, ratio, family_of, ...)
import bench_unet_vae as BU  # noqa: E402  (load_torch_component, trailing_table_header)

SAMPLER = "euler"


# --------------------------------------------------------------------------
# PyTorch side (child process)


def load_tokenizer(model: Path, family: str):
    import sd_layout as L

    if model.is_dir() and (model / "tokenizer" / "vocab.json").exists():
        from transformers import CLIPTokenizer

        return CLIPTokenizer.from_pretrained(model / "tokenizer", local_files_only=True)
    pad = L.END_TOKEN if family == "sd1" else "!"
    return L.make_tokenizer(pad, Path(tempfile.mkdtemp(prefix="diffuse-bench-tok-")))


def scheduler_config(model: Path, family: str) -> dict:
    import sd_layout as L

    if model.is_dir():
        return json.loads((model / "scheduler" / "scheduler_config.json").read_text())
    return dict(L.SD15_SCHEDULER if family == "sd1" else L.SD21_SCHEDULER)


def sdxl_pipeline(model: Path, taesd: str | None):
    """An SDXL diffusers folder as StableDiffusionXLPipeline, float32, Euler
    from its own scheduler config (leading spacing, as diffuse reads it)."""
    import torch
    from diffusers import AutoencoderTiny, EulerDiscreteScheduler, StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(model, torch_dtype=torch.float32, local_files_only=True,
                                                     add_watermarker=False)
    if taesd:
        pipe.vae = AutoencoderTiny.from_pretrained(taesd, torch_dtype=torch.float32, local_files_only=True).eval()
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    return pipe


def torch_child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    import diffusers  # noqa: F401  (in the baseline, as the pipeline needs it)
    import transformers  # noqa: F401
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    baseline_rss = BT.vm_hwm_bytes()
    model = Path(args.model)
    t0 = time.perf_counter()
    if model.is_dir() and (model / "text_encoder_2").is_dir():
        pipe, family = sdxl_pipeline(model, args.taesd), "sdxl"
    else:
        family = BT.family_of(model)
        if args.taesd:  # TAESD as the decoder (the one-step turbo benchmark)
            from diffusers import AutoencoderTiny

            vae = AutoencoderTiny.from_pretrained(args.taesd, torch_dtype=torch.float32,
                                                  local_files_only=True).eval()
        else:
            vae = BU.load_torch_component(model, "vae")
        text_encoder = BT.load_torch_text_encoder(model, family)
        unet = BU.load_torch_component(model, "unet")
        tokenizer = load_tokenizer(model, family)
        scheduler = EulerDiscreteScheduler.from_config(scheduler_config(model, family))
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    load_seconds = time.perf_counter() - t0
    loaded_rss = BT.vm_hwm_bytes()

    generator = torch.Generator("cpu").manual_seed(args.seed)
    start = time.perf_counter()
    image = pipe(prompt=args.prompt, negative_prompt=args.negative or None, num_inference_steps=args.steps,
                 guidance_scale=args.cfg, height=args.size, width=args.size, num_images_per_prompt=1,
                 generator=generator, output_type="pil").images[0]
    generate_seconds = time.perf_counter() - start
    if args.out:
        image.save(args.out)
    print(json.dumps({
        "side": "torch", "family": family, "threads": torch.get_num_threads(), "load_seconds": load_seconds,
        "generate_seconds": generate_seconds, "peak_rss_bytes": BT.vm_hwm_bytes(),
        "baseline_rss_bytes": baseline_rss, "loaded_rss_bytes": loaded_rss,
        "scheduler": type(pipe.scheduler).__name__,
        "timestep_spacing": pipe.scheduler.config.get("timestep_spacing"),
        "torch": torch.__version__, "diffusers": diffusers.__version__,
    }), flush=True)


# --------------------------------------------------------------------------
# Driver


def load_avg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def run_torch(args, out_png: str) -> dict | None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--torch-child", "--model", args.model,
           "--threads", str(args.threads), "--steps", str(args.steps), "--size", str(args.size),
           "--cfg", repr(args.cfg), "--seed", str(args.seed), "--prompt", args.prompt,
           "--negative", args.negative, "--out", out_png]
    if getattr(args, "taesd", None):
        cmd += ["--taesd", str(args.taesd)]
    load_before = load_avg()
    start = time.perf_counter()
    code, out, err, rss = BT.run_child(cmd)
    wall = time.perf_counter() - start
    result = BT.last_json(out)
    if code != 0 or result is None:
        print(f"torch side failed (exit {code}):\n{err[-4000:]}")
        return None
    result.update(child_maxrss_bytes=rss, wall_seconds=wall, load_before=load_before, load_after=load_avg(),
                  png=out_png)
    return result


def diffuse_generate_available(binary: str) -> str | None:
    """None when BINARY has a working `generate`, else why not (a message)."""
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        return f"no executable {binary} (build it with `make build`)"
    try:
        p = subprocess.run([binary, "generate", "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{binary} generate --help failed: {e}"
    if p.returncode != 0 or "--sampler" not in p.stdout:
        text = (p.stderr or p.stdout).strip().splitlines()
        return (f"{binary} has no working `generate` command yet (exit {p.returncode}: "
                f"{text[0] if text else 'no output'}); rebuild with `make build` once src/cli/generate.c lands")
    return None


SUMMARY = re.compile(r"generated (\d+) image\(s\) of (\d+)x(\d+) in ([0-9.]+) s")


def run_diffuse(args, out_png: str) -> dict | None:
    why = diffuse_generate_available(args.binary)
    if why:
        print(f"diffuse side skipped: {why}")
        return None
    cmd = [args.binary, "generate", "-m", args.model, "-p", args.prompt, "--steps", str(args.steps),
           "--sampler", SAMPLER, "--cfg", repr(args.cfg), "--seed", str(args.seed), "--width", str(args.size),
           "--height", str(args.size), "-t", str(args.threads), "-o", out_png]
    if args.negative:
        cmd += ["--negative", args.negative]
    cmd += list(getattr(args, "extra", None) or [])  # bench_anchors.py: --precision, --decoder, ...
    load_before = load_avg()
    start = time.perf_counter()
    code, out, err, rss = BT.run_child(cmd)
    wall = time.perf_counter() - start
    if code != 0 or not os.path.exists(out_png):
        print(f"diffuse side failed (exit {code}).\n  command: {' '.join(cmd)}\n"
              f"  stderr: {err.strip()[-2000:]}\n  stdout: {out.strip()[-500:]}")
        return None
    m = SUMMARY.search(err)
    generate = float(m.group(4)) if m else None
    if m is None:
        print("note: diffuse printed no 'generated ... in X s' line; its generate time is its process wall time")
    return {"side": "diffuse", "generate_seconds": generate if generate is not None else wall,
            "load_seconds": wall - generate if generate is not None else None, "wall_seconds": wall,
            "child_maxrss_bytes": rss, "load_before": load_before, "load_after": load_avg(), "png": out_png}


def compare_images(a_png: str, b_png: str) -> dict:
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(a_png).convert("RGB"), dtype=np.int16)
    b = np.asarray(Image.open(b_png).convert("RGB"), dtype=np.int16)
    if a.shape != b.shape:
        return {"error": f"sizes differ: torch {a.shape}, diffuse {b.shape}"}
    d = np.abs(a - b)
    return {"max": int(d.max()), "mean": float(d.mean()), "over1": int((d > 1).sum()), "values": int(d.size),
            "equal": int((d == 0).sum()), "std": float(a.std())}


def fmt(r: dict | None, key: str, spec: str = ".2f") -> str:
    return format(r[key], spec) if r and r.get(key) is not None else "n/a"


def rss_mb(r: dict | None) -> str:
    return f"{BT.peak_rss(r) / 1e6:.0f}" if r else "n/a"


def print_table(args, t: dict | None, d: dict | None, cmp: dict | None) -> None:
    print(f"\nmodel {args.model}, {args.size}x{args.size}, {args.steps} {SAMPLER} steps, cfg {args.cfg}, "
          f"seed {args.seed}, batch 1, {args.threads} thread(s)")
    print(f"{'side':9} {'load s':>8} {'generate s':>11} {'wall s':>8} {'peak RSS MB':>12}   load avg before -> after")
    for name, r in (("torch", t), ("diffuse", d)):
        if r is None:
            print(f"{name:9} {'n/a':>8} {'n/a':>11} {'n/a':>8} {'n/a':>12}")
            continue
        print(f"{name:9} {fmt(r, 'load_seconds'):>8} {fmt(r, 'generate_seconds'):>11} {fmt(r, 'wall_seconds'):>8} "
              f"{rss_mb(r):>12}   {r['load_before']} -> {r['load_after']}")
    if t and d:
        print(f"{'t/d':9} {BT.ratio(t['load_seconds'], d.get('load_seconds') or 0):>8} "
              f"{BT.ratio(t['generate_seconds'], d['generate_seconds']):>11} "
              f"{BT.ratio(t['wall_seconds'], d['wall_seconds']):>8} "
              f"{BT.ratio(BT.peak_rss(t), BT.peak_rss(d)):>12}")
    if t:
        print(f"(torch: {t['scheduler']}, timestep_spacing {t['timestep_spacing']}; RSS after importing torch + "
              f"diffusers {t['baseline_rss_bytes'] / 1e6:.0f} MB, after loading {t['loaded_rss_bytes'] / 1e6:.0f} MB; "
              f"wall includes Python start-up and imports)")
    if d:
        print("(diffuse: generate = its own 'generated ... in X s'; load = wall - generate, i.e. opening the "
              "model: weights are mapped and read on first use, inside generate)")
    if cmp:
        if "error" in cmp:
            print(f"check: {cmp['error']}")
        else:
            print(f"check: max abs pixel difference {cmp['max']} (0..255), mean {cmp['mean']:.4f}, "
                  f"{cmp['over1']} of {cmp['values']} channel values differ by more than 1, "
                  f"{cmp['equal']} identical (image std {cmp['std']:.1f})")


MD_HEADER = ("| date | model | size | steps | threads | torch load s | torch generate s | diffuse load s | "
             "diffuse generate s | speed-up (generate) | torch RSS MB | diffuse RSS MB | RSS ratio | "
             "max px diff | load avg |\n"
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")


def append_markdown(path: Path, args, t: dict | None, d: dict | None, cmp: dict | None) -> None:
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()] if path.exists() else []
    loads = [r["load_before"].split("/")[0] for r in (t, d) if r] + [r["load_after"].split("/")[0] for r in (t, d) if r]
    cells = [datetime.date.today().isoformat(), f"`{args.model}`", str(args.size), f"{args.steps} {SAMPLER}",
             str(args.threads), fmt(t, "load_seconds"), fmt(t, "generate_seconds"), fmt(d, "load_seconds"),
             fmt(d, "generate_seconds"),
             BT.ratio(t["generate_seconds"], d["generate_seconds"]) if t and d else "n/a",
             rss_mb(t), rss_mb(d), BT.ratio(BT.peak_rss(t), BT.peak_rss(d)) if t and d else "n/a",
             str(cmp["max"]) if cmp and "max" in cmp else "n/a",
             f"{min(loads)}-{max(loads)}" if loads else "n/a"]
    with open(path, "a", encoding="utf-8") as f:
        if BU.trailing_table_header(lines) != MD_HEADER.splitlines()[0]:
            if lines:
                f.write("\n")
            f.write(MD_HEADER)
        f.write("| " + " | ".join(cells) + " |\n")
    print(f"appended a row to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="diffusers folder or single .safetensors file")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads on both sides (default: the CPUs this process may use)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=512, help="width = height (a multiple of 64)")
    parser.add_argument("--cfg", type=float, default=7.5)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--prompt", default=BT.DEFAULT_PROMPT)
    parser.add_argument("--negative", default="")
    parser.add_argument("--binary", default=str(REPO / "build" / "diffuse"))
    parser.add_argument("--markdown", type=Path, help="append a markdown table row to this file")
    parser.add_argument("--skip-torch", action="store_true", help="run the diffuse side only")
    parser.add_argument("--check", action="store_true", help="compare the two images pixel by pixel")
    parser.add_argument("--tolerance", type=int, default=1,
                        help="--check fails above this max pixel difference (default: 1)")
    parser.add_argument("--keep", type=Path, help="write the images to this folder (default: a temporary one)")
    parser.add_argument("--taesd", help="torch side: decode with this AutoencoderTiny folder instead of the VAE")
    parser.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_child:
        torch_child(args)
        return
    if args.threads < 1 or args.steps < 1 or args.size < 64 or args.size % 64:
        parser.error("--threads and --steps must be at least 1, --size a multiple of 64")
    if not os.path.exists(args.model):
        parser.error(f"no such model: {args.model}")
    if args.check and args.skip_torch:
        parser.error("--check needs the torch side (drop --skip-torch)")

    with tempfile.TemporaryDirectory(prefix="diffuse-bench-gen-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{Path(args.model).stem}-{args.size}-{args.steps}-seed{args.seed}"
        print(f"load average at start: {load_avg()}", flush=True)
        t = None
        if not args.skip_torch:
            t = run_torch(args, str(folder / f"{stem}-torch.png"))
            print(f"torch: load {fmt(t, 'load_seconds')} s, generate {fmt(t, 'generate_seconds')} s", flush=True)
        d = run_diffuse(args, str(folder / f"{stem}-diffuse.png"))
        print(f"diffuse: generate {fmt(d, 'generate_seconds')} s, wall {fmt(d, 'wall_seconds')} s", flush=True)
        cmp = compare_images(t["png"], d["png"]) if args.check and t and d else None
        print_table(args, t, d, cmp)
        if args.keep:
            print(f"images in {folder}")
    if args.markdown:
        append_markdown(args.markdown, args, t, d, cmp)
    status = 0
    if not args.skip_torch and t is None:
        status = 1
    if args.check:
        if cmp is None:
            print("check: not done (a side did not produce its image)")
            status = 1
        elif "error" in cmp or cmp["max"] > args.tolerance:
            print(f"check FAILED: max difference above --tolerance {args.tolerance}")
            status = 1
        else:
            print(f"check passed (max difference <= {args.tolerance})")
    sys.exit(status)


if __name__ == "__main__":
    main()
