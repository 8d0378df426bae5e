"""Training runs as the live page shows them: the run folders under a
directory, and one run's history (per-epoch logs), test metrics, resolved
spec and record — read from what `train` writes, never trusted to be whole
(a run still training has only history.csv; a file may be cut or not JSON)."""

from __future__ import annotations

import csv
import io
import json
import math
import os

from ..files import read_bounded

MAX_DEPTH = 4  # runs/sweep/variant/ is three levels under a project folder
MAX_RUNS = 500
MAX_BYTES = 20 * 1024 * 1024  # a history of thousands of epochs is well under this
SKIPPED = {"cache", "checkpoints", "logs", "tensorboard", "node_modules", "__pycache__"}
MARKS = ("run.json", "history.json", "history.csv")


def walk(root: str):
    """(folder, file names) under `root`, at most MAX_DEPTH levels down, in
    order; hidden folders, symbolic links and a run's own SKIPPED folders are not entered."""
    for folder, subfolders, files in os.walk(root):
        depth = os.path.relpath(folder, root).count(os.sep) + (folder != root)
        subfolders[:] = sorted(
            d
            for d in subfolders
            if not d.startswith(".")
            and d not in SKIPPED
            and not os.path.islink(os.path.join(folder, d))
            and depth < MAX_DEPTH
        )
        yield folder, sorted(files)


def find_runs(root: str) -> list[str]:
    """Run folders under `root` (`root` itself included), as paths relative to it, sorted."""
    found = []
    for folder, files in walk(root):
        if any(mark in files for mark in MARKS):
            found.append(os.path.relpath(folder, root).replace(os.sep, "/"))
            if len(found) >= MAX_RUNS:
                break
    return sorted(found)


def read_run(folder: str) -> dict:
    """A run's history (a list of {epoch, metric: value}), metrics, resolved
    spec text and record; whatever is missing or unreadable is left empty and named in `problems`."""
    problems: list[str] = []
    history = _json(folder, "history.json", problems, list)
    if history is None:
        history = _csv_history(folder, problems)
    return {
        "history": history or [],
        "metrics": _json(folder, "metrics.json", problems, dict) or {},
        "record": _json(folder, "run.json", problems, dict) or {},
        "spec": _read(folder, "spec.yaml", problems) or "",
        "problems": problems,
    }


def _read(folder, name, problems) -> str | None:
    path = os.path.join(folder, name)
    if os.path.islink(path):  # it could point anywhere: the page serves only what lies in the folder
        problems.append(f"{name}: a symbolic link, not read")
        return None
    if not os.path.isfile(path):
        return None
    try:
        return read_bounded(path, MAX_BYTES).decode("utf-8", errors="replace")
    except (OSError, ValueError) as err:
        problems.append(f"{name}: {getattr(err, 'strerror', None) or err}")
        return None


def _json(folder, name, problems, kind):
    text = _read(folder, name, problems)
    if text is None:
        return None
    try:
        value = json.loads(text, parse_constant=lambda _: None)  # NaN and Infinity plot as gaps
    except ValueError as err:
        problems.append(f"{name}: not JSON ({err})")
        return None
    if not isinstance(value, kind):
        problems.append(f"{name}: expected a JSON {kind.__name__}")
        return None
    return value


def _csv_history(folder, problems) -> list | None:
    """history.csv, which Keras's CSVLogger appends to after every epoch of a run still training."""
    text = _read(folder, "history.csv", problems)
    if text is None:
        return None
    history = []
    for row in csv.DictReader(io.StringIO(text)):
        values = {key: _number(value) for key, value in row.items() if key is not None}
        if isinstance(values.get("epoch"), float):
            values["epoch"] = int(values["epoch"]) + 1  # CSVLogger counts from 0, history.json from 1
            history.append(values)
    return history


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
