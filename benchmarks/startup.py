"""Time to a printed summary, per installed Keras backend: `cli.py build
specs/lenet5.yaml` in a fresh process against the floor, a script that
imports Keras and builds and summarizes the same LeNet-5 by hand, and
against that script handling the garbage collector as the builder's command
line does (a control: what the builder itself adds). Then the peak memory of
`cli.py train` against a hand-written training script of the same model on
the same data (TensorFlow backend).

    python benchmarks/startup.py [--rounds 7] [--backend NAME] [--no-memory]

Prints Markdown tables: for each backend the median seconds of each process
to its printed summary and to its exit (the three take turns, in an order
rotated each round), with the ratios (the median of each round's ratio;
goal <= 1.05) and each process's peak memory; then the peak memory of the
two training processes (goal <= 1.1). The builder's package is compiled to
bytecode first, as `pip install` does. `validate` is in build_time.py: it
imports no backend at all.
"""

import argparse
import compileall
import importlib.util
import inspect
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from training_throughput import hand_written_lenet5, paired_ratio, rounds  # noqa: E402

# The same hand-written LeNet-5 as the throughput benchmark's, as the source a fresh process runs.
LENET5 = "import keras\n" + inspect.getsource(hand_written_lenet5)
BY_HAND = LENET5 + "hand_written_lenet5(keras).summary()\n"
# The same script with the garbage collector handled as the builder's command line handles it: paused
# while Keras is imported, what the import made frozen, and frozen again before the exit.
BY_HAND_SAME_GC = ("import gc\ngc.disable()\n" + LENET5 + "gc.freeze()\ngc.enable()\n"
                   "hand_written_lenet5(keras).summary()\ngc.freeze()\n")

TRAIN_BY_HAND = LENET5 + """
import numpy as np
from sklearn.datasets import load_digits
digits = load_digits()
x = keras.ops.image.resize(digits.images[..., None].astype("float32"), (32, 32)) / 16.0
x, y = np.asarray(x), digits.target
keras.utils.set_random_seed(0)
model = hand_written_lenet5(keras)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x[:1527], y[:1527], validation_split=0.1, epochs=3, batch_size=32, verbose=0)
model.evaluate(x[1527:], y[1527:], verbose=0)
model.save("by-hand.keras")
"""


# Each measured process is started by a small launcher: a process's peak memory (ru_maxrss) starts from
# its parent's at the fork, and this benchmark's own process has Keras and TensorFlow loaded. The launcher
# reads the process's output as it comes and notes when the summary's last line ("Non-trainable params")
# arrives, then when the process has exited.
BACKENDS = ("tensorflow", "jax", "torch")
LAUNCHER = """
import os, sys, time
read, write = os.pipe()
actions = [(os.POSIX_SPAWN_DUP2, write, 1), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=actions)
os.close(write)
summary = -1.0
with os.fdopen(read, "rb") as output:
    for line in output:
        if summary < 0 and b"Non-trainable params" in line:
            summary = time.perf_counter() - started
_, status, usage = os.wait4(pid, 0)
print(summary, time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run_once(command, backend) -> tuple[float, float, float]:
    """(seconds to the printed summary, or -1 where none was printed; seconds
    to the exit; peak resident MiB) of `command` in a fresh process."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run([sys.executable, "-c", LAUNCHER, *command], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=True)
    summary, seconds, kib, code = result.stdout.split()
    if int(code):
        raise SystemExit(f"{' '.join(command)} failed under {backend}")
    return float(summary), float(seconds), int(kib) / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="only this backend (repeatable)")
    parser.add_argument("--no-memory", action="store_true", help="skip the training runs' peak memory")
    args = parser.parse_args(argv)
    backends = [b for b in args.backend or BACKENDS if importlib.util.find_spec(b)]
    commands = {"spec": [sys.executable, "cli.py", "build", "specs/lenet5.yaml"],
                "hand": [sys.executable, "-c", BY_HAND], "same_gc": [sys.executable, "-c", BY_HAND_SAME_GC]}
    compileall.compile_dir(os.path.join(ROOT, "builder"), quiet=1)     # the bytecode pip writes at install
    rows = []
    for backend in backends:
        measured = rounds(commands, args.rounds, lambda command, backend=backend: run_once(command, backend))
        if any(summary < 0 for values in measured.values() for summary, _, _ in values):
            raise SystemExit(f"a process printed no summary under {backend}")
        column = {name: list(zip(*values)) for name, values in measured.items()}     # (summaries, exits, MiBs)
        rows.append({"backend": backend, **{f"{name} {i}": statistics.median(column[name][i])
                                            for name in commands for i in range(3)},
                     **{f"ratio {base} {i}": paired_ratio(column["spec"][i], column[base][i])
                        for base in ("hand", "same_gc") for i in range(2)}})
    print(f"Fresh processes, {args.rounds} rounds, the three in turn; medians, ratios the median of each round's; "
          "CPU only\n")
    for i, moment in enumerate(("to the printed summary", "to the exit")):
        print(f"| backend | `cli.py build specs/lenet5.yaml`, {moment} (s) | by hand (s) | ratio | goal "
              "| by hand, the builder's garbage collection (s) | ratio |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in rows:
            print(f"| {row['backend']} | {row[f'spec {i}']:.2f} | {row[f'hand {i}']:.2f} | "
                  f"{row[f'ratio hand {i}']:.3f} "
                  f"| <= 1.05 | {row[f'same_gc {i}']:.2f} | {row[f'ratio same_gc {i}']:.3f} |")
        print()
    print("| backend | peak MiB: build | by hand | by hand, the builder's garbage collection |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['backend']} | {row['spec 2']:.0f} | {row['hand 2']:.0f} | {row['same_gc 2']:.0f} |")
    if not args.no_memory:
        memory_of_training(args.rounds)
    fastest = min(rows, key=lambda row: row["spec 0"])
    print(f"\nFastest to a summary here: {fastest['backend']} ({fastest['spec 0']:.2f} s): "
          f"`cli.py --backend {fastest['backend']} build ...` or KERAS_BACKEND.")


def memory_of_training(rounds):
    """Print the peak memory of `cli.py train` against the hand-written training script."""
    train_rows = []
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(max(1, rounds // 2)):
            spec = run_once([sys.executable, "cli.py", "train", "specs/lenet5.yaml", "--data", "digits", "--epochs",
                             "3", "--quiet", "--out", os.path.join(folder, f"run{round_}")], "tensorflow")[2]
            hand = run_once([sys.executable, "-c", f"import os; os.chdir({folder!r})\n" + TRAIN_BY_HAND],
                            "tensorflow")[2]
            train_rows.append((spec, hand))
    spec_mib, hand_mib = (statistics.median(column) for column in zip(*train_rows))
    print(f"\nPeak memory of training LeNet-5 on digits for 3 epochs (TensorFlow backend), median of "
          f"{len(train_rows)}:\n")
    print("| process | peak MiB | ratio | goal |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| `cli.py train specs/lenet5.yaml --data digits --epochs 3` | {spec_mib:.0f} | {spec_mib / hand_mib:.3f} "
          f"| <= 1.1 |")
    print(f"| hand-written script: the same model, `fit` on NumPy arrays, `evaluate`, `save` | {hand_mib:.0f} | 1 | |")


if __name__ == "__main__":
    main()
