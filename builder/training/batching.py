"""Batching: feeding data.Split arrays to Keras. The seam between TensorFlow and the
rest: with TensorFlow installed, a tf.data pipeline (decode, rescale, cache,
shuffle, batch, augment, prefetch) that keeps the accelerator busy; without
it (Keras on JAX or PyTorch alone), a keras.utils.PyDataset of NumPy batches."""

from __future__ import annotations

import importlib.util
import math

import numpy as np

from ..backend import keras as _keras
from ..backend import tensorflow as _tensorflow

keras = _keras()


def has_tf_data() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def augmentation_layers(preprocessing):
    layers = []
    for item in preprocessing.augmentation:
        name, args = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        cls = getattr(keras.layers, "".join(part.capitalize() for part in name.split("_")))
        layers.append(cls(**(args or {})))
    return layers


CACHE_BUDGET = 1 << 30        # bytes of decoded images a split may keep in memory (training.cache: auto)


def cache_mode(split, data, shape, cache="auto") -> str:
    """How a split's decoded images are kept between epochs: 'memory' (where
    they fit the budget, for `auto`), 'disk', or 'none' (decoded every epoch,
    streamed from their files). Arrays are in memory already: their scaled
    copy is cached there too (per-example mapping every epoch costs more)."""
    if cache == "none":
        return "none"
    if not data.images_from_files:
        return "memory"
    if cache != "auto":
        return cache
    decoded = len(split.y) * int(np.prod([d for d in shape if d])) * 4
    return "memory" if decoded <= CACHE_BUDGET else "none"


def dataset(split, data, shape, batch_size, *, training, preprocessing, seed, shuffle=True, cache="auto",
            cache_file=None):
    """A batched dataset of (x, y) for `split`. The data source's own scaling
    (`data.rescale`: 1/255 for images) applies unless `preprocessing.rescale` says otherwise."""
    rescale = preprocessing.rescale if preprocessing.rescale is not None else data.rescale
    if getattr(split.x, "dtype", None) == object and not data.images_from_files:
        rescale = None                # raw strings, for a model that vectorizes its text itself
    augment = augmentation_layers(preprocessing) if training else []
    if has_tf_data():
        mode = cache_mode(split, data, shape, cache)
        if mode == "disk" and cache_file is None:
            mode = "none"                # evaluate and predict read each file once anyway
        return _tf_dataset(split, data, shape, batch_size, training and shuffle, rescale, augment, seed,
                           (mode, cache_file))
    return ArrayBatches(split, data, shape, batch_size, training and shuffle, rescale, augment, seed)


def _tf_dataset(split, data, shape, batch_size, shuffle, rescale, augment, seed, cache=("none", None)):
    tf = _tensorflow()
    ds = tf.data.Dataset.from_tensor_slices((split.x, split.y))
    if data.images_from_files:
        channels = shape[-1]

        def decode(path, label):
            image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
            return tf.image.resize(image, shape[:2]), label
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if rescale is not None:
        ds = ds.map(lambda x, y: (tf.cast(x, "float32") * rescale, y), num_parallel_calls=tf.data.AUTOTUNE)
    if cache[0] == "memory":
        ds = ds.cache()                  # decoded once; later epochs read memory
    elif cache[0] == "disk":
        ds = ds.cache(cache[1])          # decoded once into the run folder; later epochs read the file
    if shuffle:
        ds = ds.shuffle(len(split.y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment:
        def apply(x, y):
            for layer in augment:
                x = layer(x, training=True)
            return x, y
        ds = ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


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
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
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
    return np.stack([keras.utils.img_to_array(keras.utils.load_img(p, color_mode=mode, target_size=shape[:2]))
                     for p in paths])
