"""Sweeps: train one variant of a spec per combination of swept values, and
compare them in one table."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile

import yaml

from .run import load_for_training, train


def sweep(path, data, swept: dict, *, fixed=None, out=None, mixed_precision=False, limits=None,
          **options) -> list[dict]:
    """Train a variant per combination of `swept` ({'dotted.path': [v1, v2]})
    with `fixed` overrides, into `out/LABEL` (a temporary folder, removed
    afterwards, without `out`). Every variant is checked before any trains.
    Returns one row per variant: label, val_accuracy, test_accuracy, params, seconds_per_epoch."""
    variants = [dict(zip(swept, values)) for values in itertools.product(*swept.values())]
    specs = [load_for_training(path, {**(fixed or {}), **variant}, mixed_precision, limits) for variant in variants]
    base = out or tempfile.mkdtemp(prefix="sweep-")
    rows = []
    try:
        for variant, spec in zip(variants, specs):
            label = ",".join(_text(v) for v in variant.values())
            print(f"\n=== {label}", flush=True)
            metrics = train(spec, data, os.path.join(base, label.replace("/", "_")), verbose=2,
                            mixed_precision=mixed_precision, **options)
            rows.append({"label": label, "val_accuracy": metrics.get("val_accuracy", metrics.get("test_accuracy")),
                         "test_accuracy": metrics.get("test_accuracy"), "params": metrics["params"],
                         "seconds_per_epoch": metrics["seconds"] / max(1, metrics["epochs"])})
    finally:
        if not out:
            shutil.rmtree(base, ignore_errors=True)
    return rows


def _text(value) -> str:
    """A swept value as it was written on the command line."""
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").removesuffix("...")


def table(rows: list[dict], swept_names) -> str:
    """The sweep's comparison as a Markdown table."""
    def show(value):
        return "n/a" if value is None else f"{value:.4f}"

    lines = [f"| {', '.join(swept_names)} | val accuracy | test accuracy | parameters | seconds / epoch |",
             "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['label']} | {show(r['val_accuracy'])} | {show(r['test_accuracy'])} | {r['params']:,} | "
              f"{r['seconds_per_epoch']:.2f} |" for r in rows]
    return "\n".join(lines)
