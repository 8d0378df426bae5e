"""Output shapes from arguments alone, without Keras: what `$in_shape` and
`$inputs[K].shape` read in expressions (a NASNet cell adjusts its second input
by its size; Swin's patch merging reshapes by it). A shape is a tuple, the
batch axis first (None) as Keras writes it, None where a size varies; a layer
this module does not know gives None (not known before building), and so does
everything after it."""

from __future__ import annotations

import math

from . import registry


def _sizes(value, rank: int) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank


def _pairs(value, rank: int) -> tuple:
    """Padding or cropping as ((before, after), ...) per spatial axis."""
    if isinstance(value, int):
        return ((value, value),) * rank
    return tuple((v, v) if isinstance(v, int) else tuple(v) for v in value)


def _strided(size, kernel, stride, padding, dilation=1):
    """Keras's output length of a convolution or pooling along one axis."""
    if size is None:
        return None
    if padding == "valid":
        return (size - dilation * (kernel - 1) - 1) // stride + 1
    return (size - 1) // stride + 1  # same, causal


def _rank(name: str) -> int:
    return int(name.removesuffix("_transpose")[-2])  # conv2d -> 2, depthwise_conv1d -> 1


def _spatial(name: str, args: dict, first: tuple):
    """Convolutions, pooling, padding, cropping and up-sampling: the spatial sizes change."""
    rank = _rank(name)
    spatial, channels = first[1:-1], first[-1]
    if len(spatial) != rank:
        return None
    if name.startswith("zero_padding") or name.startswith("cropping"):
        sign = 1 if name.startswith("zero_padding") else -1
        amounts = _pairs(args.get("padding" if sign == 1 else "cropping", 1 if sign == 1 else 0), rank)
        sizes = tuple(None if n is None else n + sign * (a + b) for n, (a, b) in zip(spatial, amounts))
        return (None, *sizes, channels)
    if name.startswith("up_sampling"):
        factors = _sizes(args.get("size", 2), rank)
        return (None, *(None if n is None else n * f for n, f in zip(spatial, factors)), channels)
    if "pooling" in name:
        pool = _sizes(args.get("pool_size", 2), rank)
        strides = _sizes(args.get("strides") or pool, rank)
        sizes = tuple(_strided(n, k, s, args.get("padding", "valid")) for n, k, s in zip(spatial, pool, strides))
        return (None, *sizes, channels)
    kernel = _sizes(args.get("kernel_size", 1), rank)
    strides = _sizes(args.get("strides", 1), rank)
    dilation = _sizes(args.get("dilation_rate", 1), rank)
    if name.endswith("_transpose"):
        if args.get("output_padding") is not None:
            return None
        sizes = tuple(
            None if n is None else n * s + (max(k - s, 0) if args.get("padding", "valid") == "valid" else 0)
            for n, k, s in zip(spatial, kernel, strides)
        )
    else:
        sizes = tuple(
            _strided(n, k, s, args.get("padding", "valid"), d) for n, k, s, d in zip(spatial, kernel, strides, dilation)
        )
    return (None, *sizes, None)  # the channels: registry.channels knows them


def _reshaped(target, first: tuple):
    target = tuple(target)
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        total = math.prod(first[1:]) if None not in first[1:] else None
        target = tuple((total // known if total is not None and known else None) if d == -1 else d for d in target)
    return (None, *target)


def _merges_directions(layer_type) -> bool:
    """A wrapper that runs its recurrent layer both ways and merges them (bidirectional)."""
    return layer_type.kind == "wrapper" and "merge_mode" in layer_type.args


def _recurrent(layer_type, args: dict, first: tuple):
    """A recurrent layer's (or a bidirectional one's) first output: every step's, or the last step's."""
    inner = args
    if _merges_directions(layer_type):
        ((_, inner),) = args["layer"].items()
    units = inner.get("units") if isinstance(inner, dict) else None
    if not isinstance(units, int) or isinstance(units, bool) or len(first) != 3 or "return_sequences" not in inner:
        return None  # unwritten, return_sequences is decided after the entries are read (by what follows)
    if _merges_directions(layer_type) and args.get("merge_mode", "concat") == "concat":
        units *= 2
    return (None, first[1], units) if inner.get("return_sequences") else (None, units)


def output_shape(layer_type, args: dict, inputs: list, channels) -> tuple | None:
    """The layer's output shape (batch first) from its arguments and its inputs' shapes (None where
    unknown); `channels` is what registry.channels found for its last axis."""
    first = inputs[0] if inputs else None
    name = layer_type.name
    if first is None or args.get("data_format") == "channels_first":
        return None
    if name.startswith(
        (
            "conv",
            "depthwise_conv",
            "separable_conv",
            "max_pooling",
            "average_pooling",
            "zero_padding",
            "cropping",
            "up_sampling",
        )
    ) and not name.startswith("conv_lstm"):
        shape = _spatial(name, args, first)
        return None if shape is None else (*shape[:-1], channels)
    if name in ("resizing", "center_crop", "random_crop") and len(first) == 4:
        return (None, args.get("height"), args.get("width"), first[-1])
    if name.startswith("random_") or name in ("rand_augment", "aug_mix", "mix_up", "cut_mix", "solarization"):
        return first  # augmentation keeps the shape
    if name.startswith("global_"):
        return (None, *([1] * (len(first) - 2)), first[-1]) if args.get("keepdims") else (None, first[-1])
    if name == "flatten":
        return (None, math.prod(first[1:]) if None not in first[1:] else None)
    if name == "reshape" and isinstance(args.get("target_shape"), (list, tuple)):
        return _reshaped(args["target_shape"], first)
    if name == "permute" and isinstance(args.get("dims"), (list, tuple)):
        return (None, *(first[d] for d in args["dims"]))
    if layer_type.kind == "recurrent" or (_merges_directions(layer_type) and isinstance(args.get("layer"), dict)):
        return _recurrent(layer_type, args, first)
    if name in ("dense", "embedding", "reversible_embedding") or layer_type.vocabulary:
        return (*first[: -1 if name == "dense" else len(first)], channels)
    if layer_type.kind in ("merge", "activation") or name in registry.KEEPS_SHAPE:
        return (*first[:-1], channels if channels is not None else first[-1])
    return None
