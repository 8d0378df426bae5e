"""The shipped specs, found by name: `keras-builder build resnet50`. They are
`specs/` in a checkout and `builder/zoo/` in an installed package (the wheel
maps one onto the other), with their block libraries and the JSON Schema."""

from __future__ import annotations

import os
import re

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # builder/
FOLDERS = (os.path.join(_PACKAGE, "zoo"), os.path.join(os.path.dirname(_PACKAGE), "specs"))
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def folder() -> str | None:
    """Where the shipped specs are, or None."""
    return next((f for f in FOLDERS if os.path.isfile(os.path.join(f, "lenet5.yaml"))), None)


def names() -> list[str]:
    found = folder()
    return sorted(f[:-5] for f in os.listdir(found) if f.endswith(".yaml")) if found else []


def resolve(path: str) -> str:
    """`path` itself where it exists or is a path; the shipped spec's file
    where it is a shipped spec's name (`resnet50` or `resnet50.yaml`)."""
    if os.path.lexists(path) or not _NAME.fullmatch(path):
        return path
    found = folder()
    name = path if path.endswith((".yaml", ".yml")) else f"{path}.yaml"
    if found and os.path.isfile(os.path.join(found, name)):
        return os.path.join(found, name)
    return path
