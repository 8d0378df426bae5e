"""Tasks: what a run trains its model to do. Each task is one module here and
owns, in one place, how its data is read and checked, its loss and metrics,
what `evaluate` reports and what `predict` writes:

    classification, binary, regression   classification.py
    multi_label                           multi_label.py
    multi_output (named `outputs:`)       multi_output.py, its data in named.py
    segmentation                          segmentation.py
    causal_lm                             causal_lm.py
    masked_lm                             masked_lm.py
    token_classification                  token_classification.py
    seq2seq                               seq2seq.py

A spec names its task (`training.task`), or the model's output implies it
(`infer`); a saved model's task is its run.json's. A new task is a module
with a `@task(NAME)` class, its name added to spec.training.TASKS.
"""

from __future__ import annotations

from ...errors import SpecError
from ...spec.training import TASKS as TASK_NAMES
from .base import TASKS, Predictions, Task, flat_task, output_kind, output_rank, task, wrong_model


def infer(spec, model=None) -> str:
    """The task a spec declares, or the one its output implies: a head tied to a
    token embedding, causal_lm; a per-pixel head, segmentation; one sigmoid
    unit, binary; several, multi_label; a softmax, classification; anything else, regression. With
    no `model` (before it is built), from the spec alone."""
    declared = spec.training.task
    if declared is not None:
        return declared
    if spec.outputs:
        return "multi_output"
    output = spec.output
    if output is None:
        return "regression"
    if output.get("tie") is not None:
        return "causal_lm"
    rank = output_rank(model) if model is not None else 2
    if rank == 4:
        return "segmentation"
    if rank == 3:
        raise spec.source.locate(
            SpecError(
                "the output predicts for every position of a sequence; say what it learns with "
                "`training: {task: causal_lm}` (or another of: " + ", ".join(TASK_NAMES) + ")",
                path=("output",),
            )
        )
    return output_kind(output.get("activation"), output.get("units"))


def of(spec, model) -> Task:
    """The task a run of `spec` trains `model` (built from it) for, checked against the model."""
    chosen = TASKS[infer(spec, model)](model, spec)
    chosen.check()
    return chosen


def of_saved(model, record: dict) -> Task:
    """A saved model's task: its run.json's (`record`), or the one its output implies."""
    name = record.get("task")
    if name not in TASKS:  # a run from before tasks were recorded
        name = "segmentation" if output_rank(model) == 4 else flat_task(model)
    if len(model.outputs) > 1:
        name = "multi_output"
    return TASKS[name](model, None, record)


from . import (  # noqa: E402 - they register themselves
    causal_lm,
    classification,
    masked_lm,
    multi_label,
    multi_output,
    segmentation,
    seq2seq,
    token_classification,
)

__all__ = [
    "TASKS",
    "Predictions",
    "Task",
    "causal_lm",
    "classification",
    "infer",
    "masked_lm",
    "multi_label",
    "multi_output",
    "of",
    "of_saved",
    "segmentation",
    "seq2seq",
    "task",
    "token_classification",
    "wrong_model",
]
