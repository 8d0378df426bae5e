"""Output shapes from arguments alone, without Keras: what `$in_shape` and
`$inputs[K].shape` read in expressions (a NASNet cell adjusts its second input
by its size; Swin's patch merging reshapes by it). A shape is a tuple, the
batch axis first (None) as Keras writes it, None where a size varies; a layer
this module does not know gives None (not known before building), and so does
everything after it."""

from __future__ import annotations

import functools
import math


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


def _over_space(sizes_of):
    """A spatial layer's shape formula from `sizes_of(args, spatial sizes, rank, ...)` -> the new
    spatial sizes: the batch axis first, the layer's channels last, None for an input of another rank."""

    @functools.wraps(sizes_of)
    def formula(args: dict, first: tuple, channels, rank: int, **options):
        spatial = first[1:-1]
        if len(spatial) != rank:
            return None
        sizes = sizes_of(args, spatial, rank, **options)
        return None if sizes is None else (None, *sizes, channels)

    return formula


@_over_space
def convolved(args: dict, spatial: tuple, rank: int):
    """A convolution's (conv, depthwise, separable) output: strided spatial sizes."""
    kernel = _sizes(args.get("kernel_size", 1), rank)
    strides = _sizes(args.get("strides", 1), rank)
    dilation = _sizes(args.get("dilation_rate", 1), rank)
    padding = args.get("padding", "valid")
    return tuple(_strided(n, k, s, padding, d) for n, k, s, d in zip(spatial, kernel, strides, dilation))


@_over_space
def convolved_transpose(args: dict, spatial: tuple, rank: int):
    if args.get("output_padding") is not None:
        return None
    kernel = _sizes(args.get("kernel_size", 1), rank)
    strides = _sizes(args.get("strides", 1), rank)
    valid = args.get("padding", "valid") == "valid"
    return tuple(
        None if n is None else n * s + (max(k - s, 0) if valid else 0) for n, k, s in zip(spatial, kernel, strides)
    )


@_over_space
def pooled(args: dict, spatial: tuple, rank: int):
    pool = _sizes(args.get("pool_size", 2), rank)
    strides = _sizes(args.get("strides") or pool, rank)
    return tuple(_strided(n, k, s, args.get("padding", "valid")) for n, k, s in zip(spatial, pool, strides))


@_over_space
def padded(args: dict, spatial: tuple, rank: int, sign: int = 1):
    """Zero padding (`sign` 1) or cropping (-1): each spatial size grows or shrinks by its two amounts."""
    amounts = _pairs(args.get("padding", 1) if sign == 1 else args.get("cropping", 0), rank)
    return tuple(None if n is None else n + sign * (a + b) for n, (a, b) in zip(spatial, amounts))


@_over_space
def up_sampled(args: dict, spatial: tuple, rank: int):
    factors = _sizes(args.get("size", 2), rank)
    return tuple(None if n is None else n * f for n, f in zip(spatial, factors))


def resized(args: dict, first: tuple, channels):
    """Images resized or cropped to `height` x `width`."""
    return (None, args.get("height"), args.get("width"), first[-1]) if len(first) == 4 else None


def kept(args: dict, first: tuple, channels):
    """The input's shape, but for the channels the layer makes (where it makes its own)."""
    return (*first[:-1], channels if channels is not None else first[-1])


def global_pooled(args: dict, first: tuple, channels):
    return (None, *([1] * (len(first) - 2)), first[-1]) if args.get("keepdims") else (None, first[-1])


def flattened(args: dict, first: tuple, channels):
    return (None, math.prod(first[1:]) if None not in first[1:] else None)


def reshaped(args: dict, first: tuple, channels):
    target = args.get("target_shape")
    if not isinstance(target, (list, tuple)):
        return None
    target = tuple(target)
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        total = math.prod(first[1:]) if None not in first[1:] else None
        target = tuple((total // known if total is not None and known else None) if d == -1 else d for d in target)
    return (None, *target)


def permuted(args: dict, first: tuple, channels):
    dims = args.get("dims")
    return (None, *(first[d] for d in dims)) if isinstance(dims, (list, tuple)) else None


def last_axis(args: dict, first: tuple, channels):
    """A Dense layer's: the last axis becomes its units."""
    return (*first[:-1], channels)


def embedded(args: dict, first: tuple, channels):
    """An embedding's: one vector more per position."""
    return (*first, channels)


def recurrent(args: dict, first: tuple, channels, directions: int = 1):
    """A recurrent layer's first output: every step's, or the last step's."""
    units = args.get("units")
    if not isinstance(units, int) or isinstance(units, bool) or len(first) != 3 or "return_sequences" not in args:
        return None  # unwritten, return_sequences is decided after the entries are read (by what follows)
    units *= directions
    return (None, first[1], units) if args.get("return_sequences") else (None, units)


def bidirectional(args: dict, first: tuple, channels):
    """A recurrent layer run both ways, its two outputs concatenated (or merged to one width)."""
    layer = args.get("layer")
    if not isinstance(layer, dict) or len(layer) != 1:
        return None
    ((_, inner),) = layer.items()
    if not isinstance(inner, dict):
        return None
    return recurrent(inner, first, channels, 2 if args.get("merge_mode", "concat") == "concat" else 1)


def not_known(args: dict, first: tuple, channels):
    """Known only once built: the shape depends on more than the first input's (a dot product's)."""
    return None


# Where a type names no formula: what its kind tells
_BY_KIND = {"merge": kept, "activation": kept, "recurrent": recurrent}


def output_shape(layer_type, args: dict, inputs: list, channels) -> tuple | None:
    """The layer's output shape (batch first) from its arguments and its inputs' shapes (None where
    unknown), by its type's formula (registry: `shape`); `channels` is what registry.channels found
    for its last axis."""
    first = inputs[0] if inputs else None
    formula = layer_type.shape or (embedded if layer_type.vocabulary else _BY_KIND.get(layer_type.kind))
    if first is None or formula is None or args.get("data_format") == "channels_first":
        return None
    return formula(args, first, channels)
