"""`extends: base.yaml`: a spec built on another one.

The child's top-level keys replace the base's; `set:` then changes values
anywhere by dotted path, as `--set` does (`layers.8.bottleneck.repeat: 23`).
Errors in inherited parts point into the base file.
"""

from __future__ import annotations

import os

from . import loader
from .errors import SpecError, describe, in_source

MAX_DEPTH = 16


def resolve(source: loader.Source, stack=()) -> loader.Source:
    data = source.data
    if not isinstance(data, dict) or "extends" not in data:
        if isinstance(data, dict) and "set" in data:
            raise SpecError("'set' changes an extended spec; it needs 'extends: base.yaml' beside it",
                            path=("set",), file=source.file, line=source.position(("set",))[0])
        return source
    with in_source(source):
        here = os.path.abspath(source.file)
        stack = (*stack, here)
        relative = data["extends"]
        if not isinstance(relative, str) or not relative.endswith((".yaml", ".yml")) or "://" in relative \
                or os.path.isabs(relative):
            raise SpecError(f"expected a relative path to a .yaml spec, got {describe(relative)}", path=("extends",))
        path = os.path.normpath(os.path.join(os.path.dirname(here), relative))
        if path in stack:
            chain = " -> ".join(os.path.basename(p) for p in (*stack, path))
            raise SpecError(f"extends cycle: {chain}", path=("extends",))
        if len(stack) > MAX_DEPTH:
            raise SpecError(f"extends nests more than {MAX_DEPTH} files deep", path=("extends",))
        if not os.path.isfile(path):
            raise SpecError(f"cannot extend {relative!r}: no such file ({path})", path=("extends",))
        overrides = data.get("set", {})
        if not isinstance(overrides, dict):
            raise SpecError(f"expected a mapping of dotted paths to values, got {describe(overrides)}", path=("set",))
    shown = os.path.relpath(path)
    base = resolve(loader.load_file(path if shown.startswith("..") else shown), stack)
    merged = loader.Source(source.file, {}, {})
    for key, value in base.data.items():
        if key not in data:
            merged.data[key] = _rebase(key, value, base.file, source.file)
            merged.borrow(base, (key,))
    for key, value in data.items():
        if key not in ("extends", "set"):
            merged.data[key] = value
            merged.borrow(source, (key,))
    for key in overrides:
        merged.borrow(source, ("set", key), as_path=loader.parse_override_path(str(key)))
    with in_source(merged):
        loader.apply_overrides(merged, overrides)
    return merged


def _rebase(key, value, base_file, child_file):
    """Inherited `imports` stay relative to the base file's folder."""
    if key != "imports" or not isinstance(value, list):
        return value
    base_dir, child_dir = os.path.dirname(os.path.abspath(base_file)), os.path.dirname(os.path.abspath(child_file))
    return [os.path.relpath(os.path.join(base_dir, p), child_dir) if isinstance(p, str) else p for p in value]
