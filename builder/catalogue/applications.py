"""keras.applications networks and KerasHub backbones as spec entries: their
names and arguments, read from the installed Keras (and KerasHub) into
signatures.json (no Keras import here), so `validate` checks them and nothing
is downloaded before `build`."""

from __future__ import annotations

import os

from ..errors import SpecError, suggest, unknown
from ..files import not_regular
from . import signatures

# The arguments the entry sets itself; the rest of an application's go in `arguments`.
SET_BY_THE_ENTRY = ("input_shape", "input_tensor", "weights", "include_top", "pooling")


def names() -> dict:
    """Application name -> its keyword arguments."""
    return signatures.table()["applications"]


def check_name(model: str) -> None:
    if model not in names():
        raise unknown("Keras application", model, names())


def local_path(type_name: str, args: dict) -> str | None:
    """The argument of a `keras_application` or `keras_hub` entry that names a
    local file or folder (weights other than 'imagenet'; a preset written as a
    path), where it has one: a spec file's own are read from its folder."""
    arg = {"keras_application": "weights", "keras_hub": "preset"}.get(type_name)
    value = args.get(arg) if arg and isinstance(args, dict) else None
    if not isinstance(value, str) or value.startswith("$"):
        return None
    if arg == "weights":
        return arg if value != "imagenet" else None
    return arg if "://" not in value and ("/" in value or value.startswith(".")) else None


def without_weights(type_name: str, args: dict) -> dict:
    """The arguments of a pretrained entry made without its pretrained weights
    (random ones): its shapes and counts are the same, and nothing is read or
    downloaded (a KerasHub preset's config may still be)."""
    if type_name == "keras_application":
        return {**args, "weights": None}
    if type_name == "keras_hub":
        return {**args, "load_weights": False}
    return args


def check(args: dict) -> None:
    """A local weights file exists and is a regular file; `arguments` are the named application's own."""
    weights = args.get("weights")
    if isinstance(weights, str) and local_path("keras_application", args):
        special = not_regular(weights)
        if special or not os.path.exists(weights):
            found = f"{weights!r} is {special}" if special else f"no such file: {weights!r}"
            raise SpecError(
                f"{found}; expected 'imagenet', null or a local .h5 or .weights.h5 file (a path in a "
                "spec file is read from that file's folder)",
                path=("weights",),
            )
    known = [a for a in names().get(args.get("model"), {}) if a not in SET_BY_THE_ENTRY]
    for key in args.get("arguments") or {}:
        if key not in known:
            raise SpecError(
                f"unknown argument '{key}' for {args['model']}.{suggest(key, known)} "
                f"It takes: {', '.join(sorted(known))}.",
                path=("arguments", key),
            )


def hub_presets() -> list:
    """The KerasHub backbone presets known when signatures.json was made (empty without keras_hub)."""
    return signatures.table().get("hub_presets", [])


def check_preset_name(preset: str) -> None:
    """A known preset name, a kaggle:// or hf:// handle, or a local preset folder (a path)."""
    if "://" in preset or "/" in preset or preset.startswith(".") or "\\" in preset:
        return
    if preset not in hub_presets():
        raise SpecError(
            f"unknown KerasHub preset '{preset}'.{suggest(preset, hub_presets())} A preset is a name "
            "KerasHub knows (python -c 'import keras_hub; print(list(keras_hub.models.Backbone.presets))'), "
            "a kaggle:// or hf:// handle, or a local folder (./my_preset)"
        )


def check_preset(args: dict) -> None:
    """A local preset folder exists and holds a preset (config.json), so a
    typo is found at `validate`, not after a download attempt."""
    preset = args.get("preset")
    if isinstance(preset, str) and local_path("keras_hub", args):
        if not os.path.isfile(os.path.join(preset, "config.json")):
            raise SpecError(f"'{preset}' is not a KerasHub preset folder (no config.json in it)", path=("preset",))
