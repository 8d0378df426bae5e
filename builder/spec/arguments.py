"""Argument models for each registered layer type, built from the registry's
argument types: they check entries here and become the JSON Schema."""

from __future__ import annotations

import functools
from typing import ClassVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model

from ..catalogue import registry
from ..errors import SpecError, suggest
from . import argtypes
from .validation import SpecModel, mismatch


class Arguments(SpecModel):
    """The keyword arguments of one layer type (`layer_type` is set per subclass)."""

    layer_type: ClassVar[registry.LayerType]

    @classmethod
    def unknown_message(cls, key) -> str:
        return unknown_message(cls.layer_type, key)

    @classmethod
    def missing_message(cls, field: str) -> str:
        return missing_message(cls.layer_type, field)


def unknown_message(layer_type: registry.LayerType, key) -> str:
    known = sorted(layer_type.args)
    message = f"unknown argument '{key}' for {layer_type.name}.{suggest(key, known)} It takes: {', '.join(known)}."
    if layer_type.wraps:
        message += (
            f" The entry it wraps goes in `{layer_type.short}:` (`- {layer_type.name}: {{{layer_type.short}: "
            f"{{dense: 8}}}}`), or alone (`- {layer_type.name}: {{dense: 8}}`)."
        )
    return message


def missing_message(layer_type: registry.LayerType, field: str) -> str:
    name = layer_type.name
    return f"{name} needs '{field}' ({expected(layer_type, field)}); write e.g. `{name}: {{{field}: ...}}`"


@functools.cache
def args_model(layer_type: registry.LayerType) -> type[Arguments]:
    """The pydantic model of `layer_type`'s keyword arguments (the JSON Schema's)."""
    fields = {}
    for arg, info in layer_type.args.items():
        annotation, text = argtypes.TYPES[argtypes.arg_type(layer_type, arg)]
        default = ... if info.get("required") else info.get("default")
        fields[arg] = (annotation, Field(default, description=text))
    model = create_model(f"{layer_type.name}_args", __base__=Arguments, **fields)  # type: ignore[call-overload]
    model.layer_type = layer_type
    return model


@functools.cache
def _adapter(type_key: str) -> TypeAdapter:
    return TypeAdapter(argtypes.TYPES[type_key][0], config=ConfigDict(strict=True))


def check_value(type_key: str, value, path: tuple) -> None:
    """Raise the SpecError (at `path`) unless `value` is of the type `type_key` (argtypes.TYPES)."""
    try:
        _adapter(type_key).validate_python(value)
    except ValidationError as err:
        errors = err.errors()
        raise mismatch(
            next((e for e in errors if e["type"] == "spec"), errors[0]), argtypes.TYPES[type_key][1], value, path
        ) from None


def check_args(layer_type: registry.LayerType, args: dict) -> None:
    """Raise a SpecError (path: the offending argument) unless `args` fit:
    what validating them with args_model(layer_type) says, found one argument
    type at a time, as making a layer type's whole model takes ~10 ms and a
    command that builds a spec would make one per layer type it uses. As with
    the model: an unknown key first, then a missing one, then a failed
    check of a value (those with a message of their own first)."""
    for key in args:
        if key not in layer_type.args:
            raise SpecError(unknown_message(layer_type, key), path=(key,))
    for arg, info in layer_type.args.items():
        if info.get("required") and arg not in args:
            raise SpecError(missing_message(layer_type, arg))
    failures = []
    for arg in layer_type.args:
        if arg in args:
            try:
                _adapter(argtypes.arg_type(layer_type, arg)).validate_python(args[arg])
            except ValidationError as err:
                errors = err.errors()
                failures.append((arg, next((e for e in errors if e["type"] == "spec"), errors[0])))
    if failures:
        arg, error = next((f for f in failures if f[1]["type"] == "spec"), failures[0])
        raise mismatch(error, expected(layer_type, arg), args[arg], (arg,))


def expected(layer_type, arg) -> str:
    """What a value of `arg` must be, in words."""
    return argtypes.TYPES[argtypes.arg_type(layer_type, arg)][1]
