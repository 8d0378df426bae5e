"""The seed's claims about recurrent layers, measured: SimpleRNN, LSTM and GRU
variants of one spec (benchmarks/adding_problem.yaml) trained on the adding
problem, side by side.

    python benchmarks/adding_problem.py [--steps 100] [--epochs 40] [--samples 10000]

Prints a Markdown table: parameters, test MSE, accuracy (share of test
sequences whose predicted sum is within 0.04 of the truth, the paper's
criterion) and seconds per epoch. The data is generated, with a fixed seed.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import builder  # noqa: E402
from builder import backend  # noqa: E402

SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "adding_problem.yaml")
VARIANTS = ("simple_rnn", "lstm", "gru")


def adding_problem(samples, steps, rng):
    """x: (samples, steps, 2) values and markers; y: the sum of the two marked values.
    One marker falls in the first half of the sequence, the other in the second."""
    values = rng.uniform(0, 1, (samples, steps))
    markers = np.zeros((samples, steps))
    first = rng.integers(0, steps // 2, samples)
    second = rng.integers(steps // 2, steps, samples)
    markers[np.arange(samples), first] = 1
    markers[np.arange(samples), second] = 1
    x = np.stack([values, markers], axis=-1).astype("float32")
    y = (values * markers).sum(axis=1, keepdims=True).astype("float32")
    return x, y


def run(variant, data, epochs, batch_size, seed):
    keras = backend.keras()
    keras.utils.set_random_seed(seed)
    model = builder.build(SPEC, overrides={"layers.0": {variant: {"units": 64, "name": "rnn"}}})
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    (x, y), (x_test, y_test) = data
    started = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_split=0.1, verbose=0)
    seconds = (time.perf_counter() - started) / epochs
    predicted = model.predict(x_test, verbose=0, batch_size=512)
    mse = float(np.mean((predicted - y_test) ** 2))
    accuracy = float(np.mean(np.abs(predicted - y_test) < 0.04))
    return model.count_params(), mse, accuracy, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    data = adding_problem(args.samples, args.steps, rng), adding_problem(2000, args.steps, rng)
    baseline = float(np.mean((data[1][1] - data[0][1].mean()) ** 2))
    print(f"adding problem: {args.steps} steps, {args.samples} training sequences, {args.epochs} epochs; "
          f"predicting the mean sum gives MSE {baseline:.4f}\n")
    print("| layer | parameters | test MSE | accuracy (abs. error < 0.04) | seconds / epoch |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for variant in VARIANTS:
        params, mse, accuracy, seconds = run(variant, data, args.epochs, args.batch_size, args.seed)
        print(f"| {variant} | {params:,} | {mse:.4f} | {accuracy:.1%} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
