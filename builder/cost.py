"""Multiply-accumulate operations (MACs) per layer, from shapes alone.

Counted: the multiplications of convolutions, dense layers, recurrent
layers and attention (one MAC per multiply-add, per example). Not counted:
element-wise work (activations, normalization, pooling, additions), which
is small beside them and which papers and tools leave out too.
"""

from __future__ import annotations

import math


def _prod(values):
    return math.prod(int(v) for v in values if v is not None)


def _shape(tensor):
    return tuple(tensor.shape[1:])


def layer_macs(layer, inputs, outputs) -> int:
    """MACs of one call of `layer`, given its input and output tensors."""
    kind = type(layer).__name__
    config = layer.get_config()
    if kind in ("Conv1D", "Conv2D", "Conv3D"):
        out = _shape(outputs[0])
        in_channels = _shape(inputs[0])[-1]
        return _prod(out) * _prod(config["kernel_size"]) * in_channels // config["groups"]
    if kind in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        return _prod(_shape(inputs[0])) * _prod(config["kernel_size"]) * config["filters"]
    if kind in ("DepthwiseConv1D", "DepthwiseConv2D"):
        return _prod(_shape(outputs[0])) * _prod(config["kernel_size"])
    if kind in ("SeparableConv1D", "SeparableConv2D"):
        out = _shape(outputs[0])
        in_channels = _shape(inputs[0])[-1]
        depthwise = _prod(out[:-1]) * in_channels * config["depth_multiplier"] * _prod(config["kernel_size"])
        return depthwise + _prod(out[:-1]) * in_channels * config["depth_multiplier"] * config["filters"]
    if kind == "Dense":
        shape = _shape(inputs[0])
        return _prod(shape[:-1]) * shape[-1] * config["units"]
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        steps, features = _shape(inputs[0])[0] or 1, _shape(inputs[0])[-1]
        gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind]
        units = config["units"]
        return steps * gates * (features + units) * units
    if kind in ("Bidirectional", "TimeDistributed"):
        inner = layer.forward_layer if kind == "Bidirectional" else layer.layer
        if kind == "Bidirectional":
            return 2 * layer_macs(inner, inputs, outputs)
        steps = _shape(inputs[0])[0] or 1
        return steps * layer_macs(inner, [_Step(inputs[0])], [_Step(outputs[0])])
    if kind == "MultiHeadAttention":
        query, value = _shape(inputs[0]), _shape(inputs[1] if len(inputs) > 1 else inputs[0])
        key = _shape(inputs[2]) if len(inputs) > 2 else value
        heads, key_dim = config["num_heads"], config["key_dim"]
        value_dim = config["value_dim"] or key_dim
        t, s = _prod(query[:-1]), _prod(value[:-1])
        projections = t * query[-1] * heads * key_dim + s * key[-1] * heads * key_dim + s * value[-1] * heads * value_dim
        attention = heads * t * s * (key_dim + value_dim)
        output = t * heads * value_dim * query[-1]
        return projections + attention + output
    if kind in ("Attention", "AdditiveAttention"):
        query, value = _shape(inputs[0]), _shape(inputs[1] if len(inputs) > 1 else inputs[0])
        return 2 * _prod(query[:-1]) * _prod(value[:-1]) * query[-1]
    if kind == "TransformerEncoder":
        steps, hidden = _prod(_shape(inputs[0])[:-1]), _shape(inputs[0])[-1]
        attention = 4 * steps * hidden * hidden + 2 * steps * steps * hidden
        return attention + 2 * steps * hidden * config["intermediate_dim"]
    return 0


class _Step:
    """A tensor's shape without the time axis (for TimeDistributed)."""

    def __init__(self, tensor):
        self.shape = (tensor.shape[0], *tensor.shape[2:])


def model_macs(model) -> list[tuple[str, str, int]]:
    """(layer name, class, MACs) for every layer of a functional model, in
    order. Sizes that vary (a sequence of length None) count as 1."""
    rows = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        rows.append((layer.name, type(layer).__name__, int(layer_macs(layer, list(inputs), list(outputs)))))
    return rows
