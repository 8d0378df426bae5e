"""The one bridge between pydantic and SpecError. Every part of the spec
language (the top level, inputs, output, blocks, training, each layer type's
arguments) is a `SpecModel`; `validate()` checks data against one and turns
the first validation error into a SpecError whose path is the walker's path
into the data, and whose message says what was received and what was expected.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from ..errors import SpecError, describe, unknown


class SpecModel(BaseModel):
    """A part of the spec language. The class variables say how its errors read."""

    model_config = ConfigDict(extra="forbid", strict=True)

    EXPECTED: ClassVar[str] = "a mapping"  # what a value of the wrong kind was expected to be
    UNKNOWN: ClassVar[str] = "key"  # 'unknown KIND 'x'. Did you mean ...'
    MISSING: ClassVar[dict] = {}  # field -> the message when it is left out
    CHOICES: ClassVar[dict] = {}  # field -> KIND for 'unknown KIND 'x'' on a wrong choice

    @classmethod
    def unknown_message(cls, key) -> str:
        return unknown(cls.UNKNOWN, key, cls.model_fields).message

    @classmethod
    def missing_message(cls, field: str) -> str:
        return cls.MISSING.get(field, f"'{field}' is required")


def validate(model: type[SpecModel], data):
    """`model` validated from `data`; a SpecError (unlocated: the caller's
    `at`/`in_source` place it) for the first problem."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise translate(model, data, err) from None


def spec_check(function):
    """For validators: a SpecError raised inside becomes a pydantic error, so
    pydantic adds where it happened and `translate` reads it back."""

    @functools.wraps(function)
    def checked(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except SpecError as err:
            raise PydanticCustomError("spec", "{message}", {"message": err.message, "path": err.path}) from None

    return checked


_PRIORITY = ("extra_forbidden", "missing", "spec")


def translate(model, data, err: ValidationError) -> SpecError:
    errors = err.errors()
    error = next((e for kind in _PRIORITY for e in errors if e["type"] == kind), errors[0])
    kind, loc = error["type"], tuple(error["loc"])
    if kind in ("extra_forbidden", "missing"):
        path, here, _, _ = _walk(model, data, loc[:-1])
        if kind == "missing":
            return SpecError(here.missing_message(loc[-1]), path=path)
        return SpecError(here.unknown_message(loc[-1]), path=path + loc[-1:])
    path, here, field, value = _walk(model, data, loc)
    if kind == "spec":
        return mismatch(error, "", value, path)
    owner, name = field
    if owner is not None and owner.CHOICES.get(name) and kind == "literal_error":
        choices = [c for a in _candidates(owner.model_fields[name].annotation) for c in typing.get_args(a)]
        return SpecError(unknown(owner.CHOICES[name], value, choices).message, path=path)
    if owner is not None and owner.model_fields[name].description:
        expected = owner.model_fields[name].description
    elif here is not None:
        expected = here.EXPECTED  # the path ends at a whole part: a block, an input
    else:
        expected = error["msg"].lower()
    return mismatch(error, expected, value, path)


def mismatch(error: Any, expected: str, value, path: tuple) -> SpecError:
    """The SpecError for pydantic's `error` about `value`, which should have
    been `expected` (a check's own SpecError, raised through pydantic, as it was)."""
    if error["type"] == "spec":
        return SpecError(error["ctx"]["message"], path=path + tuple(error["ctx"]["path"]))
    limit = f" no larger than {error['ctx']['le']:,}" if error["type"] == "less_than_equal" else ""
    return SpecError(f"expected {expected}{limit}, got {describe(value)}", path=path)


def _walk(model, data, loc) -> tuple[tuple, Any, tuple, Any]:
    """Follow pydantic's `loc` through the models and the data, as far as it
    names places in the data (it also holds union-member tags, and list items
    of scalar fields, which messages show whole). A part written in a short
    form (`input: [32, 32, 3]` for {shape: [32, 32, 3]}) keeps its value while
    the path goes on to the field it stands for. Returns the path, the model
    at its end (or None), (owner model, field name) of the last field on it
    ((None, None) where it ends at a dict or list item), and the value there."""
    path: tuple = ()
    value, annotation, field = data, model, (None, None)
    for key in loc:
        here = _model_of(annotation)
        if here is not None and key in here.model_fields and (not isinstance(value, dict) or key in value):
            field, annotation = (here, key), here.model_fields[key].annotation
            value = value[key] if isinstance(value, dict) else value
        elif _has(value, key) and (items := _item_annotation(annotation)) is not None:
            field, annotation, value = (None, None), items, value[key]
        else:
            break
        path = path + (key,)
    return path, _model_of(annotation), field, value


def _candidates(annotation) -> list:
    """An annotation with Optional, Union and Annotated opened up."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [c for arg in typing.get_args(annotation) for c in _candidates(arg)]
    if origin is typing.Annotated:
        return _candidates(typing.get_args(annotation)[0])
    return [annotation]


def _model_of(annotation):
    """The SpecModel an annotation holds directly, or None."""
    return next((c for c in _candidates(annotation) if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _item_annotation(annotation):
    """The item annotation of a dict or list annotation whose items are models."""
    for candidate in _candidates(annotation):
        if typing.get_origin(candidate) in (dict, list):
            items = typing.get_args(candidate)[-1]
            if _model_of(items) is not None:
                return items
    return None


def _has(value, key) -> bool:
    return (isinstance(value, dict) and key in value) or (
        isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value)
    )
