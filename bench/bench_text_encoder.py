"""Side-by-side text-encoder benchmark: PyTorch (transformers' CLIPTextModel)
against diffuse, on the same weights, in the same run.

Usage:
    .venv-tools/bin/python bench/bench_text_encoder.py --model DIR_OR_FILE \\
        [--threads T] [--repeat R] [--binary build/diffuse] [--prompt TEXT] \\
        [--negative TEXT] [--markdown FILE] [--check]

Each side runs in its own child process, so peak RSS is measured per side
(os.wait4's ru_maxrss of that child):
  torch    this script re-run with --torch-child: loads the model's text
           encoder (diffusers folder: CLIPTextModel.from_pretrained on
           text_encoder/ in float32; single file: diffusers' converter on the
           cond_stage_model.* tensors only), torch.set_num_threads(T), encodes
           a batch of the prompt and the negative prompt (a CFG step: one
           77-token window each, or more for long prompts) under
           torch.inference_mode(), one warm-up and R timed runs.
  diffuse  BINARY encode -m MODEL --threads T --repeat R --json PROMPT NEGATIVE
           (prints one JSON object: seconds_mean, seconds_best, windows,
           peak_rss_bytes, ...).
Prints a table (mean / best seconds, peak RSS MB, torch/diffuse ratios) and,
with --markdown FILE, appends a row to FILE (writing the table header first
unless FILE already ends in a table).

--check: also compares diffuse's output (encode --output FILE.safetensors,
tensor "hidden_states" [windows*77, dim]) with transformers' for the same
prompts and prints the max abs error, absolute and relative to the output's
max abs; the token ids of both sides are compared too.
"""

from __future__ import annotations

import argparse
import json
import os
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

DEFAULT_PROMPT = "a photograph of an astronaut riding a horse on the moon, highly detailed, dramatic lighting"


# --------------------------------------------------------------------------
# PyTorch side (child process)


def family_of(model: Path) -> str:
    if model.is_dir():
        cfg = json.loads((model / "text_encoder" / "config.json").read_text())
        return "sd2" if cfg["hidden_size"] == 1024 or cfg.get("hidden_act") == "gelu" else "sd1"
    from safetensors import safe_open

    with safe_open(model, "pt") as f:
        keys = set(f.keys())
    if "cond_stage_model.model.token_embedding.weight" in keys:
        return "sd2"
    if "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight" in keys:
        return "sd1"
    raise SystemExit(f"{model}: no SD 1.x / 2.x text encoder found (cond_stage_model.*)")


def load_torch_text_encoder(model: Path, family: str):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    if model.is_dir():
        return CLIPTextModel.from_pretrained(model / "text_encoder", torch_dtype=torch.float32,
                                             local_files_only=True).eval()

    import sd_layout as L
    from diffusers.loaders import single_file_utils as sfu
    from safetensors import safe_open

    with safe_open(model, "pt") as f:
        meta = f.metadata() or {}
        checkpoint = {k: f.get_tensor(k) for k in f.keys() if k.startswith("cond_stage_model.")}
    if "diffuse_config" in meta:  # our tiny fixtures: dims not inferable from shapes
        cfg = json.loads(meta["diffuse_config"])["text_encoder"]
    else:
        cfg = dict(L.SD15_TEXT_ENCODER if family == "sd1" else L.SD21_TEXT_ENCODER)
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    config = CLIPTextConfig(**cfg)
    text_model = CLIPTextModel(config)
    if family == "sd1":
        state = sfu.convert_ldm_clip_checkpoint(checkpoint)
        state.pop("text_model.embeddings.position_ids", None)
    else:
        layers = config.num_hidden_layers
        extra = f"cond_stage_model.model.transformer.resblocks.{layers}."
        checkpoint = {k: v for k, v in checkpoint.items() if not k.startswith(extra)}
        state = sfu.convert_open_clip_checkpoint(text_model, checkpoint)
    state = {k: v.float() for k, v in state.items()}
    text_model.load_state_dict(state, strict=True)
    return text_model.eval()


def vm_hwm_bytes() -> int:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def torch_child(args) -> None:
    import torch

    import sd_layout as L

    torch.set_num_threads(args.threads)
    import transformers  # noqa: F401  (in the baseline, as the model needs it)

    baseline_rss = vm_hwm_bytes()
    model_path = Path(args.model)
    family = family_of(model_path)
    t0 = time.perf_counter()
    model = load_torch_text_encoder(model_path, family)
    load_seconds = time.perf_counter() - t0
    pad = L.END_TOKEN if family == "sd1" else "!"
    pad_id = 49407 if family == "sd1" else 0
    tokenizer = L.make_tokenizer(pad, Path(tempfile.mkdtemp(prefix="diffuse-bench-tok-")))
    if args.ids_from:
        from safetensors.torch import load_file

        ids = load_file(args.ids_from)["input_ids"].long()
    else:
        windows = []
        for prompt in (args.prompt, args.negative):
            windows += L.token_windows(tokenizer, prompt, pad_id)
        ids = torch.tensor(windows, dtype=torch.long)
    times = []
    with torch.inference_mode():
        out = model(input_ids=ids).last_hidden_state  # warm-up
        for _ in range(args.repeat):
            start = time.perf_counter()
            out = model(input_ids=ids).last_hidden_state
            times.append(time.perf_counter() - start)
    if args.save_output:
        from safetensors.torch import save_file

        save_file({"hidden_states": out.reshape(-1, out.shape[-1]).contiguous().float(),
                   "input_ids": ids.to(torch.int32).contiguous()}, args.save_output)
    print(json.dumps({
        "side": "torch", "family": family, "threads": torch.get_num_threads(),
        "windows": int(ids.shape[0]), "dim": int(out.shape[-1]), "load_seconds": load_seconds,
        "repeat": args.repeat, "seconds_mean": sum(times) / len(times), "seconds_best": min(times),
        "peak_rss_bytes": vm_hwm_bytes(), "baseline_rss_bytes": baseline_rss, "torch": torch.__version__,
    }), flush=True)


# --------------------------------------------------------------------------
# Driver


def run_child(cmd: list[str]) -> tuple[int, str, str, int]:
    """Runs cmd; returns (exit status, stdout, stderr, peak RSS bytes of that child)."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        out = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return p.returncode, out.decode("utf-8", "replace"), err.read().decode("utf-8", "replace"), usage.ru_maxrss * 1024


def last_json(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def run_json_child(cmd: list[str], what: str) -> dict | None:
    """Runs cmd; its last JSON line of stdout with child_maxrss_bytes added,
    or None after printing why `what` failed."""
    code, out, err, rss = run_child(cmd)
    result = last_json(out)
    if code != 0 or result is None:
        print(f"  {what} failed (exit {code}):\n{err[-3000:]}\n{out[-500:]}")
        return None
    result["child_maxrss_bytes"] = rss
    return result


def run_torch(args, save_output: str | None = None, ids_from: str | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--torch-child", "--model", args.model,
           "--threads", str(args.threads), "--repeat", str(args.repeat), "--prompt", args.prompt,
           "--negative", args.negative]
    if save_output:
        cmd += ["--save-output", save_output]
    if ids_from:
        cmd += ["--ids-from", ids_from]
    code, out, err, rss = run_child(cmd)
    result = last_json(out)
    if code != 0 or result is None:
        raise SystemExit(f"torch side failed (exit {code}):\n{err[-4000:]}")
    result["child_maxrss_bytes"] = rss
    return result


def run_diffuse(args, output: str | None = None) -> dict | None:
    binary = args.binary
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"diffuse side skipped: no executable {binary} (build it with `make build`)")
        return None
    cmd = [binary, "encode", "-m", args.model, "--threads", str(args.threads), "--repeat", str(args.repeat), "--json"]
    if output:
        cmd += ["--output", output]
    cmd += [args.prompt, args.negative]
    code, out, err, rss = run_child(cmd)
    result = last_json(out)
    if code != 0 or result is None:
        print(f"diffuse side failed (exit {code}); its `encode --json` may not be implemented yet.\n"
              f"  command: {' '.join(cmd)}\n  stderr: {err.strip()[-2000:]}\n  stdout: {out.strip()[-500:]}")
        return None
    result["child_maxrss_bytes"] = rss
    return result


def peak_rss(result: dict) -> int:
    # The child's own high-water mark when it reports one, else wait4's.
    return int(result.get("peak_rss_bytes") or result.get("child_maxrss_bytes") or 0)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def print_table(args, torch_r: dict, diffuse_r: dict | None) -> None:
    print(f"\nmodel {args.model} ({torch_r['family']}), {args.threads} thread(s), {args.repeat} timed run(s), "
          f"{torch_r['windows']} window(s) of 77 tokens, dim {torch_r['dim']}")
    print(f"{'':10} {'mean s':>10} {'best s':>10} {'peak RSS MB':>12} {'load s':>8}")
    rows = [("torch", torch_r)] + ([("diffuse", diffuse_r)] if diffuse_r else [])
    for name, r in rows:
        print(f"{name:10} {r['seconds_mean']:10.4f} {r['seconds_best']:10.4f} {peak_rss(r) / 1e6:12.1f} "
              f"{r.get('load_seconds', 0):8.3f}")
    if torch_r.get("baseline_rss_bytes"):
        print(f"(torch's RSS after importing torch + transformers, before loading: "
              f"{torch_r['baseline_rss_bytes'] / 1e6:.1f} MB)")
    if diffuse_r:
        if diffuse_r.get("windows") not in (None, torch_r["windows"]):
            print(f"warning: window counts differ (torch {torch_r['windows']}, diffuse {diffuse_r['windows']})")
        print(f"{'torch/diffuse':14} {ratio(torch_r['seconds_mean'], diffuse_r['seconds_mean']):>6} "
              f"{ratio(torch_r['seconds_best'], diffuse_r['seconds_best']):>10} "
              f"{ratio(peak_rss(torch_r), peak_rss(diffuse_r)):>12}")


def append_markdown(path: Path, args, torch_r: dict, diffuse_r: dict | None) -> None:
    header = ("| model | family | threads | windows | torch mean s | torch best s | diffuse mean s | "
              "diffuse best s | speed-up (mean) | torch RSS MB | diffuse RSS MB | RSS ratio |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    d = diffuse_r or {}
    cells = [
        f"`{args.model}`", torch_r["family"], str(args.threads), str(torch_r["windows"]),
        f"{torch_r['seconds_mean']:.4f}", f"{torch_r['seconds_best']:.4f}",
        f"{d['seconds_mean']:.4f}" if d else "n/a", f"{d['seconds_best']:.4f}" if d else "n/a",
        ratio(torch_r["seconds_mean"], d.get("seconds_mean", 0)),
        f"{peak_rss(torch_r) / 1e6:.0f}", f"{peak_rss(d) / 1e6:.0f}" if d else "n/a",
        ratio(peak_rss(torch_r), peak_rss(d)) if d else "n/a",
    ]
    # A header unless the file already ends in a table (bench/run.sh writes a
    # "## date" heading before each batch of rows).
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()] if path.exists() else []
    with open(path, "a", encoding="utf-8") as f:
        if not lines or not lines[-1].lstrip().startswith("|"):
            if lines:
                f.write("\n")
            f.write(header)
        f.write("| " + " | ".join(cells) + " |\n")
    print(f"appended a row to {path}")


def check(args) -> int:
    import torch
    from safetensors.torch import load_file

    with tempfile.TemporaryDirectory(prefix="diffuse-check-") as tmp:
        c_out = os.path.join(tmp, "diffuse.safetensors")
        t_out = os.path.join(tmp, "torch.safetensors")
        check_args = argparse.Namespace(**{**vars(args), "repeat": 1})
        d = run_diffuse(check_args, output=c_out)
        if d is None or not os.path.exists(c_out):
            print("check skipped: diffuse did not write its output (encode --output not available?)")
            return 1
        got = load_file(c_out)
        if "hidden_states" not in got:
            print(f"check failed: {c_out} has no tensor 'hidden_states' (has {sorted(got)})")
            return 1
        run_torch(check_args, save_output=t_out)
        want = load_file(t_out)
        status = 0
        if "input_ids" in got:
            same = got["input_ids"].shape == want["input_ids"].shape and torch.equal(
                got["input_ids"].long(), want["input_ids"].long())
            print(f"token ids: {'identical' if same else 'DIFFER'} "
                  f"(diffuse {tuple(got['input_ids'].shape)}, transformers {tuple(want['input_ids'].shape)})")
            if not same:
                status = 1
                # Isolate the encoder: run torch on diffuse's own ids.
                ids_file = os.path.join(tmp, "ids.safetensors")
                from safetensors.torch import save_file

                save_file({"input_ids": got["input_ids"].contiguous()}, ids_file)
                run_torch(check_args, save_output=t_out, ids_from=ids_file)
                want = load_file(t_out)
                print("comparing hidden states on diffuse's token ids")
        a, b = got["hidden_states"].double(), want["hidden_states"].double()
        if a.shape != b.shape:
            print(f"check failed: shapes differ: diffuse {tuple(a.shape)}, transformers {tuple(b.shape)}")
            return 1
        err = (a - b).abs().max().item()
        scale = b.abs().max().item()
        print(f"hidden_states {tuple(a.shape)}: max abs error {err:.3g}, output max abs {scale:.3g}, "
              f"relative {err / scale if scale else float('nan'):.3g}")
        return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="diffusers folder or single .safetensors file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--binary", default=str(REPO / "build" / "diffuse"))
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--negative", default="")
    parser.add_argument("--markdown", type=Path, help="append a markdown table row to this file")
    parser.add_argument("--check", action="store_true", help="compare diffuse's output with transformers'")
    parser.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--save-output", help=argparse.SUPPRESS)
    parser.add_argument("--ids-from", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeat < 1 or args.threads < 1:
        parser.error("--repeat and --threads must be at least 1")
    if args.torch_child:
        torch_child(args)
        return
    if not os.path.exists(args.model):
        parser.error(f"no such model: {args.model}")
    if args.check:
        sys.exit(check(args))
    torch_r = run_torch(args)
    diffuse_r = run_diffuse(args)
    print_table(args, torch_r, diffuse_r)
    if args.markdown:
        append_markdown(args.markdown, args, torch_r, diffuse_r)


if __name__ == "__main__":
    main()
