"""`python cli.py train specs/lenet5.yaml --data digits`, the command as a
user runs it, against hand-written Keras scripts that train the same LeNet-5
on the same digits: one with Keras's default settings, one with the best
settings a person could choose. Each run is a fresh process, with its own
TensorFlow runtime (what `train` chooses before TensorFlow starts, its
threads per op, shows only so); the three take turns, the order rotated
each round.

    python benchmarks/train_command.py [--rounds 5] [--epochs 20]

The scripts time themselves with the clock `train` reports by (the builder's
StepTime callback: each epoch's training steps, the first epoch of the fit
left out, since it compiles) and time their whole `fit` too; `train`'s
figures are its metrics.json (`step_samples_per_second`, and
`samples_per_second` over the whole run: compiling, validation, checkpoints
and logs included). Prints a Markdown table: medians over rounds, ratios the
median of each round's ratio, and each contender's test accuracy. Goals:
`train` / the script with Keras's defaults >= 1.5 in the training steps,
with test accuracy >= 0.96; / the script with the best settings >= 0.98.
"""

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from training_throughput import hand_written_lenet5, paired_ratio, rounds  # noqa: E402

SCRIPT = """
import json, os, sys, time
BEST = sys.argv[2] == "best"
if BEST:                       # one thread per op: LeNet-5's ops are too small to share between cores
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
import keras
import numpy as np
sys.path.insert(0, sys.argv[1])
from builder.training import data
from builder.training.timing import StepTime      # the clock `train` reports by
""" + inspect.getsource(hand_written_lenet5) + """
digits = data.load("digits", data.InputDescription((32, 32, 1)), data.SplitPlan(0.1, 0.15, 0))  # train's splits
(x, y), (x_val, y_val), (x_test, y_test) = [(split.x * digits.rescale, split.y)
                                            for split in (digits.train, digits.validation, digits.test)]
epochs = int(sys.argv[3])
keras.utils.set_random_seed(0)
model = hand_written_lenet5(keras)
model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              steps_per_execution=32 if BEST else 1)
steps = StepTime()
started = time.perf_counter()
if BEST:                       # a tf.data pipeline: cached, shuffled each epoch, batched, prefetched
    def pipeline(x, y, shuffle):
        ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
        if shuffle:
            ds = ds.shuffle(len(y), seed=0, reshuffle_each_iteration=True)
        return ds.batch(32).prefetch(tf.data.AUTOTUNE)
    model.fit(pipeline(x, y, True), validation_data=pipeline(x_val, y_val, False), epochs=epochs,
              callbacks=[steps], verbose=0)
else:                          # as the Keras guides write it: NumPy arrays, Keras's defaults
    model.fit(x, y, batch_size=32, epochs=epochs, validation_data=(x_val, y_val), callbacks=[steps], verbose=0)
whole = time.perf_counter() - started
accuracy = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
print(json.dumps({"steps": steps.samples_per_second(len(y)), "whole": len(y) * epochs / whole,
                  "accuracy": accuracy}))
"""


def run_train(epochs):
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "run")
        spec = os.path.join(ROOT, "specs", "lenet5.yaml")
        subprocess.run([sys.executable, os.path.join(ROOT, "cli.py"), "train", spec, "--data", "digits",
                        "--epochs", str(epochs), "--out", out, "--quiet"],
                       check=True, stdout=subprocess.DEVNULL, cwd=folder)
        with open(os.path.join(out, "metrics.json"), encoding="utf-8") as handle:
            metrics = json.load(handle)
        with open(os.path.join(out, "run.json"), encoding="utf-8") as handle:
            threads = json.load(handle)["intra_op_threads"]
    return {"steps": metrics["step_samples_per_second"], "whole": metrics["samples_per_second"],
            "accuracy": metrics["test_accuracy"], "threads": threads}


def run_script(kind, epochs):
    result = subprocess.run([sys.executable, "-c", SCRIPT, ROOT, kind, str(epochs)], check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    contenders = {"train": run_train, "defaults": lambda epochs: run_script("defaults", epochs),
                  "best": lambda epochs: run_script("best", epochs)}
    runs = rounds(contenders, args.rounds, lambda run: run(args.epochs))

    def values(name, key):
        return [r[key] for r in runs[name]]

    def median(name, key):
        return statistics.median(values(name, key))

    def ratio(name, baseline, key):
        return paired_ratio(values(name, key), values(baseline, key))

    threads = sorted({r["threads"] for r in runs["train"]})
    print(f"LeNet-5 on digits (1374 training images, batch 32, {args.epochs} epochs), each run a fresh process, "
          f"{args.rounds} rounds, the order rotated each round; samples/s are medians, ratios the median of each "
          f"round's ratio; `train` chose {' or '.join(map(str, threads))} thread(s) per op\n")
    print("| comparison | samples/s | baseline samples/s | ratio | goal |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = [("training steps: `train` vs a script with Keras's defaults (`fit` on NumPy arrays, one step per call, "
             "TensorFlow's threads)", "defaults", "steps", ">= 1.5"),
            ("training steps: `train` vs a script with the best settings (tf.data pipeline, 32 steps per call, one "
             "thread per op)", "best", "steps", ">= 0.98"),
            ("whole run: `train` (compiling, validation, checkpoints, logs) vs the script with Keras's defaults "
             "(compiling, validation)", "defaults", "whole", "-")]
    for label, baseline, key, goal in rows:
        print(f"| {label} | {median('train', key):,.0f} | {median(baseline, key):,.0f} | "
              f"{ratio('train', baseline, key):.3f} | {goal} |")
    accuracy = {name: [f"{a:.4f}" for a in values(name, "accuracy")] for name in contenders}
    print(f"\nTest accuracy (270 images) per round: `train` (its best checkpoint) {', '.join(accuracy['train'])}; "
          f"the script with Keras's defaults (last epoch) {', '.join(accuracy['defaults'])}; with the best "
          f"settings {', '.join(accuracy['best'])}")


if __name__ == "__main__":
    main()
