"""Multi-label classification: any number of classes per example, a sigmoid
unit each. Data: every source of sources.py whose labels are sets — a CSV
label column of names joined by `|` (`cat|dog`, or one name), class
sub-folders (one class each), or a `.npz` whose `y` is multi-hot rows of
0 and 1. Loss: binary cross-entropy per class; metrics: binary accuracy and
the area under the ROC curve over every class (`keras.metrics.AUC(multi_label=True)`).
`predict` names the classes at or above `--threshold` (0.5), with each
class's probability."""

from __future__ import annotations

import numpy as np

from ...backend import keras as _keras
from ...errors import DataError, FlagError
from . import classification
from .base import Predictions, Task, output_rank, task, wrong_model
from .named import SEPARATOR, multi_hot


@task("multi_label")
class MultiLabel(Task):
    """Sigmoid units, one per class: binary cross-entropy, binary accuracy, AUC."""

    takes_threshold = True

    @property
    def classes(self) -> int:
        return int(self.model.outputs[0].shape[-1])

    def check(self):
        if output_rank(self.model) != 2 or self.classes < 2:
            raise wrong_model(
                "multi_label needs one output of 2 or more sigmoid units, (batch, classes); "
                f"this model's output is {list(self.model.outputs[0].shape)}"
            )

    def load(self, expanded, settings, folder):
        data = classification.read_one_input(self, expanded, settings, folder)
        return self.as_label_sets(data)

    def as_label_sets(self, data, known=None):
        """The labels as multi-hot rows over the classes (`known`: a saved model's), checked."""
        names = list(known) if known is not None else None
        if names is None and data.class_names is not None:  # every class the data names, in any split
            names = sorted({n.strip() for c in data.class_names for n in str(c).split(SEPARATOR) if n.strip()})
        if names is not None and len(names) > self.classes:
            raise DataError(
                data.name,
                f"{len(names)} classes ({', '.join(names[:12])}{', ...' if len(names) > 12 else ''}), "
                f"but the output has {self.classes} units",
            )
        for split in (data.train, data.validation, data.test):
            if split is None:
                continue
            y = np.asarray(split.y)
            if y.ndim == 2:
                if y.shape[1] != self.classes:
                    raise DataError(
                        data.name,
                        f"multi-hot labels are rows of {self.classes} zeros and ones (the output's units); "
                        f"y's rows have {y.shape[1]}",
                    )
                if not np.isin(y, (0, 1)).all():
                    row = int(np.argmax(~np.isin(y, (0, 1)).all(axis=1)))
                    raise DataError(
                        data.name, f"multi-hot labels are zeros and ones; example {int(split.index[row])} holds others"
                    )
                split.y = y.astype("float32")
                data.class_names = names  # rows name no classes: the columns are the classes
                continue
            if data.class_names is None:
                raise DataError(
                    data.name, "multi-label labels are class names joined by | (cat|dog), or multi-hot rows"
                )
            sets = [str(data.class_names[int(i)]).split(SEPARATOR) for i in y]
            split.y = self._multi_hot(data.name, sets, names, split.index)
        if names is not None:
            data.class_names = names
        return data

    def _multi_hot(self, name, sets, names, rows) -> np.ndarray:
        return multi_hot(name, sets, names, self.classes, rows)

    def own_loss(self):
        return "binary_crossentropy"

    def own_metrics(self):
        return self.label_metrics(self.classes)

    @staticmethod
    def label_metrics(classes: int) -> list:
        """Binary accuracy and the ROC AUC over `classes` sigmoid units."""
        keras = _keras()
        return [
            keras.metrics.BinaryAccuracy(name="accuracy"),
            keras.metrics.AUC(multi_label=True, num_labels=classes, name="auc"),
        ]

    # --- saved models -----------------------------------------------------------------

    def _saved_data(self, model_path, data_arg, label, whole):
        data, shape, preprocessing, batch_size = classification.saved_data(
            self.model, model_path, self.record, data_arg, whole, label, check=False
        )
        return self.as_label_sets(data, classification.saved_classes(model_path)), shape, preprocessing, batch_size

    def evaluate(self, model_path, data_arg, label=None):
        from .. import batching

        data, shape, preprocessing, batch_size = self._saved_data(model_path, data_arg, label, whole=False)
        self.model.compile(loss=self.own_loss(), metrics=self.own_metrics())
        split = data.test or data.train
        ds = batching.dataset(split, data, batching.Pipeline(tuple(shape), batch_size, preprocessing), training=False)
        results = self.model.evaluate(ds, return_dict=True, verbose=0)
        return {"examples": int(len(split.y)), **{f"test_{k}": float(v) for k, v in results.items()}}

    def predict(self, model_path, data_arg, label=None, top_k=1, threshold=None):
        if top_k != 1:
            raise FlagError("--top-k: a multi-label model names every class at or above --threshold instead")
        threshold = 0.5 if threshold is None else threshold
        known = classification.saved_classes(model_path)
        outputs, names, truth, _ = classification.saved_outputs(
            self, model_path, data_arg, label, labels=lambda data: self.as_label_sets(data, known)
        )
        classes = known or [str(i) for i in range(self.classes)]
        first = "index" if truth is not None else "input"  # as the other tasks' predictions name their rows
        header = (first, "predicted", *(f"probability_{name}" for name in classes[: self.classes]))
        rows = []
        for i, output in enumerate(outputs):
            chosen = SEPARATOR.join(classes[c] for c in range(self.classes) if output[c] >= threshold)
            truth_cell = () if truth is None else (SEPARATOR.join(classes[c] for c in np.flatnonzero(truth[i])),)
            rows.append((names[i], chosen, *(f"{p:.6f}" for p in output), *truth_cell))
        return Predictions((*header, *(("label",) if truth is not None else ())), rows)
