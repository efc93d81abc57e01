"""The bundled model's prompt adherence, per sampler, with and without
classifier-free guidance: a broken sampler, guidance path or text encoder
shows up as a drop in accuracy.

    python tests/quality/check_quality.py build/diffuse [--model DIR] [--json OUT]

Generates one image per (caption, sampler, guidance) with `diffuse generate`
(fixed seeds), reads each back with shapes_classifier.py and prints the
accuracy per attribute. Fails (exit 1) when an accuracy is below its floor in
thresholds.json: the figures the trained model reached when the floors were
set, minus a margin (see that file): per sampler (held-in and held-out
captions together, few images: wide margins) and over all samplers (per
split, many images: narrower margins). Captions: the first HELD_IN scenes of a
fixed seed whose combinations were in training, and HELD_OUT scenes made only
of combinations the model never saw (tools/shapes_world.py, HELD_OUT_*).
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import shapes_classifier as classifier  # noqa: E402
world = classifier.world

DEFAULT_MODEL = os.path.join(ROOT, "models", "shapes-128")
HELD_IN, HELD_OUT = 8, 4
CAPTION_SEED = 4242

# Each sampler at the step count it is used with (second-order samplers
# evaluate the UNet twice per step, so fewer steps cost the same).
SAMPLERS = [("Euler", 20), ("Euler a", 20), ("LMS", 20), ("Heun", 10), ("DPM++ 2M", 15),
            ("DPM++ 2M Karras", 15), ("DPM++ 2M SDE", 20), ("DDIM", 20), ("PLMS", 20)]
GUIDANCE = {"cfg": 7.5, "no_cfg": 1.0}  # 7.5: the default users get


def captions():
    """(scene, caption, held_out) for the fixed test set."""
    out = []
    for held_out, count, seed in ((False, HELD_IN, CAPTION_SEED), (True, HELD_OUT, CAPTION_SEED + 1)):
        for scene, _ in world.make_scenes(seed, count, held_out=held_out):
            out.append((scene, world.plain_caption(scene), held_out))
    return out


def generate(binary, model, caption, sampler, steps, guidance, seed, path):
    # One thread each, two generations at once: at 128x128 the engine's
    # threads mostly wait on each other, processes use the cores better.
    command = [binary, "generate", "-m", model, "-p", caption, "--sampler", sampler,
               "--steps", str(steps), "--cfg", str(guidance), "--seed", str(seed), "-t", "1",
               "-o", path]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit("diffuse generate failed (%s): %s" % (" ".join(command), result.stderr))
    return classifier.classify(Image.open(path))


# Margins below the measured figures: per sampler a figure rests on 12
# images (one image is 0.08), over all samplers on 36 or 72. A floor that
# would be under MIN_FLOOR is left out: it could not fail.
PER_SAMPLER_MARGIN, ALL_SAMPLERS_MARGIN, MIN_FLOOR = 0.25, 0.12, 0.05


def write_floors(path, report, total):
    def floor(right, checked, margin):
        value = int((right / checked - margin) * 20) / 20 if checked else 0
        return value if value >= MIN_FLOOR else None
    per_sampler = {}
    for key, splits in report.items():
        floors = {name: floor(right, checked, PER_SAMPLER_MARGIN)
                  for name, (right, checked) in splits["both"].items()}
        per_sampler[key] = {k: v for k, v in floors.items() if v is not None}
    all_samplers = {}
    for (mode, split, name), (right, checked) in total.items():
        value = floor(right, checked, ALL_SAMPLERS_MARGIN)
        if value is not None:
            all_samplers.setdefault(mode, {}).setdefault(split, {})[name] = value
    measured = {" ".join(k): "%d/%d" % v for k, v in sorted(total.items())}
    with open(path, "w") as f:
        json.dump({"about": "Floors of tests/quality/check_quality.py, written by its "
                            "--write-floors from the figures of models/shapes-128 (measured, "
                            "below): measured minus %.2f per sampler (12 images) and minus "
                            "%.2f over all samplers; floors under %.2f left out."
                            % (PER_SAMPLER_MARGIN, ALL_SAMPLERS_MARGIN, MIN_FLOOR),
                   "measured_all_samplers": measured,
                   "floors": {"per_sampler": per_sampler, "all_samplers": all_samplers}},
                  f, indent=1)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binary")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--json", help="also write every result here")
    parser.add_argument("--thresholds", default=os.path.join(HERE, "thresholds.json"))
    parser.add_argument("--samplers", help="comma-separated subset (default: all)")
    parser.add_argument("--write-floors", metavar="FILE",
                        help="write floors from this run's figures (after retraining)")
    parser.add_argument("--jobs", type=int, default=2, help="generations at once (default 2)")
    args = parser.parse_args()
    samplers = SAMPLERS
    if args.samplers:
        wanted = args.samplers.split(",")
        samplers = [s for s in SAMPLERS if s[0] in wanted]
    with open(args.thresholds) as f:
        floors = json.load(f)["floors"]

    # The instrument first: on the world's own renderings the classifier
    # must be (nearly) always right, or its figures below mean nothing.
    truth = [(classifier.expected(scene), classifier.classify(world.render(scene)))
             for scene, _ in world.make_scenes(CAPTION_SEED + 2, 150)]
    for name, (right, checked) in classifier.score(truth).items():
        print(f"classifier on rendered scenes: {name} {right}/{checked}")
        if right < 0.95 * checked:
            print("the classifier misreads the world's own renderings")
            return 1

    cases = captions()
    started = time.monotonic()
    report, failures = {}, []
    with tempfile.TemporaryDirectory() as directory, \
            concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for sampler, steps in samplers:
            for mode, guidance in GUIDANCE.items():
                found = list(pool.map(
                    lambda item: generate(args.binary, args.model, item[1][1], sampler, steps,
                                          guidance, 1000 + item[0],
                                          os.path.join(directory, "%d.png" % item[0])),
                    enumerate(cases)))
                results = {"held_in": [], "held_out": []}
                for (scene, _, held_out), attributes in zip(cases, found):
                    results["held_out" if held_out else "held_in"].append(
                        (classifier.expected(scene), attributes))
                key = f"{sampler} / {mode}"
                report[key] = {}
                for split, pairs in results.items():
                    scores = classifier.score(pairs)
                    report[key][split] = {name: [right, checked]
                                          for name, (right, checked) in scores.items()}
                    line = "  ".join(f"{name} {right}/{checked}"
                                     for name, (right, checked) in scores.items())
                    print(f"{key:28s} {split:8s} {line}", flush=True)
                both = classifier.score(results["held_in"] + results["held_out"])
                report[key]["both"] = {name: list(v) for name, v in both.items()}
                for name, (right, checked) in both.items():
                    floor = floors["per_sampler"].get(key, {}).get(name)
                    if floor is not None and checked and right / checked < floor:
                        failures.append(f"{key} {name}: {right}/{checked} = "
                                        f"{right / checked:.2f} < floor {floor:.2f}")
    total = {}
    for key, splits in report.items():
        mode = key.split(" / ")[1]
        for split, scores in splits.items():
            for name, (right, checked) in scores.items():
                r, c = total.get((mode, split, name), (0, 0))
                total[(mode, split, name)] = (r + right, c + checked)
    print("\nall samplers:")
    for (mode, split, name), (right, checked) in sorted(total.items()):
        print(f"  {mode:7s} {split:8s} {name:10s} {right:4d}/{checked:<4d} {right / max(checked, 1):.2f}")
        floor = floors["all_samplers"].get(mode, {}).get(split, {}).get(name)
        if floor is not None and checked and right / checked < floor:
            failures.append(f"all samplers / {mode} {split} {name}: {right}/{checked} = "
                            f"{right / checked:.2f} < floor {floor:.2f}")
    print(f"{len(report) * len(cases)} images in {time.monotonic() - started:.0f} s")
    if args.write_floors:
        write_floors(args.write_floors, report, total)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"report": report, "totals": {" ".join(k): v for k, v in total.items()}},
                      f, indent=1)
    if failures:
        print("\nbelow the floor:\n  " + "\n  ".join(failures))
        return 1
    print("every accuracy at or above its floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
