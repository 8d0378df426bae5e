"""Reading an activation value: a name from keras.activations (`relu`), or one
of the parameterized activations the field recommends, which are layers of
their own: `leaky_relu`, `prelu`, `maxout`, bare or as `{maxout: 3}` /
`{leaky_relu: {negative_slope: 0.1}}`."""

from __future__ import annotations

from typing import Any

from ..catalogue import registry
from ..errors import SpecError, describe, unknown
from . import arguments


def parse(value) -> tuple[str, dict]:
    """(activation name, arguments); SpecError if either is wrong."""
    if isinstance(value, str):
        name, args = value, dict[str, Any]()
    elif isinstance(value, dict) and len(value) == 1:
        name, args = next(iter(value.items()))
        if args is None:
            args = {}
        elif not isinstance(args, dict):
            short = registry.LAYERS[name].short if name in registry.LAYER_ACTIVATIONS else None
            if short is None:
                raise SpecError(f"expected the arguments of '{name}' as a mapping, got {describe(args)}").at(name)
            args = {short: args}
    else:
        raise SpecError(
            f"expected an activation name such as 'relu', or a parameterized one such as "
            f"{{leaky_relu: {{negative_slope: 0.1}}}}, got {describe(value)}"
        )
    if name in registry.LAYER_ACTIVATIONS:
        try:
            arguments.check_args(registry.LAYERS[name], args)
        except SpecError as err:
            raise (err.at(name) if isinstance(value, dict) else err) from None
        return name, dict(args)
    if name not in registry.activation_names():
        raise unknown("activation", name, registry.activation_names() + list(registry.LAYER_ACTIVATIONS))
    if args:
        raise SpecError(
            f"the activation '{name}' takes no arguments; the parameterized ones are "
            f"{', '.join(registry.LAYER_ACTIVATIONS)}"
        ).at(name)
    return name, {}
