"""Loading training data, all offline: the built-in `digits` set, `.npz`
files, CSV files, image folders and text (CSV or folder).

Everything becomes NumPy arrays shaped for the spec's input, split into
train / validation / test with the spec's seed, each example keeping its
original position (`Split.index`); batching.py feeds them to Keras (tf.data where TensorFlow is there, NumPy batches otherwise). Image
folders are decoded lazily by TensorFlow and never held in memory at once.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os

import numpy as np

from ..errors import SpecError
from ..files import write_atomic

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@dataclasses.dataclass
class Split:
    x: object                     # np.ndarray, or a list of file paths for image folders
    y: np.ndarray
    index: np.ndarray             # each example's position in the source (file row, folder order)


@dataclasses.dataclass
class Data:
    name: str
    train: Split
    validation: Split | None
    test: Split | None
    class_names: list | None = None
    rescale: float | None = None          # the source's own default scaling
    images_from_files: bool = False       # x holds image paths, decoded by the pipeline
    vocabulary: list | None = None        # text data: the vectorizer's vocabulary

    @property
    def num_classes(self):
        return len(self.class_names) if self.class_names else None


def describe_source(data_arg: str) -> str:
    if data_arg == "digits":
        return "scikit-learn's 8x8 handwritten digits (1,797 images)"
    return data_arg


def load(data_arg: str, shape, dtype, *, validation_split: float, test_split: float, seed: int,
         vocabulary: list | None = None, max_tokens: int | None = None, label: str | None = None) -> Data:
    """Load `data_arg` for a model input of `shape` (no batch axis) and `dtype`;
    see the module doc for the formats."""
    shape = tuple(shape)
    if data_arg == "digits":
        x, y, names, rescale = _digits(shape)
        return _split("digits", x, y, None, names, rescale, validation_split, test_split, seed)
    if not os.path.exists(data_arg):
        raise SpecError(f"--data {data_arg!r}: no such file or folder (or use the built-in 'digits')")
    if os.path.isdir(data_arg):
        return _folder(data_arg, shape, dtype, validation_split, test_split, seed, vocabulary, max_tokens)
    if data_arg.endswith(".npz"):
        return _npz(data_arg, shape, validation_split, test_split, seed)
    if data_arg.endswith(".csv"):
        return _csv(data_arg, shape, dtype, validation_split, test_split, seed, vocabulary, max_tokens, label)
    raise SpecError(f"--data {data_arg!r}: expected 'digits', a .npz or .csv file, or a folder with one "
                    "sub-folder per class")


# --- sources ------------------------------------------------------------------------

def _digits(shape):
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = digits.images.astype("float32")[..., None]          # (1797, 8, 8, 1), values 0..16
    return _fit_images(images, shape, "digits"), digits.target.astype("int64"), \
        [str(i) for i in digits.target_names], 1.0 / 16.0


def _npz(path, shape, validation_split, test_split, seed):
    with np.load(path, allow_pickle=False) as arrays:
        missing = {"x", "y"} - set(arrays.files)
        if missing:
            raise SpecError(f"{path}: a .npz needs arrays 'x' and 'y' (and optionally 'x_test', 'y_test'); "
                            f"it has {', '.join(arrays.files) or 'none'}")
        x, y = arrays["x"], arrays["y"]
        test = (arrays["x_test"], arrays["y_test"]) if {"x_test", "y_test"} <= set(arrays.files) else None
    x = _fit_array(x, shape, path)
    if test is not None:
        test = Split(_fit_array(test[0], shape, path), test[1], np.arange(len(test[1])))
    names = [str(c) for c in np.unique(y)] if np.issubdtype(y.dtype, np.integer) else None
    return _split(path, x, y, test, names, None, validation_split, test_split, seed)


def _csv(path, shape, dtype, validation_split, test_split, seed, vocabulary, max_tokens, label):
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise SpecError(f"{path}: expected a header row and at least one data row")
    header, rows = rows[0], rows[1:]
    label = label or ("label" if "label" in header else header[-1])
    if label not in header:
        raise SpecError(f"{path}: no column '{label}' (columns: {', '.join(header)})")
    column = header.index(label)
    labels = [row[column] for row in rows]
    y, names = _labels(labels)
    if "text" in header and dtype in ("int32", "int64", "string"):
        texts = [row[header.index("text")] for row in rows]
        return _text(path, texts, y, names, shape, dtype, validation_split, test_split, seed, vocabulary,
                     max_tokens)
    try:
        x = np.array([[float(v) for i, v in enumerate(row) if i != column] for row in rows], dtype="float32")
    except ValueError as err:
        raise SpecError(f"{path}: feature columns must be numbers ({err})") from None
    return _split(path, _fit_array(x, shape, path), y, None, names, None, validation_split, test_split, seed)


def _folder(path, shape, dtype, validation_split, test_split, seed, vocabulary, max_tokens):
    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    if not classes:
        raise SpecError(f"{path}: expected one sub-folder per class")
    files, labels = [], []
    for index, name in enumerate(classes):
        folder = os.path.join(path, name)
        for file in sorted(os.listdir(folder)):
            files.append(os.path.join(folder, file))
            labels.append(index)
    y = np.array(labels, dtype="int64")
    if all(f.lower().endswith(".txt") for f in files):
        texts = [open(f, encoding="utf-8").read() for f in files]
        return _text(path, texts, y, classes, shape, dtype, validation_split, test_split, seed, vocabulary,
                     max_tokens)
    images = [f for f in files if f.lower().endswith(IMAGE_SUFFIXES)]
    if len(images) != len(files):
        raise SpecError(f"{path}: sub-folders hold images ({', '.join(IMAGE_SUFFIXES)}) or .txt files, "
                        f"not both or others")
    if len(shape) != 3 or shape[-1] not in (1, 3) or None in shape:
        raise SpecError(f"{path}: an image folder needs an input of shape [height, width, 1 or 3], "
                        f"the spec has {list(shape)}")
    data = _split(path, np.array(files), y, None, classes, 1.0 / 255.0, validation_split, test_split, seed)
    data.images_from_files = True
    return data


def _text(name, texts, y, classes, shape, dtype, validation_split, test_split, seed, vocabulary, max_tokens):
    """Token ids from texts: lower-cased words, ids by training-set frequency
    (0 padding, 1 out-of-vocabulary), padded or cut to the input's length."""
    if dtype not in ("int32", "int64"):
        raise SpecError(f"{name}: text data needs an integer token input, e.g. "
                        "`input: {shape: [200], dtype: int32}`")
    length = shape[0] if shape[0] is not None else max(len(_words(t)) for t in texts)
    data = _split(name, np.array(texts, dtype=object), y, None, classes, None, validation_split, test_split, seed)
    if vocabulary is None:
        counts: dict = {}
        for text in data.train.x:
            for word in _words(text):
                counts[word] = counts.get(word, 0) + 1
        vocabulary = ["", "[UNK]"] + sorted(counts, key=lambda w: (-counts[w], w))
        vocabulary = vocabulary[:max_tokens]      # ids must stay below the embedding's input_dim
    index = {word: i for i, word in enumerate(vocabulary)}
    for split in (data.train, data.validation, data.test):
        if split is not None:
            split.x = np.array([[index.get(w, 1) for w in _words(t)][:length] + [0] * max(0, length - len(_words(t)))
                                for t in split.x], dtype=dtype)
    data.vocabulary = vocabulary
    return data


def _words(text):
    return "".join(c.lower() if c.isalnum() else " " for c in text).split()


# --- shaping and splitting ------------------------------------------------------------

def _labels(values):
    try:
        y = np.array([int(v) for v in values], dtype="int64")
        return y, [str(c) for c in sorted(set(y.tolist()))]
    except ValueError:
        names = sorted(set(values))
        return np.array([names.index(v) for v in values], dtype="int64"), names


def _fit_images(images, shape, name):
    """Resize (N, h, w, c) images to the spec's [H, W, C]."""
    if len(shape) != 3 or None in shape:
        raise SpecError(f"{name}: image data needs an input of shape [height, width, channels], "
                        f"the spec has {list(shape)}")
    height, width, channels = shape
    if images.shape[-1] != channels:
        if images.shape[-1] == 1:
            images = np.repeat(images, channels, axis=-1)
        else:
            raise SpecError(f"{name}: the images have {images.shape[-1]} channels, the spec's input {channels}")
    if images.shape[1:3] != (height, width):
        from ..backend import keras
        images = np.asarray(keras().ops.image.resize(images, (height, width), interpolation="bilinear"))
    return images.astype("float32")


def _fit_array(x, shape, name):
    if x.ndim == len(shape) + 1 and all(s is None or s == d for s, d in zip(shape, x.shape[1:])):
        return x
    if x.ndim == 4 and len(shape) == 3 or x.ndim == 3 and len(shape) == 3:
        return _fit_images(x[..., None] if x.ndim == 3 else x, shape, name)
    raise SpecError(f"{name}: x has shape {list(x.shape)}, which does not fit the spec's input "
                    f"{list(shape)} (plus the batch axis)")


def _split(name, x, y, test, names, rescale, validation_split, test_split, seed) -> Data:
    order = np.random.default_rng(seed).permutation(len(y))
    rest = Split(x[order], y[order], order)
    if test is None and test_split > 0:
        test, rest = _take(rest, test_split)
    validation = None
    if validation_split > 0:
        validation, rest = _take(rest, validation_split)
    if len(rest.y) == 0:
        raise SpecError(f"{name}: no training examples are left after the validation and test splits")
    return Data(name, rest, validation, test, names, rescale)


def _take(split: Split, fraction: float) -> tuple[Split, Split]:
    """The first `fraction` of `split` (at least one example), and the rest."""
    count = max(1, int(round(len(split.y) * fraction)))
    return (Split(split.x[:count], split.y[:count], split.index[:count]),
            Split(split.x[count:], split.y[count:], split.index[count:]))


def save_vocabulary(path, vocabulary):
    write_atomic(path, json.dumps(vocabulary).encode())


def load_vocabulary(model_path):
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "vocabulary.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    return None
