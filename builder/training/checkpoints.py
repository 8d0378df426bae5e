"""The checkpoints of a run, written after every epoch: `last.keras` (the
model with its optimizer state), `best.keras` (the best so far by the
monitored metric, in the direction Keras gives that metric or the spec's
`mode`), and `state.json` (epochs done, best value, history): what
`--resume` continues from. Each file is replaced atomically, so a kill at
any moment leaves a whole one."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from ..backend import keras as _keras
from ..files import atomic_path, write_atomic
from . import distribution

keras: Any = _keras()

STATE = "state.json"
_STAGED_BEST = ".best.staged.keras"  # Keras's ModelCheckpoint writes here; renamed into place whole


def callbacks(directory, monitor, mode, state, identity, say=print) -> list:
    """The checkpoint callbacks for a run folder's `checkpoint/` directory,
    continuing `state` ({'epoch', 'best', 'best_epoch', 'history'}) of the run
    `identity` names; `say` (or None) is told when a new best is kept."""
    staged = os.path.join(directory, _STAGED_BEST)
    if os.path.exists(staged):
        os.remove(staged)  # judged in an epoch that never completed
    best = _BestCheckpoint(
        staged, monitor=monitor, mode=mode, save_best_only=True, initial_value_threshold=state["best"]
    )
    return [best, EpochCheckpoint(directory, monitor, state, best, identity, say)]


def discard_staged(directory) -> None:
    """Remove the best model Keras's ModelCheckpoint staged in an epoch that
    failed before it completed (a full disk, a file size limit, Ctrl-C)."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(directory, _STAGED_BEST))


def save(model, path) -> None:
    """`model` saved to `path` atomically, its weights whole (gathered where they are split over
    several processes; every process calls this)."""
    with atomic_path(path, suffix=".keras") as temporary, distribution.whole(model):
        model.save(temporary)


def read_state(directory) -> dict:
    with open(os.path.join(directory, STATE), encoding="utf-8") as handle:
        return json.load(handle)


class _BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras's ModelCheckpoint, saving weights split over several processes whole."""

    def on_epoch_end(self, epoch, logs=None):
        with distribution.whole(self.model):
            super().on_epoch_end(epoch, logs)


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch (and after Keras's ModelCheckpoint has judged it):
    `last.keras`, the staged best model moved into `best.keras`, and `state.json`."""

    def __init__(self, directory, monitor, state, best_checkpoint, identity, say):
        super().__init__()
        self.identity = identity
        self.directory = directory
        self.monitor = monitor
        self.history = state["history"]
        self.best_epoch = state.get("best_epoch")
        self.best_checkpoint = best_checkpoint
        self.say = say

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        staged = os.path.join(self.directory, _STAGED_BEST)
        try:
            save(self.model, os.path.join(self.directory, "last.keras"))
            improved = os.path.exists(staged)
            if improved:
                os.replace(staged, os.path.join(self.directory, "best.keras"))
            best = self.best_checkpoint.best
            best_epoch = epoch + 1 if improved else self.best_epoch
            write_atomic(
                os.path.join(self.directory, STATE),
                json.dumps(
                    {
                        "epoch": epoch + 1,
                        "monitor": self.monitor,
                        "best": None if best is None else float(best),
                        "best_epoch": best_epoch,
                        "identity": self.identity,
                        "history": [*self.history, record],
                    },
                    indent=1,
                ).encode(),
            )
        except BaseException:
            if os.path.exists(staged):
                os.remove(staged)
            raise
        self.history.append(record)  # the epoch counts once its files are all written
        self.best_epoch = best_epoch
        if improved and self.say is not None:
            self.say(f"Epoch {epoch + 1}: new best {self.monitor} {float(best):.4g}, kept as checkpoint/best.keras")
