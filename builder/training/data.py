"""Loading training data: the built-in `digits` set, `.npz` files, CSV
files, image folders, text (CSV or folder), and the streamed sources of
streams.py (TFRecord files, `tfds:NAME`, `hf:NAME`).

Everything is split into train / validation / test with the spec's seed
(or by the source's own splits), each example keeping its original position
(`Split.index`); batching.py feeds the splits to Keras (tf.data where
TensorFlow is there, NumPy batches otherwise). Arrays are in memory; image
folders and streamed sources hold their labels only, and are decoded as the
pipeline reads them.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import zipfile
from typing import Any

import numpy as np

from ..errors import DataError, FlagError, first_line
from ..files import not_regular, read_bounded, write_atomic
from . import sources, streams
from .checks import check_finite, class_labels, named_labels

MAX_FILE_BYTES = 4 * 1024**3  # one CSV or text file read whole

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@dataclasses.dataclass
class Split:
    x: Any  # np.ndarray; file paths for image folders; a streams.Stream; a dict of arrays (named inputs)
    y: Any  # np.ndarray; a dict of arrays, one per named output (`outputs:`)
    index: np.ndarray  # each example's position in the source (file row, folder order)
    weights: np.ndarray | None = None  # per-label sample weights (0: left out of the loss and metrics), or None

    def __len__(self) -> int:
        return len(self.index)


@dataclasses.dataclass
class Data:
    name: str
    train: Split
    validation: Split | None
    test: Split | None
    class_names: Any = None  # a list; {output: list} for named outputs; or None
    rescale: float | None = None  # the source's own default scaling
    images_from_files: bool = False  # x holds image paths, decoded by the pipeline
    split_by_folders: bool = False  # train/, val/, test/ folders, not a random split
    vocabulary: list | None = None  # text data: the vectorizer's vocabulary
    streamed: bool = False  # x is a streams.Stream, read and decoded by the pipeline
    label_masks: bool = False  # the labels are per-pixel masks, augmented with their images (segmentation)
    tokenizer: Any = None  # text tasks: the text.Tokenizer the run writes beside its model
    sequence_length: int | None = None  # text tasks: the tokens of one example
    text_pairs: bool = False  # packed text: pairs of texts (text_a, text_b), not one text per example

    @property
    def num_classes(self):
        return len(self.class_names) if self.class_names else None


def describe_source(data_arg) -> str:
    if sources.is_dataset(data_arg):
        return "a tf.data.Dataset"
    if isinstance(data_arg, tuple):
        return f"arrays x {list(np.shape(data_arg[0]))} and y {list(np.shape(data_arg[1]))}"
    if data_arg == "digits":
        return "scikit-learn's 8x8 handwritten digits (1,797 images)"
    return data_arg


@dataclasses.dataclass(frozen=True)
class InputDescription:
    """What the model's one input takes, as a source reads for it: its shape
    (no batch axis) and dtype; the label column or feature where the data has
    several; for text, the vocabulary (a resumed run's) or the most tokens one
    may hold; for TFRecord files, the spec's feature description."""

    shape: tuple
    dtype: str = "float32"
    label: str | None = None
    vocabulary: list | None = None
    max_tokens: int | None = None
    tfrecord: Any = None


@dataclasses.dataclass(frozen=True)
class SplitPlan:
    """How data without its own splits is split: the validation and test
    fractions (0: none) and the seed of the shuffle before the split."""

    validation_split: float = 0.0
    test_split: float = 0.0
    seed: int = 0

    @classmethod
    def of(cls, config) -> SplitPlan:
        """A spec's training section's plan."""
        return cls(config.validation_split, config.test_split, config.seed)

    @classmethod
    def saved(cls, record: dict, whole: bool = False) -> SplitPlan:
        """The plan of the run whose run.json is `record` (evaluate: its test split),
        or every example unsplit (`whole`: predict)."""
        seed = record.get("seed", 0)
        if whole:
            return cls(seed=seed)
        return cls(record.get("validation_split", 0.1), record.get("test_split", 0.15), seed)


def load(data_arg, wanted: InputDescription, plan: SplitPlan) -> Data:
    """Load `data_arg` for a model input as `wanted` describes, split as
    `plan` says; the first source of sources.SOURCES that recognises it reads
    it (the module doc lists them)."""
    if not sources.is_dataset(data_arg) and not isinstance(data_arg, tuple):
        data_arg = os.fspath(data_arg)
    return sources.READERS[sources.find(data_arg).name](data_arg, wanted, plan)


# --- sources ------------------------------------------------------------------------


@sources.reads("dataset")
def _dataset(dataset, wanted: InputDescription, plan: SplitPlan) -> Data:
    records = {"all": streams.DatasetRecords(dataset, wanted.shape)}
    return _streamed("the tf.data.Dataset", records, wanted, plan)


@sources.reads("arrays")
def from_arrays(arrays, wanted: InputDescription, plan: SplitPlan) -> Data:
    """In-memory data, `(x, y)` NumPy arrays (Python's `builder.training`), split as a .npz file is."""
    name = "the (x, y) arrays"
    x, y = np.asarray(arrays[0]), np.asarray(arrays[1])
    if len(x) != len(y):
        raise DataError(name, f"x has {len(x)} examples and y {len(y)}; they must have as many")
    x = fit_array(x, wanted.shape, name)
    if x.dtype.kind in "fc":
        check_finite(name, x)
    y, names = named_labels(y)
    return split_examples(name, x, y, plan, names=names)


@sources.reads("digits")
def _digits(_, wanted: InputDescription, plan: SplitPlan) -> Data:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype("float32")[..., None]  # (1797, 8, 8, 1), values 0..16
    x, y = _fit_images(images, wanted.shape, "digits"), digits.target.astype("int64")
    return split_examples("digits", x, y, plan, names=[str(i) for i in digits.target_names], rescale=1.0 / 16.0)


@sources.reads("tfds")
def _tfds(data_arg, wanted: InputDescription, plan: SplitPlan) -> Data:
    return _streamed(data_arg, streams.tfds_sources(data_arg[5:], wanted.shape), wanted, plan)


@sources.reads("hf")
def _hf(data_arg, wanted: InputDescription, plan: SplitPlan) -> Data:
    return _streamed(data_arg, streams.hf_sources(data_arg[3:], wanted.shape, wanted.label), wanted, plan)


@sources.reads("tfrecord")
def _tfrecord(data_arg, wanted: InputDescription, plan: SplitPlan) -> Data:
    if wanted.tfrecord is None:
        raise FlagError(
            f"--data {data_arg!r}: TFRecord files need their feature description in the spec's "
            "training section, e.g. `tfrecord: {features: {image: {dtype: string, decode: image}, "
            "label: {dtype: int64}}}`"
        )
    files = sources.tfrecord_files(data_arg) or []
    records = {
        split: streams.TFRecords(data_arg, part, wanted.tfrecord, wanted.shape)
        for split, part in streams.split_files(files).items()
    }
    return _streamed(data_arg, records, wanted, plan)


@sources.reads("npz")
def _npz(path, wanted: InputDescription, plan: SplitPlan) -> Data:
    x, y, test = _read_npz(path)
    x = fit_array(x, wanted.shape, path)
    check_finite(path, x)
    if test is not None:
        test = Split(fit_array(test[0], wanted.shape, path), test[1], np.arange(len(test[1])))
        check_finite(path, test.x, "x_test")
    y, names = named_labels(y)
    return split_examples(path, x, y, plan, test=test, names=names)


def read_npz_arrays(path, needed=("x", "y"), optional="'x_test', 'y_test'") -> dict:
    """The arrays of a .npz file, which must hold `needed` (and may hold `optional`); never unpickles."""
    if not zipfile.is_zipfile(path):
        raise DataError(path, "not a .npz file (a .npz is a zip archive of arrays x and y, as numpy.savez writes)")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if set(needed) - set(arrays.files):
                raise DataError(
                    path,
                    f"a .npz needs arrays {' and '.join(repr(n) for n in needed)} (and "
                    f"optionally {optional}); it has {', '.join(arrays.files) or 'none'}",
                )
            return {name: arrays[name] for name in arrays.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, AttributeError) as err:
        reason = "it holds Python objects (pickled), which are never loaded" if "pickle" in str(err) else str(err)
        raise DataError(path, f"not a readable .npz file: {reason}") from None


def _read_npz(path):
    """x, y and the optional (x_test, y_test) of a .npz file, their lengths checked."""
    arrays = read_npz_arrays(path)
    x, y = arrays["x"], arrays["y"]
    if len({"x_test", "y_test"} & set(arrays)) == 1:
        raise DataError(
            path,
            "a held-out test set needs both x_test and y_test; it has only "
            f"{'x_test' if 'x_test' in arrays else 'y_test'}",
        )
    test = (arrays["x_test"], arrays["y_test"]) if {"x_test", "y_test"} <= set(arrays) else None
    pairs = [(x, y, "x and y")] + ([(test[0], test[1], "x_test and y_test")] if test else [])
    for a, b, names in pairs:
        if a.dtype.kind not in "biuf" or b.dtype == object:
            raise DataError(path, f"{names.split(' and ')[0]} must be a numeric array, not {a.dtype}")
        if len(a) != len(b):
            raise DataError(path, f"{names} differ in length: {len(a)} examples against {len(b)} labels")
    if len(y) == 0:
        raise DataError(path, "x and y hold no examples")
    return x, y, test


@sources.reads("csv")
def _csv(path, wanted: InputDescription, plan: SplitPlan) -> Data:
    header, rows, lines = _read_csv(path)
    label = wanted.label or ("label" if "label" in header else header[-1])
    if label not in header:
        raise DataError(path, f"no column '{label}' (columns: {', '.join(header)})")
    column = header.index(label)
    labels = [row[column] for row in rows]
    y, names = class_labels(labels)
    if "text" in header and wanted.dtype in ("int32", "int64", "string"):
        texts = [row[header.index("text")] for row in rows]
        return _text(path, texts, (y, names), wanted, plan)
    x = features(path, header, rows, lines, [column])
    return split_examples(path, fit_array(x, wanted.shape, path), y, plan, names=names)


def features(path, header, rows, lines, exclude=()) -> np.ndarray:
    """The CSV's feature columns (all but those numbered in `exclude`) as finite
    float32 numbers, or a DataError at the line."""
    columns = [i for i in range(len(header)) if i not in exclude]
    x = np.zeros((len(rows), len(columns)), dtype="float32")
    for r, (row, line) in enumerate(zip(rows, lines)):
        for c, i in enumerate(columns):
            try:
                x[r, c] = float(row[i])
            except ValueError:
                raise DataError(
                    path, f"column '{header[i]}' holds {row[i]!r}, not a number; feature columns must be numbers", line
                ) from None
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise DataError(path, "a feature is NaN or infinite; clean or drop that row", lines[int(np.argmax(bad))])
    return x


def _read_csv(path):
    """(header, rows, line numbers) of a UTF-8 CSV file; blank lines are skipped, a ragged row is refused."""
    raw = read_bounded_data(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(
            path, f"not UTF-8 text (byte 0x{raw[err.start]:02x})", raw.count(b"\n", 0, err.start) + 1
        ) from None
    parsed = [
        (number, row)
        for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), 1)
        if any(cell.strip() for cell in row)
    ]
    if len(parsed) < 2:
        raise DataError(path, "expected a header row and at least one data row")
    (_, header), rest = parsed[0], parsed[1:]
    if len(header) == 1 and any(sep in header[0] for sep in "\t;|"):
        raise DataError(
            path,
            f"the header is one column ({header[0]!r}); a CSV file separates its columns with commas",
            parsed[0][0],
        )
    for number, row in rest:
        if len(row) != len(header):
            raise DataError(path, f"{len(row)} fields, but the header has {len(header)}", number)
    return header, [row for _, row in rest], [number for number, _ in rest]


# Top-level folders that split an image or text folder themselves (train/ and val/ or test/).
SPLIT_FOLDERS = streams.SPLIT_NAMES


@sources.reads("folder")
def _folder(path, wanted: InputDescription, plan: SplitPlan) -> Data:
    splits = split_folders(path)
    if splits is None:
        classes, files, y = _class_files(path)
        parts = None
    else:
        classes, files, y = _class_files(splits["train"])
        parts = {name: _class_files(folder, classes) for name, folder in splits.items() if name != "train"}
    every = files + [f for _, more, _ in (parts or {}).values() for f in more]
    if all(f.lower().endswith(".txt") for f in every):
        texts = {f: _read_text(f) for f in every}
        if parts is None:
            return _text(path, [texts[f] for f in files], (y, classes), wanted, plan)
        x = np.array([texts[f] for f in files], dtype=object)
        others = {
            name: (np.array([texts[f] for f in more], dtype=object), labels)
            for name, (_, more, labels) in parts.items()
        }
        return _encode_texts(path, presplit(path, (x, y), classes, None, others, plan), wanted)
    _check_images(path, every, wanted.shape)
    if parts is None:
        data = split_examples(path, np.array(files), y, plan, names=classes, rescale=1.0 / 255.0)
    else:
        others = {name: (np.array(more), labels) for name, (_, more, labels) in parts.items()}
        data = presplit(path, (np.array(files), y), classes, 1.0 / 255.0, others, plan)
    data.images_from_files = True
    return data


def merged(data: Data) -> Data:
    """All of a folder-split data set in one split (predict over the whole folder)."""
    parts = [p for p in (data.train, data.validation, data.test) if p is not None]
    offsets = np.cumsum([0] + [len(p.y) for p in parts[:-1]])
    x = streams.merged([p.x for p in parts]) if data.streamed else np.concatenate([p.x for p in parts])
    data.train = Split(
        x, np.concatenate([p.y for p in parts]), np.concatenate([p.index + o for p, o in zip(parts, offsets)])
    )
    if data.streamed:
        streams.in_source_order(data.train)
    data.validation = data.test = None
    return data


def split_folders(path) -> dict | None:
    """{'train': folder, 'validation': folder, 'test': folder} (those present)
    when `path` is split by its own top-level folders, else None."""
    entries = {d.lower(): os.path.join(path, d) for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))}
    found = {split: next((entries[n] for n in names if n in entries), None) for split, names in SPLIT_FOLDERS.items()}
    if found["train"] is None or (found["validation"] is None and found["test"] is None):
        return None
    return {split: folder for split, folder in found.items() if folder is not None}


def presplit(name, examples, classes, rescale, parts, plan: SplitPlan) -> Data:
    """Data split by its folders: train/ (`examples`, an (x, y) pair) shuffled
    with the seed; val/ and test/ (`parts`) as they are; a missing one is taken
    from train/ as the fractions say."""
    plan = SplitPlan(
        0 if "validation" in parts else plan.validation_split, 0 if "test" in parts else plan.test_split, plan.seed
    )
    x, y = examples
    data = split_examples(name, x, y, plan, names=classes, rescale=rescale)
    for split, (xs, ys) in parts.items():
        setattr(data, split, Split(xs, ys, np.arange(len(ys))))
    data.split_by_folders = True
    return data


def _streamed(name, found: dict, wanted: InputDescription, plan: SplitPlan) -> Data:
    """Data from a streamed source's splits ({'train': Records, ...}, or {'all': Records}):
    its own train/validation/test where it has them, else split with the seed."""
    named = {}
    for split, records in found.items():
        known = next((s for s, names in SPLIT_FOLDERS.items() if split.lower() in names), None)
        if known and known not in named:
            named[known] = records
    if "train" not in named:
        if len(found) != 1:
            raise DataError(name, f"its splits are {', '.join(found)}; expected one of them named train")
        named = {"train": next(iter(found.values()))}
    train = named.pop("train")
    shape, image = wanted.shape, train.image
    if image:
        check_image_input(name, shape, "images need")
    if not image and wanted.dtype == "string" and tuple(shape) not in ((), (1,)):
        raise DataError(name, f"a string input takes one text per example: shape [] or [1], not {list(shape)}")
    if image:
        for records in (train, *named.values()):
            streams.check_decodable(name, records)

    def whole(records):
        every = np.arange(len(records.labels))
        return streams.Stream(records, every), records.labels

    scale = 1 / 255 if image else None
    if named:
        others = {split: whole(records) for split, records in named.items()}
        data = presplit(name, whole(train), train.class_names, scale, others, plan)
    else:
        x, y = whole(train)
        data = split_examples(name, x, y, plan, names=train.class_names, rescale=scale)
    for split in (data.train, data.validation, data.test):
        if split is not None:
            streams.in_source_order(split)
    data.streamed = True
    return data


def check_image_input(name, shape, subject: str):
    """An input that takes images: [height, width, 1 or 3], every size known
    (the one check of it: image folders, streamed images, predict's image files)."""
    if len(shape) != 3 or shape[-1] not in (1, 3) or None in shape:
        raise DataError(name, f"{subject} an input of shape [height, width, 1 or 3], the spec has {list(shape)}")


def _check_images(path, files, shape):
    if not all(f.lower().endswith(IMAGE_SUFFIXES) for f in files):
        raise DataError(
            path, f"sub-folders hold images ({', '.join(IMAGE_SUFFIXES)}) or .txt files, not both or others"
        )
    check_image_input(path, shape, "an image folder needs")
    for file in files:
        _check_image(file, shape[-1])


def _class_files(path, known=None):
    """(class names, files, labels) of a folder with one sub-folder per class
    (labelled as in `known`, the training split's classes, where given)."""
    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))
    if not classes:
        raise DataError(path, "expected one sub-folder per class")
    unknown = [c for c in classes if known is not None and c not in known]
    if unknown:
        raise DataError(
            os.path.join(path, unknown[0]),
            f"the class '{unknown[0]}' is not in the training split's classes ({', '.join(known)})",
        )
    files, labels = [], []
    for name in classes:
        index = known.index(name) if known is not None else classes.index(name)
        folder = os.path.join(path, name)
        found = sorted(f for f in os.listdir(folder) if not f.startswith("."))  # .DS_Store, .gitkeep
        if not found:
            raise DataError(folder, f"the class folder '{name}' is empty; every class needs examples")
        for file in found:
            check_regular(os.path.join(folder, file), "an image or .txt file (what a class folder holds)")
            files.append(os.path.join(folder, file))
            labels.append(index)
    return (known or classes), files, np.array(labels, dtype="int64")


def _read_text(file) -> str:
    raw = read_bounded_data(file)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(
            file,
            f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})",
            raw.count(b"\n", 0, err.start) + 1,
        ) from None


def check_regular(file, expected: str) -> None:
    """A DataError naming `file` when it is a FIFO, a device or a folder: opening it could block forever."""
    what = not_regular(file)
    if what:
        raise DataError(file, f"it is {what}, not {expected}")


def _check_image(file, channels):
    """Decode one image now, so a broken file is named before training, not met mid-epoch."""
    from .batching import decode_image_file

    check_regular(file, "an image file")
    try:
        decode_image_file(file, channels)
    except Exception as err:  # noqa: BLE001 - any decoder's complaint means the same here
        raise DataError(file, f"cannot decode the image ({first_line(err, 200)})") from None


def json_lines(path, key: str, expected: str) -> list:
    """[(line number, object)] of a JSON-lines file whose objects hold a string at `key`
    (blank lines skipped); a line that is not one is a DataError saying `expected`, at its line."""
    found = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as err:
            raise DataError(path, f"not a JSON object ({err})", number) from None
        if not isinstance(value, dict) or not isinstance(value.get(key), str):
            raise DataError(path, expected, number)
        found.append((number, value))
    return found


def read_bounded_data(path) -> bytes:
    try:
        return read_bounded(path, MAX_FILE_BYTES)
    except ValueError as err:
        raise DataError(path, str(err)) from None


def _text(name, texts, labels, wanted: InputDescription, plan: SplitPlan) -> Data:
    """Token ids from texts: lower-cased words, ids by training-set frequency
    (0 padding, 1 out-of-vocabulary), padded or cut to the input's length.
    `labels`: (y, class names)."""
    y, classes = labels
    data = split_examples(name, np.array(texts, dtype=object), y, plan, names=classes)
    return _encode_texts(name, data, wanted)


def _encode_texts(name, data, wanted: InputDescription) -> Data:
    """Texts as the input takes them: raw strings, or token ids from a vocabulary of the training split."""
    shape, dtype, vocabulary = wanted.shape, wanted.dtype, wanted.vocabulary
    if dtype not in ("int32", "int64", "string"):
        raise DataError(
            name,
            "text data needs an integer token input, e.g. `input: {shape: [200], dtype: int32}`, "
            "or a string input for a model that vectorizes its text itself",
        )
    if dtype == "string":  # raw strings for the model's own text_vectorization
        for split in (data.train, data.validation, data.test):
            if split is not None:
                split.x = raw_texts(name, list(split.x), shape)
        return data
    texts = [t for split in (data.train, data.validation, data.test) if split is not None for t in split.x]
    length = shape[0] if shape[0] is not None else max(len(_words(t)) for t in texts)
    if vocabulary is None:
        counts: dict = {}
        for text in data.train.x:
            for word in _words(text):
                counts[word] = counts.get(word, 0) + 1
        vocabulary = ["", "[UNK]"] + sorted(counts, key=lambda w: (-counts[w], w))
        vocabulary = vocabulary[: wanted.max_tokens]  # ids must stay below the embedding's input_dim
    for split in (data.train, data.validation, data.test):
        if split is not None:
            split.x = encode(split.x, vocabulary, length, dtype)
    data.vocabulary = vocabulary
    return data


def raw_texts(name, texts, shape) -> np.ndarray:
    """Texts as the string input takes them: one string per example (`shape: []`) or a column of one (`[1]`)."""
    if tuple(shape) not in ((), (1,)):
        raise DataError(name, f"a string input takes one text per example: shape [] or [1], not {list(shape)}")
    x = np.array(texts, dtype=object)
    return x.reshape(-1, *shape)


def encode(texts, vocabulary, length, dtype) -> np.ndarray:
    """Token ids of `texts`, padded with 0 or cut to `length`; 1 for words outside `vocabulary`."""
    index = {word: i for i, word in enumerate(vocabulary)}
    rows = [[index.get(w, 1) for w in _words(t)][:length] for t in texts]
    return np.array([row + [0] * (length - len(row)) for row in rows], dtype=dtype)


def _words(text):
    return "".join(c.lower() if c.isalnum() else " " for c in text).split()


# --- shaping and splitting ------------------------------------------------------------


def _fit_images(images, shape, name):
    """Resize (N, h, w, c) images to the spec's [H, W, C]."""
    if len(shape) != 3 or None in shape:
        raise DataError(
            name, f"image data needs an input of shape [height, width, channels], the spec has {list(shape)}"
        )
    height, width, channels = shape
    if images.shape[-1] != channels:
        if images.shape[-1] == 1:
            images = np.repeat(images, channels, axis=-1)
        else:
            raise DataError(name, f"the images have {images.shape[-1]} channels, the spec's input {channels}")
    if images.shape[1:3] != (height, width):
        from ..backend import keras

        images = np.asarray(keras().ops.image.resize(images, (height, width), interpolation="bilinear"))
    return images.astype("float32")


def fit_array(x, shape, name, what="x"):
    """`x` as (examples, *shape): as it is where it fits, images resized and given their channels."""
    if x.ndim == len(shape) + 1 and all(s is None or s == d for s, d in zip(shape, x.shape[1:])):
        return x
    if x.ndim == 4 and len(shape) == 3 or x.ndim == 3 and len(shape) == 3:
        return _fit_images(x[..., None] if x.ndim == 3 else x, shape, name)
    raise DataError(
        name,
        f"{what} has shape {list(x.shape)}, which does not fit the spec's input {list(shape)} (plus the batch axis)",
    )


def split_examples(name, x, y, plan: SplitPlan, *, test=None, names=None, rescale=None) -> Data:
    """x and y shuffled with the plan's seed and split into train, validation
    and (unless the source holds its own `test`) test; `names`: the class
    names; `rescale`: the source's own scaling. `x` and `y` may be dicts of arrays."""
    from .batching import take  # here: batching imports Keras

    order = np.random.default_rng(plan.seed).permutation(_length(y) or _length(x))
    rest = Split(take(x, order), take(y, order), order)
    if test is None and plan.test_split > 0:
        test, rest = _take(rest, plan.test_split)
    validation = None
    if plan.validation_split > 0:
        validation, rest = _take(rest, plan.validation_split)
    if len(rest) == 0:
        raise DataError(name, "no training examples are left after the validation and test splits")
    return Data(name, rest, validation, test, names, rescale)


def _length(values) -> int:
    """Examples in an array or a dict of arrays (0 for an empty dict)."""
    return len(next(iter(values.values()), ())) if isinstance(values, dict) else len(values)


def _take(split: Split, fraction: float) -> tuple[Split, Split]:
    """The first `fraction` of `split` (at least one example), and the rest."""
    from .batching import take

    count = max(1, int(round(len(split) * fraction)))
    head, tail = slice(None, count), slice(count, None)
    return (
        Split(take(split.x, head), take(split.y, head), split.index[head], take_weights(split, head)),
        Split(take(split.x, tail), take(split.y, tail), split.index[tail], take_weights(split, tail)),
    )


def take_weights(split: Split, chosen):
    return None if split.weights is None else split.weights[chosen]


def save_vocabulary(path, vocabulary):
    write_atomic(path, json.dumps(vocabulary).encode())


def read_beside(model_path, name):
    """A JSON file its training run wrote beside `model_path` (run.json,
    vocabulary.json, classes.json), or, for a checkpoint of a run
    (RUN/checkpoint/best.keras), beside the run's model; None where there is none."""
    path = find_beside(model_path, name)
    if path is None:
        return None
    try:
        value = json.loads(read_bounded_data(path).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise DataError(path, f"not a JSON file as its training run writes it ({first_line(err, 120)})") from None
    kinds, expected = _BESIDE.get(name, (object, ""))
    if not isinstance(value, kinds):
        raise DataError(path, f"expected {expected} as its training run writes it, got {_json_kind(value)}")
    if name == "run.json":
        _check_record(path, value)
    return value


# What a run writes beside its model: the JSON kinds it holds.
_BESIDE = {
    "run.json": (dict, "an object"),
    "classes.json": ((list, dict), "a list of class names (an object of them by output for several)"),
    "vocabulary.json": (list, "a list of words"),
    "tokenizer.json": (dict, "an object"),
}


def _json_kind(value) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "true or false", type(None): "null"}
    return kinds.get(type(value), "a number")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# run.json's values that evaluate, predict and generate read: what each must be.
_RECORD = {
    "batch_size": (lambda v: _number(v) and int(v) == v and v >= 1, "a positive whole number"),
    "seed": (lambda v: _number(v) and int(v) == v, "a whole number"),
    "validation_split": (lambda v: _number(v) and 0 <= v < 1, "a fraction from 0 up to 1"),
    "test_split": (lambda v: _number(v) and 0 <= v < 1, "a fraction from 0 up to 1"),
    "rescale": (lambda v: v is None or _number(v), "a number or null"),
    "new_data_rescale": (lambda v: v is None or _number(v), "a number or null"),
    "task": (lambda v: isinstance(v, str), "a task's name"),
    "label": (lambda v: v is None or isinstance(v, str), "a column name or null"),
    "sequence_length": (
        lambda v: (_number(v) and v >= 1) or (isinstance(v, list) and all(_number(n) and n >= 1 for n in v)),
        "a positive number of tokens (or two, a source's and a target's)",
    ),
}


def _check_record(path, record: dict) -> None:
    for key, (valid, expected) in _RECORD.items():
        if key in record and not valid(record[key]):
            raise DataError(
                path, f"{key} is {json.dumps(record[key])}; expected {expected}, as its training run writes it"
            )


def find_beside(model_path, name) -> str | None:
    """Where read_beside reads `name` for `model_path`, or None."""
    folder = os.path.dirname(os.path.abspath(model_path))
    for candidate in (folder, os.path.dirname(folder) if os.path.basename(folder) == "checkpoint" else None):
        path = os.path.join(candidate, name) if candidate else None
        if path and os.path.exists(path):
            return path
    return None


def saved_record(model_path) -> dict:
    """The run.json of the run that wrote `model_path`, or {}."""
    return read_beside(model_path, "run.json") or {}


def load_vocabulary(model_path):
    return read_beside(model_path, "vocabulary.json")
