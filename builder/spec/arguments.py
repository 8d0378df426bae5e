"""Argument models for each registered layer type, built from the registry's
argument types: they check entries here and become the JSON Schema."""

from __future__ import annotations

import functools
from typing import ClassVar

from pydantic import Field, create_model

from ..errors import suggest
from ..keras import registry
from . import argtypes
from .validation import SpecModel, validate


class Arguments(SpecModel):
    """The keyword arguments of one layer type (`layer_type` is set per subclass)."""
    layer_type: ClassVar[registry.LayerType]

    @classmethod
    def unknown_message(cls, key) -> str:
        known = sorted(cls.layer_type.args)
        return (f"unknown argument '{key}' for {cls.layer_type.name}.{suggest(key, known)} "
                f"It takes: {', '.join(known)}.")

    @classmethod
    def missing_message(cls, field: str) -> str:
        name = cls.layer_type.name
        return f"{name} needs '{field}' ({expected(cls.layer_type, field)}); write e.g. `{name}: {{{field}: ...}}`"


@functools.cache
def args_model(layer_type: registry.LayerType) -> type[Arguments]:
    """The pydantic model of `layer_type`'s keyword arguments."""
    fields = {}
    for arg, info in layer_type.args.items():
        annotation, text = argtypes.TYPES[layer_type.arg_type(arg)]
        default = ... if info.get("required") else info.get("default")
        fields[arg] = (annotation, Field(default, description=text))
    model = create_model(f"{layer_type.name}_args", __base__=Arguments, **fields)
    model.layer_type = layer_type
    return model


def check_args(layer_type: registry.LayerType, args: dict) -> None:
    """Raise a SpecError (path: the offending argument) unless `args` fit."""
    validate(args_model(layer_type), args)


def expected(layer_type, arg) -> str:
    """What a value of `arg` must be, in words."""
    return argtypes.TYPES[layer_type.arg_type(arg)][1]
