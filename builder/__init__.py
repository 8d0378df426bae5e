"""Declarative Keras models from YAML specs.

    import builder
    model = builder.build("specs/lenet5.yaml", overrides={"defaults.activation": "prelu"})

Loading and validating a spec does not import Keras; building does.
"""

from __future__ import annotations

import os

from . import extends, graph, loader, spec as _spec
from .errors import SpecError
from .registry import LAYERS, register_layer

__all__ = ["SpecError", "build", "build_model", "load_spec", "register_layer", "to_spec", "validate", "LAYERS"]
__version__ = "0.1.0"


def load_spec(path=None, *, text=None, data=None, overrides=None) -> _spec.Spec:
    """Read a spec from a file `path`, YAML `text` or plain `data`, apply
    `overrides` ({'dotted.path': value}) and check its top level."""
    if sum(x is not None for x in (path, text, data)) != 1:
        raise TypeError("load_spec takes exactly one of path, text= or data=")
    if path is not None:
        source = extends.resolve(loader.load_file(path))
    elif text is not None:
        source = extends.resolve(loader.load_text(text))
    else:
        source = loader.Source("<data>", data, {})
    if overrides:
        from .errors import in_source
        with in_source(source):
            loader.apply_overrides(source, overrides)
    return _spec.parse(source)


def validate(path=None, *, text=None, data=None, overrides=None) -> graph.Graph:
    """Check a spec completely short of building it (no Keras import); return its graph."""
    return graph.expand(load_spec(path, text=text, data=data, overrides=overrides))


def build_model(spec):
    """A keras.Model from a loaded Spec."""
    from .model import build_model as _build_model
    return _build_model(spec)


def build(path=None, *, text=None, data=None, overrides=None):
    """Load, check and build a spec into a keras.Model."""
    return build_model(load_spec(os.fspath(path) if path is not None else None,
                                 text=text, data=data, overrides=overrides))


def to_spec(model, name=None) -> str:
    """A readable YAML spec of a Sequential or Functional Keras model of
    registered layers, which builds back into the same network."""
    from .importer import to_spec as _to_spec
    return _to_spec(model, name)
