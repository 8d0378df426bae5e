"""Sources read as streams, never held in memory: TFRecord files, TensorFlow
Datasets (`tfds:NAME`) and Hugging Face datasets (`hf:NAME`).

Every streamed source is a `Records`: the labels of its examples, read once
at load (they are small, and they are checked like any other source's), and
a tf.data pipeline of its raw inputs in the source's order (serialized
records, encoded image bytes), decoded one by one as the pipeline pulls them.
A split of it is a `Stream`: the positions of its examples in the source,
which data.py splits with the seed as it splits arrays.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from .. import network
from ..backend import tensorflow as _tensorflow
from ..errors import DataError, DependencyError, first_line
from .checks import named_labels

# The names of a source's own splits (folders train/ val/ test/, files train-*.tfrecord, tfds and hf splits).
SPLIT_NAMES = {"train": ("train", "training"), "validation": ("val", "valid", "validation"), "test": ("test",)}


class Records:
    """A streamed source (or one of its own splits): its labels, its class
    names, and its raw inputs as a tf.data pipeline with their decoder."""

    name: str
    labels: np.ndarray
    class_names: list | None = None
    image: bool = False  # inputs are encoded images (decoded, resized, scaled by 1/255)
    shape: tuple = ()  # the model input's (no batch axis): an image's channels are its last

    def read(self, tf):
        """The raw inputs, in the source's order."""
        raise NotImplementedError

    def decode(self, tf, raw):
        """One raw input as the model takes it (an image: decoded, not yet resized)."""
        return decode_image(tf, raw, self.shape[-1]) if self.image else raw


def decode_image(tf, encoded, channels: int):
    """An encoded image (PNG, JPEG, BMP, GIF's first frame) as `channels` channels,
    not yet resized: the one decoder of every image the pipeline reads.
    TensorFlow decodes BMP and GIF only in colour: for one channel they are
    decoded in colour and made grey (tf.image.rgb_to_grayscale)."""
    if channels != 1:
        return tf.io.decode_image(encoded, channels=channels, expand_animations=False)
    colour_only = tf.logical_or(
        tf.equal(tf.strings.substr(encoded, 0, 2), "BM"), tf.equal(tf.strings.substr(encoded, 0, 3), "GIF")
    )
    image = tf.cond(
        colour_only,
        lambda: tf.image.rgb_to_grayscale(tf.io.decode_image(encoded, channels=3, expand_animations=False)),
        lambda: tf.io.decode_image(encoded, channels=1, expand_animations=False),
    )
    image.set_shape([None, None, 1])
    return image


@dataclasses.dataclass
class Stream:
    """A split of a streamed source: the positions of its examples in it."""

    records: Records
    positions: np.ndarray

    def __getitem__(self, key):
        return Stream(self.records, self.positions[key])

    def __len__(self):
        return len(self.positions)

    def raw(self, tf):
        """The split's raw inputs, in the source's order."""
        ds = self.records.read(tf)
        count = len(self.records.labels)
        if len(self.positions) == count:
            return ds
        member = np.zeros(count, dtype=bool)
        member[self.positions] = True
        member = tf.constant(member)
        return ds.enumerate().filter(lambda i, _: member[i]).map(lambda _, raw: raw)


class Chained(Records):
    """Several streamed sources read one after the other."""

    def __init__(self, parts: list):
        self.parts, self.name, self.image = parts, parts[0].name, parts[0].image
        self.labels = np.concatenate([p.labels for p in parts])
        self.class_names = parts[0].class_names

    def read(self, tf):
        ds = self.parts[0].read(tf)
        for part in self.parts[1:]:
            ds = ds.concatenate(part.read(tf))
        return ds

    def decode(self, tf, raw):
        return self.parts[0].decode(tf, raw)


def merged(splits: list) -> Stream:
    """The splits of a streamed source as one (predict over all of it)."""
    sources = list({id(s.records): s.records for s in splits}.values())
    offsets = dict(zip(map(id, sources), np.cumsum([0] + [len(r.labels) for r in sources[:-1]])))
    records = sources[0] if len(sources) == 1 else Chained(sources)
    return Stream(records, np.concatenate([s.positions + offsets[id(s.records)] for s in splits]))


def in_source_order(split):
    """A streamed split ordered as its source is (its pipeline reads it so)."""
    order = np.argsort(split.x.positions, kind="stable")
    split.x, split.y, split.index = split.x[order], split.y[order], split.index[order]
    return split


def labels_and_names(batches: list) -> tuple:
    """Labels read in batches (one row per example) as one array, with their
    class names (checks.named_labels)."""
    y = np.concatenate(batches)
    return named_labels(y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y)


def _located(name, records: Records, tf):
    """The first raw input that cannot be decoded, as a DataError naming its position."""
    for position, raw in enumerate(records.read(tf)):
        try:
            records.decode(tf, raw)
        except Exception as err:  # noqa: BLE001 - a decoder's complaint about the user's data
            return DataError(name, f"record {position}: cannot decode its input ({first_line(err)})")
    return None


def check_decodable(name, records: Records):
    """Decode every input once, in parallel, so that a broken one is named
    now (with its position) rather than met mid-epoch."""
    tf = _tensorflow()
    ds = records.read(tf).map(lambda raw: tf.shape(records.decode(tf, raw)), num_parallel_calls=tf.data.AUTOTUNE)
    try:
        for _ in ds.batch(256):
            pass
    except Exception:  # noqa: BLE001 - located below, one record at a time
        raise (_located(name, records, tf) or DataError(name, "a record cannot be decoded")) from None


# --- TFRecord --------------------------------------------------------------------------


def split_files(files) -> dict:
    """{'train': [...], 'validation': [...], 'test': [...]} when the file names
    say their split (train-00000.tfrecord, val.tfrecord, test.tfrecord), else {'all': files}."""
    found: dict = {}
    for file in files:
        stem = os.path.basename(file).lower()
        split = next(
            (
                s
                for s, names in SPLIT_NAMES.items()
                if any(stem.startswith(n) and not stem[len(n) : len(n) + 1].isalpha() for n in names)
            ),
            None,
        )
        found.setdefault(split, []).append(file)
    if None in found or "train" not in found or len(found) == 1:
        return {"all": list(files)}
    return found


class TFRecords(Records):
    """tf.train.Example records, parsed with the feature description of the
    spec's `training.tfrecord`: one feature is the label, one the input."""

    def __init__(self, name, files, settings, shape):
        self.name, self.files, self.settings, self.shape = name, files, settings, tuple(shape)
        self.input = settings.input_feature()
        feature = settings.features[self.input]
        self.image = feature.decode == "image"
        if not self.image and feature.dtype != "string" and tuple(feature.shape) != self.shape:
            raise DataError(
                name,
                f"the input feature '{self.input}' has shape {list(feature.shape)}, the spec's "
                f"input {list(self.shape)}; they must match",
            )
        self.labels, self.class_names = self._labels()

    def _compression(self):
        if self.settings.compression is not None:
            return self.settings.compression
        return "GZIP" if self.files[0].lower().endswith(".gz") else ""

    def _spec(self, tf, feature):
        dtype = {"int64": tf.int64, "float32": tf.float32, "string": tf.string}[feature.dtype]
        return tf.io.FixedLenFeature(feature.shape, dtype)

    def read(self, tf):
        return tf.data.TFRecordDataset(
            self.files, compression_type=self._compression(), num_parallel_reads=min(len(self.files), 4)
        )

    def decode(self, tf, raw):
        value = tf.io.parse_single_example(raw, {self.input: self._spec(tf, self.settings.features[self.input])})
        return super().decode(tf, value[self.input])

    def _labels(self):
        """Every record's label (parsing every feature, so that a record
        missing one or holding the wrong type is found now)."""
        tf = _tensorflow()
        description = {name: self._spec(tf, f) for name, f in self.settings.features.items()}
        label = self.settings.label
        values, position = [], 0
        try:
            for batch in self.read(tf).batch(1024):
                try:
                    parsed = tf.io.parse_example(batch, description)
                except tf.errors.InvalidArgumentError:
                    for i, raw in enumerate(batch):
                        try:
                            tf.io.parse_single_example(raw, description)
                        except tf.errors.InvalidArgumentError as err:
                            raise DataError(
                                self.name,
                                f"record {position + i}: {first_line(err)} (the feature "
                                "description is training.tfrecord.features)",
                            ) from None
                    raise
                values.append(parsed[label].numpy().reshape(len(batch), -1))
                position += len(batch)
        except tf.errors.OpError as err:
            raise DataError(self.name, f"not readable as TFRecord files ({first_line(err)})") from None
        if not values:
            raise DataError(self.name, "the TFRecord files hold no records")
        if not self._compression():
            for path in self.files:
                _check_framing(path)
        return labels_and_names(values)


def _check_framing(path) -> None:
    """A TFRecord file ends where a record ends. tf.data takes a file cut
    inside a record's 12-byte header for the file's end: half the data
    would be read, without a word. Each record is its length (8 bytes), a
    check of it (4), the data and a check of the data (4)."""
    if not os.path.isfile(path):
        return  # not a local file (gs://...): tf.data reads it
    size, offset, count = os.path.getsize(path), 0, 0
    with open(path, "rb") as handle:
        while offset < size:
            handle.seek(offset)
            header = handle.read(12)
            end = offset + 16 + int.from_bytes(header[:8], "little") if len(header) == 12 else size + 1
            if end > size:
                raise DataError(
                    path,
                    f"the file ends inside record {count} (at byte {size}, after {count} whole records): "
                    "it was cut short; write it again",
                )
            offset, count = end, count + 1


# --- a tf.data.Dataset given from Python ----------------------------------------------


class DatasetRecords(Records):
    """`builder.train(spec, data=dataset)`: a tf.data.Dataset of (x, y) pairs,
    batched or not. It must give its examples in the same order each time it
    is read (the run shuffles; a dataset that shuffles itself would pair
    inputs with other examples' labels)."""

    def __init__(self, dataset, shape):
        self.name, self.shape = "the tf.data.Dataset", tuple(shape)
        spec = dataset.element_spec
        if not (isinstance(spec, tuple) and len(spec) == 2):
            raise DataError(self.name, f"a dataset to train on yields (x, y) pairs; this one yields {spec}")
        rank = spec[0].shape.rank
        if rank == len(self.shape) + 1:
            dataset = dataset.unbatch()  # batched: read one example at a time
        elif rank != len(self.shape):
            raise DataError(
                self.name,
                f"its inputs have shape {list(spec[0].shape)}, the spec's input "
                f"{list(self.shape)} (with or without a batch axis)",
            )
        example = tuple(dataset.element_spec[0].shape)
        if any(a is not None and b is not None and a != b for a, b in zip(example, self.shape)):
            raise DataError(self.name, f"its inputs have shape {list(example)}, the spec's input {list(self.shape)}")
        self.dataset = dataset
        tf = _tensorflow()
        try:
            batches = [b.numpy().reshape(len(b), -1) for b in dataset.map(lambda x, y: y).batch(4096)]
        except tf.errors.OpError as err:
            raise DataError(self.name, f"reading it failed: {first_line(err)}") from None
        if not batches:
            raise DataError(self.name, "the dataset holds no examples")
        self.labels, self.class_names = labels_and_names(batches)

    def read(self, tf):
        return self.dataset.map(lambda x, y: x)


# --- TensorFlow Datasets ---------------------------------------------------------------


class TfdsRecords(Records):
    """One split of a TensorFlow Datasets data set, by its supervised keys (image, label)."""

    def __init__(self, name, dataset_builder, split, shape):
        import tensorflow_datasets as tfds

        self.name, self.builder, self.split, self.shape = name, dataset_builder, split, tuple(shape)
        keys = dataset_builder.info.supervised_keys
        if not keys or len(keys) != 2 or not all(isinstance(k, str) for k in keys):
            raise DataError(name, "the data set has no (input, label) supervised keys to train on")
        self.input, self.label = keys
        features = dataset_builder.info.features
        self.image = isinstance(features[self.input], tfds.features.Image)
        self.decoders = {self.input: tfds.decode.SkipDecoding()} if self.image else None
        tf = _tensorflow()
        self.labels, found = named_labels(
            np.concatenate(
                [batch.numpy() for batch in self._examples(tf).map(lambda ex: ex[self.label]).batch(4096)] or [[]]
            )
        )
        names = getattr(features[self.label], "names", None)  # a ClassLabel's
        self.class_names = list(names) if names else found

    def _examples(self, tf):
        return self.builder.as_dataset(split=self.split, shuffle_files=False, decoders=self.decoders)

    def read(self, tf):
        return self._examples(tf).map(lambda ex: ex[self.input])


def tfds_sources(name, shape) -> dict:
    """{split: TfdsRecords} of `tfds:NAME` (a registered data set, prepared
    in TFDS_DATA_DIR or downloaded there) or `tfds:FOLDER` (a prepared one)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DependencyError(
            f"--data tfds:{name} needs TensorFlow Datasets, which is not installed: "
            "pip install tensorflow-datasets (or the project's `tfds` extra)"
        ) from None
    label = f"tfds:{name}"
    try:
        if os.path.isdir(name):
            found = tfds.builder_from_directory(name)
        else:
            found = tfds.builder(name)
            found.download_and_prepare()
    except Exception as err:  # noqa: BLE001 - unknown names, failed downloads: the user's input
        raise DataError(label, f"cannot load it ({first_line(err)})") from None
    splits = list(found.info.splits.keys())
    if not splits:
        raise DataError(label, "the data set has no prepared splits")
    return {split: TfdsRecords(label, found, split, shape) for split in splits}


# --- Hugging Face datasets -------------------------------------------------------------


class HfRecords(Records):
    """One split of a Hugging Face `datasets.Dataset`: its `image` (or
    `text`, or only other) column is the input, `label` (or the named one) the label."""

    def __init__(self, name, dataset, shape, label=None):
        import datasets

        self.name, self.shape = name, tuple(shape)
        columns = dataset.column_names
        self.label = label or "label"
        if self.label not in columns:
            raise DataError(
                name, f"no column '{self.label}' (columns: {', '.join(columns)}); name the label column with --label"
            )
        others = [c for c in columns if c != self.label]
        self.input = next((c for c in ("image", "img", "text") if c in others), others[0] if len(others) == 1 else None)
        if self.input is None:
            raise DataError(
                name,
                f"which column is the input? It has {', '.join(others)} besides the label; "
                "keep one (dataset.select_columns) or name it image or text",
            )
        feature = dataset.features[self.input]
        self.image = isinstance(feature, datasets.Image)
        if self.image:
            dataset = dataset.cast_column(self.input, datasets.Image(decode=False))
        self.dataset = dataset
        self.labels, found = named_labels(dataset[self.label])
        names = getattr(dataset.features[self.label], "names", None)  # a ClassLabel's
        self.class_names = list(names) if names else found
        self.example = None if self.image else np.asarray(dataset.with_format("numpy")[0][self.input])

    def _rows(self):
        column = self.dataset.select_columns([self.input])
        if self.image:
            for row in column:
                value = row[self.input]
                if value.get("bytes") is None:
                    with open(value["path"], "rb") as handle:
                        yield handle.read()
                else:
                    yield value["bytes"]
        else:
            for row in column.with_format("numpy"):
                yield row[self.input]

    def read(self, tf):
        if self.image:
            signature = tf.TensorSpec((), tf.string)
        else:
            dtype = tf.string if self.example.dtype.kind in "USO" else tf.as_dtype(self.example.dtype)
            signature = tf.TensorSpec(self.example.shape, dtype)
        return tf.data.Dataset.from_generator(self._rows, output_signature=signature)


def hf_sources(name, shape, label=None) -> dict:
    """{split: HfRecords} of `hf:NAME`: a folder written by `save_to_disk`, or a data set on the Hub."""
    try:
        import datasets
    except ImportError:
        raise DependencyError(
            f"--data hf:{name} needs Hugging Face datasets, which is not installed: "
            "pip install datasets (or the project's `hf` extra)"
        ) from None
    source = f"hf:{name}"
    if not os.path.isdir(name) and (os.path.isabs(name) or name.startswith((".", "~"))):
        raise DataError(source, f"no such folder: {name} (a data set written by save_to_disk, or a name on the Hub)")
    unreachable = None if os.path.isdir(name) else network.hub_unreachable("the data set")
    if unreachable:
        raise DataError(source, f"{unreachable}, or give a folder written by save_to_disk")
    try:
        loaded = datasets.load_from_disk(name) if os.path.isdir(name) else datasets.load_dataset(name)
    except Exception as err:  # noqa: BLE001 - unknown names, failed downloads: the user's input
        raise DataError(source, f"cannot load it ({first_line(err)})") from None
    parts = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"all": loaded}
    return {split: HfRecords(source, part, shape, label) for split, part in parts.items()}
