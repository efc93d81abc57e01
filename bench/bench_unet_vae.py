"""Benchmarks one UNet step and one VAE decode of diffuse against diffusers
(PyTorch, CPU) on the same weights, side by side in one run.

Usage:
    .venv-tools/bin/python bench/bench_unet_vae.py --model DIR_OR_FILE [--threads T]
        [--repeat R] [--size 256,512] [--binary build/diffuse] [--markdown FILE]
        [--components unet,vae] [--precision f32|bf16|int8]

For each size S and component:
  unet  a classifier-free-guidance step: batch 2, latents [2,4,S/f,S/f] (f = the
        VAE's spatial factor, 8 for real models), timestep 500, context [2,77,dim]
        (SDXL: and the added text_embeds and time_ids)
  vae   a decode of latents [1,4,S/f,S/f] to a [1,3,S,S] image
PyTorch: diffusers' UNet2DConditionModel / AutoencoderKL from the diffusers
folder, or from a single .safetensors file through diffusers' LDM converters
(config from the file's __metadata__["diffuse_config"] for our tiny fixtures,
else the released SD 1.5 / 2.1 configs), float32, torch.set_num_threads(T),
inference_mode; one warm-up run, then R timed runs. Each measurement runs in
its own child process, so its peak RSS (the child's VmHWM) is that side's alone.
diffuse: `BINARY bench unet -m MODEL --size S --batch 2 --threads T --repeat R --json`
and `BINARY bench vae -m MODEL --size S --threads T --repeat R --json`, each
printing one JSON object {"seconds_mean", "seconds_best", "peak_rss_bytes",
"load_seconds"}; --precision P adds `--precision P` to both (the torch side
stays float32, so the ratio shows what the reduced precision buys). A missing binary or subcommand is reported and the torch side
still runs.

Prints a table (seconds mean/best, peak RSS MB, torch/diffuse ratios) per
(component, size); --markdown appends one row per (component, size) to FILE.
Shares its child-process and table helpers with bench/bench_text_encoder.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "bench"))
import bench_text_encoder as BT  # noqa: E402  (run_child, last_json, vm_hwm_bytes, peak_rss, ratio, family_of)

TIMESTEP = 500
TOKENS = 77
SEED = 1234


# --------------------------------------------------------------------------
# PyTorch side (child process)


def single_file_configs(model: Path, family: str) -> dict:
    from safetensors import safe_open

    import sd_layout as L

    with safe_open(model, "pt") as f:
        meta = f.metadata() or {}
    if "diffuse_config" in meta:  # our tiny fixtures: dims not inferable from shapes
        return json.loads(meta["diffuse_config"])
    if family == "sd1":
        return {"unet": L.SD15_UNET, "vae": L.SD15_VAE}
    return {"unet": L.SD21_UNET, "vae": L.SD21_VAE}


def component_config(model: Path, component: str) -> dict:
    if model.is_dir():
        return json.loads((model / component / "config.json").read_text())
    return single_file_configs(model, BT.family_of(model))[component]


def load_torch_component(model: Path, component: str):
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    cls = UNet2DConditionModel if component == "unet" else AutoencoderKL
    if model.is_dir():
        return cls.from_pretrained(model / component, torch_dtype=torch.float32, local_files_only=True).eval()

    import sd_layout as L
    from diffusers.loaders import single_file_utils as sfu
    from safetensors import safe_open

    config = {k: v for k, v in component_config(model, component).items() if not k.startswith("_")}
    prefix = L.UNET_PREFIX if component == "unet" else L.VAE_PREFIX
    with safe_open(model, "pt") as f:
        checkpoint = {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    if component == "unet":
        state = sfu.convert_ldm_unet_checkpoint(checkpoint, config)
    else:
        state = sfu.convert_ldm_vae_checkpoint(checkpoint, config)
    del checkpoint
    net = cls.from_config(config)
    net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return net.eval()


def spatial_factor(model: Path) -> int:
    return 2 ** (len(component_config(model, "vae")["block_out_channels"]) - 1)


def torch_child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    import diffusers  # noqa: F401  (in the baseline, as the model needs it)

    baseline_rss = BT.vm_hwm_bytes()
    model = Path(args.model)
    size, component = args.size[0], args.components[0]
    factor = spatial_factor(model)
    if size % factor:
        raise SystemExit(f"size {size} is not a multiple of the VAE factor {factor}")
    t0 = time.perf_counter()
    net = load_torch_component(model, component)
    load_seconds = time.perf_counter() - t0
    g = torch.Generator().manual_seed(SEED)
    h = size // factor
    if component == "unet":
        batch = 2
        latents = torch.randn(batch, net.config.in_channels, h, h, generator=g)
        context = torch.randn(batch, TOKENS, net.config.cross_attention_dim, generator=g)
        t = torch.full((batch,), float(TIMESTEP))
        added = None
        if net.config.addition_embed_type == "text_time":
            # SDXL: a pooled embedding and size conditioning of the real
            # widths (6 time ids for the base, 5 for the refiner).
            time_dim = net.config.addition_time_embed_dim
            width = net.config.projection_class_embeddings_input_dim
            ids = 6 if width - 6 * time_dim > 0 else 5
            added = {"text_embeds": torch.randn(batch, width - ids * time_dim, generator=g),
                     "time_ids": torch.tensor([[size, size, 0, 0, size, size][:ids]] * batch,
                                              dtype=torch.float32)}

        def step():
            return net(latents, t, encoder_hidden_states=context, added_cond_kwargs=added).sample
    else:
        batch = 1
        latents = torch.randn(batch, net.config.latent_channels, h, h, generator=g)

        def step():
            return net.decode(latents).sample
    times = []
    with torch.inference_mode():
        out = step()  # warm-up
        for _ in range(args.repeat):
            start = time.perf_counter()
            out = step()
            times.append(time.perf_counter() - start)
    print(json.dumps({
        "side": "torch", "component": component, "size": size, "batch": batch, "latent": h,
        "output_shape": list(out.shape), "threads": torch.get_num_threads(), "load_seconds": load_seconds,
        "repeat": args.repeat, "seconds_mean": sum(times) / len(times), "seconds_best": min(times),
        "peak_rss_bytes": BT.vm_hwm_bytes(), "baseline_rss_bytes": baseline_rss, "torch": torch.__version__,
    }), flush=True)


# --------------------------------------------------------------------------
# Driver


def run_torch(args, component: str, size: int) -> dict | None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--torch-child", "--model", args.model,
           "--threads", str(args.threads), "--repeat", str(args.repeat), "--size", str(size),
           "--components", component]
    return BT.run_json_child(cmd, f"torch side for {component} at {size}")


def diffuse_command(args, component: str, size: int) -> list[str]:
    cmd = [args.binary, "bench", component, "-m", args.model, "--size", str(size)]
    if component == "unet":
        cmd += ["--batch", "2"]
    if getattr(args, "precision", "f32") != "f32":
        cmd += ["--precision", args.precision]
    # extra: flags a caller adds (bench_anchors.py: --precision bf16, ...)
    return cmd + ["--threads", str(args.threads), "--repeat", str(args.repeat), "--json"] + \
        list(getattr(args, "extra", None) or [])


_FAILED: dict[str, int] = {}  # component -> the size at which diffuse failed (not retried)


def run_diffuse(args, component: str, size: int) -> dict | None:
    binary = args.binary
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"diffuse side skipped: no executable {binary} (build it with `make build`)")
        return None
    if component in _FAILED:
        print(f"diffuse side skipped for {component} at {size}: it failed at size {_FAILED[component]}")
        return None
    cmd = diffuse_command(args, component, size)
    code, out, err, rss = BT.run_child(cmd)
    result = BT.last_json(out)
    if code != 0 or result is None:
        print(f"diffuse side failed (exit {code}); its `bench {component} --json` may not be implemented yet.\n"
              f"  command: {' '.join(cmd)}\n  stderr: {err.strip()[-2000:]}\n  stdout: {out.strip()[-500:]}")
        _FAILED[component] = size
        return None
    result["child_maxrss_bytes"] = rss
    return result


def fmt(r: dict | None, key: str, spec: str = ".3f") -> str:
    return format(r[key], spec) if r and key in r else "n/a"


def rss_mb(r: dict | None) -> str:
    return f"{BT.peak_rss(r) / 1e6:.0f}" if r else "n/a"


def print_table(args, rows: list[tuple[str, int, dict | None, dict | None]]) -> None:
    print(f"\nmodel {args.model}, {args.threads} thread(s), {args.repeat} timed run(s) after one warm-up, "
          f"diffuse precision {args.precision}; "
          f"unet = CFG step (batch 2, t={TIMESTEP}, context [2,{TOKENS},dim]), vae = decode (batch 1)")
    print(f"{'component':9} {'size':>5} {'side':8} {'mean s':>9} {'best s':>9} {'peak RSS MB':>12} {'load s':>7}")
    for component, size, t, d in rows:
        for name, r in (("torch", t), ("diffuse", d)):
            if r is None:
                print(f"{component:9} {size:5} {name:8} {'n/a':>9} {'n/a':>9} {'n/a':>12} {'n/a':>7}")
                continue
            print(f"{component:9} {size:5} {name:8} {r['seconds_mean']:9.3f} {r['seconds_best']:9.3f} "
                  f"{BT.peak_rss(r) / 1e6:12.0f} {r.get('load_seconds', 0):7.2f}")
        if t and d:
            print(f"{'':9} {'':5} {'t/d':8} {BT.ratio(t['seconds_mean'], d['seconds_mean']):>9} "
                  f"{BT.ratio(t['seconds_best'], d['seconds_best']):>9} "
                  f"{BT.ratio(BT.peak_rss(t), BT.peak_rss(d)):>12}")
    base = [t["baseline_rss_bytes"] for _, _, t, _ in rows if t and t.get("baseline_rss_bytes")]
    if base:
        print(f"(torch's RSS after importing torch + diffusers, before loading: {max(base) / 1e6:.0f} MB)")


MD_HEADER = ("| model | component | size | batch | threads | torch mean s | torch best s | diffuse mean s | "
             "diffuse best s | speed-up (mean) | torch RSS MB | diffuse RSS MB | RSS ratio |\n"
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")


def trailing_table_header(lines: list[str]) -> str | None:
    """The header row of the table the file ends in, if it ends in one."""
    i = len(lines)
    while i > 0 and lines[i - 1].lstrip().startswith("|"):
        i -= 1
    return lines[i].strip() if i < len(lines) else None


def append_markdown(path: Path, args, rows) -> None:
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()] if path.exists() else []
    with open(path, "a", encoding="utf-8") as f:
        # A header unless the file already ends in this table (bench/run.sh
        # writes a "## date" heading before each batch of rows, and the text
        # encoder bench writes a table of its own).
        if trailing_table_header(lines) != MD_HEADER.splitlines()[0]:
            if lines:
                f.write("\n")
            f.write(MD_HEADER)
        for component, size, t, d in rows:
            cells = [f"`{args.model}`", component, str(size), "2" if component == "unet" else "1",
                     str(args.threads), fmt(t, "seconds_mean", ".4f"), fmt(t, "seconds_best", ".4f"),
                     fmt(d, "seconds_mean", ".4f"), fmt(d, "seconds_best", ".4f"),
                     BT.ratio(t["seconds_mean"], d["seconds_mean"]) if t and d else "n/a",
                     rss_mb(t), rss_mb(d), BT.ratio(BT.peak_rss(t), BT.peak_rss(d)) if t and d else "n/a"]
            f.write("| " + " | ".join(cells) + " |\n")
    print(f"appended {len(rows)} row(s) to {path}")


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def name_list(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    for n in names:
        if n not in ("unet", "vae"):
            raise argparse.ArgumentTypeError(f"unknown component {n!r} (unet, vae)")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="diffusers folder or single .safetensors file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int_list, default=[256, 512], help="image sizes, comma-separated")
    parser.add_argument("--components", type=name_list, default=["unet", "vae"], help="unet,vae")
    parser.add_argument("--binary", default=str(REPO / "build" / "diffuse"))
    parser.add_argument("--markdown", type=Path, help="append markdown table rows to this file")
    parser.add_argument("--precision", choices=["f32", "bf16", "int8"], default="f32",
                        help="diffuse's linear/conv arithmetic (torch stays float32)")
    parser.add_argument("--skip-torch", action="store_true", help="run the diffuse side only")
    parser.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeat < 1 or args.threads < 1 or not args.size or min(args.size) < 8:
        parser.error("--repeat and --threads must be at least 1, sizes at least 8")
    if args.torch_child:
        torch_child(args)
        return
    if not os.path.exists(args.model):
        parser.error(f"no such model: {args.model}")
    rows = []
    for size in args.size:
        for component in args.components:
            t = None if args.skip_torch else run_torch(args, component, size)
            d = run_diffuse(args, component, size)
            rows.append((component, size, t, d))
            print(f"{component} {size}: torch {fmt(t, 'seconds_mean')} s, diffuse {fmt(d, 'seconds_mean')} s",
                  flush=True)
    print_table(args, rows)
    if args.markdown:
        append_markdown(args.markdown, args, rows)
    if all(t is None for _, _, t, _ in rows) and not args.skip_torch:
        sys.exit(1)


if __name__ == "__main__":
    main()
