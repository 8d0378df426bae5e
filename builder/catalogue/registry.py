"""The layer registry: every layer type a spec can name, and everything the
rest of builder needs to know about one.

It drives the validator, the model assembly, the MACs count, training's
vocabulary sizing, `cli.py layers`, the docs, the JSON Schema and the
parametrized tests; no other module tests a layer's name or class. Argument
names and defaults are not written here: they come from the Keras classes'
own signatures (signatures.py). Importing this module does not import Keras.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib

from ..errors import SpecError, unknown
from . import applications, costs, shapes, signatures

# Arguments every Keras layer takes through **kwargs.
BASE_ARGS = {"name": {"default": None}, "dtype": {"default": None}, "trainable": {"default": True}}

KINDS = {
    "layer": "one input; more inputs fill the call's further tensor arguments in order",
    "merge": "a list of two or more inputs",
    "attention": "a list [query, value] or [query, value, key]; one input attends to itself",
    "recurrent": "a sequence; further inputs are the initial state",
    "wrapper": "wraps the layer entry in its `layer` argument",
    "activation": "one input, an activation function or layer",
    "cell": "an RNN cell: only inside `rnn: {cell: ...}` or `stacked_rnn_cells: {cells: [...]}`",
}

# How a layer is called with the tensors its entry's `inputs` name.
CALLS = {
    "positional": "layer(a, b, ...)",
    "list": "layer([a, b, ...])",
    "query_value_list": "layer([query, value(, key)]); one input is both",
    "query_value": "layer(query, value, ...); one input is both",
    "initial_state": "layer(sequence, initial_state=[...])",
    "dict": "layer(a), or layer({name: a, ...}) with inputs given as a mapping",
}
_CALL_OF_KIND = {
    "merge": "list",
    "attention": "query_value_list",
    "recurrent": "initial_state",
    "wrapper": "initial_state",
}


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: argument models are cached per type
class LayerType:
    name: str  # what a spec writes: 'conv2d'
    module: str  # where the class lives: 'keras.layers'
    cls_name: str  # 'Conv2D'
    short: str | None = None  # the argument a scalar sets: `- dense: 120`
    kind: str = "layer"  # what its entry may be; see KINDS
    call: str | None = None  # how it is called; see CALLS (default: from kind)
    width: str | None = None  # 'units'/'filters': what `activation: maxout` multiplies
    widens: str | None = None  # as a layer's activation, multiplies its width by this argument (maxout)
    takes_sequence: bool | None = None  # needs (batch, steps, features): a recurrent layer before it
    #                                      returns its sequence (default: recurrent, attention, wrapper kinds)
    wraps: tuple = ()  # wrapper kinds: the kinds of entry it may hold
    applies_activation: bool = False  # `- activation: NAME`: a layer activation (prelu) becomes that layer
    vocabulary: str | None = None  # the argument that holds a vocabulary size (embeddings)
    macs: object = None  # costs formula: (layer, inputs, outputs, macs_of) -> MACs; None: not counted
    shape: object = None  # shapes formula: (args, first input's shape, channels) -> output shape, before
    #                        building (`$in_shape`); None: what its kind tells (shapes.py), else not known
    min_weights: object = None  # (args) -> a number of weights it has at least, whatever its input
    #                                 (the size budget at `validate`; costs.py); None: no bound
    weights_by_features: object = None  # (args, features) -> weights at least, where its input's features
    #                                      are known before building (transformer blocks; costs.py)
    check: object = None  # (args) -> None, raising SpecError: rules across arguments
    rotary: dict | None = None  # takes `rotary:`, and is then made as builder's HeadsAttention (Keras's class
    #                             has no rotary positions): its argument -> HeadsAttention's
    reverses: bool = False  # an embedding that also runs in reverse (`output: {tie: NAME}` reuses it)
    adapts: bool = False  # takes `adapt: true`: its state is learned from the training data before fitting
    rescales: bool = False  # scales raw input itself: the data pipeline then leaves values as they are
    float32_when_mixed: bool = False  # `train` under a mixed policy keeps it float32 (embeddings; see
    #                                    training/devices.py keep_float32)
    pretrained: bool = False  # a whole network whose weights may be read as it is made (training/threads.py
    #                                 does not probe-build it)
    no_defaults: frozenset = frozenset()  # arguments `defaults:` never fills here
    arg_types: tuple = ()  # (arg, type key) pairs where the signature and name say too little
    requires: tuple | None = None  # (module, pip package) it needs beyond Keras: checked at `validate`
    example: dict | None = None  # {input, args}: a model it makes sense in, where the generic one does not
    #                                 (the parametrized tests, docs/layers.md)
    signature: dict | None = None  # plug-ins: read at registration; built-ins: signatures.json
    plugin_class: type | None = None  # plug-ins: the class itself (it may live in no importable module)

    def __post_init__(self):
        if self.call is None:
            object.__setattr__(self, "call", _CALL_OF_KIND.get(self.kind, "positional"))
        if self.takes_sequence is None:
            object.__setattr__(self, "takes_sequence", self.kind in ("recurrent", "attention", "wrapper"))

    @property
    def args(self) -> dict:
        """Argument name -> {'default': ...} or {'required': True}: the
        constructor's arguments, then the call's options (use_causal_mask, ...)."""
        return {**self._entry["args"], **BASE_ARGS, **self.call_options, **self.builder_options}

    @property
    def constructor_args(self) -> dict:
        """The Keras class's own constructor arguments (name, dtype and trainable aside)."""
        return self._entry["args"]

    @property
    def builder_options(self) -> dict:
        """Arguments builder handles itself, not passed to the Keras class."""
        options = {"adapt": {"default": False}} if self.adapts else {}
        return {**options, "rotary": {"default": None}} if self.rotary else options

    @property
    def call_tensors(self) -> list:
        """The call's tensor arguments, in order: what `inputs:` fills."""
        return self._entry.get("call", {}).get("tensors", ["inputs"])

    @property
    def call_options(self) -> dict:
        return self._entry.get("call", {}).get("options", {})

    @property
    def _entry(self) -> dict:
        if self.signature is not None:
            return self.signature
        return signatures.of(self.qualname, self.name)

    @property
    def doc(self) -> str:
        return self._entry["doc"]

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.cls_name}"

    def keras_class(self):
        if self.plugin_class is not None:
            return self.plugin_class
        return getattr(importlib.import_module(self.module), self.cls_name)


LAYERS: dict[str, LayerType] = {}


def add(layer_type: LayerType) -> LayerType:
    if layer_type.name in LAYERS:
        raise ValueError(
            f"layer type '{layer_type.name}' is already registered (as {LAYERS[layer_type.name].qualname})"
        )
    LAYERS[layer_type.name] = layer_type
    return layer_type


def get(name: str) -> LayerType:
    if name in LAYERS:
        return LAYERS[name]
    if name in activation_names():
        raise SpecError(
            f"'{name}' is an activation function, not a layer type; write `activation: {name}` "
            f"on a layer, or the entry `- {name}`"
        )
    raise unknown("layer type", name, list(LAYERS) + activation_names())


def for_config(class_name: str, module: str | None) -> LayerType | None:
    """The registered type of a serialized layer ({'class_name', 'module'})."""
    for layer_type in LAYERS.values():
        if layer_type.cls_name == class_name and (
            module in (None, layer_type.module) or module.split(".")[0] == layer_type.module.split(".")[0]
        ):
            return layer_type
    return None


def default_args() -> set[str]:
    """The arguments `defaults:` may set: those some layer type takes, besides name, dtype and trainable."""
    return {arg for layer_type in LAYERS.values() for arg in layer_type.args} - set(BASE_ARGS)


def of_kind(kind: str) -> list[str]:
    return [name for name, layer_type in LAYERS.items() if layer_type.kind == kind]


def activation_names() -> list[str]:
    """Every function of keras.activations usable by name (from signatures.json)."""
    return signatures.table()["activations"]


def register_layer(
    cls, name: str | None = None, short: str | None = None, width: str | None = None, kind: str = "layer"
):
    """Make a Keras layer class usable in specs as `name` (default: its class
    name in snake_case). Its arguments, and their types, are read from its own
    `__init__`: its type hints (`factor: float`), else its defaults, else its
    docstring. The class is also registered for Keras
    serialization (unless Keras knows it already), so saved models reload."""
    import keras

    name = name or signatures.snake_case(cls.__name__)
    if keras.saving.get_registered_name(cls) == cls.__name__ and not cls.__module__.startswith("keras."):
        keras.saving.register_keras_serializable(package="builder_plugins")(cls)
    signature = signatures.read_signature(cls, annotations=True)
    for arg in (short, width):
        if arg is not None and arg not in signature["args"]:
            raise ValueError(f"{cls.__name__} has no argument '{arg}'")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return add(
        LayerType(
            name=name,
            module=cls.__module__,
            cls_name=cls.__name__,
            short=short,
            kind=kind,
            width=width,
            signature=signature,
            plugin_class=cls,
        )
    )


def _builtin(name, cls_name, module="keras.layers", **options):
    add(LayerType(name=name, module=module, cls_name=cls_name, **options))


# --- the built-in types -------------------------------------------------------------

_CUSTOM = "builder.keras.layers"

for _d in ("1d", "2d", "3d"):
    D = _d.upper()
    _seq, _rank = _d == "1d", int(_d[0])
    _builtin(
        f"conv{_d}",
        f"Conv{D}",
        short="filters",
        width="filters",
        takes_sequence=_seq,
        macs=costs.conv,
        min_weights=costs.least_conv,
        shape=functools.partial(shapes.convolved, rank=_rank),
    )
    _builtin(
        f"conv{_d}_transpose",
        f"Conv{D}Transpose",
        short="filters",
        width="filters",
        takes_sequence=_seq,
        macs=costs.conv_transpose,
        min_weights=costs.least_conv,
        shape=functools.partial(shapes.convolved_transpose, rank=_rank),
    )
    _pooled = functools.partial(shapes.pooled, rank=_rank)
    _builtin(f"max_pooling{_d}", f"MaxPooling{D}", short="pool_size", takes_sequence=_seq, shape=_pooled)
    _builtin(f"average_pooling{_d}", f"AveragePooling{D}", short="pool_size", takes_sequence=_seq, shape=_pooled)
    _builtin(f"global_max_pooling{_d}", f"GlobalMaxPooling{D}", takes_sequence=_seq, shape=shapes.global_pooled)
    _builtin(f"global_average_pooling{_d}", f"GlobalAveragePooling{D}", takes_sequence=_seq, shape=shapes.global_pooled)
    _builtin(
        f"zero_padding{_d}",
        f"ZeroPadding{D}",
        short="padding",
        no_defaults=frozenset({"padding"}),
        arg_types=(("padding", "padding_amount"),),
        takes_sequence=_seq,
        shape=functools.partial(shapes.padded, rank=_rank),
    )
    _builtin(f"spatial_dropout{_d}", f"SpatialDropout{D}", short="rate", takes_sequence=_seq, shape=shapes.kept)
    _builtin(
        f"up_sampling{_d}",
        f"UpSampling{D}",
        short="size",
        takes_sequence=_seq,
        shape=functools.partial(shapes.up_sampled, rank=_rank),
    )
for _d in ("1d", "2d"):
    D = _d.upper()
    _seq, _rank = _d == "1d", int(_d[0])
    _builtin(
        f"depthwise_conv{_d}",
        f"DepthwiseConv{D}",
        short="kernel_size",
        takes_sequence=_seq,
        macs=costs.depthwise_conv,
        min_weights=costs.least_conv,
        shape=functools.partial(shapes.convolved, rank=_rank),
    )
    _builtin(
        f"separable_conv{_d}",
        f"SeparableConv{D}",
        short="filters",
        width="filters",
        takes_sequence=_seq,
        macs=costs.separable_conv,
        min_weights=costs.least_conv,
        shape=functools.partial(shapes.convolved, rank=_rank),
    )

_builtin(
    "dense",
    "Dense",
    short="units",
    width="units",
    macs=costs.dense,
    min_weights=costs.least_dense,
    shape=shapes.last_axis,
)
_builtin("dropout", "Dropout", short="rate")
_builtin("flatten", "Flatten", shape=shapes.flattened)
_builtin("reshape", "Reshape", short="target_shape", shape=shapes.reshaped)
_builtin("batch_normalization", "BatchNormalization")
_builtin("layer_normalization", "LayerNormalization")

_builtin(
    "activation",
    "Activation",
    short="activation",
    kind="activation",
    applies_activation=True,
    no_defaults=frozenset({"activation"}),
)
_builtin("relu", "ReLU", kind="activation")
_builtin("leaky_relu", "LeakyReLU", short="negative_slope", kind="activation")
_builtin("prelu", "PReLU", kind="activation")
_builtin("elu", "ELU", short="alpha", kind="activation")
_builtin("softmax", "Softmax", short="axis", kind="activation")
_builtin("maxout", "Maxout", module=_CUSTOM, short="pieces", kind="activation", widens="pieces")
_builtin("lrn", "LocalResponseNormalization", module=_CUSTOM, short="size")

# Sequences
_builtin("embedding", "Embedding", vocabulary="input_dim", min_weights=costs.least_embedding, float32_when_mixed=True)
_builtin("masking", "Masking", short="mask_value")
_RECURRENT = dict(short="units", kind="recurrent", no_defaults=frozenset({"activation", "recurrent_activation"}))
for _name, _cls, _gates in (("simple_rnn", "SimpleRNN", 1), ("lstm", "LSTM", 4), ("gru", "GRU", 3)):
    _builtin(
        _name,
        _cls,
        macs=functools.partial(costs.recurrent, gates=_gates),
        min_weights=functools.partial(costs.least_recurrent, gates=_gates),
        **_RECURRENT,
    )
_builtin(
    "bidirectional",
    "Bidirectional",
    short="layer",
    kind="wrapper",
    wraps=("recurrent",),
    arg_types=(("layer", "entry"), ("backward_layer", "entry")),
    macs=costs.bidirectional,
    min_weights=functools.partial(costs.least_wrapped, copies=2),
    shape=shapes.bidirectional,
)
_builtin(
    "time_distributed",
    "TimeDistributed",
    short="layer",
    kind="wrapper",
    wraps=("layer", "recurrent", "attention", "activation"),
    arg_types=(("layer", "entry"),),
    macs=costs.time_distributed,
    min_weights=functools.partial(costs.least_wrapped, copies=1),
)
_builtin("select_step", "SelectStep", module=_CUSTOM, short="index", takes_sequence=True)
_builtin(
    "gather_steps",
    "GatherSteps",
    module=_CUSTOM,
    takes_sequence=True,
    example={
        "inputs": {"x": {"shape": [5, 4]}, "positions": {"shape": [2], "dtype": "int32"}},
        "args": {"inputs": ["x", "positions"]},
    },
)

# Preprocessing inside the model, so saved and exported models take raw input
_builtin("rescaling", "Rescaling", short="scale", rescales=True)
_builtin("normalization", "Normalization", adapts=True)
_builtin("resizing", "Resizing", shape=shapes.resized, example={"input": [8, 8, 3], "args": {"height": 4, "width": 6}})
_builtin(
    "center_crop", "CenterCrop", shape=shapes.resized, example={"input": [8, 8, 3], "args": {"height": 4, "width": 6}}
)
_builtin(
    "text_vectorization",
    "TextVectorization",
    adapts=True,
    example={
        "input": {"shape": [1], "dtype": "string"},
        "args": {"vocabulary": ["a", "b"], "output_sequence_length": 4},
    },
    arg_types=(
        ("max_tokens", "optional_positive_int"),
        ("standardize", "text_standardize"),
        ("split", "text_split"),
        ("ngrams", "optional_positive_int"),
        ("output_mode", "text_output_mode"),
        ("output_sequence_length", "optional_positive_int"),
        ("vocabulary", "strings"),
        ("idf_weights", "numbers"),
        ("encoding", "string"),
    ),
)

# Pretrained networks
_NEEDS_HUB = ("keras_hub", "keras-hub")
_builtin(
    "keras_hub",
    "KerasHubBackbone",
    module=_CUSTOM,
    short="preset",
    call="dict",
    macs=costs.nested,
    requires=_NEEDS_HUB,
    pretrained=True,
    check=applications.check_preset,
    arg_types=(
        ("preset", "hub_preset"),
        ("load_weights", "bool"),
        ("output", "optional_string"),
        ("arguments", "mapping"),
    ),
)
_builtin(
    "keras_application",
    "KerasApplication",
    module=_CUSTOM,
    short="model",
    macs=costs.nested,
    pretrained=True,
    check=applications.check,
    arg_types=(("model", "application"),),
)

# Attention and transformers
_OPENED = ("use_bias", "dropout", "kernel_initializer", "bias_initializer", "name", "dtype", "trainable", "rotary")


def _rotary_check(renamed: dict):
    """With `rotary:` set, an attention type is made as HeadsAttention, which takes these of its arguments."""

    def check(args):
        if args.get("rotary") is None:
            return
        taken = (*renamed, *_OPENED, "use_causal_mask", "training")
        extra = [arg for arg, value in args.items() if arg not in taken and value is not None]
        if extra:
            raise SpecError(
                f"with rotary positions this attention takes {', '.join(a for a in (*renamed, *_OPENED[:4]))}; "
                f"leave out {', '.join(extra)}",
                path=(extra[0],),
            )

    return check


_MHA_ROTARY = {"num_heads": "num_heads", "key_dim": "head_dim"}
_GQA_ROTARY = {"num_query_heads": "num_heads", "num_key_value_heads": "num_key_value_heads", "head_dim": "head_dim"}
_builtin(
    "multi_head_attention",
    "MultiHeadAttention",
    call="query_value",
    takes_sequence=True,
    macs=costs.multi_head_attention,
    min_weights=costs.least_attention,
    rotary=_MHA_ROTARY,
    check=_rotary_check(_MHA_ROTARY),
)
_builtin(
    "heads_attention",
    "HeadsAttention",
    module=_CUSTOM,
    call="query_value",
    takes_sequence=True,
    macs=costs.heads_attention,
    example={
        "input": [5, 8],
        "args": {"num_heads": 4, "head_dim": 2, "num_key_value_heads": 2, "rotary": {"max_wavelength": 100}},
    },
)
_builtin("attention", "Attention", kind="attention", macs=costs.dot_attention)
_builtin("additive_attention", "AdditiveAttention", kind="attention", macs=costs.dot_attention)
_builtin("position_embedding", "PositionEmbedding", module=_CUSTOM, short="sequence_length")
_builtin("class_token", "ClassToken", module=_CUSTOM, takes_sequence=True)
_builtin("layer_scale", "LayerScale", module=_CUSTOM, short="init_values")
_builtin(
    "relative_position_bias",
    "RelativePositionBias",
    module=_CUSTOM,
    takes_sequence=True,
    example={"input": [6, 8], "args": {"num_heads": 2, "num_buckets": 8, "max_distance": 16}},
)
_builtin(
    "window_attention",
    "WindowAttention",
    module=_CUSTOM,
    macs=costs.window_attention,
    example={"input": [8, 8, 4], "args": {"num_heads": 2, "window_size": 4, "shift": 2}},
)
_builtin("sine_position_encoding", "SinePositionEncoding", module=_CUSTOM)
_builtin(
    "token_and_position_embedding",
    "TokenAndPositionEmbedding",
    module=_CUSTOM,
    vocabulary="vocabulary_size",
    min_weights=costs.least_token_embedding,
)
_builtin(
    "transformer_encoder",
    "TransformerEncoder",
    module=_CUSTOM,
    takes_sequence=True,
    macs=costs.transformer_encoder,
    min_weights=costs.least_transformer,
    weights_by_features=costs.transformer_weights,
)
_builtin(
    "transformer_decoder",
    "TransformerDecoder",
    module=_CUSTOM,
    takes_sequence=True,
    macs=costs.transformer_decoder,
    min_weights=costs.least_transformer,
    weights_by_features=costs.transformer_weights,
)
_builtin("rotary_embedding", "RotaryEmbedding", module=_CUSTOM, takes_sequence=True)

for _merge in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
    _builtin(_merge.lower(), _merge, kind="merge")
_builtin("concatenate", "Concatenate", short="axis", kind="merge")

# --- the rest of keras.layers -------------------------------------------------------------

_IMAGE = [8, 8, 3]
_PIXELS = {"value_range": [0, 255]}
for _d in ("1d", "2d", "3d"):
    D = _d.upper()
    _seq = _d == "1d"
    _builtin(
        f"cropping{_d}",
        f"Cropping{D}",
        short="cropping",
        arg_types=(("cropping", "padding_amount"),),
        takes_sequence=_seq,
        example={"args": {"cropping": 1}},
        shape=functools.partial(shapes.padded, rank=int(_d[0]), sign=-1),
    )
    for _kind in ("average", "max"):
        _builtin(
            f"adaptive_{_kind}_pooling{_d}",
            f"Adaptive{_kind.title()}Pooling{D}",
            short="output_size",
            arg_types=(("output_size", "sizes"),),
            takes_sequence=_seq,
        )
    _builtin(
        f"conv_lstm{_d}",
        f"ConvLSTM{D}",
        width="filters",
        macs=costs.conv_recurrent,
        example={"input": [3] + [6] * int(_d[0]) + [2], "args": {"filters": 4, "kernel_size": 3}},
        **{**_RECURRENT, "short": "filters"},
    )

_builtin("identity", "Identity")
_builtin(
    "permute",
    "Permute",
    short="dims",
    arg_types=(("dims", "axis"),),
    example={"input": [4, 6], "args": {"dims": [2, 1]}},
    shape=shapes.permuted,
)
_builtin(
    "repeat_vector",
    "RepeatVector",
    short="n",
    arg_types=(("n", "positive_int"),),
    example={"input": [8], "args": {"n": 3}},
)
_builtin(
    "einsum_dense",
    "EinsumDense",
    macs=costs.einsum_dense,
    arg_types=(("equation", "string"), ("output_shape", "output_shape"), ("bias_axes", "optional_string")),
    example={"input": [8], "args": {"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"}},
)
_builtin("activity_regularization", "ActivityRegularization")
_builtin("gaussian_noise", "GaussianNoise", short="stddev", arg_types=(("stddev", "number"),))
_builtin("gaussian_dropout", "GaussianDropout", short="rate")
_builtin("alpha_dropout", "AlphaDropout", short="rate")
_builtin("unit_normalization", "UnitNormalization")
_builtin("group_normalization", "GroupNormalization", short="groups", example={"args": {"groups": 2}})
_builtin("rms_normalization", "RMSNormalization")
_builtin(
    "spectral_normalization",
    "SpectralNormalization",
    short="layer",
    wraps=("layer",),
    macs=costs.wrapped_layer,
    arg_types=(("layer", "entry"),),
    example={"args": {"layer": {"dense": 4}}},
)
_builtin(
    "reversible_embedding",
    "ReversibleEmbedding",
    vocabulary="input_dim",
    min_weights=costs.least_embedding,
    reverses=True,
    macs=costs.reversible_embedding,
    example={"input": {"shape": [5], "dtype": "int32"}, "args": {"input_dim": 10, "output_dim": 4}},
)
_builtin(
    "dot",
    "Dot",
    short="axes",
    kind="merge",
    shape=shapes.not_known,
    arg_types=(("axes", "axis"),),
    example={"args": {"axes": 1}},
)
_builtin(
    "grouped_query_attention",
    "GroupQueryAttention",
    call="query_value",
    takes_sequence=True,
    macs=costs.grouped_query_attention,
    rotary=_GQA_ROTARY,
    check=_rotary_check(_GQA_ROTARY),
    example={"input": [5, 8], "args": {"head_dim": 4, "num_query_heads": 2, "num_key_value_heads": 1}},
)

# Recurrent layers from cells
_builtin(
    "rnn",
    "RNN",
    short="cell",
    kind="recurrent",
    wraps=("cell",),
    arg_types=(("cell", "entry"),),
    example={"input": [5, 3], "args": {"cell": {"lstm_cell": 4}}},
)
for _name, _cls in (("simple_rnn_cell", "SimpleRNNCell"), ("lstm_cell", "LSTMCell"), ("gru_cell", "GRUCell")):
    _builtin(_name, _cls, short="units", kind="cell")
_builtin(
    "stacked_rnn_cells",
    "StackedRNNCells",
    short="cells",
    kind="cell",
    wraps=("cell",),
    arg_types=(("cells", "entries"),),
    example={"args": {"cells": [{"lstm_cell": 4}, {"gru_cell": 4}]}},
)

# Lookups, hashing and encodings: tabular and text preprocessing inside the model
_builtin(
    "string_lookup",
    "StringLookup",
    adapts=True,
    arg_types=(("vocabulary", "strings"),),
    example={"input": {"shape": [1], "dtype": "string"}, "args": {"vocabulary": ["a", "b"]}},
)
_builtin(
    "integer_lookup",
    "IntegerLookup",
    adapts=True,
    arg_types=(("vocabulary", "numbers"),),
    example={"input": {"shape": [1], "dtype": "int64"}, "args": {"vocabulary": [3, 5]}},
)
_builtin(
    "discretization",
    "Discretization",
    adapts=True,
    arg_types=(("bin_boundaries", "numbers"), ("num_bins", "optional_positive_int")),
    example={"input": [3], "args": {"bin_boundaries": [0.0, 1.0]}},
)
_builtin(
    "hashing",
    "Hashing",
    short="num_bins",
    example={"input": {"shape": [1], "dtype": "string"}, "args": {"num_bins": 4}},
)
_builtin(
    "hashed_crossing",
    "HashedCrossing",
    short="num_bins",
    kind="merge",
    call="list",
    example={
        "inputs": {"a": {"shape": [1], "dtype": "int64"}, "b": {"shape": [1], "dtype": "int64"}},
        "args": {"num_bins": 4, "inputs": ["a", "b"]},
    },
)
_builtin(
    "category_encoding",
    "CategoryEncoding",
    example={"input": {"shape": [2], "dtype": "int32"}, "args": {"num_tokens": 4, "output_mode": "multi_hot"}},
)

# Audio
_builtin(
    "mel_spectrogram", "MelSpectrogram", example={"input": [2048], "args": {"fft_length": 256, "sequence_length": 128}}
)
_builtin("stft_spectrogram", "STFTSpectrogram", example={"input": [2048, 1], "args": {"frame_length": 128}})

# Image augmentation: active in training only, as Keras makes them (the identity at inference)
for _name, _cls, _args in (
    ("random_flip", "RandomFlip", {}),
    ("random_rotation", "RandomRotation", {"factor": 0.1}),
    ("random_zoom", "RandomZoom", {"height_factor": 0.1}),
    ("random_translation", "RandomTranslation", {"height_factor": 0.1, "width_factor": 0.1}),
    ("random_crop", "RandomCrop", {"height": 6, "width": 6}),
    ("random_contrast", "RandomContrast", {"factor": 0.2}),
    ("random_brightness", "RandomBrightness", {"factor": 0.2, **_PIXELS}),
    ("random_color_degeneration", "RandomColorDegeneration", {"factor": 0.2, **_PIXELS}),
    ("random_color_jitter", "RandomColorJitter", {"brightness_factor": 0.2, **_PIXELS}),
    ("random_elastic_transform", "RandomElasticTransform", _PIXELS),
    ("random_erasing", "RandomErasing", _PIXELS),
    ("random_gaussian_blur", "RandomGaussianBlur", _PIXELS),
    ("random_grayscale", "RandomGrayscale", {}),
    ("random_hue", "RandomHue", {"factor": 0.2, **_PIXELS}),
    ("random_invert", "RandomInvert", _PIXELS),
    ("random_perspective", "RandomPerspective", {}),
    ("random_posterization", "RandomPosterization", {"factor": 4, **_PIXELS}),
    ("random_saturation", "RandomSaturation", {"factor": 0.2, **_PIXELS}),
    ("random_sharpness", "RandomSharpness", {"factor": 0.2, **_PIXELS}),
    ("rand_augment", "RandAugment", _PIXELS),
    ("aug_mix", "AugMix", _PIXELS),
    ("auto_contrast", "AutoContrast", _PIXELS),
    ("solarization", "Solarization", _PIXELS),
    ("contrast_limited_adaptive_histogram_equalization", "ContrastLimitedAdaptiveHistogramEqualization", _PIXELS),
    ("cut_mix", "CutMix", {}),
    ("mix_up", "MixUp", {}),
):  # the same shape out, but a random crop's
    _shape = shapes.resized if _name == "random_crop" else shapes.kept
    _builtin(_name, _cls, example={"input": _IMAGE, "args": _args}, shape=_shape)

# KerasHub's modeling layers, where keras_hub is installed (`pip install keras-hub`)
_HUB = "keras_hub.layers"
_SEQ = [5, 8]
for _name, _cls, _options in (
    (
        "hub_transformer_encoder",
        "TransformerEncoder",
        dict(takes_sequence=True, example={"input": _SEQ, "args": {"intermediate_dim": 16, "num_heads": 2}}),
    ),
    (
        "hub_transformer_decoder",
        "TransformerDecoder",
        dict(takes_sequence=True, example={"input": _SEQ, "args": {"intermediate_dim": 16, "num_heads": 2}}),
    ),
    (
        "hub_fnet_encoder",
        "FNetEncoder",
        dict(takes_sequence=True, example={"input": _SEQ, "args": {"intermediate_dim": 16}}),
    ),
    (
        "hub_cached_multi_head_attention",
        "CachedMultiHeadAttention",
        dict(call="query_value", takes_sequence=True, example={"input": _SEQ, "args": {"num_heads": 2, "key_dim": 4}}),
    ),
    ("hub_rotary_embedding", "RotaryEmbedding", dict(takes_sequence=True, example={"input": _SEQ})),
    ("hub_sine_position_encoding", "SinePositionEncoding", dict(takes_sequence=True, example={"input": _SEQ})),
    (
        "hub_position_embedding",
        "PositionEmbedding",
        dict(short="sequence_length", takes_sequence=True, example={"input": _SEQ, "args": {"sequence_length": 5}}),
    ),
    (
        "hub_token_and_position_embedding",
        "TokenAndPositionEmbedding",
        dict(
            vocabulary="vocabulary_size",
            example={
                "input": {"shape": [5], "dtype": "int32"},
                "args": {"vocabulary_size": 10, "sequence_length": 5, "embedding_dim": 4},
            },
        ),
    ),
    (
        "hub_reversible_embedding",
        "ReversibleEmbedding",
        dict(
            vocabulary="input_dim",
            reverses=True,
            macs=costs.reversible_embedding,
            example={"input": {"shape": [5], "dtype": "int32"}, "args": {"input_dim": 10, "output_dim": 4}},
        ),
    ),
    (
        "hub_masked_lm_head",
        "MaskedLMHead",
        dict(
            example={
                "inputs": {"x": {"shape": _SEQ}, "positions": {"shape": [2], "dtype": "int32"}},
                "args": {"vocabulary_size": 10, "inputs": ["x", "positions"]},
            }
        ),
    ),
    ("hub_alibi_bias", "AlibiBias", dict(example={"input": [2, 5, 5]})),
):
    _builtin(_name, _cls, module=_HUB, requires=_NEEDS_HUB, **_options)

# Activations with weights or parameters are layers of their own: `activation:
# prelu` on a conv becomes the conv followed by a PReLU layer.
LAYER_ACTIVATIONS = ("leaky_relu", "prelu", "maxout")
# Activation functions builder adds to keras.activations' (layers.py).
EXTRA_ACTIVATIONS = ("gelu_approximate",)
# The type the spec's `output:` makes, and the poolings it may put before it.
HEAD = "dense"
HEAD_POOLS = {
    "flatten": "flatten",
    "global_average": "global_average_pooling{d}d",
    "global_max": "global_max_pooling{d}d",
    "none": None,
}

# Types whose output has their input's channels (last dimension): what `$in_channels` sees through.
# Layer types whose output has their first input's shape (catalogue/shapes.py), and so its channels
KEEPS_SHAPE = frozenset(
    [
        "dropout",
        "batch_normalization",
        "layer_normalization",
        "group_normalization",
        "unit_normalization",
        "lrn",
        "gaussian_noise",
        "gaussian_dropout",
        "alpha_dropout",
        "activity_regularization",
        "identity",
        "masking",
        "rescaling",
        "normalization",
        "rms_normalization",
        "transformer_encoder",
        "transformer_decoder",
        "rotary_embedding",
        "position_embedding",
        "sine_position_encoding",
        "layer_scale",
        "window_attention",
    ]
)
for _name in KEEPS_SHAPE & set(LAYERS):  # KerasHub's are registered where it is installed
    LAYERS[_name] = dataclasses.replace(LAYERS[_name], shape=shapes.kept)
# ... and those that change the spatial sizes (or the steps) but keep the channels
KEEPS_CHANNELS = (
    frozenset(
        [
            f"{kind}{d}"
            for kind in (
                "max_pooling",
                "average_pooling",
                "global_max_pooling",
                "global_average_pooling",
                "zero_padding",
                "cropping",
                "spatial_dropout",
                "up_sampling",
            )
            for d in ("1d", "2d", "3d")
        ]
        + ["class_token"]  # one step more, the same features
    )
    | KEEPS_SHAPE
)


def channels(layer_type: LayerType, args: dict, inputs: list) -> int | None:
    """A layer's output channels from its arguments and its inputs' channels (None where
    unknown), or None where those do not tell (a flatten, a reshape, a backbone)."""
    first = inputs[0] if inputs else None
    if layer_type.width:
        value = args.get(layer_type.width)
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if layer_type.vocabulary:  # an embedding: a vector of output_dim (embedding_dim) per token
        value = args.get("output_dim", args.get("embedding_dim"))
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if layer_type.widens:  # maxout: one output per `pieces` inputs
        pieces = args.get(layer_type.widens, layer_type.args[layer_type.widens]["default"])
        return first // pieces if isinstance(first, int) and isinstance(pieces, int) and pieces else None
    if layer_type.name == "concatenate":
        joined = args.get("axis", -1) == -1 and inputs and all(isinstance(c, int) for c in inputs)
        return sum(inputs) if joined else None
    if layer_type.name.startswith("depthwise_conv"):
        multiplier = args.get("depth_multiplier", 1)
        return first * multiplier if isinstance(first, int) and isinstance(multiplier, int) else None
    if (layer_type.kind in ("merge", "activation") and layer_type.name != "dot") or layer_type.name in KEEPS_CHANNELS:
        return first
    return None


# keras.layers classes a spec does not name, and why (`cli.py layers --excluded`);
# a test fails when Keras ships a class that is neither registered nor here.
EXCLUDED = {
    "Layer": "the base class of all layers, not a layer itself",
    "Wrapper": "the base class of wrappers (bidirectional, time_distributed, spectral_normalization are registered)",
    "InputLayer": "a spec's `input:` / `inputs:` makes the model's inputs",
    "Lambda": "runs Python code; specs are data (register a layer class from Python instead)",
    "TorchModuleWrapper": "wraps a PyTorch module: code, not data",
    "JaxLayer": "wraps a JAX function: code, not data",
    "FlaxLayer": "wraps a Flax module: code, not data",
    "TFSMLayer": "loads a TensorFlow SavedModel from a path at run time; use keras_application or keras_hub entries, "
    "or `weights:`",
    "Pipeline": "a list of layers: a spec's `layers:` (or a block) is that list",
    "MaxNumBoundingBoxes": "pads bounding-box annotations, which spec data does not carry",
    "RandomShear": "Keras 3.15 cannot reload it: its saved config holds x_factor [-f, f], which loading refuses "
    "(negative factor); a trained model would not load",
    "Equalization": "returns its input tensor itself outside training, so Keras cannot place it in a model "
    "(it would silently drop out); equalize in the data pipeline",
}
