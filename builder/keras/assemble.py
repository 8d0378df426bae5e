"""Turning an expanded graph into a Keras functional model. Public Keras 3
APIs only, so the result runs on any backend. Keras errors raised while a
layer is made or called are caught here, once, and become SpecErrors at the
entry that made the layer."""

from __future__ import annotations

import dataclasses
import os
import re

from ..backend import keras as _keras
from ..catalogue import applications, registry
from ..errors import SpecError, first_line, is_out_of_memory
from ..spec import argtypes, layout
from ..spec import graph as graph_module
from ..spec.language import Spec
from ..spec.load import load_spec
from . import weights as starting_weights

_OBJECT_MODULES = {"initializer": "initializers", "regularizer": "regularizers", "constraint": "constraints"}


def build(path=None, *, weights=None, report=None, **source):
    """Load, check and build a spec (a file, a loaded Spec, or load_spec's
    `source` keywords: text, data, overrides, limits, scale) into a
    keras.Model, with its starting weights (the spec's `weights`, or
    `weights`); `report(lines)` is told what was loaded."""
    spec = path if isinstance(path, Spec) else load_spec(os.fspath(path) if path is not None else None, **source)
    model = build_model(spec)
    loaded = starting_weights.start(model, spec, weights)
    if loaded is not None and report is not None:
        report(loaded.lines())
    return model


def build_model(spec_or_graph):
    """A keras.Model from a Spec (or an expanded Graph)."""
    keras = _keras()
    graph = graph_module.expand(spec_or_graph) if isinstance(spec_or_graph, Spec) else spec_or_graph
    spec = graph.spec
    tensors, layers = {}, {}
    for item in spec.inputs:
        tensors[item.name] = keras.Input(shape=item.shape, dtype=item.dtype, name=item.name)
    for node in graph.nodes:
        tensors[node.name] = _apply(keras, node, [_tensor(tensors, name) for name in node.inputs], node.inputs, layers)
    tied = (layers.get(graph.tie), bool(spec.output.get("use_bias"))) if graph.tie else None
    outputs = [
        _head(keras, head, _tensor(tensors, head.inputs[0]), graph.pools[head.name], tied) for head in graph.heads
    ] or [_tensor(tensors, graph.output)]
    inputs = [tensors[item.name] for item in spec.inputs]
    return keras.Model(
        inputs=inputs[0] if len(inputs) == 1 else inputs,
        outputs=outputs[0] if len(outputs) == 1 else outputs,
        name=spec.name,
    )


def build_shapes_only(graph):
    """The model of `graph` with its weights' values left uninitialized (Keras's StatelessScope) and
    its pretrained entries made without their weights: the names, shapes and counts the page and
    `validate` need, quick for large models and never a download. A layer that must read its weights
    while being built gets the plain build, which also raises whatever the spec's error is."""
    keras = _keras()
    nodes = [
        dataclasses.replace(node, args=applications.without_weights(node.type.name, node.args))
        if node.type.pretrained
        else node
        for node in graph.nodes
    ]
    graph = dataclasses.replace(graph, nodes=nodes)
    keras.backend.clear_session()  # the page builds spec after spec; hold one model at a time
    try:
        with keras.StatelessScope():
            return build_model(graph)
    except Exception:  # noqa: BLE001 - the plain build below says what is wrong
        keras.backend.clear_session()
        return build_model(graph)


def check_layout(graph, model=None) -> None:
    """A model-parallel layout (`training.distribution`) held to the weights the spec makes (`model`,
    else built without their values), as `validate` and the page check it: every pattern lays out
    some weight, with as many dimensions as the weight has, each split one dividing by its mesh axis."""
    distribution = graph.spec.training.distribution
    if distribution is None:
        return
    model = build_shapes_only(graph) if model is None else model
    try:
        layout.check(distribution, [(weight.path, tuple(weight.shape)) for weight in model.weights])
    except SpecError as err:
        raise graph.spec.source.locate(err) from None


def _tensor(tensors, reference):
    """`name` or `name.K`: a layer with several outputs (an RNN with
    return_state) gives its first for a plain reference."""
    base, _, index = reference.partition(".")
    value = tensors[base]
    if isinstance(value, (list, tuple)):
        return value[int(index or 0)]
    if index not in ("", "0"):
        raise KeyError(reference)
    return value


def _construct(keras, layer_type, args, name):
    """The Keras layer for validated spec arguments (call options left out)."""
    if layer_type.rotary and args.get("rotary") is not None:  # Keras's attention has no rotary positions: builder's has
        opened = {
            layer_type.rotary.get(key, key): _keras_object(keras, key, value)
            for key, value in args.items()
            if key != "rotary" and key not in layer_type.call_options
        }
        return custom_layers().HeadsAttention(rotary=args["rotary"], name=name, **opened)
    kwargs = {}
    for key, value in args.items():
        if key in layer_type.call_options or key in layer_type.builder_options:
            continue
        if argtypes.arg_type(layer_type, key) == "entry" and value is not None:
            ((inner_name, inner_args),) = value.items()
            value = _construct(keras, registry.LAYERS[inner_name], inner_args, f"{name}_{inner_name}")
        elif argtypes.arg_type(layer_type, key) == "entries" and value is not None:
            value = [
                _construct(keras, registry.LAYERS[inner_name], inner_args, f"{name}_{inner_name}_{i}")
                for i, item in enumerate(value)
                for inner_name, inner_args in item.items()
            ]
        elif key == "activation" and value in registry.EXTRA_ACTIVATIONS:
            value = getattr(custom_layers(), value)
        kwargs[key] = _keras_object(keras, key, value)
    return layer_type.keras_class()(name=name, **kwargs)


def custom_layers():
    from . import layers

    return layers


def make_layer(keras, node):
    try:
        return _construct(keras, node.type, node.args, node.name)
    except Exception as err:  # noqa: BLE001 - any Keras complaint is a spec error here
        if is_out_of_memory(err):
            raise
        raise node.error(f"Keras rejected the arguments of {node.type.name}: {first_line(err, 400)}") from None


def _call(layer, node, inputs):
    """Call `layer` as its registry entry says (registry.CALLS)."""
    options = {key: node.args[key] for key in node.type.call_options if key in node.args}
    call = node.type.call
    if node.input_keys is not None:
        if call == "dict":  # a network with named inputs (a KerasHub backbone)
            return layer(dict(zip(node.input_keys, inputs)), **options)
        return layer(**dict(zip(node.input_keys, inputs)), **options)
    if call == "list":
        return layer(inputs, **options)
    if call == "query_value_list":
        return layer(inputs if len(inputs) > 1 else inputs * 2, **options)
    if call == "initial_state" and len(inputs) > 1:
        return layer(inputs[0], initial_state=inputs[1:], **options)
    if call == "query_value" and len(inputs) == 1:
        return layer(inputs[0], inputs[0], **options)  # self-attention
    return layer(*inputs, **options)


def _apply(keras, node, inputs, input_names, layers=None):
    if node.shares is not None and layers is not None:
        layer = layers[node.shares]  # `- share:`: the same layer, the same weights, called again
    else:
        layer = make_layer(keras, node)
    if layers is not None:
        layers[node.name] = layer
    try:
        return _call(layer, node, inputs)
    except Exception as err:  # noqa: BLE001
        if is_out_of_memory(err):  # the model is too large, not wrongly shaped
            raise
        if isinstance(err, SpecError) and err.path[:1] == ("training",):  # the layout of its weights, not the layer
            raise
        raise node.error(_failure(node, inputs, input_names, err)) from None


def _failure(node, inputs, input_names, err) -> str:
    """What a layer's failure on its inputs says: a download a pretrained
    backbone could not make, a backbone's own failure, or the shapes it refused."""
    text = first_line(err, 400)
    fetch = re.search(r"URL fetch failure on (\S+):\s", text)
    if fetch:
        url = fetch.group(1)
        cache = os.path.join(os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras"), "models")
        return (
            f"{node.type.name} could not download its weights from {url} (no network?); put that file in "
            f"{cache}, where Keras looks first, or give `weights:` a local weights file (or null for random ones)"
        )
    if node.type.pretrained:
        return f"{node.type.name} could not be made: {text}"
    shapes = ", ".join(f"{_shape(t)} from '{name}'" for t, name in zip(inputs, input_names))
    if node.type.kind == "merge":
        return f"cannot {node.type.name} inputs of shapes {shapes}: {text}"
    return f"{node.type.name} cannot take an input of shape {shapes}: {text}"


def _head(keras, node, output, pool, tied=None):
    """The output Dense layer; a body that ends in more than (batch, features)
    is first flattened or pooled, as `output.pool` says. A tied head (`tied`:
    the embedding layer, and whether a bias follows) runs the embedding in
    reverse (its matrix transposed), adds its bias, then the output's activation."""
    rank = len(output.shape)
    if rank > 2 and registry.HEAD_POOLS[pool] is not None:
        pooling = registry.LAYERS[registry.HEAD_POOLS[pool].format(d=min(rank - 2, 3))]
        output = pooling.keras_class()(name=head_pooling_name(node.name, pool))(output)
    if tied is not None:
        embedding, bias = tied
        output = embedding(output, reverse=True)
        if bias:
            output = custom_layers().OutputBias(name=f"{node.name}_bias")(output)
    return _apply(keras, node, [output], [node.inputs[0] if node.path[0] == "outputs" else "the last layer"])


def head_pooling_name(head: str, pool: str) -> str:
    """The name of the layer that pools or flattens the body's output for the head."""
    return f"{head}_{pool}"


def _keras_object(keras, key, value):
    """`kernel_regularizer: {l2: 0.0005}` or `kernel_initializer: {he_normal: {seed: 1}}`
    -> the Keras object; plain names pass through for Keras to look up."""
    kind = key.rsplit("_", 1)[-1]
    if kind not in _OBJECT_MODULES or not isinstance(value, dict):
        return value
    ((name, config),) = value.items()
    if not isinstance(config, dict):
        config = {name: config}  # {l2: 0.0005} -> L2(l2=0.0005)
    module = getattr(keras, _OBJECT_MODULES[kind])
    return module.get({"class_name": name, "config": config})


def _shape(tensor):
    return "(" + ", ".join("None" if d is None else str(d) for d in tensor.shape) + ")"
