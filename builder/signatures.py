"""Reads layer signatures from the Keras classes into keras_signatures.json.

    python -m builder.signatures          # rewrite the file
    python -m builder.signatures --check  # exit 1 if it differs from installed Keras
"""

from __future__ import annotations

import inspect
import json
import re
import sys

from . import registry
from .files import write_atomic

_SKIPPED = {"self", "args", "kwargs"}


def snake_case(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name).lower()


def _jsonable(value):
    if isinstance(value, tuple):
        value = list(value)
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


_NOT_TENSORS = {"training", "mask", "return_attention_scores", "return_state"}


def read_signature(cls) -> dict:
    """{'args': {name: {'default': v} or {'required': True}}, 'call': {'tensors':
    [...], 'options': {...}}, 'doc': first paragraph of the docstring}."""
    args = {}
    for param in _params(cls.__init__):
        if param.default is param.empty:
            args[param.name] = {"required": True}
        else:
            args[param.name] = {"default": _jsonable(param.default)}
    tensors, options = [], {}
    for param in _params(cls.call):
        if param.name in _NOT_TENSORS:
            continue
        if isinstance(param.default, bool):
            options[param.name] = {"default": param.default}     # e.g. use_causal_mask
        else:
            tensors.append(param.name)
    doc = " ".join((inspect.getdoc(cls) or "").strip().split("\n\n")[0].split())
    return {"args": args, "call": {"tensors": tensors, "options": options}, "doc": doc}


def _params(function):
    return [p for p in inspect.signature(function).parameters.values()
            if p.name not in _SKIPPED and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _usable_by_name(function) -> bool:
    """An activation works as `activation: NAME` only if all it needs is its
    input and it keeps the input's shape (glu halves it, which Keras layers
    don't expect of their activation)."""
    params = list(inspect.signature(function).parameters.values())[1:]
    if not all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return False
    import numpy
    return tuple(function(numpy.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)).shape) == (2, 4)


def generate() -> dict:
    from .backend import keras
    keras()
    layers = {}
    for layer_type in registry.LAYERS.values():
        if layer_type.signature is None:
            layers[layer_type.qualname] = read_signature(layer_type.keras_class())
    import keras.activations as activations
    names = sorted(name for name, value in vars(activations).items()
                   if callable(value) and not name.startswith("_")
                   and name not in {"get", "serialize", "deserialize"} and _usable_by_name(value))
    names += registry.EXTRA_ACTIVATIONS
    return {"keras_version": keras().__version__, "activations": names,
            "layers": dict(sorted(layers.items()))}


def render(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fresh = render(generate())
    if "--check" in argv:
        with open(registry.SIGNATURES_FILE, encoding="utf-8") as handle:
            if handle.read() != fresh:
                print(f"{registry.SIGNATURES_FILE} is stale: run python -m builder.signatures")
                return 1
        return 0
    write_atomic(registry.SIGNATURES_FILE, fresh.encode())
    print(f"wrote {registry.SIGNATURES_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
