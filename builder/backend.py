"""The one place Keras is imported from, with TensorFlow's C++ start-up log
lines (oneDNN, CUDA stubs, absl) kept off the user's terminal."""

from __future__ import annotations

import os
import sys
import tempfile


def keras():
    """Import and return keras; on failure, replay what the import printed."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryFile() as captured:
        try:
            saved = os.dup(2)
        except OSError:          # no real stderr (embedded interpreters): nothing to hide
            import keras as module
            return module
        sys.stderr.flush()
        os.dup2(captured.fileno(), 2)
        try:
            import keras as module
            import builder.layers  # noqa: F401  (registers the custom layers)
            if module.backend.backend() == "tensorflow":
                import tensorflow   # device discovery logs too (cuInit on GPU-less hosts)
                tensorflow.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return module
