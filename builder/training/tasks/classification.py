"""One label per example: classification (a softmax over classes), binary (one
sigmoid unit) and regression (numbers). Data from every source of sources.py
for a one-input model; for a BERT-style model (token ids, segment ids and a
padding mask), texts from a CSV's `text` column (or `text_a` and `text_b`
for pairs), tokenized and packed into its inputs (text.py)."""

from __future__ import annotations

import os

import numpy as np

from ...backend import keras as _keras
from ...errors import DataError, FlagError
from ...spec.training import Preprocessing, TFRecordSettings
from .. import batching, text, unlabeled
from .. import data as data_module
from .. import folder as folder_module
from ..checks import check_labels, class_labels, number_names
from . import named
from .base import TASKS, Predictions, Task, flat_task, probabilities, task


class _OneLabel(Task):
    default_loss = "sparse_categorical_crossentropy"
    default_metrics = ("accuracy",)
    checked_as = "classifier"  # how checks.check_labels checks the labels

    def own_loss(self):
        return self.default_loss

    def own_metrics(self):
        return list(self.default_metrics)

    def load(self, expanded, settings, folder):
        spec = self.spec
        if text.is_packed_text_model(self.model):
            data = self._packed(settings, data_module.SplitPlan.of(spec.training), expanded, folder)
        else:
            data = read_one_input(self, expanded, settings, folder)
        check_labels(data, self.checked_as, spec.output.get("units") if spec.output else None)
        return data

    def _packed(self, settings, plan, expanded, folder):
        """Texts from a CSV, packed into the model's token ids, segment ids and padding mask."""
        path = settings.data
        if not (isinstance(path, str) and path.endswith(".csv")):
            raise FlagError(
                f"--data {path!r}: a model with inputs {', '.join(text.input_names(self.model))} trains on a "
                "CSV file with a `text` column (or `text_a` and `text_b`) and a label column"
            )
        texts, labels = read_text_csv(path, settings.label, labelled=True)
        y, names = class_labels(labels)
        first, second = texts
        order = data_module.split_examples(path, np.arange(len(y)), y, plan)
        train_rows = order.train.x
        train_texts = [first[i] for i in train_rows] + ([second[i] for i in train_rows] if second else [])
        tokenizer = text.run_tokenizer(settings, folder, train_texts, expanded)
        length = self.spec.training.sequence_length or text.packed_length(
            tokenizer,
            [first[i] for i in train_rows],
            [second[i] for i in train_rows] if second else None,
            text.positions(expanded),
        )
        names_in = text.input_names(self.model)
        for split in (order.train, order.validation, order.test):
            if split is not None:
                rows = split.x
                split.x = text.pack(
                    tokenizer, [first[i] for i in rows], [second[i] for i in rows] if second else None, length, names_in
                )
        order.class_names = names
        order.tokenizer, order.sequence_length, order.text_pairs = tokenizer, length, second is not None
        return order

    def beside(self, data):
        return {folder_module.TOKENIZER: data.tokenizer.to_json()} if data.tokenizer is not None else {}

    def compile_saved(self):
        compile_for_its_task(self.model)

    def facts(self, data):
        if not data.sequence_length:
            return {}
        return {"sequence_length": data.sequence_length, "text_pairs": data.text_pairs}

    def evaluate(self, model_path, data_arg, label=None):
        if len(self.model.inputs) == 1:
            return evaluate_labelled(self.model, model_path, self.record, data_arg, label)
        split, _, _ = self._saved_examples(model_path, data_arg, label, whole=False)
        compile_for_its_task(self.model)
        results = self.model.evaluate(
            split.x, split.y, batch_size=self.record.get("batch_size", 32), verbose=0, return_dict=True
        )
        return {"examples": len(split), **{f"test_{k}": float(v) for k, v in results.items()}}

    def predict(self, model_path, data_arg, label=None, top_k=1, threshold=None):
        classes = self.model.outputs[0].shape[-1] if len(self.model.outputs[0].shape) == 2 else 1
        if 1 < classes < top_k:  # a CSV row per example: each with as many columns
            raise FlagError(f"--top-k {top_k}: the model predicts {classes} classes; ask for at most {classes}")
        if len(self.model.inputs) == 1:
            rows, header = predict_labelled(self.model, model_path, self.record, data_arg, label, top_k)
            return Predictions(header, rows)
        split, names, first = self._saved_examples(model_path, data_arg, label, whole=True, labelled=None)
        outputs = np.asarray(self.model.predict(split.x, batch_size=self.record.get("batch_size", 32), verbose=0))
        rows = prediction_rows(outputs, names, saved_classes(model_path), split.y, top_k)
        return Predictions(prediction_header((first,), outputs, split.y, top_k), rows)

    def _saved_examples(self, model_path, data_arg, label, whole, labelled=True):
        """(a data.Split, its examples' names, what names them) of a saved model
        with several inputs: texts packed into a BERT-style model's, or arrays
        named after them; the test split, or (`whole`) every example in order."""
        record, path = self.record, os.fspath(data_arg)
        plan = data_module.SplitPlan.saved(record, whole)
        if text.is_packed_text_model(self.model):
            x, y, lines = self._packed_examples(model_path, data_arg, label or record.get("label"), labelled)
            if whole:
                return data_module.Split(x, y, np.arange(len(lines))), [str(line) for line in lines], "line"
            data = data_module.split_examples(path, x, y, plan)
        else:
            units = int(self.model.outputs[0].shape[-1] or 1)
            known = saved_classes(model_path)
            target = named.Target("y", self.name, units, tuple(known) if known else None)
            data = named.read(path, named.model_inputs(self.model), [target], plan, labelled=labelled)
            for split in (data.train, data.validation, data.test):
                if split is not None:
                    split.y = split.y.get("y")
        split = data.train if whole else data.test or data.train
        if whole:
            order = np.argsort(split.index)
            y = None if split.y is None else split.y[order]
            split = data_module.Split(batching.take(split.x, order), y, split.index[order])
        return split, [str(int(i)) for i in split.index], "index"

    def _packed_examples(self, model_path, data_arg, label, labelled):
        """(the model's named inputs, class ids or None, CSV line numbers) of a
        CSV of texts, for a saved BERT-style model; `labelled` None: labelled
        where the CSV has a label column (`label`, or the one named)."""
        path = os.fspath(data_arg)
        if not path.endswith(".csv") or not os.path.isfile(path):
            raise FlagError(
                f"--data {path!r}: this model reads texts from a CSV file (a `text` column, or text_a and text_b)"
            )
        tokenizer = text.read_tokenizer_beside(model_path, folder_module.TOKENIZER)
        length = self.record.get("sequence_length")
        if tokenizer is None or not length:
            raise DataError(
                model_path, f"no {folder_module.TOKENIZER} (or run.json) beside the model; its training run writes them"
            )
        (first, second), labels, lines = read_text_csv(path, label, labelled=labelled, lines=True)
        pairs = self.record.get("text_pairs")
        if pairs is not None and pairs != (second is not None):
            raise DataError(
                path,
                "the model was trained on pairs of texts: give columns text_a and text_b"
                if pairs
                else "the model was trained on single texts: give a `text` column",
            )
        x = text.pack(tokenizer, first, second, length, text.input_names(self.model))
        if labels is None:
            return x, None, lines
        classes = saved_classes(model_path)
        y, names = class_labels(labels)
        if classes:
            unknown = sorted(set(names) - set(classes))
            if unknown:
                raise DataError(
                    path, f"the label {unknown[0]!r} is not one of the model's classes ({', '.join(classes)})"
                )
            y = np.array([classes.index(names[i]) for i in y], dtype="int64")
        return x, y, lines


def read_one_input(job: Task, expanded, settings, folder):
    """A one-input model's data from the first source of sources.SOURCES that
    recognises --data, split by the spec's plan (labels not yet checked)."""
    spec, config = job.spec, job.spec.training
    if len(spec.inputs) != 1:
        return _named_inputs(job, settings.data, data_module.SplitPlan.of(config))
    item = spec.inputs[0]
    resumed = data_module.load_vocabulary(folder.file(folder_module.MODEL)) if settings.resume else None
    wanted = data_module.InputDescription(
        tuple(item.shape),
        item.dtype,
        label=settings.label,
        vocabulary=resumed,
        max_tokens=text.embedding_size(expanded),
        tfrecord=config.tfrecord,
    )
    data = data_module.load(settings.data, wanted, data_module.SplitPlan.of(config))
    if expanded.scales_its_input:
        data.rescale = None  # the model scales its raw input itself
    return data


def _named_inputs(job: Task, path, plan):
    """A model with several inputs: arrays (or CSV columns) named after them, its labels `y`."""
    units = int(job.model.outputs[0].shape[-1] or 1)
    if not (isinstance(path, str) and path.endswith((".npz", ".csv"))):
        raise FlagError(
            f"--data {path!r}: a spec with several inputs ({', '.join(t.name for t in job.model.inputs)}) trains on "
            "a .npz with an array named after each input and its labels in `y`, or a CSV with a column per input "
            f"(or on a CSV of texts where its inputs are {text.TOKEN_INPUT}, {text.SEGMENT_INPUT} and "
            f"{text.MASK_INPUT})"
        )
    data = named.read(path, named.model_inputs(job.model), [named.Target("y", job.name, units)], plan)
    for split in (data.train, data.validation, data.test):
        if split is not None:
            split.y = split.y["y"]
    data.class_names = (data.class_names or {}).get("y")
    return data


@task("classification")
class Classification(_OneLabel):
    """A softmax over classes: sparse categorical cross-entropy, accuracy."""


@task("binary")
class Binary(_OneLabel):
    """One sigmoid unit: binary cross-entropy, accuracy."""

    default_loss = "binary_crossentropy"
    checked_as = "binary"


@task("regression")
class Regression(_OneLabel):
    """Numbers: mean squared error, mean absolute error."""

    default_loss = "mean_squared_error"
    default_metrics = ("mae",)
    checked_as = "regression"


def read_text_csv(path, label=None, labelled=True, lines=False):
    """((texts, second texts or None), labels or None) from a CSV with a
    `text` column, or `text_a` and `text_b` for pairs; the label column is
    `label`, `--label`, or the last other column. `labelled` None: labels
    where there is a `label` column or one is named."""
    header, rows, numbers = data_module._read_csv(path)
    found = _text_columns(path, header, rows, numbers, label, labelled)
    return (*found, numbers) if lines else found


def _text_columns(path, header, rows, lines, label, labelled):
    if "text" in header:
        columns = ["text"]
    elif "text_a" in header:
        if "text_b" not in header:
            raise DataError(path, "a pair of texts needs columns text_a and text_b; text_b is missing", lines[0] - 1)
        columns = ["text_a", "text_b"]
    else:
        raise DataError(path, f"no `text` column (or `text_a` and `text_b`); columns: {', '.join(header)}", 1)
    texts = [[row[header.index(c)] for row in rows] for c in columns]
    empty = next(
        ((lines[r], c) for c in columns for r, row in enumerate(rows) if not row[header.index(c)].strip()), None
    )
    if empty:
        raise DataError(path, f"the {empty[1]} column is empty", empty[0])
    if labelled is None:
        labelled = label is not None or "label" in header
    if not labelled:
        return (texts[0], texts[1] if len(texts) > 1 else None), None
    others = [c for c in header if c not in columns]
    chosen = label or ("label" if "label" in header else others[-1] if others else None)
    if chosen is None or chosen not in header:
        raise DataError(path, f"no label column{f' {chosen!r}' if chosen else ''} (columns: {', '.join(header)})", 1)
    return (texts[0], texts[1] if len(texts) > 1 else None), [row[header.index(chosen)] for row in rows]


# --- saved models with one label per example ------------------------------------------


def compile_for_its_task(model):
    """Compile a loaded model with one label per example with the loss and
    metrics its task needs, whatever it was saved with (or without)."""
    keras = _keras()
    task = TASKS[flat_task(model)]
    if task is Classification:
        model.compile(
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities(model)), metrics=["accuracy"]
        )
    else:
        own = task(model)
        model.compile(loss=own.own_loss(), metrics=own.own_metrics())
    return model


def _check_classes(model, data, model_path):
    task, units = flat_task(model), model.outputs[0].shape[-1] or 1
    classes = data.num_classes
    if task == "classification" and classes and classes > units:
        raise DataError(
            model_path,
            f"the model predicts {units} classes, but {data.name} has {classes} "
            f"({', '.join(map(str, data.class_names[:12]))}{', ...' if classes > 12 else ''})",
        )
    check_labels(data, TASKS[task].checked_as, units)


def saved_data(model, model_path, settings, data_arg, whole, label=None, check=True):
    """(data, input shape, preprocessing, batch size) for a saved model whose
    run.json is `settings`; with `check`, its labels checked as class numbers."""
    shape = tuple(model.inputs[0].shape[1:])
    wanted = data_module.InputDescription(
        shape,
        model.inputs[0].dtype,
        label=label or settings.get("label"),
        vocabulary=data_module.load_vocabulary(model_path),
        tfrecord=_tfrecord(settings),
    )
    plan = data_module.SplitPlan.saved(settings, whole)  # predict reads every example; evaluate the test split
    data = data_module.load(data_arg, wanted, plan)
    if whole and data.split_by_folders:
        data = data_module.merged(data)
    if check:
        _as_trained_classes(data, saved_classes(model_path))
        _check_classes(model, data, model_path)
    return data, shape, _scaling(settings), settings.get("batch_size", 32)


def _as_trained_classes(data, classes) -> None:
    """The data's labels numbered as the model's classes (classes.json), not as
    the data names them: data without one of the classes, or naming them in
    another order, would otherwise be scored against other classes."""
    names = [str(name) for name in data.class_names or ()]
    if not classes or not names or names == list(classes) or all(n.lstrip("-").isdigit() for n in names):
        return  # class numbers are their own ids
    unknown = [name for name in names if name not in classes]
    if unknown:
        raise DataError(data.name, f"the label {unknown[0]!r} is not one of the model's classes ({', '.join(classes)})")
    ids = np.array([classes.index(name) for name in names], dtype="int64")
    for split in (data.train, data.validation, data.test):
        if split is not None:
            split.y = ids[np.asarray(split.y, dtype="int64")]
    data.class_names = list(classes)


def _tfrecord(settings):
    """The feature description the run read its TFRecord files with, if any."""
    if not settings.get("tfrecord"):
        return None
    return TFRecordSettings.model_validate(settings["tfrecord"])


def evaluate_labelled(model, model_path, settings, data_arg, label=None) -> dict:
    """evaluate for a model with one input and one label per example."""
    model = compile_for_its_task(model)
    data, shape, preprocessing, batch_size = saved_data(model, model_path, settings, data_arg, False, label)
    split = data.test or data.train
    ds = batching.dataset(split, data, batching.Pipeline(tuple(shape), batch_size, preprocessing), training=False)
    results = model.evaluate(ds, return_dict=True, verbose=0)
    return {"examples": int(len(split.y)), **{f"test_{k}": float(v) for k, v in results.items()}}


def predict_labelled(model, model_path, settings, data_arg, label=None, top_k=1):
    """(rows, header): one row per example, in the order of the file or folder.
    Labeled data keeps its label column; new data without labels (a file, a
    flat folder, a CSV of features) is named by file or line. Classes are
    named as the training data named them (classes.json beside the model)."""
    task = TASKS[flat_task(model)](model, None, settings)
    outputs, names, truth, data = saved_outputs(task, model_path, data_arg, label)
    first = ("index",) if truth is not None else ("input",)
    classes = saved_classes(model_path) or data.class_names
    return prediction_rows(outputs, names, classes, truth, top_k), prediction_header(first, outputs, truth, top_k)


def saved_outputs(task: Task, model_path, data_arg, label=None, labels=None) -> tuple:
    """(the outputs, the examples' names, their labels or None, the data) of a
    saved one-input model on `data_arg`, in the order of its file or folder;
    labels checked as class numbers, or made by `labels(data) -> data` (multi-hot rows)."""
    model, settings = task.model, task.record
    shape = tuple(model.inputs[0].shape[1:])
    if unlabeled.is_unlabeled(data_arg, shape):
        data, names = unlabeled.load(data_arg, shape, model.inputs[0].dtype, data_module.load_vocabulary(model_path))
        preprocessing, batch_size, labelled = _scaling(settings), settings.get("batch_size", 32), False
    else:
        data, shape, preprocessing, batch_size = saved_data(
            model, model_path, settings, data_arg, True, label, check=labels is None
        )
        if labels is not None:
            data = labels(data)
        names, labelled = None, True
    order = np.argsort(data.train.index)  # back to the order of the file or folder
    steps = batching.Pipeline(tuple(shape), batch_size, preprocessing)
    outputs = np.asarray(model.predict(batching.dataset(data.train, data, steps, training=False), verbose=0))[order]
    names = names if names is not None else [str(i) for i in range(len(outputs))]
    return outputs, names, data.train.y[order] if labelled else None, data


def _scaling(settings: dict) -> Preprocessing:
    """The scaling of data given to a trained model, as its run.json's
    `new_data_rescale` says (the spec's rescale, 1.0, or null: the data's own,
    images 1/255); a run.json from before that key: the training data's factor."""
    if "new_data_rescale" in settings:
        return Preprocessing(rescale=settings["new_data_rescale"])
    return Preprocessing(rescale=settings.get("rescale"))


def saved_classes(model_path) -> list | None:
    """The class names saved beside a trained model (classes.json, a list for a model with one output), or None."""
    classes = data_module.read_beside(model_path, "classes.json")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        path = data_module.find_beside(model_path, "classes.json")
        raise DataError(path, "expected a list of class names, as its training run writes it for a one-output model")
    if classes and all(c.isdigit() for c in classes):  # class numbers, named by position (older runs listed the seen)
        return number_names([int(c) for c in classes])
    return classes


def prediction_header(first, outputs, truth, top_k) -> tuple:
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        ranked = [("predicted", "probability")] + [(f"predicted_{k}", f"probability_{k}") for k in range(2, top_k + 1)]
        columns = tuple(c for pair in ranked for c in pair)
    else:
        columns = ("prediction",)
    return (*first, *columns, *(("label",) if truth is not None else ()))


def prediction_rows(outputs, names, classes, truth, top_k) -> list:
    rows = []
    for i, output in enumerate(outputs):
        if output.ndim == 1 and output.shape[0] > 1:
            best = np.argsort(-output, kind="stable")[:top_k]
            cells = [c for b in best for c in (_class(classes, b), f"{output[b]:.6f}")]
        else:
            cells = [f"{float(np.ravel(output)[0]):.6f}"]
        label = [_class(classes, truth[i]) if classes else truth[i]] if truth is not None else []
        rows.append((names[i], *cells, *label))
    return rows


def _class(classes, index):
    return classes[index] if classes and index < len(classes) else int(index)
