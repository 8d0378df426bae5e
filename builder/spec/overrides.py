"""Overrides: `--set PATH=VALUE` on the command line, `set:` in an extending
spec, `overrides=` in Python. One parser for all three: a value given as text
is read as YAML (`--set` and `overrides=` alike), any other value is used as
it is."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from ..errors import SpecError, describe, format_path
from .reader import Source, load_text

_PATH_PART = re.compile(r"[^.\[\]]+|\[\d+\]")


def parse_override_path(text: str) -> tuple:
    """'layers.3.conv2d.filters' or 'layers[3].conv2d.filters' -> ('layers', 3, 'conv2d', 'filters')."""
    if not text or text.startswith(".") or text.endswith(".") or ".." in text:
        raise SpecError(f"cannot read the override path {text!r}: a segment is empty; write it as a.b.0.c")
    parts = []
    for piece in _PATH_PART.findall(text):
        piece = piece.strip("[]")
        parts.append(int(piece) if piece.isdigit() else piece)
    if not parts or "".join(str(p) for p in parts) != re.sub(r"[.\[\]]", "", text):
        raise SpecError(f"cannot read the override path {text!r}; write it as a.b.0.c")
    return tuple(parts)


def parse_override_value(text: str):
    """An override's value as YAML would read it: '10' -> 10, 'none' -> 'none', '[1, 2]' -> [1, 2]."""
    try:
        return load_text(text, "<--set>").data
    except SpecError as err:
        if "empty" in err.message:
            return None
        raise SpecError(f"cannot read the value {text!r}: {err.message}") from None


@dataclasses.dataclass(frozen=True)
class Value:
    """An override's value used as it is, never read as YAML (a sweep's or a
    search's values, typed already)."""

    value: Any


def read_values(overrides: Mapping) -> dict:
    """`overrides` ({'dotted.path': value}) with each value given as text read as
    YAML, as `--set` reads it: '0.01' -> 0.01, '[1, 2]' -> [1, 2], 'relu' -> 'relu'.
    A chosen `scale` is a name, kept as text."""
    return {
        path: value.value
        if isinstance(value, Value)
        else parse_override_value(value)
        if isinstance(value, str) and path != "scale"
        else value
        for path, value in overrides.items()
    }


def split_assignment(item: str) -> tuple[str, str]:
    """'PATH=VALUE' -> ('PATH', 'VALUE'), the value still text."""
    path, sep, value = item.partition("=")
    if not sep or not path.strip():
        raise SpecError(f"--set takes PATH=VALUE, got {item!r}")
    return path.strip(), value


def assignments(items) -> dict:
    """['PATH=VALUE', ...] -> {'PATH': 'VALUE'}, the values still text (read_values reads them)."""
    return dict(map(split_assignment, items))


def apply_overrides(source: Source, overrides: dict) -> None:
    """Set each dotted path in `source.data`. A missing final key in a mapping is
    added; a path through something that isn't there is a SpecError."""
    for raw_path, value in (overrides or {}).items():
        path = parse_override_path(raw_path) if isinstance(raw_path, str) else tuple(raw_path)
        path = by_name(source.data, path)
        where = source.position(path)
        container = source.data
        for depth, key in enumerate(path[:-1]):
            if isinstance(container, dict) and key not in container and (depth == 0 or path[0] == "training"):
                container[key] = {}  # e.g. --set training.epochs=5 on a spec without training
            if (
                isinstance(container, dict)
                and isinstance(container.get(key), str)
                and container[key] == path[depth + 1]
            ):
                container[key] = {container[key]: {}}  # optimizer: adam -> {adam: {learning_rate: ...}}
            container = _step(container, key, path[: depth + 1], raw_path)
        last = path[-1]
        if isinstance(container, list):
            if not isinstance(last, int) or not -len(container) <= last < len(container):
                raise _bad_path(raw_path, path, f"index {last} is outside the list of {len(container)}")
            container[last] = value
        elif isinstance(container, dict):
            container[last] = value
        else:
            raise _bad_path(raw_path, path, f"{format_parent(path)} is {describe(container)}, not a mapping")
        source.positions[path] = where


def by_name(data, path) -> tuple:
    """Entries addressed by their `name`: `layers.f6.units` is layers[i].TYPE.units
    for the entry of `layers` named f6 (`layers.f6.dense.units` too)."""
    resolved, container = [], data
    for depth, key in enumerate(path):
        if isinstance(container, list) and isinstance(key, str):
            index = next((i for i, entry in enumerate(container) if entry_name(entry) == key), None)
            if index is not None:
                ((type_name, args),) = container[index].items()
                resolved += [index] + ([type_name] if path[depth + 1 : depth + 2] != (type_name,) else [])
                container = args
                continue
        resolved.append(key)
        if isinstance(container, dict):
            container = container.get(key)
        elif isinstance(container, list) and isinstance(key, int) and -len(container) <= key < len(container):
            container = container[key]
        else:
            container = None
    return tuple(resolved)


def entry_name(entry):
    if isinstance(entry, dict) and len(entry) == 1:
        args = next(iter(entry.values()))
        return args.get("name") if isinstance(args, dict) else None
    return None


def _step(container, key, path, raw_path):
    if isinstance(container, dict):
        if key not in container:
            known = ", ".join(map(str, container)) or "nothing"
            raise _bad_path(raw_path, path, f"there is no '{key}' here (it holds: {known})")
        return container[key]
    if isinstance(container, list):
        if not isinstance(key, int) or not -len(container) <= key < len(container):
            names = [n for n in map(entry_name, container) if n]
            named = f" or the name of an entry ({', '.join(names)})" if names else ""
            raise _bad_path(raw_path, path, f"'{key}' is not an index of a list of {len(container)}{named}")
        return container[key]
    raise _bad_path(raw_path, path, f"{format_parent(path)} is {describe(container)}, not a mapping or list")


def format_parent(path) -> str:
    return format_path(path[:-1]) or "the spec"


def _bad_path(raw_path, path, why) -> SpecError:
    return SpecError(f"cannot set {raw_path!r}: {why}", path=path[:-1])
