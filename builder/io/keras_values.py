"""Keras config values in the spec's form: a serialized initializer,
regularizer, constraint or activation as its name (with the arguments that
differ from its defaults), a size list of equal values as one number."""

from __future__ import annotations

from ..backend import keras as _keras
from ..catalogue.signatures import snake_case
from ..spec import argtypes

_SIZE_TYPES = {"sizes", "optional_sizes"}


def to_spec_form(value, kind):
    """A serialized Keras initializer/regularizer/constraint/activation -> the spec's form."""
    if not isinstance(value, dict) or "class_name" not in value:
        return value
    keras = _keras()
    name = value["class_name"]
    if value.get("registered_name", "") and ">" in str(value.get("registered_name")):
        name = value["registered_name"].split(">", 1)[1]
    if kind == "activation":
        return snake_case(name) if name[:1].isupper() else name
    snake = snake_case(name)
    config = dict(value.get("config") or {})
    module = {"initializer": keras.initializers, "regularizer": keras.regularizers, "constraint": keras.constraints}[
        kind
    ]
    try:
        default = module.get(snake).get_config()
    except Exception:  # noqa: BLE001 - a class with required arguments
        default = {}
    changed = {k: v for k, v in config.items() if default.get(k, object()) != v}
    return {snake: changed} if changed else snake


def simplify(layer_type, arg, value):
    """An argument's config value as a spec writes it."""
    kind = arg.rsplit("_", 1)[-1]
    if kind in ("initializer", "regularizer", "constraint"):
        return to_spec_form(value, kind)
    if arg == "activation":
        return to_spec_form(value, "activation")
    if isinstance(value, (list, tuple)):
        value = [list(v) if isinstance(v, tuple) else v for v in value]
        if (
            argtypes.arg_type(layer_type, arg) in _SIZE_TYPES
            and value
            and all(v == value[0] for v in value)
            and not isinstance(value[0], list)
        ):
            return value[0]
    return value
