"""The stable-diffusion.cpp anchor of bench/bench_anchors.py: one whole
generation per process, run with the sd.cpp venv's Python
(tools/venv_anchors.sh sdcpp: stable-diffusion-cpp-python, built from source
for this CPU).

Usage:
    .venv-sdcpp/bin/python bench/bench_sdcpp.py --model FILE.safetensors \\
        [--threads T] [--size 512] [--steps N] [--cfg X] [--seed S] \\
        [--prompt TEXT] [--negative TEXT] [--taesd FILE] [--prediction eps] \\
        [--out PNG]

StableDiffusion(model_path=FILE, n_threads=T, vae_decode_only=True) loads the
original-layout single file (weights kept as stored: f16); one
generate_image(width=height=S, sample_steps=N, cfg_scale=X,
sample_method="euler", scheduler="discrete") call is timed. sd.cpp has no
API for a lone UNet or VAE call, so the component times come from the
generation: the mean step time (one step = the conditional and the
unconditional UNet evaluation, a CFG step) from its log's "sampling
completed, taking X s" over the steps (else the last value of its progress
callback, which reports the running mean since sampling began) and the
decode time its log prints ("decode_first_stage completed, taking X s"),
captured from the log callback. --taesd FILE decodes with TAESD (diffusers'
AutoencoderTiny safetensors, as madebyollin/taesd ships it).

Prints one JSON object on stdout: load and generate seconds, per-step
seconds, decode seconds, peak RSS (VmHWM), the package version.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import json
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import bench_text_encoder as BT  # noqa: E402  (vm_hwm_bytes, DEFAULT_PROMPT)

LOG_LINES: list[str] = []
# "decode_first_stage completed, taking 14.10s", "sampling completed, taking 120.5s", ...
TAKING = re.compile(r"([A-Za-z_ ]+?) completed, taking ([0-9.]+) ?(ms|s)")


def install_log_capture(verbose: bool) -> None:
    """Keeps sd.cpp's log lines (and echoes them to stderr when verbose)."""
    import stable_diffusion_cpp as sd

    @sd.sd_log_callback
    def callback(level, text, data):
        line = text.decode("utf-8", "replace")
        LOG_LINES.append(line)
        if verbose:
            sys.stderr.write(line)
            sys.stderr.flush()

    install_log_capture.keep = callback  # the C side holds only a pointer
    sd.sd_set_log_callback(callback, ctypes.c_void_p(0))


def completed_times() -> dict[str, float]:
    found: dict[str, float] = {}
    for line in LOG_LINES:
        for name, value, unit in TAKING.findall(line):
            found[name.strip()] = float(value) / (1000 if unit == "ms" else 1)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="original-layout single .safetensors file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=7.5)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--prompt", default=BT.DEFAULT_PROMPT)
    parser.add_argument("--negative", default="")
    parser.add_argument("--taesd", default="")
    parser.add_argument("--prediction", default="default", help="sd.cpp's prediction override (eps, v, ...)")
    parser.add_argument("--out")
    parser.add_argument("--verbose", action="store_true", help="echo sd.cpp's log to stderr")
    args = parser.parse_args()

    baseline_rss = BT.vm_hwm_bytes()
    from stable_diffusion_cpp import StableDiffusion

    steps: list[tuple[int, int, float]] = []
    t0 = time.perf_counter()
    model = StableDiffusion(model_path=args.model, taesd_path=args.taesd, n_threads=args.threads,
                            vae_decode_only=True, prediction=args.prediction, verbose=True)
    install_log_capture(args.verbose)  # after the constructor, which sets its own
    load_seconds = time.perf_counter() - t0
    loaded_rss = BT.vm_hwm_bytes()

    def progress(step, total, seconds):
        steps.append((int(step), int(total), float(seconds)))

    start = time.perf_counter()
    images = model.generate_image(prompt=args.prompt, negative_prompt=args.negative, width=args.size,
                                  height=args.size, cfg_scale=args.cfg, sample_method="euler",
                                  scheduler="discrete", sample_steps=args.steps, seed=args.seed,
                                  progress_callback=progress)
    generate_seconds = time.perf_counter() - start
    if args.out:
        images[0].save(args.out)
    times = completed_times()
    decode = times.get("decode_first_stage")
    sampling = next((v for k, v in times.items() if k.startswith("sampling")), None)
    # Progress reports of the sampling loop: (step, total = N, running mean
    # seconds per step since sampling began); step 0 is the start.
    sampled = [sec for step, total, sec in steps if total == args.steps and step > 0]
    step_mean = sampling / args.steps if sampling else (sampled[-1] if sampled else None)
    print(json.dumps({
        "side": "sdcpp", "component": "generate", "size": args.size, "steps": args.steps,
        "threads": args.threads, "load_seconds": load_seconds, "generate_seconds": generate_seconds,
        "step_mean_seconds": step_mean, "sampling_seconds": sampling, "decode_seconds": decode,
        "log_times": times, "peak_rss_bytes": BT.vm_hwm_bytes(), "baseline_rss_bytes": baseline_rss,
        "loaded_rss_bytes": loaded_rss,
        "stable_diffusion_cpp_python": importlib.metadata.version("stable-diffusion-cpp-python"),
        "log_tail": "".join(LOG_LINES)[-600:],
    }), flush=True)


if __name__ == "__main__":
    main()
