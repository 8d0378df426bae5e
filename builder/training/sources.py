"""Where training data comes from: one ordered table of sources, each with how
it is recognised, its help line and its rows in docs/training.md's table.
The first source that recognises `--data` reads it (its reader is registered
by data.py with `@reads(NAME)`); `--data`'s help and the docs' table are made
from this table (`help_text`, `markdown_table`; tests/test_docs.py holds the
docs to it). Light on purpose: the command line reads it at start-up.

A new source is one entry here and one reader in data.py (or streams.py)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from ..errors import DataError, FlagError
from ..files import not_regular

TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrec", ".tfrecord.gz", ".tfrecords.gz")


@dataclasses.dataclass(frozen=True)
class Source:
    name: str
    recognises: Callable[[Any], bool]
    help: str  # its part of --data's help ("" for a source the command line cannot name)
    docs: tuple[tuple[str, str], ...] = ()  # rows of docs/training.md's table: (the --data form, what it is)
    on_disk: bool = False  # a path, checked to exist and to be a regular file or folder before it is read


def is_dataset(value) -> bool:
    """A tf.data.Dataset (told without importing TensorFlow)."""
    return type(value).__module__.startswith("tensorflow") and hasattr(value, "element_spec")


def _prefixed(prefix: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and value.startswith(prefix)


def tfrecord_files(path) -> list | None:
    """The TFRecord files of `path` (a file, or a folder of them), or None if it is neither."""
    if os.path.isfile(path):
        return [path] if path.lower().endswith(TFRECORD_SUFFIXES) else None
    if os.path.isdir(path):
        found = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(TFRECORD_SUFFIXES))
        return found or None
    return None


SOURCES = (
    Source("dataset", is_dataset, ""),
    Source("arrays", lambda value: isinstance(value, tuple), ""),
    Source(
        "digits",
        lambda value: value == "digits",
        "'digits' (built in)",
        (
            (
                "`digits`",
                "built in: scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), resized to the spec's "
                "input (bilinear), scaled to [0, 1]",
            ),
        ),
    ),
    Source(
        "tfds",
        _prefixed("tfds:"),
        "tfds:NAME",
        (
            (
                "`tfds:NAME` or `tfds:FOLDER`",
                'a TensorFlow Datasets data set (`pip install "keras-spec-builder[tfds]"`): by name (prepared in '
                "`TFDS_DATA_DIR`, downloaded there if it is not), or a prepared folder "
                "(`~/tensorflow_datasets/mnist/3.0.1`); its supervised keys and its own splits; streamed",
            ),
        ),
    ),
    Source(
        "hf",
        _prefixed("hf:"),
        "hf:NAME",
        (
            (
                "`hf:NAME` or `hf:FOLDER`",
                'a Hugging Face dataset (`pip install "keras-spec-builder[hf]"`): a folder written by `save_to_disk`, '
                "or a data set on the Hub (offline: one line at once; HF_HUB_OFFLINE=1 reads one downloaded "
                "before); its `image` (or `text`, or only other) column and `label` column (`--label`), its own "
                "splits; streamed",
            ),
        ),
    ),
    Source(
        "tfrecord",
        lambda path: tfrecord_files(path) is not None,
        "TFRecord files",
        (
            (
                "`FILE.tfrecord` (`.tfrecords`, `.tfrec`, `.gz`), or a folder of them",
                "`tf.train.Example` records, read with the spec's `training.tfrecord` feature description; files "
                "named `train*`, `val*`, `test*` are those splits; streamed",
            ),
        ),
        on_disk=True,
    ),
    Source(
        "folder",
        os.path.isdir,
        "a folder of class sub-folders (images or .txt)",
        (
            (
                "`FOLDER/` with one sub-folder per class of images (`.png`, `.jpg`, `.bmp`, `.gif`)",
                "decoded and resized to the spec's `[height, width, 1 or 3]` by the input pipeline, scaled by 1/255",
            ),
            ("`FOLDER/` with one sub-folder per class of `.txt` files", "text classification"),
            (
                "`FOLDER/` with `train/` and `val/` (or `validation/`) and/or `test/`, each with one sub-folder per "
                "class",
                "split by those folders, not at random (`train/` is shuffled with the seed; a missing `val/` or "
                "`test/` is taken from `train/` as `validation_split` / `test_split` say); `evaluate` uses `test/`, "
                "`predict` every file",
            ),
        ),
        on_disk=True,
    ),
    Source(
        "npz",
        lambda path: path.endswith(".npz"),
        "a .npz (x, y)",
        (("`FILE.npz`", "arrays `x` and `y` (and optionally `x_test`, `y_test`); images are resized to the input"),),
        on_disk=True,
    ),
    Source(
        "csv",
        lambda path: path.endswith(".csv"),
        "a .csv file",
        (
            (
                "`FILE.csv`",
                "a header row; feature columns and a label column (`label`, or the last column, or `--label NAME`); "
                "labels may be numbers or names",
            ),
            (
                "`FILE.csv` with a `text` column, for a spec with an integer token input (or a string input)",
                "text classification: see below",
            ),
        ),
        on_disk=True,
    ),
)
BY_NAME = {source.name: source for source in SOURCES}
READERS: dict[str, Callable] = {}


def reads(name: str):
    """Register the reader of source `name`: reader(data_arg, description, plan) -> data.Data."""
    if name not in BY_NAME:
        raise ValueError(f"no data source named {name!r} in sources.SOURCES")
    if name in READERS:
        raise ValueError(f"data source {name!r} has a reader already")

    def register(reader):
        READERS[name] = reader
        return reader

    return register


def find(data_arg) -> Source:
    """The source that reads `data_arg`: the first in the table that recognises it."""
    checked = False
    for source in SOURCES:
        if source.on_disk and not checked:
            _check_path(data_arg)
            checked = True
        if source.recognises(data_arg):
            return source
    raise FlagError(
        f"--data {data_arg!r}: expected 'digits', a .npz, .csv or .tfrecord file, a folder with one "
        "sub-folder per class, tfds:NAME or hf:NAME"
    )


def _check_path(data_arg: str):
    if not os.path.exists(data_arg):
        raise FlagError(f"--data {data_arg!r}: no such file or folder (or use the built-in 'digits')")
    what = not_regular(data_arg)
    if what and what != "a folder":
        raise DataError(data_arg, f"it is {what}, not a data file or folder")


def help_text() -> str:
    """--data's help: every source the command line can name, in the order they are recognised."""
    forms = [source.help for source in SOURCES if source.help]
    return ", ".join(forms[:-1]) + " or " + forms[-1]


def markdown_table() -> str:
    """docs/training.md's table of data sources."""
    rows = [f"| {form} | {what} |" for source in SOURCES for form, what in source.docs]
    return "\n".join(["| `--data` | what it is |", "| --- | --- |", *rows])
