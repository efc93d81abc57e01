#!/usr/bin/env python3
"""make_rng_fixtures.py - reference noise for diffuse's RNG (src/pipeline/rng.c).

Writes tests/fixtures/reference/rng.safetensors. Each *case* is one freshly
seeded generator and a sequence of randn draws of the given sizes from it
(consecutive draws check that the state advances as torch's does):

  kind "cpu"          torch.Generator("cpu").manual_seed(seed); torch.randn(n,
                      generator=g), float32, on an x86 CPU with AVX2 (torch's
                      AVX2 and AVX-512 builds give the same values; asserted)
  kind "cpu-default"  the same with ATEN_CPU_CAPABILITY=default (torch's
                      non-AVX2 kernel: glibc logf/sinf/cosf), run in a child
  kind "philox"       AUTOMATIC1111's numpy imitation of torch's CUDA randn,
                      ported below from stable-diffusion-webui
                      modules/rng_philox.py (commit
                      ef1698fd6dbd6387341a1eeeded068ff1476ee50); no GPU is
                      involved, so "philox" is checked against A1111's code,
                      not against CUDA

Per draw d of case c: a draw of at most FULL_MAX values is stored whole as
tensor "<c>.d<d>"; a longer one as "<c>.d<d>.head" / ".tail" (EDGE values
each) plus metadata "<c>.d<d>.sum" (float64 sum, in index order, as
float.hex) and "<c>.d<d>.fnv" (FNV-1a 64 of the little-endian float32
bytes, hex). Metadata "cases" is a JSON list of {name, kind, seed, sizes}.
A few draws are stored whole regardless of size (FULL_CASES) so a failing
test can report ulp distances over a whole latent.

Usage (repository root): .venv-tools/bin/python tools/make_rng_fixtures.py
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from sd_layout import save_safetensors  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "reference" / "rng.safetensors"
FULL_MAX = 256
EDGE = 64

SEEDS = [0, 1, 42, 2**32 + 5, 2**63 - 1]
SIZES = [1, 7, 15, 16, 17, 100, 4 * 64 * 64, 2 * 4 * 96 * 96]
# second draw (a different size) from the same generator
SECOND = {1: 7, 7: 1, 15: 16, 16: 15, 17: 100, 100: 17, 4 * 64 * 64: 1, 2 * 4 * 96 * 96: 4 * 64 * 64}
# longer sequences: the small-draw cache across big draws; ancestral-style steps
SEQUENCES = [
    [1, 1, 1, 16, 1, 3, 17, 2],
    [4 * 64 * 64] * 6,
    [31, 33, 48, 5, 1000, 9],
]
FULL_CASES = {("cpu", 42, 0), ("philox", 42, 0)}  # (kind, seed, case index): whole 4x64x64


# ---------------------------------------------------------------------------
# AUTOMATIC1111 modules/rng_philox.py (ef1698fd), unchanged in substance.
philox_m = [0xD2511F53, 0xCD9E8D57]
philox_w = [0x9E3779B9, 0xBB67AE85]
two_pow32_inv = np.array([2.3283064e-10], dtype=np.float32)
two_pow32_inv_2pi = np.array([2.3283064e-10 * 6.2831855], dtype=np.float32)


def _uint32(x):
    return x.view(np.uint32).reshape(-1, 2).transpose(1, 0)


def _philox4_round(counter, key):
    v1 = _uint32(counter[0].astype(np.uint64) * philox_m[0])
    v2 = _uint32(counter[2].astype(np.uint64) * philox_m[1])
    counter[0] = v2[1] ^ counter[1] ^ key[0]
    counter[1] = v2[0]
    counter[2] = v1[1] ^ counter[3] ^ key[1]
    counter[3] = v1[0]


def _philox4_32(counter, key, rounds=10):
    for _ in range(rounds - 1):
        _philox4_round(counter, key)
        key[0] = key[0] + philox_w[0]
        key[1] = key[1] + philox_w[1]
    _philox4_round(counter, key)
    return counter


def _box_muller(x, y):
    u = x * two_pow32_inv + two_pow32_inv / 2
    v = y * two_pow32_inv_2pi + two_pow32_inv_2pi / 2
    s = np.sqrt(-2.0 * np.log(u))
    r1 = s * np.sin(v)
    return r1.astype(np.float32)


class PhiloxGenerator:
    """RNG that produces same outputs as torch.randn(..., device='cuda') on CPU (A1111)."""

    def __init__(self, seed):
        self.seed = seed
        self.offset = 0

    def randn(self, shape):
        n = 1
        for x in shape:
            n *= x
        counter = np.zeros((4, n), dtype=np.uint32)
        counter[0] = self.offset
        counter[2] = np.arange(n, dtype=np.uint32)
        self.offset += 1
        key = np.empty(n, dtype=np.uint64)
        key.fill(self.seed)
        key = _uint32(key)
        g = _philox4_32(counter, key)
        return _box_muller(g[0], g[1]).reshape(shape)
# ---------------------------------------------------------------------------


def draws_cpu(seed, sizes):
    g = torch.Generator("cpu").manual_seed(seed)
    return [torch.randn(n, generator=g).numpy() for n in sizes]


def draws_philox(seed, sizes):
    g = PhiloxGenerator(seed)
    return [g.randn((n,)) for n in sizes]


def draws_cpu_default(cases):
    """Runs the cpu cases in a child with torch's non-AVX2 kernels."""
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    code = (
        "import sys, json, torch, numpy as np\n"
        "assert torch.backends.cpu.get_cpu_capability() == 'DEFAULT'\n"
        "out = []\n"
        "for seed, sizes in json.loads(sys.argv[1]):\n"
        "    g = torch.Generator('cpu').manual_seed(seed)\n"
        "    out.append(np.concatenate([torch.randn(n, generator=g).numpy() for n in sizes]))\n"
        "sys.stdout.buffer.write(np.concatenate(out).astype('<f4').tobytes())\n"
    )
    raw = subprocess.run([sys.executable, "-c", code, json.dumps(cases)], env=env,
                         check=True, capture_output=True).stdout
    flat = np.frombuffer(raw, dtype="<f4")
    result, pos = [], 0
    for _, sizes in cases:
        draws = []
        for n in sizes:
            draws.append(flat[pos:pos + n].copy())
            pos += n
        result.append(draws)
    assert pos == len(flat)
    return result


def fnv1a64(values):
    """FNV-1a 64 over the little-endian float32 bytes (sequential; a few
    seconds in all for these fixtures)."""
    h = 0xCBF29CE484222325
    for b in values.astype("<f4").tobytes():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    cap = torch.backends.cpu.get_cpu_capability()
    if cap not in ("AVX2", "AVX512"):
        sys.exit(f"make_rng_fixtures: needs torch's AVX2/AVX512 CPU kernels, this machine has {cap}")

    plan = []  # (kind, seed, sizes)
    for kind in ("cpu", "philox"):
        for seed in SEEDS:
            for n in SIZES:
                plan.append((kind, seed, [n, SECOND[n]]))
            for seq in SEQUENCES:
                plan.append((kind, seed, list(seq)))
    for seed in (0, 42):
        for n in (16, 17, 100, 4 * 64 * 64):
            plan.append(("cpu-default", seed, [n, SECOND[n]]))

    default_cases = [(s, z) for k, s, z in plan if k == "cpu-default"]
    default_draws = iter(draws_cpu_default(default_cases))

    tensors, meta_cases, meta = {}, [], {}
    index = {}
    for kind, seed, sizes in plan:
        i = index.get((kind, seed), 0)
        index[(kind, seed)] = i + 1
        name = f"{kind}.s{seed}.c{i}"
        if kind == "cpu":
            draws = draws_cpu(seed, sizes)
        elif kind == "philox":
            draws = draws_philox(seed, sizes)
        else:
            draws = next(default_draws)
        meta_cases.append({"name": name, "kind": kind, "seed": str(seed), "sizes": sizes})
        for d, values in enumerate(draws):
            assert values.dtype == np.float32 and values.shape == (sizes[d],)
            key = f"{name}.d{d}"
            if len(values) <= FULL_MAX or ((kind, seed, i) in FULL_CASES and d == 0):
                tensors[key] = torch.from_numpy(values.copy())
            else:
                tensors[key + ".head"] = torch.from_numpy(values[:EDGE].copy())
                tensors[key + ".tail"] = torch.from_numpy(values[-EDGE:].copy())
                meta[key + ".sum"] = float(np.cumsum(values.astype(np.float64))[-1]).hex()
                meta[key + ".fnv"] = f"{fnv1a64(values):016x}"

    # torch's AVX2 and AVX-512 builds run the same kernel: check it once here
    probe = torch.randn(2 * 4 * 96 * 96 + 5, generator=torch.Generator("cpu").manual_seed(7)).numpy()
    code = ("import torch,sys; g=torch.Generator('cpu').manual_seed(7); "
            "sys.stdout.buffer.write(torch.randn(2*4*96*96+5, generator=g).numpy().tobytes())")
    other = "avx2" if cap == "AVX512" else None
    if other:
        raw = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             env=dict(os.environ, ATEN_CPU_CAPABILITY=other)).stdout
        assert raw == probe.tobytes(), "torch AVX2 and AVX512 randn differ"

    # A1111's docstring example: seed 0, shape (3, 4)
    want = [-0.92466259, -0.42534415, -2.6438457, 0.14518388]
    assert np.allclose(PhiloxGenerator(0).randn((3, 4))[0], want, atol=1e-7)

    meta["cases"] = json.dumps(meta_cases, separators=(",", ":"))
    meta["generator"] = (f"tools/make_rng_fixtures.py; torch {torch.__version__} ({cap}), "
                         f"numpy {np.__version__}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors(tensors, OUT, meta)
    print(f"{OUT.relative_to(ROOT)}: {len(meta_cases)} cases, {len(tensors)} tensors, "
          f"{OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
