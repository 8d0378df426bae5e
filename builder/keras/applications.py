"""keras.applications networks as spec entries: their names and arguments,
read from the installed Keras into signatures.json (no Keras import here),
so `validate` checks them and nothing is downloaded before `build`."""

from __future__ import annotations

from ..errors import SpecError, suggest, unknown
from . import signatures

# The arguments the entry sets itself; the rest of an application's go in `arguments`.
SET_BY_THE_ENTRY = ("input_shape", "input_tensor", "weights", "include_top", "pooling")


def names() -> dict:
    """Application name -> its keyword arguments."""
    return signatures.table()["applications"]


def check_name(model: str) -> None:
    if model not in names():
        raise unknown("Keras application", model, names())


def check(args: dict) -> None:
    """`arguments` are the named application's own."""
    known = [a for a in names().get(args.get("model"), {}) if a not in SET_BY_THE_ENTRY]
    for key in args.get("arguments") or {}:
        if key not in known:
            raise SpecError(f"unknown argument '{key}' for {args['model']}.{suggest(key, known)} "
                            f"It takes: {', '.join(sorted(known))}.", path=("arguments", key))
