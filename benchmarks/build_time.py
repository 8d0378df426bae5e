"""Build time from a spec against the same network made directly in Keras,
and what `validate` costs against importing TensorFlow.

    python benchmarks/build_time.py [--rounds 15]

Each pair is built alternately in one process (the spec first in even
rounds, Keras first in odd ones); the table gives medians and the ratio
spec / reference (goal <= 1.05). The spec time includes reading and checking
the YAML; the column beside it gives that part alone (reading, checking and
expanding the spec, no Keras), which is the builder's own cost.
"""

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import builder  # noqa: E402
from builder import backend  # noqa: E402

backend.keras()                      # Keras and TensorFlow, imported without their start-up log
import builder.keras.layers  # noqa: E402  (LocalResponseNormalization)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")


def googlenet(keras):
    """GoogLeNet as one writes it by hand in Keras (the spec's layers)."""
    layers = keras.layers

    def conv(x, filters, size, name, strides=1, padding="same"):
        return layers.Conv2D(filters, size, strides=strides, padding=padding, activation="relu", name=name)(x)

    def inception(x, name, f1, f3r, f3, f5r, f5, proj):
        b1 = conv(x, f1, 1, f"{name}_1x1")
        b2 = conv(conv(x, f3r, 1, f"{name}_3x3_reduce"), f3, 3, f"{name}_3x3")
        b3 = conv(conv(x, f5r, 1, f"{name}_5x5_reduce"), f5, 5, f"{name}_5x5")
        b4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
        b4 = conv(b4, proj, 1, f"{name}_pool_proj")
        return layers.Concatenate(name=f"{name}_output")([b1, b2, b3, b4])

    inputs = keras.Input((224, 224, 3))
    x = layers.ZeroPadding2D(3)(inputs)
    x = conv(x, 64, 7, "conv1", strides=2, padding="valid")
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = builder.keras.layers.LocalResponseNormalization()(x)
    x = conv(x, 64, 1, "conv2_reduce")
    x = conv(x, 192, 3, "conv2")
    x = builder.keras.layers.LocalResponseNormalization()(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    for block in [("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64), "pool",
                  ("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64),
                  ("4c", 128, 128, 256, 24, 64, 64), ("4d", 112, 144, 288, 32, 64, 64),
                  ("4e", 256, 160, 320, 32, 128, 128), "pool", ("5a", 256, 160, 320, 32, 128, 128),
                  ("5b", 384, 192, 384, 48, 128, 128)]:
        if block == "pool":
            x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        else:
            x = inception(x, f"inception_{block[0]}", *block[1:])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.4)(x)
    return keras.Model(inputs, layers.Dense(1000, activation="softmax")(x))


def bert_base():
    keras_hub = backend._quietly(lambda: __import__("keras_hub"))     # its TensorFlow imports log too
    return keras_hub.models.BertBackbone(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
                                         intermediate_dim=3072, max_sequence_length=512, num_segments=2)


def timed(make):
    gc.collect()                      # start each build from the same heap state
    started = time.perf_counter()
    model = make()
    seconds = time.perf_counter() - started
    params = model.count_params()
    backend.keras().backend.clear_session()
    return seconds, params


def _seconds(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def compare(rounds, spec, reference):
    times = {"spec": [], "reference": []}
    params = {}
    for round_ in range(rounds):
        order = [("spec", spec), ("reference", reference)]
        for name, make in (order if round_ % 2 == 0 else order[::-1]):
            seconds, params[name] = timed(make)
            times[name].append(seconds)
    return {k: statistics.median(v) for k, v in times.items()}, params


def subprocess_seconds(code, repeat=5):
    """Median wall time of a fresh interpreter running `code`."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    keras = backend.keras()
    cases = [
        ("ResNet-50", "resnet50.yaml", lambda: keras.applications.ResNet50(weights=None),
         "keras.applications.ResNet50(weights=None)", {}),
        ("GoogLeNet", "googlenet.yaml", lambda: googlenet(keras), "hand-written Keras (benchmarks/build_time.py)", {}),
        ("BERT-base", "bert_base.yaml", bert_base, "keras_hub.models.BertBackbone", {"output": "none"}),
    ]
    print(f"Median of {args.rounds} alternating builds in one process, backend {keras.backend.backend()}\n")
    print("| model | reference | spec (s) | reference (s) | ratio | of which reading and checking the spec (s) "
          "| parameters equal |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for label, spec_file, reference, reference_name, overrides in cases:
        path = os.path.join(SPECS, spec_file)
        medians, params = compare(
            args.rounds, lambda path=path, overrides=overrides: builder.build(path, overrides=overrides), reference
        )
        def check(path=path, overrides=overrides):
            return builder.validate(path, overrides=overrides)

        checking = statistics.median(_seconds(check) for _ in range(args.rounds))
        print(f"| {label} | {reference_name} | {medians['spec']:.3f} | {medians['reference']:.3f} | "
              f"{medians['spec'] / medians['reference']:.3f} | {checking:.4f} | "
              f"{params['spec'] == params['reference']} |", flush=True)
    largest = max((os.path.join(SPECS, f) for f in os.listdir(SPECS) if f.endswith(".yaml")),
                  key=lambda p: len(builder.validate(p).nodes))
    validate = subprocess_seconds(f"from builder.cli import main; main(['validate', {largest!r}])")
    python = subprocess_seconds("pass")
    tensorflow = subprocess_seconds("import builder.backend as b; b.keras()")
    print(f"\nvalidate {os.path.relpath(largest, ROOT)} ({len(builder.validate(largest).nodes)} layers), "
          f"fresh process, median of 5:\n")
    print("| command | seconds |")
    print("| --- | ---: |")
    print(f"| `python -c pass` (interpreter start) | {python:.3f} |")
    print(f"| `cli.py validate` on the largest spec (no TensorFlow import) | {validate:.3f} |")
    print(f"| importing Keras and TensorFlow alone, which validate avoids | {tensorflow:.3f} |")


if __name__ == "__main__":
    main()
