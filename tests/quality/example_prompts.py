"""The web page's and README's example prompts, read back over seeds 1..10:
how often colour, background and shape come out right (the figures the
README and the model card quote). A square prompt is included for contrast.

    .venv-test/bin/python tests/quality/example_prompts.py [build/diffuse] [--model DIR]
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_quality  # noqa: E402

EXAMPLES = [("a red circle on a blue background", "red", "blue", "circle"),
            ("a white circle over a green field", "white", "field", "circle"),
            ("a blue circle on a yellow background", "blue", "yellow", "circle"),
            ("a blue square on a yellow background", "blue", "yellow", "square")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binary", nargs="?", default=os.path.join(check_quality.ROOT, "build", "diffuse"))
    parser.add_argument("--model", default=check_quality.DEFAULT_MODEL)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "image.png")
        for prompt, colour, background, shape in EXAMPLES:
            right = [0, 0, 0]
            for seed in range(1, args.seeds + 1):
                found = check_quality.generate(args.binary, args.model, prompt, "Euler", 20,
                                               7.5, seed, path)
                right[0] += found["colour"] == colour
                right[1] += found["background"] == background
                right[2] += found["shape"] == shape
            print(f"{prompt!r}: colour {right[0]}/{args.seeds}, background "
                  f"{right[1]}/{args.seeds}, shape {right[2]}/{args.seeds}")


if __name__ == "__main__":
    main()
