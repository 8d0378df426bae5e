"""Training in phases: freeze most of a network and train its head, then
unfreeze and fine-tune with a small learning rate. Each phase sets which
layers train (names and fnmatch patterns; frozen batch normalization runs in
inference mode, as Keras does for `trainable = False`) and recompiles with
its optimizer; history, checkpoints and `--resume` run across phases."""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any

from ..errors import SpecError, suggest
from .compile import compile_model, make_optimizer


@dataclasses.dataclass
class Phase:
    number: int  # from 1
    start: int  # epochs done before it
    end: int  # epochs done after it
    trainable: object  # 'all' or a list of patterns
    optimizer: object  # None: the training section's


def plan(spec, epochs) -> list[Phase]:
    """The run's phases: the spec's, or one phase of `epochs` that trains everything."""
    if not spec.training.phases:
        return [Phase(1, 0, epochs, "all", None)]
    phases, start = [], 0
    for number, phase in enumerate(spec.training.phases, 1):
        phases.append(Phase(number, start, start + phase.epochs, phase.trainable, phase.optimizer))
        start += phase.epochs
    return phases


def check(spec, model) -> None:
    """Before the first epoch: every name or pattern a phase trains matches
    some layer of the model, and Keras takes every phase's optimizer."""
    names = [layer.name for layer in model.layers]
    for i, phase in enumerate(spec.training.phases or ()):
        if phase.optimizer is not None:
            make_optimizer(phase.optimizer, path=("training", "phases", i, "optimizer"))
        for j, pattern in enumerate(phase.trainable if phase.trainable != "all" else ()):
            if not fnmatch.filter(names, pattern):
                raise spec.source.locate(
                    SpecError(
                        f"'{pattern}' names no layer of the model.{suggest(pattern, names)} Layers: "
                        f"{', '.join(names[:30])}{', ...' if len(names) > 30 else ''}"
                    ),
                    ("training", "phases", i, "trainable", j),
                )


def enter(model, spec, phase: Phase) -> None:
    """Set which layers train in `phase`, and compile for it."""
    patterns: Any = [] if phase.trainable == "all" else phase.trainable
    for layer in model.layers:
        layer.trainable = phase.trainable == "all" or any(fnmatch.fnmatchcase(layer.name, p) for p in patterns)
    from . import tasks

    task = tasks.of(spec, model)
    compile_model(model, spec, task, optimizer=phase.optimizer, steps_per_execution=model.steps_per_execution)
