"""What sweeps and searches share: a trial's folder, named after the values
it tried, and the table that compares the trials, best first and marked."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import RunFolderError
from ..files import read_bounded
from ..spec.overrides import Value, read_values
from .interrupt import TrainingStopped

ALGORITHMS = ("random", "bayesian", "hyperband")  # search's KerasTuner oracles


@dataclasses.dataclass(frozen=True)
class Variants:
    """The spec a sweep or search varies: its path, the overrides every
    variant shares (--set), and how each variant is loaded for training."""

    path: Any  # the spec's path (or a shipped spec's name)
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    mixed_precision: bool = False
    limits: dict | None = None  # the size budget's limits (--max-params, --max-activation)

    def load(self, values: Mapping | None = None):
        """The spec with the fixed overrides and `values` ({'dotted.path': value}) applied."""
        from .run import load_for_training

        typed = {path: Value(value) for path, value in (values or {}).items()}  # never read as YAML again
        return load_for_training(self.path, {**self.fixed, **typed}, self.mixed_precision, self.limits)

    def overrides(self, values: Mapping) -> dict:
        """What a variant's run.json records as its overrides."""
        return {**read_values(self.fixed), **values}


FEWEST_DIGITS = 4  # the significant digits a trial's numbers are shown with, at least


def text(value, digits: int = FEWEST_DIGITS) -> str:
    """A value as it is written on the command line or in YAML; a float (a
    search's 0.0007056544958930657) to `digits` significant digits."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        value = float(f"{value:.{digits}g}")
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").removesuffix("...")


def digits_apart(variants) -> int:
    """The fewest significant digits (at least FEWEST_DIGITS) at which the
    trials' different float values still read differently."""
    floats = {(path, value) for v in variants for path, value in v.items() if isinstance(value, float)}
    for digits in range(FEWEST_DIGITS, 18):
        if len({(path, f"{value:.{digits}g}") for path, value in floats}) == len(floats):
            return digits
    return 17


def folder_name(variant: dict, digits: int = FEWEST_DIGITS) -> str:
    """`defaults.activation=relu,layers.3.dense.units=64`: the paths and values
    a trial tried, as a folder name (no separators or control characters)."""
    name = ",".join(f"{path}={text(value, digits)}" for path, value in variant.items())
    name = re.sub(r"[^A-Za-z0-9_.,=+\-]", "_", name)
    return name[:200] if not name.startswith(".") else "_" + name[:199]


def finished(folder) -> dict | None:
    """The metrics of a trial that finished in `folder` (its metrics.json, written last), or None."""
    from . import folder as folder_module  # not at the top: the command line's parser reads ALGORITHMS here

    path = os.path.join(folder, folder_module.METRICS)
    if not os.path.isfile(os.path.join(folder, folder_module.RECORD)) or not os.path.isfile(path):
        return None
    try:
        metrics = json.loads(read_bounded(path, 1 << 20))
    except (OSError, ValueError):
        metrics = None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("epochs"), int):
        raise RunFolderError(f"{path} is not a finished trial's metrics; move {folder} away to train that trial again")
    return metrics


def resumable(folder) -> bool:
    """Whether a trial stopped in `folder` after an epoch (its checkpoint's state is there)."""
    from . import checkpoints
    from . import folder as folder_module

    return os.path.isfile(os.path.join(folder, folder_module.CHECKPOINT, checkpoints.STATE))


@contextlib.contextmanager
def stopped_in(base):
    """A trial stopped (Ctrl-C, a full disk) is resumed by resuming its sweep or search in `base`."""
    try:
        yield
    except TrainingStopped as err:
        err.out, err.resumable = base, True
        raise


def objective(metrics: dict) -> tuple[str, str]:
    """(metric, 'max' or 'min'): validation accuracy where there is one, else validation loss."""
    for name, direction in (
        ("val_accuracy", "max"),
        ("val_loss", "min"),
        ("test_accuracy", "max"),
        ("test_loss", "min"),
        ("loss", "min"),
    ):
        if metrics.get(name) is not None:
            return name, direction
    return "loss", "min"


def row(variant: dict, metrics: dict, folder: str) -> dict:
    return {
        "values": dict(variant),
        "metrics": metrics,
        "folder": folder,
        "seconds_per_epoch": metrics["seconds"] / max(1, metrics["epochs"]),
    }


def ranked(rows: list[dict]) -> list[dict]:
    """The rows, best first by the objective their metrics have."""
    if not rows:
        return []
    name, direction = objective(rows[0]["metrics"])

    def key(r):
        value = r["metrics"].get(name)
        return (value is None, -value if value is not None and direction == "max" else (value or 0))

    return sorted(rows, key=key)


def table(rows: list[dict]) -> str:
    """The trials as a Markdown table: one column per tried path, the objective,
    test accuracy, parameters, seconds per epoch and folder; best first, marked."""
    rows = ranked(rows)
    if not rows:
        return "(no trials)"
    name, direction = objective(rows[0]["metrics"])
    paths = list(dict.fromkeys(p for r in rows for p in r["values"]))
    digits = digits_apart(r["values"] for r in rows)

    def show(value):
        return "n/a" if value is None else f"{value:.4f}"

    header = [
        "",
        *paths,
        f"{name.replace('_', ' ')} ({direction})",
        "test accuracy",
        "parameters",
        "seconds / epoch",
        "folder",
    ]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * len(header)) + " |"]
    for i, r in enumerate(rows):
        cells = [
            "best" if i == 0 else "",
            *(text(r["values"].get(p, ""), digits) for p in paths),
            show(r["metrics"].get(name)),
            show(r["metrics"].get("test_accuracy")),
            f"{r['metrics']['params']:,}",
            f"{r['seconds_per_epoch']:.2f}",
            r["folder"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
