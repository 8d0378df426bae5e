"""New data without labels, for `predict`: one image or text file, a flat
folder of them, a CSV of feature columns only, or a .npz with `x` alone.
Each example keeps a name for the output: its file name, or its row."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from ..errors import DataError
from . import data as data_module
from .checks import check_finite


def is_unlabeled(data_arg, input_shape) -> bool:
    """Whether `data_arg` holds examples without labels for a model with this input."""
    if data_arg == "digits" or not os.path.exists(data_arg):
        return False
    if os.path.isfile(data_arg):
        if data_arg.lower().endswith((*data_module.IMAGE_SUFFIXES, ".txt")):
            return True
        if data_arg.endswith(".npz"):  # a broken file is for the labeled reader to name
            return zipfile.is_zipfile(data_arg) and "y.npy" not in zipfile.ZipFile(data_arg).namelist()
        if data_arg.endswith(".csv"):
            header = data_module._read_csv(data_arg)[0]
            if header == ["text"]:  # texts alone: the text column is never a label
                return True
            return "label" not in header and len(input_shape) == 1 and len(header) == input_shape[0]
        return False
    entries = [e for e in os.listdir(data_arg) if not e.startswith(".")]
    return bool(entries) and not any(os.path.isdir(os.path.join(data_arg, e)) for e in entries)


def load(data_arg, shape, dtype, vocabulary) -> tuple[data_module.Data, list]:
    """(Data whose train split holds every example, the examples' names)."""
    shape = tuple(shape)
    if os.path.isdir(data_arg):
        files = sorted(os.path.join(data_arg, e) for e in os.listdir(data_arg) if not e.startswith("."))
        return _files(data_arg, files, shape, dtype, vocabulary)
    if data_arg.lower().endswith((*data_module.IMAGE_SUFFIXES, ".txt")):
        return _files(data_arg, [data_arg], shape, dtype, vocabulary)
    if data_arg.endswith(".npz"):
        x = data_module.read_npz_arrays(data_arg, needed=("x",))["x"]
        if x.dtype.kind not in "biuf":
            raise DataError(data_arg, f"x must be a numeric array, not {x.dtype}")
        x = data_module.fit_array(x, shape, data_arg)
        check_finite(data_arg, x)
        return _whole(data_arg, x), [str(i) for i in range(len(x))]
    header, rows, lines = data_module._read_csv(data_arg)
    if header == ["text"]:
        return _texts(data_arg, [row[0] for row in rows], shape, dtype, vocabulary), [str(line) for line in lines]
    x = data_module.features(data_arg, header, rows, lines)
    return _whole(data_arg, data_module.fit_array(x, shape, data_arg)), [str(line) for line in lines]


def _files(name, files, shape, dtype, vocabulary):
    """Images or .txt files, all of one kind."""
    if files and all(f.lower().endswith(".txt") for f in files):
        names = [os.path.basename(f) for f in files]
        return _texts(name, [data_module._read_text(f) for f in files], shape, dtype, vocabulary), names
    if not files or not all(f.lower().endswith(data_module.IMAGE_SUFFIXES) for f in files):
        raise DataError(
            name, f"expected image files ({', '.join(data_module.IMAGE_SUFFIXES)}) or .txt files, all of one kind"
        )
    for file in files:
        data_module._check_image(file, shape[-1])
    data = _whole(name, np.array(files), rescale=1.0 / 255.0)
    data.images_from_files = True
    return data, [os.path.basename(f) for f in files]


def _texts(name, texts, shape, dtype, vocabulary) -> data_module.Data:
    """Texts as the model's input takes them: raw strings, or token ids from its training vocabulary."""
    if dtype == "string":  # the model vectorizes its text itself
        return _whole(name, data_module.raw_texts(name, texts, shape))
    if vocabulary is None:
        raise DataError(
            name, "text to predict needs the vocabulary its model was trained with (vocabulary.json beside the model)"
        )
    length = shape[0] if shape[0] is not None else max(len(data_module._words(t)) for t in texts)
    return _whole(name, data_module.encode(texts, vocabulary, length, dtype))


def _whole(name, x, rescale=None) -> data_module.Data:
    split = data_module.Split(x, np.zeros(len(x), dtype="int64"), np.arange(len(x)))
    return data_module.Data(name, split, None, None, None, rescale)
