"""A training run's settings, as one object: the spec says how to train, the
command's flags (or a library call's arguments) say what to train on, where,
and how long. `RunSettings.make` resolves them once (the epochs of phases, the
spec's batch size unless a flag names another, a progress bar on a terminal);
every step, `run.json`, TensorBoard's HParams and MLflow read the same object.
`train`, `builder.train`, `sweep` and `search` all build it here."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from typing import Any

from ..errors import FlagError
from . import phases


@dataclasses.dataclass(frozen=True)
class RunSettings:
    data: Any  # --data: a path, 'digits', 'tfds:NAME', an (x, y) pair of arrays, a tf.data.Dataset
    out: str  # the run folder (--out)
    epochs: int  # the epoch the run ends after (a resumed run continues to it)
    batch_size: int
    resume: bool = False
    distribute: str = "none"  # none, mirrored or data-parallel
    cluster: Any = None  # data-parallel: the processes that train (distribution.Cluster), one where None
    shard: Any = None  # data- or model-parallel, once started: this process's slice of every batch (distribution.Shard)
    layout: Any = None  # model-parallel, once started: the distribution laying out the weights
    mixed_precision: bool = False
    verbose: int = 2  # Keras's fit verbosity: 0 silent, 1 a progress bar, 2 a line per epoch
    label: str | None = None  # the label column or feature, where the data has several
    weights: str | None = None  # starting weights (--weights)
    vocabulary: str | None = None  # text tasks: a vocabulary file, one token per line (--vocabulary), not learned
    command: str | None = None  # the command line that started the run, for run.json
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # --set PATH=VALUE, as given
    callbacks: tuple = ()  # Keras callbacks added to the run's own (a library caller's)

    @classmethod
    def make(cls, spec, data, out, *, record: Mapping | None = None, **flags) -> RunSettings:
        """The settings of a run of `spec` (a loaded Spec) on `data` into the
        folder `out`. `flags` are the fields above, None or left out for the
        spec's own value; `record` ({command, overrides}) goes into run.json."""
        unknown = sorted(set(flags) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"unknown training option(s): {', '.join(unknown)}")
        given = {key: value for key, value in flags.items() if value is not None}
        if spec.training.phases and given.get("epochs"):
            raise FlagError(
                "--epochs: the spec trains in phases, whose epochs set the run's length; change training.phases instead"
            )
        if given.get("verbose", "auto") == "auto":  # a progress bar on a terminal; one plain line per epoch in a log
            given["verbose"] = 1 if sys.stdout.isatty() else 2
        record = record or {}
        if given.get("weights") is not None:
            given["weights"] = os.fspath(given["weights"])
        return cls(
            data=os.fspath(data) if isinstance(data, os.PathLike) else data,
            out=os.fspath(out),
            epochs=given.pop("epochs", None) or _spec_epochs(spec),
            batch_size=given.pop("batch_size", None) or spec.training.batch_size,
            callbacks=tuple(given.pop("callbacks", ())),
            command=record.get("command"),
            overrides=dict(record.get("overrides") or {}),
            **given,
        )

    @property
    def record(self) -> dict:
        """What run.json says of how the run was started."""
        return {"command": self.command, "overrides": dict(self.overrides)}


def _spec_epochs(spec) -> int:
    return phases.plan(spec, 0)[-1].end if spec.training.phases else spec.training.epochs
