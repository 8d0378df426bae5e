"""Time to a printed summary, per installed Keras backend: `cli.py build
specs/lenet5.yaml` in a fresh process against the floor, a script that
imports Keras and builds and summarizes the same LeNet-5 by hand.

    python benchmarks/startup.py [--rounds 7]

Prints a Markdown table: for each backend the median wall time of both (the
two take turns) with their ratio (goal <= 1.05), and the peak memory of each
process. `validate` is in build_time.py: it imports no backend at all.
"""

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BY_HAND = """
import keras
inputs = keras.Input((32, 32, 1))
x = keras.layers.Conv2D(6, 5, activation="tanh")(inputs)
x = keras.layers.AveragePooling2D(2)(x)
x = keras.layers.Conv2D(16, 5, activation="tanh")(x)
x = keras.layers.AveragePooling2D(2)(x)
x = keras.layers.Conv2D(120, 5, activation="tanh")(x)
x = keras.layers.Flatten()(x)
x = keras.layers.Dense(84, activation="tanh")(x)
keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x)).summary()
"""


def run_once(command, backend) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of `command` in a fresh process."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(command)} failed under {backend}")
    return seconds, usage.ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    backends = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b)]
    commands = {"spec": [sys.executable, "cli.py", "build", "specs/lenet5.yaml"],
                "hand": [sys.executable, "-c", BY_HAND]}
    rows = []
    for backend in backends:
        measured = {name: [] for name in commands}
        for round_ in range(args.rounds):
            for name in (list(commands) if round_ % 2 == 0 else list(reversed(commands))):
                measured[name].append(run_once(commands[name], backend))
        seconds = {name: statistics.median(s for s, _ in values) for name, values in measured.items()}
        memory = {name: statistics.median(m for _, m in values) for name, values in measured.items()}
        rows.append((backend, seconds["spec"], seconds["hand"], memory["spec"], memory["hand"]))
    print(f"Fresh processes, median of {args.rounds} alternating runs each; CPU only\n")
    print("| backend | `cli.py build specs/lenet5.yaml` (s) | import Keras, LeNet-5 by hand, summary (s) | ratio | goal "
          "| peak MiB: build | peak MiB: by hand |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for backend, spec, hand, spec_mib, hand_mib in rows:
        print(f"| {backend} | {spec:.2f} | {hand:.2f} | {spec / hand:.3f} | <= 1.05 | {spec_mib:.0f} | {hand_mib:.0f} |")
    fastest = min(rows, key=lambda row: row[1])
    print(f"\nFastest to a summary here: {fastest[0]} ({fastest[1]:.2f} s): `cli.py --backend {fastest[0]} build ...` "
          "or KERAS_BACKEND.")


if __name__ == "__main__":
    main()
