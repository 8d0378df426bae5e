"""The time a run spends in its training steps, apart from validation,
checkpoints and logs, for the samples per second that Keras's own progress
bar reports per epoch and a hand-written `fit` is measured by."""

from __future__ import annotations

import time

from ..backend import keras as _keras


class StepTime(_keras().callbacks.Callback):  # type: ignore[misc]
    """Seconds of each epoch's training steps: from the epoch's start to its
    validation (or its end). The first epoch of each `fit` call is kept apart:
    it traces and compiles the train function."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []  # epochs after the first of their fit call
        self.first_epochs: list[float] = []
        self._started = None
        self._first = False

    def on_train_begin(self, logs=None):
        self._first = True

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()

    def _stop(self):
        if self._started is None:  # evaluation outside an epoch, or the epoch's validation already stopped it
            return
        (self.first_epochs if self._first else self.seconds).append(time.perf_counter() - self._started)
        self._started, self._first = None, False

    def samples_per_second(self, examples: int) -> float | None:
        """Training examples per second over the epochs after each fit's first; None without any."""
        total = sum(self.seconds)
        return round(examples * len(self.seconds) / total, 1) if total > 0 else None
