"""Data-parallel training in 2 processes against 1 process, on Keras's JAX
backend, each run a fresh `cli.py train` process:

    python benchmarks/data_parallel.py [--rounds 3] [--epochs 3]

1 process: `train SPEC --data digits --backend jax` (plain `fit`, no
distribution); 2 processes: `train ... --distribute data-parallel
--processes 2` (keras.distribution.DataParallel, the same global batch, each
process a slice of it). The order alternates each round; samples/s are
medians of metrics.json's figures (the training steps alone, and the whole
run), ratios the median of each round's 2-process / 1-process ratio. On a
2-core machine two processes share the cores one process already uses, so the
ratio is expected below 1 here: the figure that matters is the one on hosts
with cores (or GPUs) of their own, which this script measures the same way.
Prints a Markdown table.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {  # name: (spec, --set overrides): ResNet-18 on digits' 8x8 images (11 million weights)
    "LeNet-5": ("specs/lenet5.yaml", []),
    "ResNet-18": ("specs/resnet18.yaml", ["--set", "input=[8, 8, 1]", "--set", "output.units=10"]),
}
CONTENDERS = {
    "1 process": ["--backend", "jax"],
    "2 processes": ["--distribute", "data-parallel", "--processes", "2"],
}


def run(spec, extra, flags, epochs, folder) -> dict:
    out = tempfile.mkdtemp(dir=folder)
    os.rmdir(out)
    command = [sys.executable, os.path.join(ROOT, "cli.py"), "train", spec, "--data", "digits", "--epochs",
               str(epochs), "--out", out, "--quiet", *extra, *flags]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{' '.join(command)}: {result.stderr.strip()[-500:]}")
    with open(os.path.join(out, "metrics.json")) as handle:
        return json.load(handle)


def median(rows, key):
    return statistics.median(row[key] for row in rows)


def ratio(ones, twos, key):
    """The median over rounds of the 2-process / 1-process ratio."""
    return statistics.median(b[key] / a[key] for a, b in zip(ones, twos, strict=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    print(f"{args.epochs} epochs on digits (1374 training images, batch 32), {args.rounds} rounds, alternating")
    print("\n| model | samples/s, 1 process (steps / whole run) | 2 processes | ratio, steps | ratio, whole run |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            spec, extra = MODELS[name]
            figures = {key: [] for key in CONTENDERS}
            for round_ in range(args.rounds):
                order = list(CONTENDERS) if round_ % 2 == 0 else list(reversed(CONTENDERS))
                for key in order:
                    figures[key].append(run(spec, extra, CONTENDERS[key], args.epochs, folder))
            one, two = figures["1 process"], figures["2 processes"]
            steps, whole = "step_samples_per_second", "samples_per_second"
            print(f"| {name} | {median(one, steps):,.0f} / {median(one, whole):,.0f} | "
                  f"{median(two, steps):,.0f} / {median(two, whole):,.0f} | {ratio(one, two, steps):.3f} | "
                  f"{ratio(one, two, whole):.3f} |")


if __name__ == "__main__":
    main()
