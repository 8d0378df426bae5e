"""The one place Keras (and, for data and training, TensorFlow) is imported
from, with TensorFlow's C++ start-up log lines (oneDNN, CUDA stubs, absl)
kept off the user's terminal."""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import sys
import tempfile
import traceback
from typing import Any

_uncollected_imports = False
_tensorflow_problem = None  # why an installed TensorFlow did not import (tried once per process)
_NOT_INSTALLED = "is not installed: pip install tensorflow"


def keras() -> Any:
    """Import and return keras (quietly, on a backend that is installed).
    builder's own layers are registered by the package builder.keras."""
    if "keras" not in sys.modules:
        quietly(_import_keras)
    return sys.modules["keras"]


def tensorflow() -> Any:
    """Import and return tensorflow (data pipelines and tf.distribute only);
    a BuilderError that says how to fix it where it is missing or does not import."""
    problem = tensorflow_problem()
    if problem:
        from .errors import DependencyError

        raise DependencyError(f"TensorFlow {problem}")
    return sys.modules["tensorflow"]


def has_tensorflow() -> bool:
    """Whether TensorFlow is installed and imports (importing it, quietly, where installed)."""
    return tensorflow_problem() is None


def tensorflow_problem():
    """None where TensorFlow imports (this imports it); else why not and the
    fix, to follow "TensorFlow": "is not installed: ...", or "is installed but
    does not import (...): ..." (a broken install counts as a missing one, so
    that the JAX and PyTorch backends still train, without tf.data)."""
    global _tensorflow_problem
    if sys.modules.get("tensorflow") is not None:
        return None
    if _tensorflow_problem is None:
        if importlib.util.find_spec("tensorflow") is None:
            return _NOT_INSTALLED
        try:
            quietly(_import_tensorflow)
        except Exception as err:  # noqa: BLE001 - a broken install fails in many ways (protobuf, CUDA, ABI)
            if _not_found(err):
                return _NOT_INSTALLED
            from .errors import first_line

            _tensorflow_problem = (
                f"is installed but does not import ({first_line(err, 200, named=True)}): "
                "reinstall it: pip install --force-reinstall tensorflow"
            )
    return _tensorflow_problem


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
        try:
            import keras as module
        except Exception as err:
            _refuse_broken_tensorflow_backend(err)
            raise

        if module.backend.backend() == "tensorflow":
            _import_tensorflow()


def _not_found(err) -> bool:
    """Whether `err` says TensorFlow (or a module of it) is not there."""
    return isinstance(err, ModuleNotFoundError) and (err.name or "").partition(".")[0] == "tensorflow"


def _refuse_broken_tensorflow_backend(err):
    """Keras failed to import: where TensorFlow, its backend, is the cause (Keras
    imports it only for that backend), say so, with the other backends installed."""
    from_tensorflow = _not_found(err) or any(
        frame.f_globals.get("__name__", "").partition(".")[0] == "tensorflow"
        for frame, _ in traceback.walk_tb(err.__traceback__)
    )
    problem = from_tensorflow and tensorflow_problem()
    if problem:
        from .errors import DependencyError

        others = _other_backends()
        instead = (
            f"or use another installed backend: --backend {others[0]}"
            if others
            else 'or install another backend: pip install "keras-spec-builder[jax]"'
        )
        raise DependencyError(f"Keras's backend is TensorFlow, which {problem}; {instead}") from None


def _other_backends() -> list:
    """The backends besides TensorFlow that are installed, JAX first."""
    return [name for name in ("jax", "torch") if importlib.util.find_spec(name)]


def _choose_installed_backend():
    """With no backend chosen (KERAS_BACKEND) and TensorFlow, Keras's default,
    not installed: JAX, else PyTorch, where installed."""
    if "KERAS_BACKEND" in os.environ or "keras" in sys.modules or importlib.util.find_spec("tensorflow"):
        return
    installed = _other_backends()
    if not installed:
        from .errors import DependencyError

        raise DependencyError(
            'Keras needs a backend, and none is installed: pip install "keras-spec-builder[tensorflow]" '
            "(or [jax], or [torch])"
        )
    os.environ["KERAS_BACKEND"] = installed[0]


def _import_tensorflow():
    with _uncollected():
        import tensorflow as module

        module.config.list_physical_devices()  # device discovery logs too (cuInit on GPU-less hosts)


def quietly(function, descriptors=(2,)):
    """Run `function` with file descriptor 2 (and any other `descriptors`) sent
    to a temporary file; if it fails, replay what it printed on stderr (not
    where it fails with one of builder's own errors, a line that says it all)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryFile() as captured:
        try:
            saved = [os.dup(fd) for fd in descriptors]
        except OSError:  # no real stderr (embedded interpreters): nothing to hide
            return function()
        sys.stdout.flush()
        sys.stderr.flush()
        for fd in descriptors:
            os.dup2(captured.fileno(), fd)
        try:
            return function()
        except BaseException as err:
            for fd, copy in zip(descriptors, saved, strict=True):
                os.dup2(copy, fd)
            captured.seek(0)
            from .errors import BuilderError

            if not isinstance(err, BuilderError):
                sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise
        finally:
            for fd, copy in zip(descriptors, saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)
