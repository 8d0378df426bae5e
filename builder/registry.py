"""The layer registry: every layer type a spec can name, and nothing else.

It drives the validator, the builder, `cli.py layers`, the docs and the
parametrized tests. Argument names and defaults are not written here: they
come from the Keras classes' own signatures, read once into
`keras_signatures.json` (regenerate with `python -m builder.signatures`; a
test fails when it drifts from the installed Keras). Importing this module
does not import Keras.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import os

from .errors import unknown

SIGNATURES_FILE = os.path.join(os.path.dirname(__file__), "keras_signatures.json")

# Arguments every Keras layer takes through **kwargs.
BASE_ARGS = {"name": {"default": None}, "dtype": {"default": None}, "trainable": {"default": True}}


@dataclasses.dataclass(frozen=True, eq=False)     # hashed by identity: schema caches per type
class LayerType:
    name: str                       # what a spec writes: 'conv2d'
    module: str                     # where the class lives: 'keras.layers'
    cls_name: str                   # 'Conv2D'
    short: str | None = None        # the argument a scalar sets: `- dense: 120`
    kind: str = "layer"             # how it is called; see KINDS
    width: str | None = None        # 'units'/'filters': what `activation: maxout` multiplies
    no_defaults: frozenset = frozenset()   # arguments `defaults:` never fills here
    arg_types: tuple = ()           # (arg, type key) pairs that differ from argtypes.BY_NAME
    signature: dict | None = None   # plug-ins: read at registration; built-ins: from the JSON file
    plugin_class: type | None = None  # plug-ins: the class itself (it may live in no importable module)

    @property
    def args(self) -> dict:
        """Argument name -> {'default': ...} or {'required': True}: the
        constructor's arguments, then the call's options (use_causal_mask, ...)."""
        return {**self._entry["args"], **BASE_ARGS, **self.call_options}

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
        return _signatures()["layers"][self.qualname]

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

KINDS = {
    "layer": "one input; more inputs fill the call's further tensor arguments in order",
    "merge": "a list of two or more inputs",
    "attention": "a list [query, value] or [query, value, key]; one input attends to itself",
    "recurrent": "a sequence; further inputs are the initial state",
    "wrapper": "wraps the layer entry in its `layer` argument",
    "activation": "one input, an activation function or layer",
}


def add(layer_type: LayerType) -> LayerType:
    if layer_type.name in LAYERS:
        raise ValueError(f"layer type '{layer_type.name}' is already registered "
                         f"(as {LAYERS[layer_type.name].qualname})")
    LAYERS[layer_type.name] = layer_type
    return layer_type


def get(name: str) -> LayerType:
    try:
        return LAYERS[name]
    except KeyError:
        raise unknown("layer type", name, list(LAYERS) + activation_names()) from None


@functools.cache
def _signatures() -> dict:
    with open(SIGNATURES_FILE, encoding="utf-8") as handle:
        return json.load(handle)


def activation_names() -> list[str]:
    """Every function of keras.activations, by name (from the checked-in JSON)."""
    return _signatures()["activations"]


def register_layer(cls, name: str | None = None, short: str | None = None,
                   width: str | None = None, kind: str = "layer"):
    """Make a Keras layer class usable in specs as `name` (default: its class
    name in snake_case). Its arguments are read from its `__init__`. The class
    is also registered for Keras serialization, so saved models reload."""
    import keras

    from .signatures import read_signature, snake_case

    name = name or snake_case(cls.__name__)
    package = "builder_plugins"
    keras.saving.register_keras_serializable(package=package)(cls)
    signature = read_signature(cls)
    for arg in (short, width):
        if arg is not None and arg not in signature["args"]:
            raise ValueError(f"{cls.__name__} has no argument '{arg}'")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return add(LayerType(name=name, module=cls.__module__, cls_name=cls.__name__, short=short,
                         kind=kind, width=width, signature=signature, plugin_class=cls))


def _builtin(name, cls_name, module="keras.layers", **options):
    add(LayerType(name=name, module=module, cls_name=cls_name, **options))


# --- the built-in types -------------------------------------------------------------

for _d in ("1d", "2d", "3d"):
    D = _d.upper()
    _builtin(f"conv{_d}", f"Conv{D}", short="filters", width="filters")
    _builtin(f"conv{_d}_transpose", f"Conv{D}Transpose", short="filters", width="filters")
    _builtin(f"max_pooling{_d}", f"MaxPooling{D}", short="pool_size")
    _builtin(f"average_pooling{_d}", f"AveragePooling{D}", short="pool_size")
    _builtin(f"global_max_pooling{_d}", f"GlobalMaxPooling{D}")
    _builtin(f"global_average_pooling{_d}", f"GlobalAveragePooling{D}")
    _builtin(f"zero_padding{_d}", f"ZeroPadding{D}", short="padding", no_defaults=frozenset({"padding"}),
             arg_types=(("padding", "padding_amount"),))
    _builtin(f"spatial_dropout{_d}", f"SpatialDropout{D}", short="rate")
    _builtin(f"up_sampling{_d}", f"UpSampling{D}", short="size")
for _d in ("1d", "2d"):
    D = _d.upper()
    _builtin(f"depthwise_conv{_d}", f"DepthwiseConv{D}", short="kernel_size")
    _builtin(f"separable_conv{_d}", f"SeparableConv{D}", short="filters", width="filters")

_builtin("dense", "Dense", short="units", width="units")
_builtin("dropout", "Dropout", short="rate")
_builtin("flatten", "Flatten")
_builtin("reshape", "Reshape", short="target_shape")
_builtin("batch_normalization", "BatchNormalization")
_builtin("layer_normalization", "LayerNormalization")

_builtin("activation", "Activation", short="activation", kind="activation",
         no_defaults=frozenset({"activation"}))
_builtin("relu", "ReLU", kind="activation")
_builtin("leaky_relu", "LeakyReLU", short="negative_slope", kind="activation")
_builtin("prelu", "PReLU", kind="activation")
_builtin("elu", "ELU", short="alpha", kind="activation")
_builtin("softmax", "Softmax", short="axis", kind="activation")
_builtin("maxout", "Maxout", module="builder.layers", short="pieces", kind="activation")
_builtin("lrn", "LocalResponseNormalization", module="builder.layers", short="size")

# Sequences
_builtin("embedding", "Embedding")
_builtin("masking", "Masking", short="mask_value")
_RECURRENT = dict(short="units", kind="recurrent", no_defaults=frozenset({"activation", "recurrent_activation"}))
_builtin("simple_rnn", "SimpleRNN", **_RECURRENT)
_builtin("lstm", "LSTM", **_RECURRENT)
_builtin("gru", "GRU", **_RECURRENT)
_builtin("bidirectional", "Bidirectional", short="layer", kind="wrapper",
         arg_types=(("layer", "entry"), ("backward_layer", "entry")))
_builtin("time_distributed", "TimeDistributed", short="layer", kind="wrapper", arg_types=(("layer", "entry"),))
_builtin("select_step", "SelectStep", module="builder.layers", short="index")

# Attention and transformers
_builtin("multi_head_attention", "MultiHeadAttention")
_builtin("attention", "Attention", kind="attention")
_builtin("additive_attention", "AdditiveAttention", kind="attention")
_builtin("position_embedding", "PositionEmbedding", module="builder.layers", short="sequence_length")
_builtin("sine_position_encoding", "SinePositionEncoding", module="builder.layers")
_builtin("token_and_position_embedding", "TokenAndPositionEmbedding", module="builder.layers")
_builtin("transformer_encoder", "TransformerEncoder", module="builder.layers")

for _merge in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
    _builtin(_merge.lower(), _merge, kind="merge")
_builtin("concatenate", "Concatenate", short="axis", kind="merge")

# Activations with weights or parameters are layers of their own: `activation:
# prelu` on a conv becomes the conv followed by a PReLU layer.
LAYER_ACTIVATIONS = ("leaky_relu", "prelu", "maxout")
# Activation functions builder adds to keras.activations' (builder/layers.py).
EXTRA_ACTIVATIONS = ("gelu_approximate",)

