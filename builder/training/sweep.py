"""Sweeps: train one variant of a spec per combination of swept values, each
into a run folder named after its values, and compare them in one table."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping

from ..errors import RunFolderError
from . import folder as folder_module
from . import trials
from .run import train


def default_out(spec_name: str, resume: bool = False) -> str:
    return folder_module.default_out(f"{spec_name}-sweep", resume)


def sweep(variants: trials.Variants, data, swept: Mapping, *, out=None, resume=False, **options) -> list[dict]:
    """Train a variant per combination of `swept` ({'dotted.path': [v1, v2]}),
    each into `out/PATH=VALUE,...` (default runs/SPEC_NAME-sweep); every
    trained model is kept. Every variant is checked before any trains. With
    `resume`, the variants that finished in `out` are kept as they are, one
    stopped after an epoch continues, the rest train. `options`:
    RunSettings.make's. Returns one row per variant (trials.row), best first."""
    combinations = [dict(zip(swept, values)) for values in itertools.product(*swept.values())]
    specs = [variants.load(variant) for variant in combinations]
    base = os.fspath(out) if out else default_out(specs[0].name, resume)
    if resume and not os.path.isdir(base):
        raise RunFolderError(f"--resume: {base} holds no sweep to continue")
    rows = []
    options.setdefault("verbose", 2)  # one plain line per epoch: variants are compared, not watched
    digits = trials.digits_apart(combinations)
    for variant, spec in zip(combinations, specs):
        folder = os.path.join(base, trials.folder_name(variant, digits))
        done = trials.finished(folder) if resume else None
        print(f"\n=== {trials.folder_name(variant, digits)}{' (trained earlier)' if done else ''}", flush=True)
        if done is None:
            record = {"command": None, "overrides": variants.overrides(variant)}
            again = resume and trials.resumable(folder)
            with trials.stopped_in(base):
                done = train(
                    spec, data, folder, mixed_precision=variants.mixed_precision, record=record, resume=again, **options
                )
        rows.append(trials.row(variant, done, folder))
    return trials.ranked(rows)
