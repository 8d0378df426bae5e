"""The one place Keras (and, for data and training, TensorFlow) is imported
from, with TensorFlow's C++ start-up log lines (oneDNN, CUDA stubs, absl)
kept off the user's terminal."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import tempfile

_uncollected_imports = False


def keras():
    """Import and return keras, and register builder's own layers."""
    if "keras" not in sys.modules or "builder.keras.layers" not in sys.modules:
        _quietly(_import_keras)
    return sys.modules["keras"]


def tensorflow():
    """Import and return tensorflow (data pipelines and tf.distribute only)."""
    if "tensorflow" not in sys.modules:
        _quietly(_import_tensorflow)
    return sys.modules["tensorflow"]


def quick_imports():
    """For a command-line process (cli.console), nothing else: import Keras
    and TensorFlow with the garbage collector paused, then freeze what they
    made (gc.freeze) so that later collections pass over it. Importing them
    makes ~750,000 objects and next to no garbage (a full collection after
    TensorFlow's import frees ~3,000), yet the collector walks the growing heap
    again and again while they load: about a second of a 4-5 s start on two
    cores. A library caller's process is left as it is."""
    global _uncollected_imports
    _uncollected_imports = True


@contextlib.contextmanager
def _uncollected():
    if not (_uncollected_imports and gc.isenabled()):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _import_keras():
    _choose_installed_backend()
    with _uncollected():
        import keras as module

        import builder.keras.layers  # noqa: F401  (registers the custom layers)
        if module.backend.backend() == "tensorflow":
            _import_tensorflow()


def _choose_installed_backend():
    """With no backend chosen (KERAS_BACKEND) and TensorFlow, Keras's default,
    not installed: JAX, else PyTorch, where installed."""
    import importlib.util
    if "KERAS_BACKEND" in os.environ or "keras" in sys.modules or importlib.util.find_spec("tensorflow"):
        return
    installed = [name for name in ("jax", "torch") if importlib.util.find_spec(name)]
    if not installed:
        from .errors import BuilderError
        raise BuilderError("Keras needs a backend, and none is installed: pip install \"keras-spec-builder[tensorflow]\" "
                           "(or [jax], or [torch])")
    os.environ["KERAS_BACKEND"] = installed[0]


def _import_tensorflow():
    with _uncollected():
        import tensorflow as module
        module.config.list_physical_devices()     # device discovery logs too (cuInit on GPU-less hosts)


def _quietly(function):
    """Run `function` with file descriptor 2 sent to a temporary file; if it
    fails, replay what it printed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryFile() as captured:
        try:
            saved = os.dup(2)
        except OSError:          # no real stderr (embedded interpreters): nothing to hide
            return function()
        sys.stderr.flush()
        os.dup2(captured.fileno(), 2)
        try:
            return function()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
