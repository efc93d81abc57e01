"""Sparse full-size SD 1.5 / 2.1 diffusers folders for memory estimates:
the exact tensor names, shapes and configs of tools/make_fullsize.py, with
every tensor's data left as a file hole (a few MB on disk, never read:
`diffuse generate --estimate-memory` needs shapes and configs only).

  .venv-tools/bin/python tools/make_sparse_fullsize.py --out /tmp/diffuse-sparse
"""
import argparse
import json
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fullsize as fullsize  # noqa: E402
import sd_layout as layout  # noqa: E402


def write_sparse(path: Path, state: dict) -> None:
    header, offset = {}, 0
    for name, tensor in state.items():
        size = tensor.numel() * 2
        header[name] = {"dtype": "F16", "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.truncate(8 + len(raw) + offset)  # the data: a hole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", choices=sorted(fullsize.MODELS), action="append")
    args = parser.parse_args()
    for name in args.model or ("sd15", "sd21"):
        spec = fullsize.MODELS[name]
        folder = args.out / name
        for sub in ("scheduler",) + fullsize.COMPONENTS:
            (folder / sub).mkdir(parents=True, exist_ok=True)
        layout.write_json(folder / "model_index.json",
                          layout.model_index(spec["family"], spec["diffusers_version"], True))
        layout.write_json(folder / "scheduler" / "scheduler_config.json", spec["scheduler"])
        layout.write_tokenizer_files(folder / "tokenizer", spec["pad"], full=True)
        for component in fullsize.COMPONENTS:
            layout.write_json(folder / component / "config.json", spec[component])
            write_sparse(folder / component / fullsize.FILES[component],
                         fullsize.meta_state(fullsize.meta_model(component, spec[component])))
        print(folder)


if __name__ == "__main__":
    main()
