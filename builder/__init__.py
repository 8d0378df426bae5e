"""Declarative Keras models from YAML specs.

    import builder
    model = builder.build("specs/lenet5.yaml", overrides={"defaults.activation": "prelu"})

The stages, each a sub-package: `spec` (reading, includes, overrides, the
language's models, graph expansion; no Keras), `keras` (the layer registry,
custom layers, model assembly, costs), `train` (data, batching, the training
run, evaluation, sweeps) and `io` (export, import, plots, the JSON Schema,
generated docs). Loading and validating a spec does not import Keras; building does.
"""

from __future__ import annotations

from .errors import BuilderError, SpecError
from .keras.registry import LAYERS, register_layer
from .spec.load import load_spec, validate

__all__ = ["BuilderError", "SpecError", "build", "build_model", "describe", "load_spec", "register_layer", "sweep",
           "to_spec", "validate", "LAYERS"]
__version__ = "0.1.0"


def build_model(spec):
    """A keras.Model from a loaded Spec (or an expanded graph)."""
    from .keras.assemble import build_model as _build_model
    return _build_model(spec)


def build(path=None, *, text=None, data=None, overrides=None, limits=None, weights=None):
    """Load, check and build a spec into a keras.Model. It starts from the
    spec's `weights:`, or from `weights` (a .keras or .weights.h5 file, or
    {'path': ..., 'skip_mismatch': True}) where given."""
    from .keras.assemble import build
    return build(path, text=text, data=data, overrides=overrides, limits=limits, weights=weights)


def describe(model) -> dict:
    """A built model's facts: name, params, trainable_params, layers, input and
    output shapes, and its multiply-accumulates (total and by layer)."""
    from .keras.describe import facts
    return facts(model)


def sweep(path, data, swept, *, fixed=None, out=None, **options):
    """Train one variant of the spec per combination of `swept` values
    ({'dotted.path': [v1, v2, ...]}); return the comparison rows (train.sweep)."""
    from .train.sweep import sweep as _sweep
    return _sweep(path, data, swept, fixed=fixed, out=out, **options)


def to_spec(model, name=None) -> str:
    """A readable YAML spec of a Sequential or Functional Keras model of
    registered layers, which builds back into the same network."""
    from .io.keras_import import to_spec as _to_spec
    return _to_spec(model, name)
