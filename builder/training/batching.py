"""Batching: feeding data.Split arrays to Keras. The seam between TensorFlow and the
rest: with TensorFlow installed, a tf.data pipeline (decode, rescale, cache,
shuffle, batch, augment, prefetch) that keeps the accelerator busy; without
it (Keras on JAX or PyTorch alone), a keras.utils.PyDataset of NumPy batches."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import warnings
from typing import Any

import numpy as np

from .. import backend
from ..backend import keras as _keras
from ..backend import tensorflow as _tensorflow
from ..errors import BuilderWarning, DependencyError
from . import streams

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
    decoded = len(split) * int(np.prod([d for d in shape if d])) * 4
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
    """The input pipeline's settings in a spec's training section, as Pipeline's keywords."""
    return {"num_parallel_calls": config.num_parallel_calls, "prefetch": config.prefetch}


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """How a split becomes batches: the input's shape, the batch size, the
    spec's preprocessing, and the pipeline's settings. `num_parallel_calls`
    and `prefetch`: a number, or auto (tf.data tunes them; Keras's PyDataset defaults)."""

    shape: tuple
    batch_size: int
    preprocessing: Any
    seed: int = 0
    cache: str = "auto"
    num_parallel_calls: Any = "auto"
    prefetch: Any = "auto"

    @classmethod
    def of(cls, spec, batch_size: int, seed: int | None = None) -> Pipeline:
        """A spec's pipeline for its (first) input (its own seed unless `seed` is given)."""
        config = spec.training
        seed = config.seed if seed is None else seed
        return cls(
            tuple(spec.inputs[0].shape),
            batch_size,
            config.preprocessing,
            seed,
            config.cache,
            **pipeline(config),
        )


def dataset(split, data, steps: Pipeline, *, training, shuffle=True, cache_file=None, shard=None):
    """A batched dataset of (x, y) for `split`, made as `steps` says. The data
    source's own scaling (`data.rescale`: 1/255 for images) applies unless
    `preprocessing.rescale` says otherwise. `shard` (data-parallel's
    distribution.Shard): this process's slice of every batch."""
    preprocessing, shape = steps.preprocessing, steps.shape
    rescale = preprocessing.rescale if preprocessing.rescale is not None else data.rescale
    strings = getattr(split.x, "dtype", None) == object  # noqa: E721 - a NumPy dtype, not a type
    if (strings and not data.images_from_files) or isinstance(split.x, dict):
        rescale = None  # raw strings, for a model that vectorizes its text itself; named token inputs
    augment = augmentation_layers(preprocessing) if training else []
    if data.streamed and not has_tf_data():
        raise DependencyError(
            f"{data.name} is read by tf.data, which needs TensorFlow; TensorFlow {backend.tensorflow_problem()}"
        )
    if has_tf_data():
        # evaluate and predict (no cache file) read each file once anyway
        mode = cache_mode(split, data, shape, steps.cache, cache_file and os.path.dirname(cache_file))
        ds = _tf_dataset(split, data, steps, training and shuffle, (rescale, augment), (mode, cache_file))
        if shard is not None:
            ds = _sharded(ds, shard)
        if steps.prefetch == "auto":
            return ds.prefetch(_tensorflow().data.AUTOTUNE)
        return ds.prefetch(steps.prefetch) if steps.prefetch else ds
    batches = ArrayBatches(split, data, steps, training and shuffle, rescale, augment)
    batches.shard = shard
    if steps.num_parallel_calls != "auto":
        batches.workers = steps.num_parallel_calls
    if steps.prefetch != "auto":
        batches.max_queue_size = max(1, steps.prefetch)  # the workers' queue (0 would make it unbounded)
    return batches


def shuffle_buffer(count, shape) -> int:
    """Examples a shuffle may hold: all of them where they fit the memory budget."""
    return max(1, min(count, CACHE_BUDGET // max(1, int(np.prod([d for d in shape if d])) * 4)))


def _tf_dataset(split, data, steps: Pipeline, shuffle, scaling, cache=("none", None)):
    """`scaling`: (the factor or None, the augmentation layers); `cache`: (mode, file)."""
    tf = _tensorflow()
    shape, seed, (rescale, augment) = steps.shape, steps.seed, scaling
    calls = tf.data.AUTOTUNE if steps.num_parallel_calls == "auto" else steps.num_parallel_calls
    count = len(split)
    ds, decode_one, images = _examples(tf, split, data, shape)
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
        ds = ds.map(lambda x, *rest: (tf.cast(x, "float32") * rescale, *rest), num_parallel_calls=calls)
    if cache[0] == "memory":
        ds = ds.cache()  # decoded once; later epochs read memory
    elif cache[0] == "disk":
        ds = ds.cache(cache[1])  # decoded once into the run folder; later epochs read the file
    if shuffle and not early:
        ds = ds.shuffle(
            count if cache[0] == "memory" else shuffle_buffer(count, shape), seed=seed, reshuffle_each_iteration=True
        )
    ds = ds.batch(steps.batch_size)
    if augment:
        ds = ds.map(lambda *batch: augmented(augment, batch, data.label_masks), num_parallel_calls=calls)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def skip_epochs(batches, count: int) -> None:
    """Advance the training batches' shuffling past `count` epochs, so that a
    resumed run sees the very batches of the run it continues (tf.data draws
    each epoch's order when an iterator is made; ArrayBatches at each epoch's end)."""
    for _ in range(count):
        if isinstance(batches, ArrayBatches):
            batches.on_epoch_end()
        else:
            iter(batches)


def _sharded(ds, shard):
    """Every batch cut to this process's slice of it (each process reads the same batches); a last
    batch too small to split over the devices is left out."""
    tf = _tensorflow()

    def size(*batch):
        return tf.shape(tf.nest.flatten(batch)[0])[0]

    def part(*batch):
        start, length = shard.bounds(size(*batch))
        return tf.nest.map_structure(lambda t: t[start : start + length], batch)

    return ds.filter(lambda *batch: shard.bounds(size(*batch))[1] > 0).map(part)


def take(x, chosen):
    """The examples `chosen` (indices or a slice) of `x`: an array, or a dict of arrays (a model's named inputs)."""
    return {name: values[chosen] for name, values in x.items()} if isinstance(x, dict) else x[chosen]


def augmented(layers, batch, masks=False):
    """A batch (x, y[, weights]) through the augmentation layers; per-pixel
    masks (and their weights) take the same random transformation as their
    images (Keras's `segmentation_masks`: nearest-neighbour, never blended)."""
    x, y, *weights = batch
    if not masks:
        for layer in layers:
            x = layer(x, training=True)
        return (x, y, *weights)
    ops = keras.ops
    x = ops.convert_to_tensor(x)
    stacked = ops.stack([ops.cast(y, "float32"), *(ops.cast(w, "float32") for w in weights)], axis=-1)
    for layer in layers:
        out = layer({"images": x, "segmentation_masks": stacked}, training=True)
        x, stacked = out["images"], out["segmentation_masks"]
    y = ops.cast(ops.round(stacked[..., 0]), y.dtype)
    return (x, y, *(ops.cast(ops.round(stacked[..., 1 + i]), w.dtype) for i, w in enumerate(weights)))


class ArrayBatches(keras.utils.PyDataset):
    """NumPy batches for Keras without TensorFlow."""

    def __init__(self, split, data, steps: Pipeline, shuffle, rescale, augment):
        super().__init__()
        self.x = _load_images(split.x, steps.shape) if data.images_from_files else split.x
        if rescale is not None:
            self.x = self.x.astype("float32") * rescale
        self.y, self.weights, self.masks = split.y, split.weights, data.label_masks
        self.batch_size, self.shuffle, self.augment = steps.batch_size, shuffle, augment
        self.rng = np.random.default_rng(steps.seed)
        self.order = np.arange(len(split))
        self.on_epoch_end()

    shard = None  # data-parallel: this process's slice of every batch (distribution.Shard)

    def __len__(self):
        batches = math.ceil(len(self.order) / self.batch_size)
        last = len(self.order) - (batches - 1) * self.batch_size
        return batches - (self.shard is not None and batches > 0 and self.shard.bounds(last)[1] == 0)

    def __getitem__(self, index):
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        if self.shard is not None:
            start, length = self.shard.bounds(len(chosen))
            chosen = chosen[start : start + length]
        batch = (take(self.x, chosen), take(self.y, chosen), *(() if self.weights is None else (self.weights[chosen],)))
        if self.augment:
            batch = tuple(np.asarray(part) for part in augmented(self.augment, batch, self.masks))
        return batch

    def on_epoch_end(self):
        if self.shuffle:
            self.rng.shuffle(self.order)


def _examples(tf, split, data, shape):
    """(a dataset of the split's (raw input, label) pairs, the decoder of one
    raw input or None where they need none, whether they are images)."""
    if data.streamed:
        records = split.x.records
        ds = tf.data.Dataset.zip((split.x.raw(tf), tf.data.Dataset.from_tensor_slices(split.y)))
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(split)))  # progress bars know the epoch's length
        return ds, (lambda raw: records.decode(tf, raw)), records.image
    ds = tf.data.Dataset.from_tensor_slices(
        (split.x, split.y) if split.weights is None else (split.x, split.y, split.weights)
    )
    if not data.images_from_files:
        return ds, None, False
    return ds, (lambda path: streams.decode_image(tf, tf.io.read_file(path), shape[-1])), True


def decode_image_file(path, channels):
    """One image file decoded (TensorFlow's decoder where the pipeline uses it, Keras's otherwise)."""
    if has_tf_data():
        tf = _tensorflow()
        return streams.decode_image(tf, tf.io.read_file(path), channels)
    return keras.utils.img_to_array(keras.utils.load_img(path, color_mode="grayscale" if channels == 1 else "rgb"))


def _load_images(paths, shape):
    mode = "grayscale" if shape[-1] == 1 else "rgb"
    return np.stack(
        [keras.utils.img_to_array(keras.utils.load_img(p, color_mode=mode, target_size=shape[:2])) for p in paths]
    )
