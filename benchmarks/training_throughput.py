"""Training throughput of a spec-built model against the same model written
by hand in Keras, fed the same data, measured in one run; and image-folder
training against in-memory training of the same images: cached in memory;
over a memory cap the benchmark sets, where `training.cache: auto` caches the
decoded images on disk (as it does where they fit half the free space); the
same for a TFRecord file; and decoded every epoch (`cache: none`, what auto
does where neither memory nor disk has room).

    python benchmarks/training_throughput.py [--epochs 3] [--rounds 16]

Prints a Markdown table of samples per second (median over rounds, the
contenders' order rotated by one each round) and the ratios (the median
over rounds of the two contenders' ratio in the same round), with a control
row: the hand-written model against a second copy of itself, which shows how
much two identical runs differ on this machine. The contenders share one
TensorFlow runtime, so all run with TensorFlow's threads per op; the `train`
command, which also chooses those, is measured against hand-written scripts
in processes of their own by train_command.py (goal 1.5 against Keras's
defaults). Goals here: spec-built with `train`'s settings / hand-written with
the best settings >= 0.98; spec / hand-written (both defaults) >= 0.98,
image folder / in memory >= 0.9, image folder and TFRecord file over the
memory cap / in memory >= 0.9.
"""

import argparse
import dataclasses
import gc
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
RESNET18 = os.path.join(os.path.dirname(SPEC), "resnet18.yaml")


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
    fit(model, dataset, 1)
    return model


def fit(model, data, epochs):
    """`data`: the builder's tf.data pipeline, or (x, y) NumPy arrays fed as a script does: fit(x, y, batch_size=32)."""
    if isinstance(data, tuple):
        model.fit(data[0], data[1], batch_size=32, epochs=epochs, verbose=0)
    else:
        model.fit(data, epochs=epochs, verbose=0)


def samples_per_second(model, data, samples, epochs):
    gc.collect()                      # each contender starts from the same heap state
    started = time.perf_counter()
    fit(model, data, epochs)
    return samples * epochs / (time.perf_counter() - started)


def turns(names, round_):
    """The order contenders run in a round: rotated by one each round, so each
    takes every place in turn (on this machine the third of three one-epoch
    runs in a row was repeatedly the slowest, whichever model it was)."""
    shift = round_ % len(names)
    return names[shift:] + names[:shift]


def rounds(runs, count, measure) -> dict:
    """{name: [measure(run) of each round]}: `count` rounds, the order rotated."""
    results = {name: [] for name in runs}
    for round_ in range(count):
        for name in turns(list(runs), round_):
            results[name].append(measure(runs[name]))
    return results


def epochs_of(samples, epochs):
    """The measurement of a (model, dataset) run: samples/s over `epochs` epochs."""
    return lambda run: samples_per_second(*run, samples, epochs)


def paired_ratio(values, baselines):
    """The median over rounds of each round's ratio: both were measured in the
    same round, so a slow spell of the machine cancels out of it."""
    return statistics.median(v / b for v, b in zip(values, baselines))


def hand_written_resnet18(keras, shape, classes):
    """ResNet-18 (basic blocks, torchvision's layout) as one writes it in Keras: specs/resnet18.yaml's layers."""
    layers = keras.layers

    def bn(x):
        return layers.BatchNormalization(epsilon=1e-5)(x)
    inputs = keras.Input(shape)
    x = layers.ZeroPadding2D(3)(inputs)
    x = layers.ReLU()(bn(layers.Conv2D(64, 7, strides=2, use_bias=False)(x)))
    x = layers.MaxPooling2D(3, strides=2)(layers.ZeroPadding2D(1)(x))
    for filters, first_strides in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for i in range(2):
            strides = first_strides if i == 0 else 1
            shortcut = bn(layers.Conv2D(filters, 1, strides=strides, use_bias=False)(x)) if strides == 2 else x
            y = layers.Conv2D(filters, 3, strides=strides, use_bias=False)(layers.ZeroPadding2D(1)(x))
            y = layers.ReLU()(bn(y))
            y = bn(layers.Conv2D(filters, 3, padding="same", use_bias=False)(y))
            x = layers.ReLU()(layers.Add()([shortcut, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


def resnet18_rows(keras, args) -> list:
    """ResNet-18 on synthetic 64x64 images: `train`'s settings against a script with Keras's defaults
    and with the best."""
    shape, classes, count = (64, 64, 3), 10, 512
    rng = np.random.default_rng(0)
    x, y = rng.random((count,) + shape, dtype="float32"), rng.integers(0, classes, count)
    arrays = data.load((x, y), data.InputDescription(shape), data.SplitPlan())
    in_memory = pipeline.dataset(arrays.train, arrays, pipeline.Pipeline(shape, args.batch_size, Preprocessing()),
                                 training=True)
    overrides = {"input": list(shape), "output.units": classes}
    spec = builder.load_spec(RESNET18, overrides=overrides)
    chosen = steps_per_execution(spec.training, count, args.batch_size)
    runs = {"train": (compiled(keras, lambda: builder.build(RESNET18, overrides=overrides), in_memory, chosen),
                      in_memory),
            "hand": (compiled(keras, lambda: hand_written_resnet18(keras, shape, classes), (x, y)), (x, y)),
            "hand_best": (compiled(keras, lambda: hand_written_resnet18(keras, shape, classes), in_memory, 32),
                          in_memory)}
    assert runs["train"][0].count_params() == runs["hand"][0].count_params()
    results = rounds(runs, args.resnet_rounds, epochs_of(count, 1))
    median = {k: statistics.median(v) for k, v in results.items()}
    return [(f"ResNet-18, 64x64x3 synthetic ({count} images, {classes} classes): spec-built with `train`'s settings "
             f"(steps_per_execution {chosen}) vs a script with Keras's defaults", median["train"], median["hand"],
             paired_ratio(results["train"], results["hand"]), ">= 1.0"),
            ("ResNet-18: spec-built with `train`'s settings vs a script with the best settings", median["train"],
             median["hand_best"], paired_ratio(results["train"], results["hand_best"]), ">= 0.98")]


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
    parser.add_argument("--data-rounds", type=int, default=8, help="rounds for the data-source rows")
    parser.add_argument("--resnet-rounds", type=int, default=6, help="rounds of one epoch each for ResNet-18 (0: none)")
    args = parser.parse_args(argv)
    keras = backend.keras()
    images = data.InputDescription((32, 32, 1))
    loaded = data.load("digits", images, data.SplitPlan())
    samples = len(loaded.train.y)
    plain = Preprocessing()
    steps = pipeline.Pipeline((32, 32, 1), args.batch_size, plain)
    in_memory = pipeline.dataset(loaded.train, loaded, steps, training=True)
    arrays = (loaded.train.x * loaded.rescale, loaded.train.y)        # the same images, as a script holds them
    resnet = resnet18_rows(keras, args) if args.resnet_rounds else []
    with tempfile.TemporaryDirectory() as folder:
        small = data.load("digits", data.InputDescription((8, 8, 1)), data.SplitPlan())
        write_image_folder(small.train, folder)
        files = data.load(folder, images, data.SplitPlan())
        from_files = pipeline.dataset(files.train, files, dataclasses.replace(steps, cache="memory"), training=True)
        pipeline.CACHE_BUDGET = 0        # a memory cap the data does not fit: auto caches it on disk
        over_cap = pipeline.dataset(files.train, files, steps, training=True,
                                    cache_file=os.path.join(folder, "cache-folder"))
        streamed = pipeline.dataset(files.train, files, dataclasses.replace(steps, cache="none"), training=True)
        write_tfrecord(small.train, os.path.join(folder, "digits.tfrecord"))
        features = TFRecordSettings.model_validate(
            {"features": {"image": {"dtype": "string", "decode": "image"}, "label": {"dtype": "int64"}}})
        records = data.load(os.path.join(folder, "digits.tfrecord"), dataclasses.replace(images, tfrecord=features),
                            data.SplitPlan())
        from_records = pipeline.dataset(records.train, records, steps, training=True,
                                        cache_file=os.path.join(folder, "cache-records"))
        spec = builder.load_spec(SPEC)
        chosen = steps_per_execution(spec.training, samples, args.batch_size)      # what `train` chooses
        runs = {"spec": (compiled(keras, lambda: builder.build(SPEC), in_memory), in_memory),
                "train": (compiled(keras, lambda: builder.build(SPEC), in_memory, chosen), in_memory),
                # a script as the Keras guides write it: fit(x, y) on NumPy arrays, Keras's defaults
                "hand": (compiled(keras, lambda: hand_written_lenet5(keras), arrays), arrays),
                # the same script as a person who knows Keras's settings writes it (tf.data, 32 steps per call)
                "hand_best": (compiled(keras, lambda: hand_written_lenet5(keras), in_memory, 32), in_memory),
                # the hand-written model fed the builder's pipeline, Keras's defaults: parity with "spec"
                "hand_pipeline": (compiled(keras, lambda: hand_written_lenet5(keras), in_memory), in_memory),
                # the script a second time: how far two identical runs differ here
                "control": (compiled(keras, lambda: hand_written_lenet5(keras), arrays), arrays)}
        results = rounds(runs, args.rounds, epochs_of(samples, args.epochs))
        # the data sources in rounds of their own: a pipeline that decodes files keeps its threads busy for
        # a moment after `fit` returns, which slowed whichever model came next when all took turns together
        sources = {"memory": (compiled(keras, lambda: builder.build(SPEC), in_memory), in_memory),
                   "folder": (compiled(keras, lambda: builder.build(SPEC), from_files), from_files),
                   "over_cap": (compiled(keras, lambda: builder.build(SPEC), over_cap), over_cap),
                   "records": (compiled(keras, lambda: builder.build(SPEC), from_records), from_records),
                   "streamed": (compiled(keras, lambda: builder.build(SPEC), streamed), streamed)}
        results.update(rounds(sources, args.data_rounds, epochs_of(samples, args.epochs)))
    median = {k: statistics.median(v) for k, v in results.items()}

    def ratio(name, baseline):
        return paired_ratio(results[name], results[baseline])
    print(f"LeNet-5 on digits (32x32x1, {samples} images), batch {args.batch_size}; each model warmed up by one "
          f"epoch, then {args.rounds} rounds of {args.epochs} epochs each; ResNet-18 warmed up likewise, then "
          f"{args.resnet_rounds} rounds of one epoch; the data sources (spec-built) in {args.data_rounds} rounds of "
          f"their own; the order rotated by one each round; samples/s are medians, "
          f"ratios the median of each round's ratio; backend {keras.backend.backend()}\n")
    print("| comparison | samples/s | baseline samples/s | ratio | goal |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| LeNet-5: spec-built with `train`'s settings (tf.data, steps_per_execution {chosen}) vs a script with "
          f"Keras's defaults (fit on NumPy arrays) | {median['train']:,.0f} | {median['hand']:,.0f} | "
          f"{ratio('train', 'hand'):.3f} | - (>= 1.5 judged per process: train_command.py) |")
    print(f"| LeNet-5: spec-built with `train`'s settings vs a script with the best settings (the same tf.data "
          f"pipeline, steps_per_execution 32) | {median['train']:,.0f} | {median['hand_best']:,.0f} | "
          f"{ratio('train', 'hand_best'):.3f} | >= 0.98 |")
    print(f"| LeNet-5: spec-built vs hand-written, both Keras's defaults on the same pipeline | "
          f"{median['spec']:,.0f} | "
          f"{median['hand_pipeline']:,.0f} | {ratio('spec', 'hand_pipeline'):.3f} | >= 0.98 |")
    for label, value, baseline, paired, goal in resnet:
        print(f"| {label} | {value:,.0f} | {baseline:,.0f} | {paired:.3f} | {goal} |")
    print(f"| control: the LeNet-5 script vs the same, again (measurement noise) | {median['control']:,.0f} | "
          f"{median['hand']:,.0f} | {ratio('control', 'hand'):.3f} | 1 |")
    print(f"| image folder vs in memory (spec-built) | {median['folder']:,.0f} | {median['memory']:,.0f} | "
          f"{ratio('folder', 'memory'):.3f} | >= 0.9 |")
    print(f"| image folder over the memory cap (`cache: auto`: decoded once into a disk cache), vs in memory | "
          f"{median['over_cap']:,.0f} | {median['memory']:,.0f} | {ratio('over_cap', 'memory'):.3f} | >= 0.9 |")
    print(f"| TFRecord file over the memory cap (`cache: auto`: decoded once into a disk cache), vs in memory | "
          f"{median['records']:,.0f} | {median['memory']:,.0f} | {ratio('records', 'memory'):.3f} | >= 0.9 |")
    print(f"| image folder over the memory and disk caps (`cache: none`: decoded every epoch), vs in memory | "
          f"{median['streamed']:,.0f} | {median['memory']:,.0f} | {ratio('streamed', 'memory'):.3f} | - |")


if __name__ == "__main__":
    main()
