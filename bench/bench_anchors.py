"""diffuse next to every anchor in one run: diffusers (PyTorch), OpenVINO
(optimum-intel; f32 and int8-weight exports, static shapes) and
stable-diffusion.cpp, on the same full-size weights, with the same thread
count, on the same machine. bench/run.sh runs it (`make bench`).

Usage:
    .venv-tools/bin/python bench/bench_anchors.py [--dir /tmp/diffuse-fullsize] \\
        [--anchors diffuse,torch,openvino,sdcpp] [--precisions f32,bf16,int8] \\
        [--parts unet,vae,generate,turbo] [--threads T] [--size 512] [--steps 20] \\
        [--sdcpp-steps N] [--repeat R] [--binary build/diffuse] [--markdown FILE] [--keep DIR]

Parts (SD 1.5 shapes from DIR/sd15 unless said):
  unet      one CFG UNet step (batch 2, t=500) at SIZE: diffuse `bench unet`,
            diffusers (bench_unet_vae.py's child), OpenVINO's exported UNet
            reshaped static; sd.cpp: the mean step time of its generation.
  vae       one VAE decode at SIZE: likewise; sd.cpp: the decode time of its
            generation log.
  generate  a whole STEPS-step Euler generation at SIZE with CFG 7.5 (text
            encoding, sampling, VAE decode): diffuse `generate`, diffusers'
            StableDiffusionPipeline (bench_generate.py's child), OpenVINO's
            OVStableDiffusionPipeline (static batch 1), sd.cpp on
            DIR/sd15.safetensors (f16, original layout). The images of the
            other sides are compared with diffusers' (max pixel difference).
  turbo     a 1-step generation at 512 without guidance from DIR/sd-turbo (SD
            2.1-shaped, epsilon, Euler trailing) decoded by TAESD (DIR/taesd):
            diffuse `generate --decoder taesd --taesd DIR/taesd --steps 1
            --cfg 0 --spacing trailing`, diffusers with vae=AutoencoderTiny,
            sd.cpp with taesd_path (when DIR/sd-turbo.safetensors exists).
Anchors: diffuse (f32, and each of --precisions the binary offers:
`--precision` in its help, else the row says skipped), torch, openvino
(= openvino-f32: f32 precision hint, and openvino-int8: int8 weights, f32
activations), openvino-bf16 (bf16 precision hint; opt-in), sdcpp. Every side runs in
its own child process, so each peak RSS (the child's VmHWM, else wait4's
ru_maxrss) is that side's alone. OpenVINO exports are made once and cached in
DIR/openvino-sd15-f32 and DIR/openvino-sd15-int8. A side that is not
available (no venv, no binary flag) is reported as skipped with the reason;
the others still run.

Prints a table (seconds, anchor/diffuse ratio: above 1 = diffuse is faster,
peak RSS, notes) and appends it to --markdown under a heading with the CPU
model, its flags, the threads and the load average.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "bench"))
import bench_generate as BG  # noqa: E402  (run_torch, run_diffuse, compare_images, load_avg)
import bench_text_encoder as BT  # noqa: E402  (run_child, last_json, peak_rss, DEFAULT_PROMPT)
import bench_unet_vae as BU  # noqa: E402  (run_torch, run_diffuse)

# "openvino" = its f32 and int8-weight exports (openvino-f32, openvino-int8)
ALL_ANCHORS = ("diffuse", "torch", "openvino", "openvino-f32", "openvino-int8", "openvino-bf16", "sdcpp")
DEFAULT_ANCHORS = ("diffuse", "torch", "openvino", "sdcpp")
PARTS = ("unet", "vae", "generate", "turbo")
CFG = 7.5
SEED = 1234
OV_VARIANT = {"openvino-f32": "f32", "openvino-int8": "int8", "openvino-bf16": "bf16"}


class Row(SimpleNamespace):
    """part, engine, seconds (None: skipped/failed), rss (bytes), note."""


def engine_name(anchor: str, info: dict) -> str:
    if anchor == "torch":
        return f"diffusers / PyTorch {info.get('torch', '')} f32".replace("  ", " ")
    if anchor.startswith("openvino"):
        v = OV_VARIANT[anchor]
        what = {"f32": "f32", "int8": "int8 weights", "bf16": "bf16 hint"}[v]
        version = info.get("openvino", "").split("-")[0]  # 2026.4.1-22982-e213a14-releases/... -> 2026.4.1
        return f"OpenVINO {version} {what}".replace("  ", " ")
    if anchor == "sdcpp":
        return f"stable-diffusion.cpp (python {info.get('stable_diffusion_cpp_python', '')}, f16)"
    return anchor


# --------------------------------------------------------------------------
# Availability


def help_text(binary: str, *command: str) -> str:
    try:
        p = subprocess.run([binary, *command, "--help"], capture_output=True, text=True, timeout=60)
        return p.stdout + p.stderr
    except (OSError, subprocess.TimeoutExpired):
        return ""


def venv_python(args, anchor: str) -> str | None:
    venv = args.openvino_venv if anchor.startswith("openvino") else args.sdcpp_venv
    py = Path(venv) / "bin" / "python"
    return str(py) if py.exists() else None


def venv_missing(args, anchor: str) -> str:
    part = "openvino" if anchor.startswith("openvino") else "sdcpp"
    return f"no venv {args.openvino_venv if part == 'openvino' else args.sdcpp_venv} (bash tools/venv_anchors.sh {part})"


def diffuse_variants(args, command_help: str) -> list[tuple[str, list[str], str | None]]:
    """(label, extra flags, why skipped) for diffuse f32 and each precision
    asked, for the diffuse command whose --help is command_help."""
    out = []
    for p in args.precisions:
        if not command_help:
            out.append(("diffuse" if p == "f32" else f"diffuse {p}", [], f"no working {args.binary} (make build)"))
        elif p == "f32":
            out.append(("diffuse", [], None))
        else:
            why = None if "--precision" in command_help else f"{args.binary} has no --precision flag yet"
            out.append((f"diffuse {p}", ["--precision", p], why))
    return out


# --------------------------------------------------------------------------
# Sides


def ov_child(args, anchor: str, part: str, model: Path, out_png: str | None = None) -> dict | None:
    py = venv_python(args, anchor)
    variant = OV_VARIANT[anchor]
    export_dir = args.dir / f"openvino-{model.name}-{'int8' if variant == 'int8' else 'f32'}"
    base = [py, str(REPO / "bench" / "bench_openvino.py"), "--model", str(model), "--variant", variant,
            "--export-dir", str(export_dir), "--threads", str(args.threads)]
    if not export_dir.joinpath("model_index.json").exists():
        print(f"  exporting {model} with optimum-intel ({variant}) into {export_dir} ...", flush=True)
        code, out, err, rss = BT.run_child(base + ["--part", "export"])
        r = BT.last_json(out)
        if code != 0 or r is None:
            print(f"  OpenVINO export failed (exit {code}):\n{err[-3000:]}")
            return None
        print(f"  exported in {r.get('export_seconds', 0):.0f} s (peak RSS {rss / 1e9:.1f} GB), "
              f"{dir_size(export_dir) / 1e9:.2f} GB on disk", flush=True)
    cmd = base + ["--part", part, "--size", str(args.size), "--repeat", str(args.repeat), "--steps",
                  str(args.steps), "--cfg", repr(CFG), "--seed", str(SEED), "--prompt", args.prompt]
    if out_png:
        cmd += ["--out", out_png]
    return BT.run_json_child(cmd, f"{anchor} {part}")


def sdcpp_child(args, model: Path, steps: int, cfg: float, out_png: str, taesd: str = "",
                prediction: str = "default") -> dict | None:
    cmd = [venv_python(args, "sdcpp"), str(REPO / "bench" / "bench_sdcpp.py"), "--model", str(model),
           "--threads", str(args.threads), "--size", str(args.size), "--steps", str(steps), "--cfg", repr(cfg),
           "--seed", str(SEED), "--prompt", args.prompt, "--out", out_png, "--prediction", prediction]
    if taesd:
        cmd += ["--taesd", taesd]
    return BT.run_json_child(cmd, "sdcpp")


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# --------------------------------------------------------------------------
# Parts


def component_rows(args, component: str, rows: list[Row], info: dict) -> None:
    variants = diffuse_variants(args, info["bench_help"])
    model = args.dir / "sd15"
    part = f"UNet CFG step (batch 2) {args.size}" if component == "unet" else f"VAE decode {args.size}"
    ns = SimpleNamespace(model=str(model), threads=args.threads, repeat=args.repeat, binary=args.binary)
    for anchor in args.anchors:
        t0 = time.perf_counter()
        if anchor == "diffuse":
            for label, extra, why in variants:
                if why:
                    rows.append(Row(part=part, engine=label, seconds=None, rss=0, note=f"skipped: {why}"))
                    continue
                BU._FAILED.clear()  # one variant's failure does not skip the next
                r = BU.run_diffuse(SimpleNamespace(**vars(ns), extra=extra), component, args.size)
                rows.append(result_row(part, label, r, "seconds_mean", f"mean of {args.repeat}"))
        elif anchor == "torch":
            r = BU.run_torch(ns, component, args.size)
            info.update(torch=r.get("torch", "") if r else "")
            rows.append(result_row(part, engine_name("torch", info), r, "seconds_mean", f"mean of {args.repeat}"))
        elif anchor.startswith("openvino"):
            if not venv_python(args, anchor):
                rows.append(Row(part=part, engine=anchor, seconds=None, rss=0, note=f"skipped: {venv_missing(args, anchor)}"))
                continue
            r = ov_child(args, anchor, component, model)
            if r:
                info["openvino"] = r.get("openvino", "")
            rows.append(result_row(part, engine_name(anchor, info), r, "seconds_mean",
                                   f"mean of {args.repeat}" + ov_note(args, r)))
        elif anchor == "sdcpp":
            continue  # from its generation (part generate)
        print(f"  {component} {anchor}: done in {time.perf_counter() - t0:.0f} s", flush=True)


def ov_note(args, r: dict | None) -> str:
    if not r:
        return ""
    note = f"; {r.get('threads_property')} threads, {r.get('precision_property')}, cpu/wall {r.get('cpu_per_wall', 0):.2f}"
    if r.get("threads_property") != args.threads or r.get("cpu_per_wall", 0) > args.threads + 0.3:
        note += " (THREADS NOT HONOURED)"
    return note


def result_row(part: str, engine: str, r: dict | None, key: str, note: str = "") -> Row:
    if r is None:
        return Row(part=part, engine=engine, seconds=None, rss=0, note="failed (see the log above)")
    return Row(part=part, engine=engine, seconds=r.get(key), rss=BT.peak_rss(r), note=note)


def pixel_note(ref: str | None, png: str | None) -> str:
    if not ref or not png or not os.path.exists(ref) or not os.path.exists(png):
        return ""
    c = BG.compare_images(ref, png)
    return f"; max px diff vs diffusers {c['max']}" if "max" in c else f"; {c.get('error')}"


def generate_rows(args, rows: list[Row], info: dict, folder: Path, turbo: bool) -> None:
    variants = diffuse_variants(args, info["generate_help"])
    if turbo:
        model, steps, cfg = args.dir / "sd-turbo", 1, 0.0
        part = f"turbo 1 step + TAESD {args.size}"
        taesd = args.dir / "taesd"
        for p in (model, taesd):
            if not p.exists():
                rows.append(Row(part=part, engine="all", seconds=None, rss=0,
                                note=f"skipped: no {p} (make fullsize)"))
                return
    else:
        model, steps, cfg, taesd = args.dir / "sd15", args.steps, CFG, None
        part = f"generation {steps} steps {args.size}"
    ns = SimpleNamespace(model=str(model), threads=args.threads, steps=steps, size=args.size, cfg=cfg, seed=SEED,
                         prompt=args.prompt, negative="", binary=args.binary, taesd=str(taesd) if taesd else None)
    stem = "turbo" if turbo else f"sd15-{steps}"
    ref = None
    order = sorted(args.anchors, key=lambda a: a != "torch")  # diffusers first: the reference image
    for anchor in order:
        t0 = time.perf_counter()
        png = str(folder / f"{stem}-{anchor}.png")
        if anchor == "torch":
            r = BG.run_torch(ns, png)
            if r:
                ref = png
                info.update(torch=r.get("torch", ""))
            rows.append(result_row(part, engine_name("torch", info), r, "generate_seconds",
                                   f"load {r['load_seconds']:.1f} s" if r else ""))
        elif anchor == "diffuse":
            for label, extra, why in variants:
                if turbo:
                    if "--decoder" not in info["generate_help"]:
                        rows.append(Row(part=part, engine=label, seconds=None, rss=0,
                                        note=f"skipped: {args.binary} has no --decoder flag yet"))
                        continue
                    extra = extra + ["--taesd", str(taesd), "--decoder", "taesd", "--spacing", "trailing"]
                if why:
                    rows.append(Row(part=part, engine=label, seconds=None, rss=0, note=f"skipped: {why}"))
                    continue
                vpng = str(folder / f"{stem}-{label.replace(' ', '-')}.png")
                r = BG.run_diffuse(SimpleNamespace(**vars(ns), extra=extra), vpng)
                rows.append(result_row(part, label, r, "generate_seconds",
                                       (f"load {r['load_seconds']:.1f} s" if r and r.get("load_seconds") else "")
                                       + pixel_note(ref, vpng)))
        elif anchor.startswith("openvino"):
            if turbo:
                continue  # no TAESD pipeline in optimum-intel's static export here
            if not venv_python(args, anchor):
                rows.append(Row(part=part, engine=anchor, seconds=None, rss=0, note=f"skipped: {venv_missing(args, anchor)}"))
                continue
            r = ov_child(args, anchor, "generate", model, png)
            if r:
                info["openvino"] = r.get("openvino", "")
            rows.append(result_row(part, engine_name(anchor, info), r, "generate_seconds",
                                   (f"load+compile {r['load_seconds']:.1f} s" if r else "") + ov_note(args, r)
                                   + pixel_note(ref, png)))
        elif anchor == "sdcpp":
            if not venv_python(args, "sdcpp"):
                rows.append(Row(part=part, engine=anchor, seconds=None, rss=0, note=f"skipped: {venv_missing(args, anchor)}"))
                continue
            single = model.with_suffix(".safetensors") if not turbo else args.dir / "sd-turbo.safetensors"
            if not single.exists():
                rows.append(Row(part=part, engine=anchor, seconds=None, rss=0, note=f"skipped: no {single}"))
                continue
            sd_steps = steps if turbo else args.sdcpp_steps
            r = sdcpp_child(args, single, sd_steps, 1.0 if turbo else cfg, png,
                            taesd=str(taesd / "diffusion_pytorch_model.safetensors") if turbo else "",
                            prediction="eps" if turbo else "default")
            if r:
                info["stable_diffusion_cpp_python"] = r.get("stable_diffusion_cpp_python", "")
            name = engine_name("sdcpp", info)
            note = f"load {r['load_seconds']:.1f} s" if r else ""
            per_step = r.get("step_mean_seconds") if r else None
            if r and sd_steps != steps and per_step:
                note += f"; ran {sd_steps} steps, + {steps - sd_steps} x its mean step time"
                r["generate_seconds"] += per_step * (steps - sd_steps)
            rows.append(result_row(part, name, r, "generate_seconds", note))
            if r and not turbo:  # sd.cpp's component times, from this generation
                for comp, sec, how in (("unet", per_step, f"mean step of its {sd_steps}-step generation"),
                                       ("vae", r.get("decode_seconds"), "decode time in its log")):
                    if comp in args.parts:
                        cpart = (f"UNet CFG step (batch 2) {args.size}" if comp == "unet" else f"VAE decode {args.size}")
                        rows.append(Row(part=cpart, engine=name, seconds=sec, rss=BT.peak_rss(r),
                                        note=f"~ {how}; RSS of the whole generation" if sec else
                                        "not found in sd.cpp's log"))
        print(f"  {part} {anchor}: done in {time.perf_counter() - t0:.0f} s", flush=True)


# --------------------------------------------------------------------------
# Report


def cpu_heading(args) -> list[str]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    model = fields.get("Model name", "?").strip()
    flags = fields.get("Flags", "").split()
    simd = [f for f in flags if f.startswith(("avx", "amx", "fma", "f16c", "sse4"))]
    return [f"## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%MZ} anchors: {model}, "
            f"{args.threads} threads, load {BG.load_avg()}",
            "",
            f"CPU: {model} ({fields.get('Vendor ID', '?').strip()} family {fields.get('CPU family', '?').strip()} "
            f"model {fields.get('Model', '?').strip()} stepping {fields.get('Stepping', '?').strip()}); "
            f"{os.cpu_count()} CPUs; SIMD flags: {' '.join(simd)}",
            "",
            f"All flags: {' '.join(flags)}"]


def table(rows: list[Row], args) -> list[str]:
    base = {r.part: r.seconds for r in rows if r.engine == "diffuse" and r.seconds}
    lines = [f"Full-size random weights ({args.dir}), {args.threads} threads, SD 1.5 shapes unless turbo; "
             f"ratio = engine seconds / diffuse f32 seconds (above 1: diffuse is faster).",
             "",
             "| part | engine | seconds | ratio to diffuse | peak RSS MB | notes |",
             "|---|---|---|---|---|---|"]
    for part in dict.fromkeys(r.part for r in rows):
        for r in (x for x in rows if x.part == part):
            sec = f"{r.seconds:.2f}" if r.seconds else "n/a"
            ratio = f"{r.seconds / base[part]:.2f}x" if r.seconds and base.get(part) and r.engine != "diffuse" else ""
            rss = f"{r.rss / 1e6:.0f}" if r.rss else "n/a"
            lines.append(f"| {part} | {r.engine} | {sec} | {ratio} | {rss} | {r.note} |")
    return lines


def name_list(allowed):
    def parse(text: str) -> list[str]:
        names = [x.strip() for x in text.split(",") if x.strip()]
        for n in names:
            if n not in allowed:
                raise argparse.ArgumentTypeError(f"unknown {n!r} (one of {', '.join(allowed)})")
        return names
    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/diffuse-fullsize"),
                        help="full-size models (make fullsize): sd15, sd15.safetensors, sd-turbo, taesd")
    parser.add_argument("--anchors", type=name_list(ALL_ANCHORS), default=list(DEFAULT_ANCHORS))
    parser.add_argument("--precisions", type=name_list(("f32", "bf16", "int8")), default=["f32", "bf16", "int8"],
                        help="diffuse's --precision values to time (f32 = no flag)")
    parser.add_argument("--parts", type=name_list(PARTS), default=list(PARTS))
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sdcpp-steps", type=int, help="sd.cpp's steps (default --steps); its time is "
                        "scaled to --steps by its mean step time")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--prompt", default=BT.DEFAULT_PROMPT)
    parser.add_argument("--binary", default=str(REPO / "build" / "diffuse"))
    parser.add_argument("--openvino-venv", default=str(REPO / ".venv-openvino"))
    parser.add_argument("--sdcpp-venv", default=str(REPO / ".venv-sdcpp"))
    parser.add_argument("--markdown", type=Path, help="append the heading and table to this file")
    parser.add_argument("--keep", type=Path, help="keep the images in this folder")
    args = parser.parse_args()
    if args.threads < 1 or args.steps < 1 or args.repeat < 1 or args.size % 64:
        parser.error("--threads, --steps, --repeat at least 1; --size a multiple of 64")
    args.sdcpp_steps = args.sdcpp_steps or args.steps
    expanded = []
    for a in args.anchors:
        expanded += ["openvino-f32", "openvino-int8"] if a == "openvino" else [a]
    args.anchors = list(dict.fromkeys(expanded))
    if "diffuse" in args.anchors and "f32" not in args.precisions:
        args.precisions.insert(0, "f32")  # the ratios' base

    heading = cpu_heading(args)
    print("\n".join(heading), flush=True)
    info = {"generate_help": help_text(args.binary, "generate"), "bench_help": help_text(args.binary, "bench")}
    rows: list[Row] = []
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="diffuse-anchors-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for component in ("unet", "vae"):
            if component in args.parts:
                print(f"\n# {component} at {args.size}", flush=True)
                component_rows(args, component, rows, info)
        if "generate" in args.parts or ("sdcpp" in args.anchors and {"unet", "vae"} & set(args.parts)):
            print(f"\n# generation, {args.steps} steps at {args.size}", flush=True)
            gen_args = args
            if "generate" not in args.parts:  # sd.cpp's component times need its generation only
                gen_args = SimpleNamespace(**{**vars(args), "anchors": ["sdcpp"]})
            generate_rows(gen_args, rows, info, folder, turbo=False)
        if "turbo" in args.parts:
            print(f"\n# turbo, 1 step + TAESD at {args.size}", flush=True)
            generate_rows(args, rows, info, folder, turbo=True)
        if args.keep:
            print(f"images in {folder}")
    # Component rows first, in part order.
    order = {p: i for i, p in enumerate(dict.fromkeys(r.part for r in sorted(
        rows, key=lambda r: (0 if r.part.startswith("UNet") else 1 if r.part.startswith("VAE") else
                             2 if r.part.startswith("generation") else 3))))}
    rows.sort(key=lambda r: order[r.part])
    lines = table(rows, args)
    print("\n" + "\n".join(lines))
    print(f"\n(total {time.time() - start:.0f} s)")
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as f:
            f.write("\n" + "\n".join(heading + [""] + lines) + "\n")
        print(f"appended to {args.markdown}")


if __name__ == "__main__":
    main()
