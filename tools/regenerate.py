"""Regenerates every generated file from the installed Keras and the registry:
builder/catalogue/signatures.json (layer signatures, activation names),
docs/layers.md (the layer reference) and spec.schema.json (the JSON Schema).

    python tools/regenerate.py            # rewrite the files that changed
    python tools/regenerate.py --check    # exit 1, naming them, if any is stale

Run it after upgrading Keras or changing the registry; tests fail while any
file is stale.
"""

from __future__ import annotations

import inspect
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from builder.catalogue import registry, signatures  # noqa: E402
from builder.files import write_atomic  # noqa: E402


def _usable_by_name(function) -> bool:
    """An activation works as `activation: NAME` only if all it needs is its
    input and it keeps the input's shape (glu halves it, which Keras layers
    don't expect of their activation)."""
    params = list(inspect.signature(function).parameters.values())[1:]
    if not all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return False
    import numpy
    return tuple(function(numpy.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)).shape) == (2, 4)


def signature_table() -> dict:
    """signatures.json's content: every built-in layer type's signature and the activation names."""
    from builder.backend import keras
    keras()
    import keras.activations as activations
    layers = {t.qualname: signatures.read_signature(t.keras_class())
              for t in registry.LAYERS.values() if t.plugin_class is None}
    names = sorted(name for name, value in vars(activations).items()
                   if callable(value) and not name.startswith("_")
                   and name not in {"get", "serialize", "deserialize"} and _usable_by_name(value))
    return {"keras_version": keras().__version__, "activations": names + list(registry.EXTRA_ACTIVATIONS),
            "layers": dict(sorted(layers.items())), "training": training_table(),
            "applications": application_table(), "hub_presets": hub_presets(), "keras_objects": keras_object_table()}


def _accepted_names(module, getter, names) -> list:
    """The names `getter` (keras.losses.get, ...) resolves, among `names` and their snake_case forms."""
    accepted = set()
    for name in names:
        for candidate in (name, signatures.snake_case(name)):
            try:
                getter(candidate)
            except Exception:         # noqa: BLE001 - not a name Keras resolves
                continue
            accepted.add(candidate)
    return sorted(accepted)


def _init_args(cls) -> dict:
    """A training object's arguments, each with the kind of value its docstring says it takes (argtypes.kind_of)."""
    from builder.spec import argtypes
    table = {}
    for arg, info in signatures.read_arguments(cls).items():
        kind = argtypes.kind_of(arg, info)
        table[arg] = {**{k: v for k, v in info.items() if k != "doc"}, **({"kind": kind} if kind else {})}
    return table


def keras_object_table() -> dict:
    """The names `initializer:`, `regularizer:` and `constraint:` arguments take, as Keras resolves them."""
    import keras
    public = lambda module: [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]  # noqa: E731
    def known(module, name) -> bool:   # by name alone, or as {name: {arguments}} (Constant needs its value)
        try:
            module.get({"class_name": name, "config": {}})
        except Exception as err:  # noqa: BLE001 - Keras knows the name when only the arguments are wrong
            return "Could not interpret" not in str(err) and "Unknown" not in str(err)
        return True

    table = {}
    for kind, module, base in (("initializers", keras.initializers, "Initializer"),
                               ("regularizers", keras.regularizers, "Regularizer"),
                               ("constraints", keras.constraints, "Constraint")):
        names = set(_accepted_names(module, module.get, public(module) + [n.lower() for n in public(module)]))
        names |= {signatures.snake_case(n) for n in public(module) if known(module, signatures.snake_case(n))}
        names -= {base, signatures.snake_case(base), "get", "serialize", "deserialize"}
        table[kind] = sorted(names)
    return table


SHORT_NAMES = ("mae", "mse", "mape", "msle")  # Keras's own short names of metrics (and losses), as `compile` takes them


def training_table() -> dict:
    """What a `training:` section may name: optimizers, schedules, losses, metrics, callbacks, with arguments."""
    import keras

    from builder.spec import training
    optimizers = {}
    for name, cls in vars(keras.optimizers).items():
        if inspect.isclass(cls) and issubclass(cls, keras.optimizers.Optimizer):
            try:
                keras.optimizers.get({"class_name": name.lower(), "config": {}})
            except Exception:         # noqa: BLE001 - needs arguments no spec gives (a wrapper of another)
                continue
            optimizers[name.lower()] = _init_args(cls)
    schedules = {signatures.snake_case(name): _init_args(cls) for name, cls in vars(keras.optimizers.schedules).items()
                 if inspect.isclass(cls) and cls is not keras.optimizers.schedules.LearningRateSchedule}
    public = lambda module: [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]  # noqa: E731
    bases = {"Loss", "Metric", "loss", "metric", "Reduction"}
    callbacks = {name: _init_args(getattr(keras.callbacks, cls)) for name, cls in training.CALLBACK_CLASSES.items()}
    return {"optimizers": dict(sorted(optimizers.items())), "schedules": dict(sorted(schedules.items())),
            "losses": [n for n in _accepted_names(keras.losses, keras.losses.get, [*public(keras.losses), *SHORT_NAMES])
                       if n not in bases],
            "metrics": sorted(set(_accepted_names(keras.metrics, keras.metrics.get,
                                                  [*public(keras.metrics), *SHORT_NAMES]))
                              - bases | {"accuracy", "acc", "crossentropy", "ce"}),
            "callbacks": callbacks}


def application_table() -> dict:
    """keras.applications network name -> its keyword arguments."""
    import keras
    return {name: signatures.read_function_arguments(function)
            for name, function in sorted(vars(keras.applications).items())
            if callable(function) and name[:1].isupper()}


def hub_presets() -> list:
    """The KerasHub backbone presets (names only; nothing is downloaded), where keras_hub is installed."""
    try:
        import keras_hub
    except ImportError:
        return []
    return sorted(keras_hub.models.Backbone.presets)


def _others() -> dict:
    from builder.io import json_schema, layer_docs
    return {layer_docs.TARGET: layer_docs.render(), json_schema.TARGET: json_schema.render()}


def _refresh(files: dict, check: bool) -> list:
    """Rewrite (unless `check`) each file whose text differs; return their names."""
    stale = []
    for path, text in files.items():
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                continue
        stale.append(os.path.relpath(path, ROOT))
        if not check:
            write_atomic(path, text.encode())
    return stale


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    stale = _refresh({signatures.FILE: json.dumps(signature_table(), indent=1) + "\n"}, check)
    signatures.table.cache_clear()          # the other files are read through the new signatures
    stale += _refresh(_others(), check)
    if check:
        if stale:
            print(f"stale: {', '.join(stale)}; run python tools/regenerate.py")
            return 1
        return 0
    print(f"rewrote {', '.join(stale)}" if stale else "everything generated is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
