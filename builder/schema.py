"""Argument models for each registered layer type, built from the registry
and argtypes: they check specs here and become the JSON Schema."""

from __future__ import annotations

import functools

from pydantic import ConfigDict, Field, ValidationError, create_model

from . import argtypes, registry
from .errors import SpecError, describe, suggest

_CONFIG = ConfigDict(extra="forbid", strict=True)


@functools.cache
def args_model(layer_type: registry.LayerType):
    """The pydantic model of `layer_type`'s keyword arguments."""
    fields = {}
    for arg, info in layer_type.args.items():
        annotation, text = argtypes.TYPES[argtypes.type_of(layer_type, arg)]
        default = ... if info.get("required") else info.get("default")
        fields[arg] = (annotation, Field(default, description=text))
    return create_model(f"{layer_type.name}_args", __config__=_CONFIG, **fields)


def check_args(layer_type: registry.LayerType, args: dict) -> None:
    """Raise a SpecError (path: the offending argument) unless `args` fit."""
    try:
        args_model(layer_type).model_validate(args)
    except ValidationError as err:
        raise _first_error(layer_type, args, err) from None


def _first_error(layer_type, args, err: ValidationError) -> SpecError:
    errors = err.errors()
    for kind in ("extra_forbidden", "missing"):      # most useful first
        for error in errors:
            if error["type"] == kind:
                return _message(layer_type, args, error)
    return _message(layer_type, args, errors[0])


def _message(layer_type, args, error) -> SpecError:
    arg = error["loc"][0] if error["loc"] else None
    if error["type"] == "extra_forbidden":
        known = sorted(layer_type.args)
        return SpecError(f"unknown argument '{arg}' for {layer_type.name}.{suggest(arg, known)} "
                         f"It takes: {', '.join(known)}.", path=(arg,))
    if error["type"] == "missing":
        example = f"{layer_type.name}: {{{arg}: ...}}"
        return SpecError(f"{layer_type.name} needs '{arg}' ({_expected(layer_type, arg)}); "
                         f"write e.g. `{example}`", path=())
    limit = ""
    if error["type"] == "less_than_equal":
        limit = f" no larger than {error['ctx']['le']:,}"
    return SpecError(f"expected {_expected(layer_type, arg)}{limit}, got {describe(args.get(arg))}", path=(arg,))


def _expected(layer_type, arg) -> str:
    return argtypes.TYPES[argtypes.type_of(layer_type, arg)][1]
