"""Sweeps: train one variant of a spec per combination of swept values, each
into a run folder named after its values, and compare them in one table."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping

from . import folder as folder_module
from . import trials
from .run import train


def default_out(spec_name: str) -> str:
    return folder_module.default_out(f"{spec_name}-sweep")


def sweep(variants: trials.Variants, data, swept: Mapping, *, out=None, **options) -> list[dict]:
    """Train a variant per combination of `swept` ({'dotted.path': [v1, v2]}),
    each into `out/PATH=VALUE,...` (default runs/SPEC_NAME-sweep); every
    trained model is kept. Every variant is checked before any trains.
    `options`: RunSettings.make's. Returns one row per variant (trials.row),
    best first."""
    combinations = [dict(zip(swept, values)) for values in itertools.product(*swept.values())]
    specs = [variants.load(variant) for variant in combinations]
    base = out or default_out(specs[0].name)
    rows = []
    options.setdefault("verbose", 2)  # one plain line per epoch: variants are compared, not watched
    digits = trials.digits_apart(combinations)
    for variant, spec in zip(combinations, specs):
        folder = os.path.join(base, trials.folder_name(variant, digits))
        print(f"\n=== {trials.folder_name(variant, digits)}", flush=True)
        record = {"command": None, "overrides": variants.overrides(variant)}
        metrics = train(spec, data, folder, mixed_precision=variants.mixed_precision, record=record, **options)
        rows.append(trials.row(variant, metrics, folder))
    return trials.ranked(rows)
