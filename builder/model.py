"""Turning an expanded graph into a Keras functional model. Public Keras 3
APIs only, so the result runs on any backend. Keras errors raised while a
layer is made or called are caught here, once, and become SpecErrors at the
entry that made the layer."""

from __future__ import annotations

from . import graph as graph_module
from .backend import keras as _keras
from .spec import Spec

_OBJECT_MODULES = {"initializer": "initializers", "regularizer": "regularizers", "constraint": "constraints"}


def build_model(spec_or_graph):
    """A keras.Model from a Spec (or an expanded Graph)."""
    keras = _keras()
    graph = graph_module.expand(spec_or_graph) if isinstance(spec_or_graph, Spec) else spec_or_graph
    spec = graph.spec
    tensors = {}
    for item in spec.inputs:
        tensors[item.name] = keras.Input(shape=item.shape, dtype=item.dtype, name=item.name)
    for node in graph.nodes:
        tensors[node.name] = _apply(keras, node, [tensors[name] for name in node.inputs], node.inputs)
    output = tensors[graph.output]
    if graph.head is not None:
        output = _head(keras, graph.head, output, spec.output["pool"])
    inputs = [tensors[item.name] for item in spec.inputs]
    return keras.Model(inputs=inputs[0] if len(inputs) == 1 else inputs, outputs=output, name=spec.name)


def make_layer(keras, node):
    try:
        kwargs = {key: _keras_object(keras, key, value) for key, value in node.args.items()}
        return node.type.keras_class()(name=node.name, **kwargs)
    except Exception as err:          # noqa: BLE001 - any Keras complaint is a spec error here
        raise node.error(f"Keras rejected the arguments of {node.type.name}: {_first_line(err)}") from None


def _apply(keras, node, inputs, input_names):
    layer = make_layer(keras, node)
    try:
        return layer(inputs if node.type.kind == "merge" else inputs[0])
    except Exception as err:          # noqa: BLE001
        shapes = ", ".join(f"{_shape(t)} from '{name}'" for t, name in zip(inputs, input_names))
        if node.type.kind == "merge":
            message = f"cannot {node.type.name} inputs of shapes {shapes}: {_first_line(err)}"
        else:
            message = f"{node.type.name} cannot take an input of shape {shapes}: {_first_line(err)}"
        raise node.error(message) from None


def _head(keras, node, output, pool):
    """The output Dense layer; a body that ends in more than (batch, features)
    is first flattened or pooled, as `output.pool` says."""
    rank = len(output.shape)
    if rank > 2 and pool != "none":
        if pool == "flatten":
            layer = keras.layers.Flatten
        else:
            kind = "Average" if pool == "global_average" else "Max"
            layer = getattr(keras.layers, f"Global{kind}Pooling{min(rank - 2, 3)}D")
        output = layer(name=f"{node.name}_{pool}")(output)
    return _apply(keras, node, [output], ["the last layer"])


def _keras_object(keras, key, value):
    """`kernel_regularizer: {l2: 0.0005}` or `kernel_initializer: {he_normal: {seed: 1}}`
    -> the Keras object; plain names pass through for Keras to look up."""
    kind = key.rsplit("_", 1)[-1]
    if kind not in _OBJECT_MODULES or not isinstance(value, dict):
        return value
    (name, config), = value.items()
    if not isinstance(config, dict):
        config = {name: config}       # {l2: 0.0005} -> L2(l2=0.0005)
    module = getattr(keras, _OBJECT_MODULES[kind])
    return module.get({"class_name": name, "config": config})


def _shape(tensor):
    return "(" + ", ".join("None" if d is None else str(d) for d in tensor.shape) + ")"


def _first_line(err: Exception) -> str:
    text = str(err).strip().split("\n")[0] or type(err).__name__
    return text if len(text) <= 400 else text[:397] + "..."

