"""Training throughput of a spec-built model against the same model written
by hand in Keras, fed the same data, measured in one run; and image-folder
training against in-memory training of the same images: cached in memory;
over a memory cap the benchmark sets, where `training.cache: auto` caches the
decoded images on disk (as it does where they fit half the free space); the
same for a TFRecord file; and decoded every epoch (`cache: none`, what auto
does where neither memory nor disk has room).

    python benchmarks/training_throughput.py [--epochs 3] [--rounds 16]

Prints a Markdown table of samples per second (median over rounds, the
contenders taking turns to go first) and the ratios, with a control row: the
hand-written model against a second copy of itself, which shows how much two
identical runs differ on this machine. Goals: spec-built with `train`'s
settings / hand-written with Keras's defaults >= 1.5, and / hand-written with
the best settings >= 0.98; spec / hand-written (both defaults) >= 0.98,
image folder / in memory >= 0.9, image folder and TFRecord file over the
memory cap / in memory >= 0.9.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import builder  # noqa: E402
from builder import backend  # noqa: E402
from builder.spec.training import Preprocessing, TFRecordSettings  # noqa: E402
from builder.training import batching as pipeline  # noqa: E402
from builder.training import data  # noqa: E402
from builder.training.compile import steps_per_execution  # noqa: E402

SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs", "lenet5.yaml")


def hand_written_lenet5(keras):
    """LeNet-5 as one would write it in Keras, layer for layer the spec's."""
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(6, 5, activation="tanh")(inputs)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Conv2D(16, 5, activation="tanh")(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Conv2D(120, 5, activation="tanh")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(84, activation="tanh")(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def compiled(keras, make_model, dataset, steps_per_execution=1):
    """A model built with seed 0, compiled, and warmed up by one epoch (tracing, cache fill)."""
    keras.utils.set_random_seed(0)
    model = make_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    model.fit(dataset, epochs=1, verbose=0)
    return model


def samples_per_second(model, dataset, samples, epochs):
    started = time.perf_counter()
    model.fit(dataset, epochs=epochs, verbose=0)
    return samples * epochs / (time.perf_counter() - started)


def write_image_folder(split, folder):
    from PIL import Image
    paths = []
    for i, (image, label) in enumerate(zip(split.x, split.y)):
        os.makedirs(os.path.join(folder, str(label)), exist_ok=True)
        path = os.path.join(folder, str(label), f"{i}.png")
        Image.fromarray(np.clip(image[..., 0] * 255 / 16, 0, 255).astype("uint8")).save(path)
        paths.append(path)
    return paths


def write_tfrecord(split, path):
    """The same images as PNG-encoded tf.train.Example records."""
    import tensorflow as tf
    with tf.io.TFRecordWriter(path) as writer:
        for image, label in zip(split.x, split.y):
            png = tf.io.encode_png(np.clip(image * 255 / 16, 0, 255).astype("uint8")).numpy()
            feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
                       "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    keras = backend.keras()
    loaded = data.load("digits", (32, 32, 1), "float32", validation_split=0, test_split=0, seed=0)
    samples = len(loaded.train.y)
    plain = Preprocessing()
    in_memory = pipeline.dataset(loaded.train, loaded, (32, 32, 1), args.batch_size, training=True,
                                 preprocessing=plain, seed=0)
    with tempfile.TemporaryDirectory() as folder:
        small = data.load("digits", (8, 8, 1), "float32", validation_split=0, test_split=0, seed=0)
        write_image_folder(small.train, folder)
        files = data.load(folder, (32, 32, 1), "float32", validation_split=0, test_split=0, seed=0)
        from_files = pipeline.dataset(files.train, files, (32, 32, 1), args.batch_size, training=True,
                                      preprocessing=plain, seed=0, cache="memory")
        pipeline.CACHE_BUDGET = 0        # a memory cap the data does not fit: auto caches it on disk
        over_cap = pipeline.dataset(files.train, files, (32, 32, 1), args.batch_size, training=True,
                                    preprocessing=plain, seed=0, cache="auto",
                                    cache_file=os.path.join(folder, "cache-folder"))
        streamed = pipeline.dataset(files.train, files, (32, 32, 1), args.batch_size, training=True,
                                    preprocessing=plain, seed=0, cache="none")
        write_tfrecord(small.train, os.path.join(folder, "digits.tfrecord"))
        records = data.load(os.path.join(folder, "digits.tfrecord"), (32, 32, 1), "float32", validation_split=0,
                            test_split=0, seed=0, tfrecord=TFRecordSettings.model_validate(
                                {"features": {"image": {"dtype": "string", "decode": "image"},
                                              "label": {"dtype": "int64"}}}))
        from_records = pipeline.dataset(records.train, records, (32, 32, 1), args.batch_size, training=True,
                                        preprocessing=plain, seed=0, cache="auto",
                                        cache_file=os.path.join(folder, "cache-records"))
        spec = builder.load_spec(SPEC)
        chosen = steps_per_execution(spec.training, samples, args.batch_size)      # what `train` chooses
        runs = {"spec": (compiled(keras, lambda: builder.build(SPEC), in_memory), in_memory),
                "train": (compiled(keras, lambda: builder.build(SPEC), in_memory, chosen), in_memory),
                "hand": (compiled(keras, lambda: hand_written_lenet5(keras), in_memory), in_memory),
                # the same, as a person who knows Keras's settings would compile it
                "hand_best": (compiled(keras, lambda: hand_written_lenet5(keras), in_memory, 32), in_memory),
                # the same hand-written model a second time: how far two identical runs differ here
                "control": (compiled(keras, lambda: hand_written_lenet5(keras), in_memory), in_memory),
                "folder": (compiled(keras, lambda: builder.build(SPEC), from_files), from_files),
                "over_cap": (compiled(keras, lambda: builder.build(SPEC), over_cap), over_cap),
                "records": (compiled(keras, lambda: builder.build(SPEC), from_records), from_records),
                "streamed": (compiled(keras, lambda: builder.build(SPEC), streamed), streamed)}
        results = {name: [] for name in runs}
        for round_ in range(args.rounds):
            order = list(runs) if round_ % 2 == 0 else list(reversed(runs))     # take turns to go first
            for name in order:
                model, dataset = runs[name]
                results[name].append(samples_per_second(model, dataset, samples, args.epochs))
        results["memory"] = results["spec"]
    median = {k: statistics.median(v) for k, v in results.items()}
    print(f"LeNet-5 on digits (32x32x1, {samples} images), batch {args.batch_size}; each model warmed up by one "
          f"epoch, then {args.rounds} rounds of {args.epochs} epochs each, taking turns; medians; backend "
          f"{keras.backend.backend()}\n")
    print("| comparison | samples/s | baseline samples/s | ratio | goal |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| spec-built with `train`'s settings (steps_per_execution {chosen}) vs hand-written Keras with "
          f"Keras's defaults | {median['train']:,.0f} | {median['hand']:,.0f} | {median['train'] / median['hand']:.3f} "
          f"| >= 1.5 |")
    print(f"| spec-built with `train`'s settings vs hand-written Keras with the best settings (steps_per_execution "
          f"32) | {median['train']:,.0f} | {median['hand_best']:,.0f} | {median['train'] / median['hand_best']:.3f} "
          f"| >= 0.98 |")
    print(f"| spec-built vs hand-written Keras, both with Keras's defaults | {median['spec']:,.0f} | "
          f"{median['hand']:,.0f} | {median['spec'] / median['hand']:.3f} | >= 0.98 |")
    print(f"| control: hand-written vs the same, again (measurement noise) | {median['control']:,.0f} | "
          f"{median['hand']:,.0f} | {median['control'] / median['hand']:.3f} | 1 |")
    print(f"| image folder vs in memory (spec-built) | {median['folder']:,.0f} | {median['memory']:,.0f} | "
          f"{median['folder'] / median['memory']:.3f} | >= 0.9 |")
    print(f"| image folder over the memory cap (`cache: auto`: decoded once into a disk cache), vs in memory | "
          f"{median['over_cap']:,.0f} | {median['memory']:,.0f} | {median['over_cap'] / median['memory']:.3f} | >= 0.9 |")
    print(f"| TFRecord file over the memory cap (`cache: auto`: decoded once into a disk cache), vs in memory | "
          f"{median['records']:,.0f} | {median['memory']:,.0f} | {median['records'] / median['memory']:.3f} | >= 0.9 |")
    print(f"| image folder over the memory and disk caps (`cache: none`: decoded every epoch), vs in memory | "
          f"{median['streamed']:,.0f} | {median['memory']:,.0f} | {median['streamed'] / median['memory']:.3f} | - |")


if __name__ == "__main__":
    main()
