"""The OpenVINO anchor of bench/bench_anchors.py: one measurement per process,
run with the OpenVINO venv's Python (tools/venv_anchors.sh openvino).

Usage:
    .venv-openvino/bin/python bench/bench_openvino.py --part export|unet|vae|generate \\
        --model DIFFUSERS_FOLDER --variant f32|int8|bf16 --export-dir DIR \\
        [--threads T] [--size 512] [--repeat R] [--steps N] [--cfg X] [--seed S] \\
        [--prompt TEXT] [--out PNG]

export    optimum-intel's OVStableDiffusionPipeline.from_pretrained(MODEL,
          export=True, compile=False) and save_pretrained(DIR), once (a DIR
          with model_index.json is reused). f32: load_in_8bit=False (the IR
          keeps its weights as f16, upcast at compile, optimum's default);
          int8: quantization_config=OVWeightQuantizationConfig(bits=8), NNCF's
          int8 weight compression of every component (activations stay
          f32); bf16 uses the f32 export.
unet      a CFG step: the exported UNet reshaped to a static batch 2,
          latents [2,4,S/8,S/8], timestep 500, context [2,77,dim], compiled
          on CPU; one warm-up, then R timed runs.
vae       one decode: the exported VAE decoder reshaped to [1,4,S/8,S/8].
generate  the whole pipeline, reshaped static (batch 1, S x S; the UNet gets
          batch 2 for CFG) and compiled, EulerDiscreteScheduler from the
          model's scheduler config (as diffuse's --sampler euler), one call
          with N steps, generator = torch.Generator("cpu").manual_seed(S).

Every compile gets INFERENCE_NUM_THREADS = T, PERFORMANCE_HINT = LATENCY and
INFERENCE_PRECISION_HINT = f32 (bf16 for --variant bf16: OpenVINO's CPU
default on CPUs with AVX512_BF16 or AMX, so f32 must be asked for to be f32).
The threads are checked, not assumed: the JSON gives the compiled model's
INFERENCE_NUM_THREADS and the process CPU time over wall time of the timed
runs ("cpu_per_wall", at most T when honoured).

Prints one JSON object on stdout (seconds, peak RSS = VmHWM, versions).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import bench_text_encoder as BT  # noqa: E402  (vm_hwm_bytes)

TIMESTEP = 500
TOKENS = 77
SEED = 1234


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def type_name(t) -> str:
    return t.to_string() if hasattr(t, "to_string") else str(t)


def ov_config(args) -> dict:
    return {"INFERENCE_NUM_THREADS": str(args.threads), "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "bf16" if args.variant == "bf16" else "f32", "CACHE_DIR": ""}


def export_folder(args) -> Path:
    return Path(args.export_dir)


def export(args) -> dict:
    out = export_folder(args)
    if (out / "model_index.json").exists():
        return {"exported": False, "export_dir": str(out)}
    import torch

    torch.set_num_threads(args.threads)
    from optimum.intel import OVStableDiffusionPipeline, OVWeightQuantizationConfig

    kwargs = {"load_in_8bit": False}
    if args.variant == "int8":
        kwargs = {"quantization_config": OVWeightQuantizationConfig(bits=8)}
    t0 = time.perf_counter()
    pipe = OVStableDiffusionPipeline.from_pretrained(args.model, export=True, compile=False, **kwargs)
    tmp = out.with_name(out.name + ".partial")
    pipe.save_pretrained(tmp)
    tmp.rename(out)
    return {"exported": True, "export_dir": str(out), "export_seconds": time.perf_counter() - t0}


def static_shapes(model, component: str, size: int) -> dict:
    """Static input shapes for the UNet (CFG batch 2) or the VAE decoder (batch 1)."""
    h = size // 8
    batch = 2 if component == "unet" else 1
    shapes = {}
    for inp in model.inputs:
        ps = inp.get_partial_shape()
        rank = ps.rank.get_length()
        if rank == 4:
            channels = ps[1].get_length() if ps[1].is_static else 4
            shapes[inp.get_any_name()] = [batch, channels, h, h]
        elif rank == 3:
            dim = ps[2].get_length()
            shapes[inp.get_any_name()] = [batch, TOKENS, dim]
        elif rank == 1:  # the timestep: one, broadcast (as optimum's own reshape)
            shapes[inp.get_any_name()] = [1]
        elif rank == 0:
            shapes[inp.get_any_name()] = []
        else:
            raise SystemExit(f"{component}: unexpected input {inp.get_any_name()} of rank {rank}")
    return shapes


def time_component(args, component: str) -> dict:
    import numpy as np
    import openvino as ov

    baseline_rss = BT.vm_hwm_bytes()
    sub = {"unet": "unet", "vae": "vae_decoder"}[component]
    xml = export_folder(args) / sub / "openvino_model.xml"
    t0 = time.perf_counter()
    core = ov.Core()
    model = core.read_model(xml)
    shapes = static_shapes(model, component, args.size)
    model.reshape(shapes)
    compiled = core.compile_model(model, "CPU", ov_config(args))
    load_seconds = time.perf_counter() - t0
    rng = np.random.default_rng(SEED)
    inputs = {}
    for inp in compiled.inputs:
        name = inp.get_any_name()
        dtype = inp.get_element_type().to_dtype()
        shape = shapes[name]
        if len(shape) <= 1:  # the timestep
            inputs[name] = np.full(shape, TIMESTEP, dtype=dtype)
        else:
            inputs[name] = rng.standard_normal(shape).astype(dtype)
    request = compiled.create_infer_request()
    request.infer(inputs)  # warm-up
    times = []
    cpu0 = cpu_seconds()
    for _ in range(args.repeat):
        start = time.perf_counter()
        request.infer(inputs)
        times.append(time.perf_counter() - start)
    cpu = cpu_seconds() - cpu0
    out = request.get_output_tensor(0)
    return {
        "side": f"openvino-{args.variant}", "component": component, "size": args.size,
        "input_shapes": shapes, "output_shape": list(out.shape), "load_seconds": load_seconds,
        "repeat": args.repeat, "seconds_mean": sum(times) / len(times), "seconds_best": min(times),
        "cpu_per_wall": cpu / sum(times), "threads_property": int(compiled.get_property("INFERENCE_NUM_THREADS")),
        "precision_property": type_name(compiled.get_property("INFERENCE_PRECISION_HINT")),
        "peak_rss_bytes": BT.vm_hwm_bytes(), "baseline_rss_bytes": baseline_rss, "openvino": ov.__version__,
    }


def generate(args) -> dict:
    import openvino as ov
    import torch

    torch.set_num_threads(args.threads)  # the scheduler's and latents' few torch ops
    from diffusers import EulerDiscreteScheduler
    from optimum.intel import OVStableDiffusionPipeline

    baseline_rss = BT.vm_hwm_bytes()
    t0 = time.perf_counter()
    pipe = OVStableDiffusionPipeline.from_pretrained(export_folder(args), compile=False, ov_config=ov_config(args))
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.reshape(batch_size=1, height=args.size, width=args.size, num_images_per_prompt=1)
    pipe.compile()
    pipe.set_progress_bar_config(disable=True)
    load_seconds = time.perf_counter() - t0
    unet_shapes = {i.get_any_name(): str(i.get_partial_shape()) for i in pipe.unet.request.inputs}
    threads = int(pipe.unet.request.get_property("INFERENCE_NUM_THREADS"))
    precision = type_name(pipe.unet.request.get_property("INFERENCE_PRECISION_HINT"))
    generator = torch.Generator("cpu").manual_seed(args.seed)
    cpu0 = cpu_seconds()
    start = time.perf_counter()
    image = pipe(prompt=args.prompt, negative_prompt=args.negative or None, num_inference_steps=args.steps,
                 guidance_scale=args.cfg, height=args.size, width=args.size, num_images_per_prompt=1,
                 generator=generator, output_type="pil").images[0]
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu0
    if args.out:
        image.save(args.out)
    import optimum.intel.version as oiv

    return {
        "side": f"openvino-{args.variant}", "component": "generate", "size": args.size, "steps": args.steps,
        "load_seconds": load_seconds, "generate_seconds": seconds, "cpu_per_wall": cpu / seconds,
        "threads_property": threads, "precision_property": precision, "unet_inputs": unet_shapes,
        "scheduler": type(pipe.scheduler).__name__, "peak_rss_bytes": BT.vm_hwm_bytes(),
        "baseline_rss_bytes": baseline_rss, "openvino": ov.__version__, "optimum_intel": oiv.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("export", "unet", "vae", "generate"), required=True)
    parser.add_argument("--model", required=True, help="the diffusers folder the export is made from")
    parser.add_argument("--variant", choices=("f32", "int8", "bf16"), default="f32")
    parser.add_argument("--export-dir", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=7.5)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--prompt", default=BT.DEFAULT_PROMPT)
    parser.add_argument("--negative", default="")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.part == "export":
        result = export(args)
    elif args.part == "generate":
        result = generate(args)
    else:
        result = time_component(args, args.part)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
