"""The argument half of expanding a layer entry (graph.py makes the nodes):
the spec's `defaults`, an activation written as a name or as a layer of its
own (`leaky_relu`, `prelu`, `maxout`), the entries a wrapper holds
(`bidirectional: {layer: {lstm: 64}}`), and the check of every argument
against the layer's signature. An error about an argument points where its
value was written: the entry, the spec's `defaults:`, or the block instance
that passed it (`origins`: argument -> (source, path))."""

from __future__ import annotations

import copy

from ..catalogue import registry
from ..errors import SpecError, article, at
from . import activations, argtypes, arguments
from .entries import parse_entry


class LayerArguments:
    """The arguments of one spec's layer entries, as the layers take them."""

    def __init__(self, spec):
        self.spec = spec

    def apply_defaults(self, layer_type, args: dict, origins: dict):
        """The spec's `defaults:` for the arguments the entry leaves out and the layer takes."""
        for key, value in self.spec.defaults.items():
            if key in args or key not in layer_type.args or key in layer_type.no_defaults:
                continue
            if key == "activation" and (layer_type.kind != "layer" or args.get("activation", 0) is None):
                continue
            args[key] = copy.deepcopy(value)
            origins[key] = (self.spec.source, ("defaults", key))

    def activation_entry(self, type_name, args: dict, origins: dict):
        """`- swish`, `- activation: swish` or `- activation: prelu` -> the layer type that does it."""
        if type_name in registry.LAYERS:  # the type that applies a named activation
            if "activation" not in args:
                return type_name, args  # the schema check reports the missing argument
            value = args.pop("activation")
        else:
            value = type_name
        act_name, act_args = self.activation(value, origins)
        if act_name in registry.LAYER_ACTIVATIONS:
            return act_name, {**act_args, **args}
        return activation_type(), {"activation": act_name, **args}

    def activation(self, value, origins: dict):
        """(activation name, its arguments) of an `activation:` value, located where it was written."""
        try:
            return activations.parse(value)
        except SpecError as err:
            raise located(err.at("activation"), origins, "activation") from None

    def split_activation(self, layer_type, args: dict, origins: dict):
        """`activation: prelu` (or leaky_relu, maxout, or {name: args}) on a layer
        becomes the layer without activation, then that activation's own layer:
        returns (its layer type, its arguments), or None for a plain activation."""
        value = args.get("activation")
        if value is None or layer_type.kind != "layer":
            return None
        act_name, act_args = self.activation(value, origins)
        if act_name not in registry.LAYER_ACTIVATIONS:
            args["activation"] = act_name
            return None
        act_type = registry.LAYERS[act_name]
        args["activation"] = None
        if act_type.widens:
            factor = act_args.get(act_type.widens, act_type.args[act_type.widens]["default"])
            width = layer_type.width
            if width is None:
                raise SpecError(
                    f"{act_name} as the activation of {layer_type.name} needs a layer with units "
                    f"or filters; add a `- {act_name}` entry after it instead"
                ).at("activation")
            if isinstance(args.get(width), int):
                args[width] = args[width] * factor  # maxout: k linear pieces per output unit
        return act_type, act_args

    def check(self, layer_type, args: dict, origins: dict):
        """Every argument against the layer's signature, and the layer type's own check."""
        try:
            arguments.check_args(layer_type, args)
            if layer_type.check is not None:
                layer_type.check(args)
        except SpecError as err:
            raise located(err, origins, err.path[0] if err.path else None) from None

    def wrapped(self, wrapper, args: dict) -> frozenset:
        """Check the entries a layer holds (`bidirectional: {layer: {lstm: 64}}`,
        `rnn: {cell: {lstm_cell: 8}}`, `stacked_rnn_cells: {cells: [...]}`) and
        store them normalized; returns the first held entry's own arguments."""
        explicit = None
        for key in [arg for arg in wrapper.args if argtypes.arg_type(wrapper, arg) in ("entry", "entries")]:
            if args.get(key) is None:
                continue
            with at(key):
                many = argtypes.arg_type(wrapper, key) == "entries"
                held = []
                for i, entry in enumerate(args[key] if many else [args[key]]):
                    with at(*((i,) if many else ())):
                        inner_name, inner_args, own = self.held_entry(wrapper, entry)
                        held.append({inner_name: inner_args})
                        if explicit is None:
                            explicit = own
            args[key] = held if many else held[0]
        return explicit or frozenset()

    def held_entry(self, wrapper, entry):
        """(type, arguments, the arguments it wrote itself) of one entry a wrapper holds."""
        inner_name, inner_args = parse_entry(entry, {})
        with at(inner_name):
            inner = registry.get(inner_name)
            if inner.kind not in wrapper.wraps:
                raise SpecError(_cannot_wrap(wrapper, inner_name))
            explicit = frozenset(inner_args)
            self.apply_defaults(inner, inner_args, {})
            if self.split_activation(inner, inner_args, {}) is not None:
                raise SpecError(
                    "a wrapped layer takes a plain activation (relu, tanh, ...), not leaky_relu, prelu or maxout"
                ).at("activation")
            arguments.check_args(inner, inner_args)
            if inner.wraps:
                self.wrapped(inner, inner_args)
        return inner_name, inner_args, explicit


def located(err: SpecError, origins: dict, arg) -> SpecError:
    """Point an argument's error where the value was written: the entry, the
    spec's defaults, or the block instance that passed it."""
    if arg in origins:
        source, where = origins[arg]
        source.locate(err, where)
    return err


def activation_type() -> str:
    """The layer type that applies an activation function by name."""
    return next(name for name, t in registry.LAYERS.items() if t.applies_activation)


def _cannot_wrap(wrapper, inner_name) -> str:
    if len(wrapper.wraps) == 1:
        kind = wrapper.wraps[0]
        return f"{wrapper.name} wraps {article(kind)} layer ({', '.join(registry.of_kind(kind))}), not {inner_name}"
    return f"{wrapper.name} cannot wrap {inner_name}"
