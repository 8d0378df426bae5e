"""One entry of a spec's (or a block's) layers, read before it is made: its
type and arguments (`parse_entry`), the settings that say how often and
whether it is made (`repeat`, `when`, `numbering`, `vary`), and the record
that carries it from the entry to the layer or block made of it (`Entry`)."""

from __future__ import annotations

import dataclasses

from ..catalogue import registry
from ..errors import SpecError, at, describe, unknown
from .language import NUMBERINGS, RESERVED, SHARE

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


@dataclasses.dataclass(frozen=True)
class Numbering:
    """How an entry's repetitions are named (`numbering:`, or `defaults: {numbering: ...}`)."""

    style: str = "numbers"  # numbers (conv2_block1) or letters (block2a)
    start: int = 1  # the first number: 1 as in the papers and Keras's ResNet, 0 as in KerasHub and ConvNeXt
    always: bool = False  # number an entry whose `repeat` is written even when it comes to 1
    carry: bool = False  # `continue: true`: an entry of the same name goes on counting where the last stopped

    def name(self, name, k: int, repeat: int, written: bool):
        """Repetition `k` (counted from 0 across the entries it continues) of an entry named `name`:
        NAME1, NAME2, ... (one alone: NAME, unless `always`), or NAMEa, NAMEb, ...(Keras's EfficientNet)."""
        if name is None or (repeat == 1 and self.style == "numbers" and not (self.always and written)):
            return name
        return f"{name}{k + self.start if self.style == 'numbers' else chr(ord('a') + k)}"


NUMBERING_KEYS = {
    "style": "numbers or letters",
    "start": "0 or 1",
    "always": "true or false",
    "continue": "true or false",
}


def parse_numbering(value, base: Numbering = Numbering()) -> Numbering:
    """`numbering: letters` or `numbering: {start: 0, always: true, continue: true}` -> `base`
    (the spec's default numbering) with what the value sets."""
    if isinstance(value, str) and value in NUMBERINGS:
        return dataclasses.replace(base, style=value)
    if not isinstance(value, dict):
        raise SpecError(
            f"expected {' or '.join(NUMBERINGS)}, or a mapping of {', '.join(NUMBERING_KEYS)}, got {describe(value)}"
        )
    for key, setting in value.items():
        with at(key):
            if key not in NUMBERING_KEYS:
                raise unknown("numbering setting", key, NUMBERING_KEYS)
            valid = {
                "style": setting in NUMBERINGS,
                "start": setting in (0, 1) and not isinstance(setting, bool),
            }.get(key, isinstance(setting, bool))
            if not valid:
                raise SpecError(f"expected {NUMBERING_KEYS[key]}, got {describe(setting)}")
    fields = {"carry" if key == "continue" else key: setting for key, setting in value.items()}
    return dataclasses.replace(base, **fields)


def check_settings(when, repeat, numbering: Numbering, first: int = 0):
    """An entry's `when`, `repeat` and `numbering`, once their expressions are evaluated
    (`first`: the repetitions its name has had before it, where it continues their count)."""
    with at("when"):
        if not isinstance(when, bool):
            raise SpecError(f"expected true or false (often a block parameter such as $shortcut), got {describe(when)}")
    with at("repeat"):
        if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= MAX_REPEAT:
            raise SpecError(f"expected a whole number of repetitions from 1 to {MAX_REPEAT}, got {describe(repeat)}")
    with at("numbering"):
        if numbering.style == "letters" and first + repeat > 26:
            raise SpecError(f"letters name at most 26 repetitions; this entry comes to {first + repeat}")


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
    known = [*registry.LAYERS, *registry.activation_names(), *blocks, SHARE]
    if type_name not in known:
        raise unknown("layer type", type_name, known).at(type_name)
    if args is None:
        return type_name, {}
    if type_name == SHARE and not isinstance(args, dict):
        return type_name, {"layer": args}  # `- share: encoder`
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


def vary_overrides(vary, repeat) -> tuple[dict, dict]:
    """`vary: {first: {...}, 3: {...}, last: {...}}` -> ({repetition number: overrides},
    {repetition number: {argument: the key it was written under}}) — `first` and `last` are
    numbers once read, but an error in an override points at the key it was written under."""
    with at("vary"):
        if not isinstance(vary, dict):
            raise SpecError(
                f"expected a mapping of repetitions (first, last or a number) to "
                f"argument overrides, got {describe(vary)}"
            )
        result: dict = {}
        written: dict = {}
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
            written[index] = {**written.get(index, {}), **dict.fromkeys(overrides, key)}
        return result, written
