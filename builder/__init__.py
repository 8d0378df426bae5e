"""Declarative Keras models from YAML specs.

    import builder
    model = builder.build("specs/lenet5.yaml", overrides={"defaults.activation": "prelu"})

The stages, each a sub-package: `spec` (reading, includes, overrides, the
language's models, graph expansion; no Keras), `keras` (the layer registry,
custom layers, model assembly, costs), `training` (data, batching, the training
run, evaluation, sweeps) and `io` (export, import, plots, the JSON Schema,
generated docs). Loading and validating a spec does not import Keras; building does.
"""

from __future__ import annotations

from .errors import BuilderError, SpecError
from .keras.registry import LAYERS, register_layer
from .spec.load import load_spec, validate

__all__ = ["BuilderError", "SpecError", "build", "build_model", "describe", "evaluate", "load_spec", "predict",
           "register_layer", "search", "sweep", "to_spec", "train", "validate", "LAYERS"]
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
    ({'dotted.path': [v1, v2, ...]}); return the comparison rows (training.sweep)."""
    from .training.sweep import sweep as _sweep
    return _sweep(path, data, swept, fixed=fixed, out=out, **options)


def search(path, data, *, algorithm="random", trials=10, fixed=None, out=None, **options):
    """Search the spec's `search:` space with KerasTuner (`random`, `bayesian`
    or `hyperband`): (trial rows best first, the path of the best spec)."""
    from .training.search import search as _search
    return _search(path, data, algorithm=algorithm, trials_count=trials, fixed=fixed, out=out, **options)


def to_spec(model, name=None) -> str:
    """A readable YAML spec of a Sequential or Functional Keras model of
    registered layers, which builds back into the same network."""
    from .io.keras_import import to_spec as _to_spec
    return _to_spec(model, name)


def train(spec, data, *, out=None, overrides=None, callbacks=None, epochs=None, batch_size=None, weights=None,
          resume=False, verbose="auto", label=None):
    """Train a spec (a path, or a Spec from load_spec) on `data`: 'digits', a
    path (.npz, .csv, a folder of class folders) or an `(x, y)` pair of NumPy
    arrays; `callbacks` are Keras callbacks added to the run's own. Writes the
    run folder `out` (default runs/SPEC_NAME) as `cli.py train` does and
    returns a Run: `.model`, `.history`, `.metrics`, `.dir`."""
    import os

    from .training import run
    if not isinstance(spec, spec_types()):
        spec = run.load_for_training(os.fspath(spec), overrides or {})
    elif overrides:
        raise TypeError("overrides apply to a spec path; a loaded Spec already has its own")
    out = os.fspath(out) if out else os.path.join("runs", spec.name)
    return run.train_run(spec, data, out, epochs=epochs, batch_size=batch_size, resume=resume, verbose=verbose,
                         label=label, weights=weights, callbacks=callbacks,
                         record={"command": None, "overrides": overrides or {}})


def spec_types():
    from .spec.language import Spec
    return (Spec,)


def evaluate(model_path, data, *, label=None, weights=None) -> dict:
    """A saved model's metrics on the test split of `data` (as `cli.py evaluate`)."""
    from .training import saved
    return saved.evaluate(model_path, data, label=label, weights=weights)


def predict(model_path, data, *, label=None, top_k=1) -> tuple[list, list]:
    """(rows, header) of a saved model's predictions on `data` (as `cli.py predict`)."""
    from .training import saved
    return saved.predict(model_path, data, label=label, top_k=top_k)
