"""Batching: feeding data.Split arrays to Keras. The seam between TensorFlow and the
rest: with TensorFlow installed, a tf.data pipeline (decode, rescale, cache,
shuffle, batch, augment, prefetch) that keeps the accelerator busy; without
it (Keras on JAX or PyTorch alone), a keras.utils.PyDataset of NumPy batches."""

from __future__ import annotations

import math
import os
import shutil
import warnings
from typing import Any

import numpy as np

from .. import backend
from ..backend import keras as _keras
from ..backend import tensorflow as _tensorflow
from ..errors import BuilderWarning, SpecError

keras: Any = _keras()


_told_broken = False


def has_tf_data() -> bool:
    """Whether tf.data feeds the data: TensorFlow imports. A TensorFlow that is
    installed but broken is said once; Keras on JAX or PyTorch trains without it."""
    global _told_broken
    if backend.has_tensorflow():
        return True
    problem = backend.tensorflow_problem()
    if not _told_broken and problem.startswith("is installed"):
        _told_broken = True
        warnings.warn(
            f"warning: TensorFlow {problem}; meanwhile the data is fed without tf.data", BuilderWarning, stacklevel=2
        )
    return False


def augmentation_layers(preprocessing):
    layers = []
    for item in preprocessing.augmentation:
        name, args = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        cls = getattr(keras.layers, "".join(part.capitalize() for part in name.split("_")))
        layers.append(cls(**(args or {})))
    return layers


CACHE_BUDGET = 1 << 30  # bytes of decoded examples a split may keep in memory (training.cache: auto)
DISK_SHARE = 0.5  # auto caches on disk where the decoded copy takes at most this share of the free space


def cache_mode(split, data, shape, cache="auto", cache_dir=None) -> str:
    """How a split's decoded examples are kept between epochs: 'memory',
    'disk' (in `cache_dir`), or 'none' (decoded every epoch, streamed from
    their files). `auto`: memory where they fit the budget, else disk where
    they fit half its free space, else none. Arrays are in memory already:
    their scaled copy is cached there too (per-example mapping every epoch costs more)."""
    if cache == "none":
        return "none"
    if not (data.images_from_files or data.streamed):
        return "memory"
    if cache != "auto":
        return cache if cache == "memory" or cache_dir is not None else "none"
    decoded = len(split.y) * int(np.prod([d for d in shape if d])) * 4
    if decoded <= CACHE_BUDGET:
        return "memory"
    if cache_dir is not None and decoded <= shutil.disk_usage(_existing(cache_dir)).free * DISK_SHARE:
        return "disk"
    return "none"


def _existing(path):
    while not os.path.isdir(path):
        path = os.path.dirname(path)
    return path


def pipeline(config) -> dict:
    """The input pipeline's settings in a spec's training section, as dataset()'s keywords."""
    return {"num_parallel_calls": config.num_parallel_calls, "prefetch": config.prefetch}


def dataset(
    split,
    data,
    shape,
    batch_size,
    *,
    training,
    preprocessing,
    seed,
    shuffle=True,
    cache="auto",
    cache_file=None,
    num_parallel_calls="auto",
    prefetch="auto",
):
    """A batched dataset of (x, y) for `split`. The data source's own scaling
    (`data.rescale`: 1/255 for images) applies unless `preprocessing.rescale` says otherwise.
    `num_parallel_calls` and `prefetch`: a number, or auto (tf.data tunes them; Keras's PyDataset defaults)."""
    rescale = preprocessing.rescale if preprocessing.rescale is not None else data.rescale
    strings = getattr(split.x, "dtype", None) == object  # noqa: E721 - a NumPy dtype, not a type
    if strings and not data.images_from_files:
        rescale = None  # raw strings, for a model that vectorizes its text itself
    augment = augmentation_layers(preprocessing) if training else []
    if data.streamed and not has_tf_data():
        raise SpecError(
            f"{data.name} is read by tf.data, which needs TensorFlow; TensorFlow {backend.tensorflow_problem()}"
        )
    if has_tf_data():
        # evaluate and predict (no cache file) read each file once anyway
        mode = cache_mode(split, data, shape, cache, cache_file and os.path.dirname(cache_file))
        ds = _tf_dataset(
            split,
            data,
            shape,
            batch_size,
            training and shuffle,
            rescale,
            augment,
            seed,
            (mode, cache_file),
            num_parallel_calls,
        )
        if prefetch == "auto":
            return ds.prefetch(_tensorflow().data.AUTOTUNE)
        return ds.prefetch(prefetch) if prefetch else ds
    batches = ArrayBatches(split, data, shape, batch_size, training and shuffle, rescale, augment, seed)
    if num_parallel_calls != "auto":
        batches.workers = num_parallel_calls
    if prefetch != "auto":
        batches.max_queue_size = max(1, prefetch)  # the workers' queue (0 would make it unbounded)
    return batches


def shuffle_buffer(count, shape) -> int:
    """Examples a shuffle may hold: all of them where they fit the memory budget."""
    return max(1, min(count, CACHE_BUDGET // max(1, int(np.prod([d for d in shape if d])) * 4)))


def _tf_dataset(
    split, data, shape, batch_size, shuffle, rescale, augment, seed, cache=("none", None), num_parallel_calls="auto"
):
    tf = _tensorflow()
    calls = tf.data.AUTOTUNE if num_parallel_calls == "auto" else num_parallel_calls
    count = len(split.y)
    if data.streamed:
        records = split.x.records
        ds = tf.data.Dataset.zip((split.x.raw(tf), tf.data.Dataset.from_tensor_slices(split.y)))
        ds = ds.apply(tf.data.experimental.assert_cardinality(count))  # progress bars know the epoch's length
        decode_one, images = (lambda raw: records.decode(tf, raw)), records.image
    else:
        ds = tf.data.Dataset.from_tensor_slices((split.x, split.y))
        channels = shape[-1]
        decode_one = (
            (lambda path: tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False))
            if data.images_from_files
            else None
        )
        images = data.images_from_files
    # Streamed inputs are shuffled before decoding (file names and encoded
    # records are small), so that no buffer holds every decoded example.
    early = shuffle and decode_one is not None and cache[0] == "none"
    if early:
        ds = ds.shuffle(
            count if data.images_from_files else shuffle_buffer(count, shape), seed=seed, reshuffle_each_iteration=True
        )
    if decode_one is not None:
        size = tf.constant(shape[:2]) if images else None

        def decode(raw, label):
            x = decode_one(raw)
            if images:  # resized unless it has the input's size already (resizing costs)
                x = tf.cond(
                    tf.reduce_all(tf.shape(x)[:2] == size),
                    lambda: tf.cast(x, "float32"),
                    lambda: tf.image.resize(x, shape[:2]),
                )
            return x, label

        ds = ds.map(decode, num_parallel_calls=calls)
    if rescale is not None:
        ds = ds.map(lambda x, y: (tf.cast(x, "float32") * rescale, y), num_parallel_calls=calls)
    if cache[0] == "memory":
        ds = ds.cache()  # decoded once; later epochs read memory
    elif cache[0] == "disk":
        ds = ds.cache(cache[1])  # decoded once into the run folder; later epochs read the file
    if shuffle and not early:
        ds = ds.shuffle(
            count if cache[0] == "memory" else shuffle_buffer(count, shape), seed=seed, reshuffle_each_iteration=True
        )
    ds = ds.batch(batch_size)
    if augment:

        def apply(x, y):
            for layer in augment:
                x = layer(x, training=True)
            return x, y

        ds = ds.map(apply, num_parallel_calls=calls)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


class ArrayBatches(keras.utils.PyDataset):
    """NumPy batches for Keras without TensorFlow."""

    def __init__(self, split, data, shape, batch_size, shuffle, rescale, augment, seed):
        super().__init__()
        self.x = _load_images(split.x, shape) if data.images_from_files else split.x
        if rescale is not None:
            self.x = self.x.astype("float32") * rescale
        self.y = split.y
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(self.y))
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, index):
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.x[chosen]
        for layer in self.augment:
            x = np.asarray(layer(x, training=True))
        return x, self.y[chosen]

    def on_epoch_end(self):
        if self.shuffle:
            self.rng.shuffle(self.order)


def decode_image_file(path, channels):
    """One image file decoded (TensorFlow's decoder where the pipeline uses it, Keras's otherwise)."""
    if has_tf_data():
        tf = _tensorflow()
        return tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    return keras.utils.img_to_array(keras.utils.load_img(path, color_mode="grayscale" if channels == 1 else "rgb"))


def _load_images(paths, shape):
    mode = "grayscale" if shape[-1] == 1 else "rgb"
    return np.stack(
        [keras.utils.img_to_array(keras.utils.load_img(p, color_mode=mode, target_size=shape[:2])) for p in paths]
    )
