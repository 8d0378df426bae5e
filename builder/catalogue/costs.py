"""Multiply-accumulate operations (MACs) per layer, from shapes alone.

Counted: the multiplications of convolutions, dense layers, recurrent
layers and attention (one MAC per multiply-add, per example). Not counted:
element-wise work (activations, normalization, pooling, additions), which
is small beside them and which papers and tools leave out too.

Each formula takes (layer, inputs, outputs, macs_of): the Keras layer, its
input and output tensors, and the function that counts another layer (for
wrappers). The registry says which formula a layer type uses. Below them,
lower bounds of weights from arguments alone, for the size budget.
"""

from __future__ import annotations

import math


def _prod(values):
    return math.prod(int(v) for v in values if v is not None)


def _shape(tensor):
    return tuple(tensor.shape[1:])


class _Arguments:
    """A layer's constructor arguments, read from its attributes (Keras keeps
    each under its own name). Not get_config(): Keras's serializer imports
    TensorFlow, where installed, even on the JAX backend (seconds, and 600 MiB)."""

    def __init__(self, layer):
        self.layer = layer

    def __getitem__(self, key):
        if hasattr(self.layer, key):
            return getattr(self.layer, key)
        return self.layer.get_config()[key]


def _arguments(layer) -> _Arguments:
    return _Arguments(layer)


def conv(layer, inputs, outputs, macs_of):
    config = _arguments(layer)
    in_channels = _shape(inputs[0])[-1]
    return _prod(_shape(outputs[0])) * _prod(config["kernel_size"]) * in_channels // config["groups"]


def conv_transpose(layer, inputs, outputs, macs_of):
    config = _arguments(layer)
    return _prod(_shape(inputs[0])) * _prod(config["kernel_size"]) * config["filters"]


def depthwise_conv(layer, inputs, outputs, macs_of):
    return _prod(_shape(outputs[0])) * _prod(_arguments(layer)["kernel_size"])


def separable_conv(layer, inputs, outputs, macs_of):
    config = _arguments(layer)
    positions = _prod(_shape(outputs[0])[:-1])
    channels = _shape(inputs[0])[-1] * config["depth_multiplier"]
    return positions * channels * _prod(config["kernel_size"]) + positions * channels * config["filters"]


def dense(layer, inputs, outputs, macs_of):
    shape = _shape(inputs[0])
    return _prod(shape[:-1]) * shape[-1] * _arguments(layer)["units"]


def recurrent(layer, inputs, outputs, macs_of, *, gates):
    steps, features = _shape(inputs[0])[0] or 1, _shape(inputs[0])[-1]
    units = _arguments(layer)["units"]
    return steps * gates * (features + units) * units


def conv_recurrent(layer, inputs, outputs, macs_of):
    """ConvLSTM: four gates, each a convolution of the step's input and of the
    previous state, at every output position of every step."""
    config = _arguments(layer)
    shape = _shape(inputs[0])
    steps, channels = shape[0] or 1, shape[-1]
    state = layer.cell.compute_output_shape((None, *shape[1:]))[0] if hasattr(layer, "cell") else None
    positions = _prod(state[1:-1]) if state else _prod(_shape(outputs[0])[-len(shape) + 2 : -1])
    kernel = _prod(config["kernel_size"])
    return steps * 4 * positions * kernel * (channels + config["filters"]) * config["filters"]


def einsum_dense(layer, inputs, outputs, macs_of):
    """One multiply-add per kernel weight at each input position the kernel
    does not contract (the input's axes whose sizes the kernel lacks)."""
    kernel = list(layer.kernel.shape)
    positions = 1
    for size in _shape(inputs[0]):
        if size in kernel:
            kernel.remove(size)
        elif size is not None:
            positions *= int(size)
    return _prod(layer.kernel.shape) * positions


def wrapped_layer(layer, inputs, outputs, macs_of):
    """A wrapper that changes a layer's weights, not its work (spectral normalization)."""
    return macs_of(layer.layer, inputs, outputs)


def bidirectional(layer, inputs, outputs, macs_of):
    return 2 * macs_of(layer.forward_layer, inputs, outputs)


def time_distributed(layer, inputs, outputs, macs_of):
    steps = _shape(inputs[0])[0] or 1
    return steps * macs_of(layer.layer, [_Step(inputs[0])], [_Step(outputs[0])])


def nested(layer, inputs, outputs, macs_of):
    """A network used as a layer: the sum of its own layers' MACs."""
    return sum(macs_of(inner, *tensors(inner)) for inner in layer.network.layers)


def tensors(layer) -> tuple[list, list]:
    """A called layer's input and output tensors, as lists."""

    def listed(value):
        return list(value) if isinstance(value, (list, tuple)) else [value]

    return listed(layer.input), listed(layer.output)


def multi_head_attention(layer, inputs, outputs, macs_of):
    config = _arguments(layer)
    query, value = _shape(inputs[0]), _shape(inputs[1] if len(inputs) > 1 else inputs[0])
    key = _shape(inputs[2]) if len(inputs) > 2 else value
    heads, key_dim = config["num_heads"], config["key_dim"]
    value_dim = config["value_dim"] or key_dim
    t, s = _prod(query[:-1]), _prod(value[:-1])
    projections = t * query[-1] * heads * key_dim + s * key[-1] * heads * key_dim + s * value[-1] * heads * value_dim
    attention = heads * t * _attended(value, config["attention_axes"]) * (key_dim + value_dim)
    return projections + attention + t * heads * value_dim * query[-1]


def _attended(value, axes) -> int:
    """How many positions each query attends to: all of the value's, or those along `attention_axes`
    (a window's 49 of a Swin stage's 3,136: each query meets its own window only)."""
    if axes is None:
        return _prod(value[:-1])
    rank = len(value) + 1  # the batch axis first
    axes = [axes] if isinstance(axes, int) else axes
    return _prod(value[(axis % rank) - 1] for axis in axes)


def grouped_query_attention(layer, inputs, outputs, macs_of):
    """Query projections for every query head, key and value projections for the shared heads."""
    config = _arguments(layer)
    query, value = _shape(inputs[0]), _shape(inputs[1] if len(inputs) > 1 else inputs[0])
    key = _shape(inputs[2]) if len(inputs) > 2 else value
    q_heads, kv_heads, dim = config["num_query_heads"], config["num_key_value_heads"], config["head_dim"]
    t, s = _prod(query[:-1]), _prod(value[:-1])
    projections = t * query[-1] * q_heads * dim + s * (key[-1] + value[-1]) * kv_heads * dim
    return projections + 2 * q_heads * t * s * dim + t * q_heads * dim * query[-1]


def heads_attention(layer, inputs, outputs, macs_of):
    """Query and output projections for every head, key and value projections for the key-value heads,
    the scores and their weighted sum."""
    config = _arguments(layer)
    # the query and the value by their features (a bias or a mask input has others; inputs given by name
    # come in the order of their names)
    queries = [t for t in inputs if t.shape[-1] == layer.query_dense.kernel.shape[0]] or inputs
    values = [t for t in inputs if t.shape[-1] == layer.key_dense.kernel.shape[0] and t is not queries[0]]
    query, value = _shape(queries[0]), _shape(values[0] if values else queries[0])
    heads, kv_heads, dim = config["num_heads"], config["num_key_value_heads"], config["head_dim"]
    t, s = _prod(query[:-1]), _prod(value[:-1])
    projections = t * query[-1] * heads * dim + 2 * s * value[-1] * kv_heads * dim
    return projections + 2 * heads * t * s * dim + t * heads * dim * query[-1]


def window_attention(layer, inputs, outputs, macs_of):
    """Query, key and value projections and the output projection at every position, and the scores
    and their weighted sum within each window (window_size^2 positions a query meets)."""
    shape = _shape(inputs[0])
    positions, features = _prod(shape[:-1]), shape[-1]
    window = _arguments(layer)["window_size"] ** 2
    return 4 * positions * features * features + 2 * positions * window * features


def dot_attention(layer, inputs, outputs, macs_of):
    query, value = _shape(inputs[0]), _shape(inputs[1] if len(inputs) > 1 else inputs[0])
    return 2 * _prod(query[:-1]) * _prod(value[:-1]) * query[-1]


def transformer_encoder(layer, inputs, outputs, macs_of):
    """Query and output projections, key and value projections for the key-value heads, the scores
    and their weighted sum, and the feed-forward's two matrices (three when gated)."""
    steps, hidden = _prod(_shape(inputs[0])[:-1]), _shape(inputs[0])[-1]
    config = _arguments(layer)
    key_value = hidden * (config["num_key_value_heads"] or config["num_heads"]) // config["num_heads"]
    attention = 2 * steps * hidden * hidden + 2 * steps * hidden * key_value + 2 * steps * steps * hidden
    matrices = 2 if config["feed_forward"] == "dense" else 3
    return attention + matrices * steps * hidden * config["intermediate_dim"]


def reversible_embedding(layer, inputs, outputs, macs_of):
    """A lookup costs nothing; run in reverse (a tied output head) it is a
    projection onto the vocabulary: features x vocabulary per step."""
    if "float" not in str(inputs[0].dtype):
        return 0
    config = _arguments(layer)
    return _prod(_shape(inputs[0])[:-1]) * config["output_dim"] * config["input_dim"]


def transformer_decoder(layer, inputs, outputs, macs_of):
    """The encoder's count, plus cross-attention where the layer has it:
    query and output projections over the decoder's steps, key and value
    projections over the encoder's, and the scores between the two."""
    sequence = outputs[0]  # shaped as the decoder's sequence, whichever order the inputs were given in
    own = transformer_encoder(layer, [sequence], outputs, macs_of)
    encoder_shape = getattr(layer, "encoder_sequence_shape", None)  # set where it was built with one
    if encoder_shape is None:
        return own
    steps, hidden = _prod(_shape(sequence)[:-1]), _shape(sequence)[-1]
    memory, features = _prod(encoder_shape[1:-1]), encoder_shape[-1]
    return own + 2 * steps * hidden * hidden + 2 * memory * features * hidden + 2 * steps * memory * hidden


# Lower bounds of a layer's weights from its arguments alone (its input has at
# least one feature): what `validate` can say of a model's size without Keras.


def least_dense(args, least_of):
    return args["units"]


def least_conv(args, least_of):
    kernel = args.get("kernel_size", 1)
    return args.get("filters", 1) * _prod(kernel if isinstance(kernel, list) else [kernel])


def least_embedding(args, least_of):
    return args["input_dim"] * args["output_dim"]


def least_token_embedding(args, least_of):
    return (args["vocabulary_size"] + args["sequence_length"]) * args["embedding_dim"]


def least_recurrent(args, least_of, *, gates):
    return gates * args["units"] * args["units"]


def least_attention(args, least_of):
    return 3 * args["num_heads"] * args["key_dim"]


def least_transformer(args, least_of):
    return 2 * args["intermediate_dim"]


def transformer_weights(args, features: int) -> int:
    """A transformer block's kernels on `features` input features: query and output projections,
    key and value projections for its key-value heads, and the feed-forward's two matrices (three gated)."""
    heads = args["num_heads"]
    key_value = features * (args.get("num_key_value_heads") or heads) // heads
    matrices = 2 if args.get("feed_forward", "dense") == "dense" else 3
    return 2 * features * features + 2 * features * key_value + matrices * features * args["intermediate_dim"]


def least_wrapped(args, least_of, *, copies):
    return copies * least_of(args["layer"])


class _Step:
    """A tensor's shape without the time axis (for TimeDistributed)."""

    def __init__(self, tensor):
        self.shape = (tensor.shape[0], *tensor.shape[2:])
