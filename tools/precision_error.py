#!/usr/bin/env python3
"""How far the faster arithmetic moves a model's output.

Runs `diffuse bench unet|vae --save-output` on the same deterministic input
with the reference setting (f32, direct convolutions: --no-winograd) and
with each other setting (f32 Winograd, bf16, int8), and reports the output
differences: max abs error, and relative to the output scale (max |ref|),
and the RMS error relative to the RMS of the reference.

    python3 tools/precision_error.py --model /tmp/diffuse-fullsize/sd15 \\
        [--component unet|vae|both] [--size 512] [--threads 2] [--binary build/diffuse]

With --images, whole generations instead (`diffuse generate`, same seeds,
20 steps): the 8-bit image differences of bf16 and int8 against f32, max
and mean over the seeds, and the share of values off by more than 10:

    python3 tools/precision_error.py --images --model tests/fixtures/tiny-sd1 \\
        --size 64 --seeds 1,2,3

Needs numpy, and Pillow for --images (the test venv has both).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

SETTINGS = [
    ("f32, direct conv (reference)", ["--no-winograd"]),
    ("f32, Winograd F(4x4,3x3)", []),
    ("bf16 (linear and conv)", ["--precision", "bf16"]),
    ("int8 (linear and conv)", ["--precision", "int8"]),
]


def run(binary, component, model, size, threads, extra, out_path):
    command = [binary, "bench", component, "-m", model, "--size", str(size), "-t", str(threads),
               "--repeat", "1", "--save-output", out_path] + extra
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return np.fromfile(out_path, dtype="<f4")


def image_errors(args):
    from PIL import Image

    print(f"model {args.model}, {args.size}x{args.size}, {args.steps} steps, seeds {args.seeds}; "
          "8-bit image difference against --precision f32")
    print()
    print("| precision | max | mean | values off by > 10 |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        images = {}
        for precision in ("f32", "bf16", "int8"):
            for seed in args.seeds.split(","):
                path = os.path.join(scratch, f"{precision}-{seed}.png")
                command = [args.binary, "generate", "-m", args.model, "-p", args.prompt,
                           "-W", str(args.size), "-H", str(args.size), "--steps", str(args.steps),
                           "--seed", seed, "-t", str(args.threads), "--precision", precision,
                           "-q", "-o", path]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
                images[precision, seed] = np.asarray(Image.open(path), dtype=np.int16)
        for precision in ("bf16", "int8"):
            diffs = np.concatenate([np.abs(images[precision, s] - images["f32", s]).ravel()
                                    for s in args.seeds.split(",")])
            print(f"| {precision} | {diffs.max()} | {diffs.mean():.2f} | "
                  f"{100 * np.mean(diffs > 10):.2f}% |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--component", choices=("unet", "vae", "both"), default="both")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--binary", default="build/diffuse")
    parser.add_argument("--images", action="store_true",
                        help="compare whole generations' images instead of one evaluation")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--prompt", default="a red circle on a blue background")
    args = parser.parse_args()
    if args.images:
        image_errors(args)
        return
    components = ["unet", "vae"] if args.component == "both" else [args.component]
    print(f"model {args.model}, {args.size}x{args.size}, {args.threads} threads; "
          "reference: f32 with direct convolutions")
    print()
    print("| component | setting | max abs error | / max abs ref | RMS error / RMS ref |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for component in components:
            reference = None
            for name, extra in SETTINGS:
                path = os.path.join(scratch, f"{component}.bin")
                out = run(args.binary, component, args.model, args.size, args.threads, extra,
                          path).astype(np.float64)
                if reference is None:
                    reference = out
                    scale = np.abs(reference).max()
                    rms = np.sqrt(np.mean(reference ** 2))
                    print(f"| {component} | {name}: max abs {scale:.4g}, RMS {rms:.4g} | | | |")
                    continue
                diff = np.abs(out - reference)
                print(f"| {component} | {name} | {diff.max():.3g} | {diff.max() / scale:.3g} | "
                      f"{np.sqrt(np.mean(diff ** 2)) / rms:.3g} |", flush=True)


if __name__ == "__main__":
    main()
