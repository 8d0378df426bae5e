"""Experiment tracking: `training.track: mlflow` logs a run's settings, its
metrics per epoch, its test metrics and its record files to MLflow (where
mlflow or mlflow-skinny is installed); a file store in the run folder
(`mlruns/`) unless the spec or MLFLOW_TRACKING_URI names another."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib

from ..backend import keras as _keras
from ..errors import DependencyError
from .folder import METRICS, RECORD, SPEC, RunFolder
from .settings import RunSettings


def hyperparameters(spec, settings) -> dict:
    """The run's settings as trackers take them (numbers, strings, booleans):
    the batch size and epochs it ran with (RunSettings, --batch-size and --epochs
    included), the spec's optimizer, seed and splits, and the overrides."""
    from ..spec.training import named

    config = spec.training
    optimizer, arguments = named(config.optimizer)
    found = {
        "optimizer": optimizer,
        "batch_size": settings.batch_size,
        "epochs": settings.epochs,
        "seed": config.seed,
        "validation_split": float(config.validation_split),
        "test_split": float(config.test_split),
    }
    if isinstance(arguments.get("learning_rate"), (int, float)):
        found["learning_rate"] = float(arguments["learning_rate"])
    for path, value in settings.overrides.items():
        found[path] = value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
    return found


@contextlib.contextmanager
def tracked(spec, run: RunSettings, folder: RunFolder):
    """Around a training run: yields the callbacks that log each epoch ([]
    without tracking), and a `finish(metrics)` that logs the results."""
    settings, run_dir = _settings(spec.training.track), folder.dir
    if settings is None or not folder.chief:
        yield [], lambda metrics: None
        return
    mlflow = _mlflow()
    users = os.environ.get("MLFLOW_TRACKING_URI")  # the user's own, before this run sets its store
    uri = settings.get("tracking_uri") or users
    if uri is None or uri.startswith("file:") or "://" not in uri:
        # MLflow 3 keeps its file store for local use behind this switch (no server, no database)
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(uri or pathlib.Path(os.path.abspath(run_dir), "mlruns").as_uri())
    try:
        mlflow.set_experiment(settings.get("experiment") or spec.name)
        with mlflow.start_run(run_name=folder.name):
            yield from _logging(mlflow, spec, run, run_dir)
    finally:  # MLflow keeps the store in MLFLOW_TRACKING_URI: the next run in this process chooses its own
        mlflow.set_tracking_uri(users)


def _logging(mlflow, spec, run: RunSettings, run_dir):
    """Inside the MLflow run: log the settings, then yield the epoch logger and `finish`."""
    mlflow.log_params(hyperparameters(spec, run))

    def finish(metrics):
        mlflow.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float) and k.startswith("test_")})
        mlflow.set_tag("tested", metrics.get("tested", "final"))
        for name in (METRICS, RECORD, SPEC):
            if os.path.exists(os.path.join(run_dir, name)):
                mlflow.log_artifact(os.path.join(run_dir, name))

    yield [_EpochLogger(mlflow)], finish


def _settings(track):
    if track in (None, "none"):
        return None
    return {} if track == "mlflow" else dict(track.get("mlflow") or {})


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise DependencyError(
            "training.track: mlflow needs MLflow: pip install mlflow-skinny "
            '(or pip install "keras-spec-builder[track]")'
        ) from None
    return mlflow


class _EpochLogger(_keras().callbacks.Callback):  # type: ignore[misc]
    """Each epoch's loss and metrics, as MLflow metrics at that step."""

    def __init__(self, mlflow):
        super().__init__()
        self.mlflow = mlflow

    def on_epoch_end(self, epoch, logs=None):
        self.mlflow.log_metrics({k: float(v) for k, v in (logs or {}).items()}, step=epoch + 1)
