"""One entry of a spec's (or a block's) layers, read before it is made: its
type and arguments (`parse_entry`), the settings that say how often and
whether it is made (`repeat`, `when`, `numbering`, `vary`), and the record
that carries it from the entry to the layer or block made of it (`Entry`)."""

from __future__ import annotations

import dataclasses

from ..catalogue import registry
from ..errors import SpecError, at, describe, unknown
from .language import NUMBERINGS, RESERVED

MAX_REPEAT = 1000


@dataclasses.dataclass(frozen=True)
class Entry:
    """What travels together from an entry to the layer or block made of it."""

    type_name: str  # a layer type, an activation or a block
    args: dict  # its arguments, expressions not yet evaluated (per repetition)
    origins: dict  # argument -> (source, path) it was written at, where not in the entry itself
    name: str | None  # its `name:`, numbered per repetition
    sources: list  # the node (or input) names it takes
    keys: list | None  # call keywords when `inputs:` is a mapping, else None
    path: tuple  # the entry's path in its source


def check_settings(when, repeat, numbering):
    """An entry's `when`, `repeat` and `numbering`, once their expressions are evaluated."""
    with at("when"):
        if not isinstance(when, bool):
            raise SpecError(f"expected true or false (often a block parameter such as $shortcut), got {describe(when)}")
    with at("repeat"):
        if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= MAX_REPEAT:
            raise SpecError(f"expected a whole number of repetitions from 1 to {MAX_REPEAT}, got {describe(repeat)}")
    with at("numbering"):
        if numbering not in NUMBERINGS:
            raise SpecError(f"expected {' or '.join(NUMBERINGS)}, got {describe(numbering)}")
        if numbering == "letters" and repeat > 26:
            raise SpecError(f"letters name at most 26 repetitions; this entry has {repeat}")


def repetition_name(name, k: int, repeat: int, numbering: str):
    """Repetition `k` (from 1) of an entry named `name`: NAME1, NAME2, ... (one
    alone: NAME), or NAMEa, NAMEb, ... (Keras's EfficientNet)."""
    if name is None or (repeat == 1 and numbering == "numbers"):
        return name
    return f"{name}{k if numbering == 'numbers' else chr(ord('a') + k - 1)}"


def parse_entry(entry, blocks):
    """`- flatten`, `- dense: 120` or `- conv2d: {filters: 6, ...}` -> (type, args dict)."""
    if isinstance(entry, str):
        type_name, args = entry, None
    elif isinstance(entry, dict) and len(entry) == 1:
        type_name, args = next(iter(entry.items()))
        type_name = str(type_name)
    elif isinstance(entry, dict):
        keys = ", ".join(map(str, entry))
        raise SpecError(
            f"an entry is one `TYPE: ARGS` pair, got the keys {keys}; put name, inputs and the "
            "other arguments inside ARGS, e.g. `- conv2d: {filters: 8, kernel_size: 3, name: c1}`"
        )
    else:
        raise SpecError(f"expected an entry such as `- dense: 64` or `- flatten`, got {describe(entry)}")
    known = [*registry.LAYERS, *registry.activation_names(), *blocks]
    if type_name not in known:
        raise unknown("layer type", type_name, known).at(type_name)
    if args is None:
        return type_name, {}
    layer_type = registry.LAYERS.get(type_name)
    if isinstance(args, dict):
        if layer_type is not None and layer_type.wraps and len(args) == 1 and next(iter(args)) in known:
            return type_name, {layer_type.short: dict(args)}  # `- time_distributed: {dense: 8}`: the wrapped entry
        return type_name, dict(args)
    if layer_type is None or layer_type.short is None:
        raise SpecError(
            f"{type_name} has no short form; write its arguments as a mapping, "
            f"e.g. `- {type_name}: {{...}}`, got {describe(args)}"
        ).at(type_name)
    return type_name, {layer_type.short: args}


def vary_overrides(vary, repeat) -> dict:
    """`vary: {first: {...}, 3: {...}, last: {...}}` -> {repetition number: overrides}."""
    with at("vary"):
        if not isinstance(vary, dict):
            raise SpecError(
                f"expected a mapping of repetitions (first, last or a number) to "
                f"argument overrides, got {describe(vary)}"
            )
        result: dict = {}
        for key, overrides in vary.items():
            index = {"first": 1, "last": repeat}.get(key, key)
            with at(key):
                if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= repeat:
                    raise SpecError(f"expected first, last or a repetition from 1 to {repeat}, got {describe(key)}")
                if not isinstance(overrides, dict):
                    raise SpecError(f"expected argument overrides as a mapping, got {describe(overrides)}")
                if set(overrides) & set(RESERVED):
                    raise SpecError("vary changes arguments only, not name, inputs, repeat, vary or when")
            result[index] = {**result.get(index, {}), **overrides}
        return result
