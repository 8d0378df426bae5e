"""How many threads TensorFlow gives each op on the CPU (its intra-op
parallelism), `training.intra_op_threads`. TensorFlow fixes the number when
its runtime starts, and building a Keras model starts it, so the choice is
made before the model is built: from a probe build whose weights are never
initialized (which leaves TensorFlow unstarted), by the multiply-accumulates
of one training step. A small model's ops are too small to share between
cores: LeNet-5 on this project's 2-core CPU trained 1.2x as fast with one
thread per op, while ResNet-18 on 64x64 images trained slower and mid-size
CNNs the same (docs/benchmarks.md). The TensorFlow seam of training."""

from __future__ import annotations

import dataclasses

from ..backend import keras as _keras
from ..backend import tensorflow as _tensorflow
from ..errors import SpecError, in_source

SMALL_STEP_MACS = 100_000_000  # LeNet-5 at batch 32: 13 million; a small CIFAR CNN, no faster on one: 783 million


@dataclasses.dataclass
class Threads:
    intra_op: int | None  # what TensorFlow uses: 0 is its default (one per core); None: not TensorFlow's to set
    reason: str

    def line(self) -> str:
        if self.intra_op is None:
            return ""
        count = "TensorFlow's default (one per core)" if self.intra_op == 0 else str(self.intra_op)
        return f"Threads per op: {count} ({self.reason})"


def check_backend(spec):
    """A number of threads is TensorFlow's setting: refused on another backend, before the run folder is made."""
    backend = _keras().backend.backend()
    if spec.training.intra_op_threads != "auto" and backend != "tensorflow":
        with in_source(spec.source):
            raise SpecError(
                f"a number of threads per op is TensorFlow's setting, and the backend is {backend}; "
                f"use auto (the backend's own threads), or the TensorFlow backend",
                path=("training", "intra_op_threads"),
            )


def choose(spec, expanded, batch_size: int) -> Threads:
    """Set TensorFlow's intra-op threads for training `spec` (its `expanded` graph) at `batch_size`, before anything
    starts TensorFlow."""
    setting = spec.training.intra_op_threads
    if _keras().backend.backend() != "tensorflow":
        return Threads(None, "not TensorFlow")
    tf = _tensorflow()
    if _started(tf):
        return Threads(
            tf.config.threading.get_intra_op_parallelism_threads(),
            "TensorFlow had started before this run, which fixed it",
        )
    if setting != "auto":
        tf.config.threading.set_intra_op_parallelism_threads(setting)
        return Threads(setting, "training.intra_op_threads")
    if tf.config.list_physical_devices("GPU"):
        return Threads(0, "auto: a GPU trains")
    if any(None in item.shape for item in spec.inputs):
        return Threads(0, "auto: the input's size is known only from the data")
    if any(node.type.pretrained for node in expanded.nodes):
        return Threads(0, "auto: a pretrained network, made by reading its weights")
    macs = _step_macs(expanded, batch_size)
    if macs is None:
        return Threads(
            tf.config.threading.get_intra_op_parallelism_threads(),
            "auto: making its layers started TensorFlow (as Keras's recurrent layers do: they look for a GPU)",
        )
    if macs > SMALL_STEP_MACS:
        return Threads(
            0,
            f"auto: {macs / 1e6:,.1f} million multiply-accumulates a step, more than "
            f"{SMALL_STEP_MACS / 1e6:,.0f} million",
        )
    tf.config.threading.set_intra_op_parallelism_threads(1)
    return Threads(1, f"auto: a small model, {macs / 1e6:,.1f} million multiply-accumulates a step")


def _started(tf) -> bool:
    """Whether TensorFlow's runtime has started: it refuses a new thread count once it has."""
    current = tf.config.threading.get_intra_op_parallelism_threads()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(current + 1)
    except RuntimeError:
        return True
    tf.config.threading.set_intra_op_parallelism_threads(current)
    return False


def _step_macs(expanded, batch_size: int) -> int | None:
    """Multiply-accumulates of a training step's forward pass, from a probe build; None where the build
    started TensorFlow. Keras's session is cleared after it (the probe's uninitialized variables would
    otherwise be initialized by the next build), which also resets its dtype policy and seeds: the caller
    sets both afterwards."""
    from ..keras import describe
    from ..keras.assemble import build_model

    keras, tf = _keras(), _tensorflow()
    try:
        with keras.StatelessScope(initialize_variables=False):
            probe = build_model(expanded)
        macs = sum(m for _, _, m in describe.layer_macs(probe))
    finally:
        keras.backend.clear_session(free_memory=False)
    return None if _started(tf) else macs * batch_size
