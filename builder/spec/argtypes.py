"""The value types of layer arguments.

Each type is a pydantic annotation (for validation and the JSON Schema) and
the words an error message uses for it. `resolve` gives one argument of one
layer class its type, from what its Keras signature says (the default's type,
or the type words of its docstring) refined by the conventional meaning of
its name (`filters` is a positive integer); an argument with nothing to go
by takes any plain YAML value and is checked by Keras when the layer is built.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, Field, JsonValue, StrictBool, StrictFloat, StrictInt, StrictStr

from ..catalogue import applications, signatures
from ..errors import SpecError, describe, unknown
from .validation import spec_check

SIZE_LIMIT = 2**31 - 1
PositiveInt = Annotated[StrictInt, Field(gt=0, le=SIZE_LIMIT)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0, le=SIZE_LIMIT)]
Number = Union[StrictInt, StrictFloat]
Sizes = Union[PositiveInt, Annotated[list[PositiveInt], Field(min_length=1, max_length=3)]]
Name = Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-/]*$", max_length=200)]
KerasObject = Union[StrictStr, Annotated[dict[StrictStr, JsonValue], Field(min_length=1, max_length=1)], None]


@spec_check
def _an_application(name: str) -> str:
    applications.check_name(name)
    return name


@spec_check
def _a_preset(preset: str) -> str:
    applications.check_preset_name(preset)
    return preset


def _keras_object(kind: str):
    """A check that an initializer's, regularizer's or constraint's name (alone,
    or the key of {name: {arguments}}) is one Keras resolves (signatures.json),
    so `kernel_regularizer: he_normal` is found at `validate`, not at build."""

    @spec_check
    def check(value):
        known = signatures.table().get("keras_objects", {}).get(f"{kind}s")
        name = value if isinstance(value, str) else next(iter(value)) if isinstance(value, dict) else None
        if known and name is not None and name not in known:
            raise unknown(kind, name, [k for k in known if k == signatures.snake_case(k)])
        return value

    return check


def _keras_object_type(kind: str):
    return Annotated[KerasObject, AfterValidator(_keras_object(kind))]


# type key -> (annotation, what the message says was expected)
ROTARY = ("max_wavelength", "scaling_factor")  # `rotary: {max_wavelength: 10000, scaling_factor: 1.0}`


@spec_check
def _rotary(value: dict) -> dict:
    """Rotary positions' settings: known keys, positive numbers."""
    for key, setting in value.items():
        if key not in ROTARY:
            raise unknown("rotary setting", key, ROTARY).at(key)
        if isinstance(setting, bool) or not isinstance(setting, (int, float)) or setting <= 0:
            raise SpecError(f"expected a positive number, got {describe(setting)}", path=(key,))
    return value


TYPES: dict[str, tuple] = {
    "positive_int": (PositiveInt, "a positive integer"),
    "optional_positive_int": (Union[PositiveInt, None], "a positive integer or null"),
    "sizes": (Sizes, "a positive integer or a list of 1 to 3 positive integers"),
    "optional_sizes": (Union[Sizes, None], "a positive integer, a list of 1 to 3 positive integers, or null"),
    "padding_mode": (Literal["valid", "same", "causal"], "one of 'valid', 'same', 'causal'"),
    "padding_amount": (
        Union[NonNegativeInt, list[NonNegativeInt | list[NonNegativeInt]]],
        "a non-negative integer or a list of them (per axis, or [before, after] pairs)",
    ),
    "rate": (Annotated[Number, Field(ge=0, lt=1)], "a number from 0 up to (not including) 1"),
    "number": (Number, "a number"),
    "positive_number": (Annotated[Number, Field(gt=0)], "a positive number"),
    "bool": (StrictBool, "true or false"),
    "axis": (Union[StrictInt, list[StrictInt]], "an axis index or a list of them"),
    "shape": (
        Annotated[list[Annotated[StrictInt, Field(ge=-1, le=SIZE_LIMIT)] | None], Field(max_length=8)],
        "a list of sizes (-1 or null for one inferred size)",
    ),
    "data_format": (
        Union[Literal["channels_last", "channels_first"], None],
        "'channels_last', 'channels_first' or null",
    ),
    "name": (Union[Name, None], "a name of letters, digits and _ . - /"),
    "dtype": (
        Union[
            Literal["float16", "bfloat16", "float32", "float64", "int32", "int64", "mixed_float16", "mixed_bfloat16"],
            None,
        ],
        "a dtype name such as 'float32'",
    ),
    "keras_object": (KerasObject, "a name such as 'he_normal', or a one-key mapping {name: {arguments}}"),
    "initializer": (
        _keras_object_type("initializer"),
        "an initializer name such as 'he_normal', or a one-key mapping {name: {arguments}}",
    ),
    "regularizer": (
        _keras_object_type("regularizer"),
        "a regularizer such as {l2: 0.0005}, a name, or a one-key mapping {name: {arguments}}",
    ),
    "constraint": (
        _keras_object_type("constraint"),
        "a constraint name such as 'max_norm', or a one-key mapping {name: {arguments}}",
    ),
    "activation": (Union[StrictStr, None], "an activation name"),
    "entry": (
        Union[StrictStr, Annotated[dict[StrictStr, JsonValue], Field(min_length=1, max_length=1)], None],
        "a layer entry such as {lstm: 64} or {gru: {units: 32}}",
    ),
    "merge_mode": (Union[Literal["concat", "sum", "mul", "ave"], None], "one of 'concat', 'sum', 'mul', 'ave' or null"),
    "int": (StrictInt, "an integer"),
    "application": (
        Annotated[StrictStr, AfterValidator(_an_application)],
        "the name of a keras.applications network, such as 'ResNet50'",
    ),
    "any": (Union[JsonValue, None], "a plain value"),
    # text_vectorization: the named behaviours only (Keras also takes callables, which a spec cannot hold)
    "text_standardize": (
        Union[Literal["lower_and_strip_punctuation", "lower", "strip_punctuation"], None],
        "one of 'lower_and_strip_punctuation', 'lower', 'strip_punctuation' or null",
    ),
    "text_split": (Union[Literal["whitespace", "character"], None], "one of 'whitespace', 'character' or null"),
    "text_output_mode": (
        Literal["int", "multi_hot", "count", "tf_idf"],
        "one of 'int', 'multi_hot', 'count', 'tf_idf'",
    ),
    "strings": (Union[list[StrictStr], None], "a list of strings (the vocabulary itself, not a file) or null"),
    "numbers": (Union[list[Number], None], "a list of numbers or null"),
    "string": (StrictStr, "a string"),
    "optional_string": (Union[StrictStr, None], "a string or null"),
    "value_range": (
        Annotated[list[Number], Field(min_length=2, max_length=2)],
        "a list [low, high] of the input's value range, such as [0, 255]",
    ),
    "factor": (
        Union[Number, Annotated[list[Number], Field(min_length=2, max_length=2)], None],
        "a number, a list [low, high] of two, or null",
    ),
    "numbers_or_number": (Union[Number, list[Number], None], "a number, a list of numbers, or null"),
    "output_shape": (
        Union[PositiveInt, Annotated[list[PositiveInt | None], Field(min_length=1, max_length=8)]],
        "a positive integer, or a list of them (null for a size that varies)",
    ),
    "entries": (
        Union[
            Annotated[
                list[StrictStr | Annotated[dict[StrictStr, JsonValue], Field(min_length=1, max_length=1)]],
                Field(min_length=1),
            ],
            None,
        ],
        "a list of entries such as [{lstm_cell: 8}, {gru_cell: 8}]",
    ),
    "mapping": (Union[dict[StrictStr, JsonValue], None], "a mapping of names to values, or null"),
    "rotary": (
        Union[Annotated[dict[StrictStr, JsonValue], AfterValidator(_rotary)], None],
        "a mapping of max_wavelength and scaling_factor (positive numbers), or null",
    ),
    "feed_forward": (Literal["dense", "swiglu", "geglu"], "one of 'dense', 'swiglu', 'geglu'"),
    "norm": (Literal["layer", "rms"], "one of 'layer', 'rms'"),
    "hub_preset": (
        Annotated[StrictStr, AfterValidator(_a_preset)],
        "a KerasHub preset name such as 'bert_tiny_en_uncased', a kaggle:// or hf:// handle, or a local preset folder",
    ),
}

BY_NAME: dict[str, str] = {
    "filters": "positive_int",
    "units": "positive_int",
    "groups": "positive_int",
    "depth_multiplier": "positive_int",
    "pieces": "positive_int",
    "size": "sizes",
    "kernel_size": "sizes",
    "strides": "optional_sizes",
    "pool_size": "sizes",
    "dilation_rate": "sizes",
    "padding": "padding_mode",
    "rate": "rate",
    "use_bias": "bool",
    "center": "bool",
    "scale": "bool",
    "keepdims": "bool",
    "trainable": "bool",
    "renorm": "bool",
    "synchronized": "bool",
    "epsilon": "positive_number",
    "init_values": "number",
    "window_size": "positive_int",
    "shift": "int",
    "num_buckets": "positive_int",
    "max_distance": "positive_int",
    "bidirectional": "bool",
    "momentum": "number",
    "alpha": "number",
    "beta": "number",
    "bias": "number",
    "negative_slope": "number",
    "max_value": "number",
    "threshold": "number",
    "axis": "axis",
    "target_shape": "shape",
    "shared_axes": "axis",
    "data_format": "data_format",
    "name": "name",
    "dtype": "dtype",
    "activation": "activation",
    "seed": "any",
    "lora_rank": "optional_positive_int",
    # sequences and attention
    "input_dim": "positive_int",
    "output_dim": "positive_int",
    "num_heads": "positive_int",
    "key_dim": "positive_int",
    "value_dim": "optional_positive_int",
    "intermediate_dim": "positive_int",
    "sequence_length": "positive_int",
    "height": "positive_int",
    "width": "positive_int",
    "vocabulary_size": "positive_int",
    "embedding_dim": "positive_int",
    "max_wavelength": "positive_number",
    "initializer": "initializer",
    "index": "int",
    "mask_value": "number",
    "dropout": "rate",
    "recurrent_dropout": "rate",
    "layer_norm_epsilon": "positive_number",
    "return_sequences": "bool",
    "return_state": "bool",
    "go_backwards": "bool",
    "stateful": "bool",
    "unroll": "bool",
    "mask_zero": "bool",
    "use_causal_mask": "bool",
    "normalize_first": "bool",
    "use_scale": "bool",
    "reset_after": "bool",
    "unit_forget_bias": "bool",
    "merge_mode": "merge_mode",
    "head_dim": "positive_int",
    "num_query_heads": "positive_int",
    "num_key_value_heads": "positive_int",
    "rotary": "rotary",
    "feed_forward": "feed_forward",
    "norm": "norm",
    "recurrent_activation": "activation",
    # preprocessing and augmentation
    "value_range": "value_range",
    "factor": "factor",
    "height_factor": "factor",
    "width_factor": "factor",
    "brightness_factor": "factor",
    "contrast_factor": "factor",
    "saturation_factor": "factor",
    "hue_factor": "factor",
    "interpolation": "string",
    "fill_mode": "string",
    "fill_value": "number",
    "output_mode": "string",
    "max_tokens": "optional_positive_int",
    "num_tokens": "optional_positive_int",
    "num_bins": "optional_positive_int",
    "frame_step": "optional_positive_int",
    "fft_length": "optional_positive_int",
    "mean": "numbers_or_number",
    "variance": "numbers_or_number",
}
for _prefix in (
    "kernel",
    "bias",
    "depthwise",
    "pointwise",
    "beta",
    "gamma",
    "alpha",
    "moving_mean",
    "moving_variance",
    "activity",
    "embeddings",
    "recurrent",
):
    for _suffix in ("initializer", "regularizer", "constraint"):
        BY_NAME[f"{_prefix}_{_suffix}"] = _suffix


# The plain YAML kinds of value each type accepts, to tell whether a name's
# conventional type fits what a signature says (BatchNormalization's `scale`
# is a bool, Rescaling's a float).
_ACCEPTS: dict[str, set] = {
    "positive_int": {int},
    "optional_positive_int": {int, None},
    "sizes": {int, list},
    "optional_sizes": {int, list, None},
    "padding_mode": {str},
    "padding_amount": {int, list},
    "rate": {int, float},
    "number": {int, float},
    "positive_number": {int, float},
    "bool": {bool},
    "axis": {int, list},
    "shape": {list},
    "data_format": {str, None},
    "name": {str, None},
    "dtype": {str, None},
    "keras_object": {str, dict, None},
    "initializer": {str, dict, None},
    "regularizer": {str, dict, None},
    "constraint": {str, dict, None},
    "activation": {str, None},
    "entry": {str, dict, None},
    "merge_mode": {str, None},
    "int": {int},
    "application": {str},
    "any": {bool, int, float, str, list, dict, None},
    "text_standardize": {str, None},
    "text_split": {str, None},
    "text_output_mode": {str},
    "strings": {list, None},
    "numbers": {list, None},
    "string": {str},
    "optional_string": {str, None},
    "mapping": {dict, None},
    "rotary": {dict, None},
    "feed_forward": {str},
    "norm": {str},
    "hub_preset": {str},
    "entries": {list, None},
    "output_shape": {int, list},
    "value_range": {list},
    "factor": {int, float, list, None},
    "numbers_or_number": {int, float, list, None},
}
# What a kind of value alone says the type is, where the name says nothing.
_BY_KIND = {bool: "bool", int: "int", float: "number"}
_DOC_WORDS = (
    (r"\bbool(ean)?\b", bool),
    (r"\bfloats?\b", float),
    (r"\bint(eger)?s?\b", int),
    (r"\bstr(ing)?\b", str),
    (r"\b(tuple|list)\b", list),
)


# The kinds of a training object's arguments (optimizers, schedules, callbacks)
# whose docstrings name no type: by the name's meaning across Keras's callbacks.
TRAINING_KINDS = {
    "patience": "int",
    "cooldown": "int",
    "start_from_epoch": "int",
    "verbose": "int",
    "min_delta": "number",
    "baseline": "number",
    "factor": "number",
    "min_lr": "number",
    "monitor": "string",
    "mode": "string",
    "restore_best_weights": "bool",
}
_KIND_KEYS = {bool: "bool", float: "number", int: "int", str: "string"}


def kind_of(arg: str, info: dict) -> str | None:
    """The TYPES key of a training object's argument (`info`: its signature
    entry, with `doc`), from the type words its Keras docstring gives it ('a
    float', 'integer', 'boolean'; tools/regenerate.py stores it in
    signatures.json), else its name's kind — kept only where it accepts the
    default (save_freq: 'epoch' or an int); None: unchecked here (Keras checks
    it). `learning_rate` and a scheduler's `schedule` also take a schedule:
    the training section checks them."""
    if arg in ("learning_rate", "schedule"):
        return None
    words = {kind for pattern, kind in _DOC_WORDS if re.search(pattern, info.get("doc", "").lower())}
    if words == {int, float}:
        kind: str | None = "number"
    elif len(words) == 1 and next(iter(words)) in _KIND_KEYS:
        kind = _KIND_KEYS[next(iter(words))]
    else:
        kind = TRAINING_KINDS.get(arg)
    default = info.get("default")
    if kind is not None and default is not None and type(default) not in _ACCEPTS[kind]:
        return None  # the docstring's words say less than the argument takes
    return kind


def arg_type(layer_type, arg: str) -> str:
    """The TYPES key of argument `arg` of `layer_type`: the one the registry
    names for it, else the one its signature and its name resolve to, else any."""
    return _type_keys(layer_type).get(arg, "any")


@functools.cache
def _type_keys(layer_type) -> dict:
    explicit = dict(layer_type.arg_types)
    return {arg: explicit.get(arg) or resolve(arg, info) for arg, info in layer_type.args.items()}


def resolve(arg: str, info: dict) -> str:
    """The type key of argument `arg`, whose signature entry is `info`
    ({'default': v} or {'required': True}, and 'doc': its docstring's type
    words, which speak for a required argument, having no default to go by)."""
    evidence = _evidence(info)
    named = None if info.get("annotation") else BY_NAME.get(arg)  # a type hint speaks for itself
    if named is not None and (not evidence or evidence & _ACCEPTS[named]):
        return named
    if len(evidence) == 1:
        return _BY_KIND.get(next(iter(evidence)), "any")
    return "any"


def _evidence(info: dict) -> set:
    """The kinds of value a signature entry says an argument takes: its type
    hint where it has one (plug-ins), else its default, else its docstring."""
    if info.get("annotation"):
        hint = re.sub(r"\b(None|Optional)\b", "", info["annotation"])
        return {kind for pattern, kind in _DOC_WORDS if re.search(pattern, hint)}
    if not info.get("required"):
        default = info.get("default")  # None says nothing: any optional argument may be null
        return set() if default is None else {list if isinstance(default, list) else type(default)}
    words = info.get("doc", "")
    return {kind for pattern, kind in _DOC_WORDS if re.search(pattern, words)}
