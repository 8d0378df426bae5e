"""The files a spec brings in: `extends: base.yaml` (a spec built on another:
the child's top-level keys replace the base's, then `set:` changes values
anywhere by dotted path, as `--set` does) and `imports:` (block libraries).

One mechanism serves both: the same path rules (relative .yaml paths only),
the same cycle and depth checks, and each file read once per run however
often it is included. Errors in included parts point into their own files.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from ..catalogue import applications
from ..errors import SpecError, describe, in_source, suggest
from ..files import not_regular
from . import overrides, reader, shipped

MAX_DEPTH = 16
MAX_FILES = 200  # files one spec may bring in, however they are included
MAX_BYTES = 20 * 1024 * 1024  # and their bytes together
# key -> (what the messages call following it, what they call a loop of it)
_KEYS = {"extends": ("extend", "extends cycle", "extends nests"), "imports": ("import", "import cycle", "imports nest")}
_CHANGES = ("set", "remove", "insert")  # what an extending spec does to its base, besides replacing keys


class Includes:
    """The files one run reads: each loaded once, and each block library parsed once."""

    def __init__(self):
        self.sources: dict[str, reader.Source] = {}
        self.libraries: dict[str, dict] = {}
        self.ancestors: dict[str, tuple] = {}  # file -> the files that brought it in, outermost first
        self.bytes = 0  # read so far

    def load(self, path) -> reader.Source:
        """A spec file and whatever it extends, merged."""
        return self.extend(self._read(shipped.resolve(os.fspath(path))))

    def include(self, source: reader.Source, relative, key: str) -> reader.Source:
        """The file `relative` (the value of `key` in `source`), checked and read."""
        verb, cycle, nests = _KEYS[key]
        if not isinstance(relative, str) or not relative.endswith((".yaml", ".yml")):
            raise SpecError(f"expected a relative path to a .yaml file, got {describe(relative)}")
        if "://" in relative or os.path.isabs(relative):
            raise SpecError(f"{key} are relative file paths only, got {relative!r}")
        path = os.path.normpath(os.path.join(source.dir, relative))
        here = os.path.abspath(source.file)
        stack = (*self.ancestors.get(here, ()), here)
        if path in stack:
            chain = " -> ".join(os.path.basename(p) for p in (*stack, path))
            raise SpecError(f"{cycle}: {chain}")
        if len(stack) > MAX_DEPTH:
            raise SpecError(f"{nests} more than {MAX_DEPTH} files deep")
        what = not_regular(path)
        if what:
            raise SpecError(f"cannot {verb} {relative!r}: it is {what}, not a file ({path})")
        if not os.path.exists(path):
            raise SpecError(f"cannot {verb} {relative!r}: no such file ({path})")
        self.ancestors.setdefault(path, stack)
        shown = os.path.relpath(path)
        return self._read(path if shown.startswith("..") else shown)

    def library(self, source: reader.Source, parse) -> dict:
        """The blocks of an imported library, parsed by `parse(source, includes)` once."""
        key = os.path.abspath(source.file)
        if key not in self.libraries:
            self.libraries[key] = parse(source, self)
        return self.libraries[key]

    def _read(self, path) -> reader.Source:
        key = os.path.abspath(path)
        if key not in self.sources:
            if len(self.sources) >= MAX_FILES:
                raise SpecError(f"the spec brings in more than {MAX_FILES} files (extends and imports)")
            source = reader.load_file(path)
            _local_paths_from(source.data, os.path.dirname(os.path.abspath(path)))
            self.bytes += os.path.getsize(path)
            if self.bytes > MAX_BYTES:
                raise SpecError(f"the spec and the files it brings in hold more than {MAX_BYTES:,} bytes")
            self.sources[key] = source
        return self.sources[key]

    def extend(self, source: reader.Source) -> reader.Source:
        data = source.data
        if not isinstance(data, dict) or "extends" not in data:
            for key in _CHANGES:
                if isinstance(data, dict) and key in data:
                    raise source.locate(
                        SpecError(f"'{key}' changes an extended spec; it needs 'extends: base.yaml' beside it"), (key,)
                    )
            return source
        with in_source(source):
            try:
                base_source = self.include(source, data["extends"], "extends")
                if not isinstance(base_source.data, dict):
                    raise SpecError(
                        f"cannot extend {data['extends']!r}: it holds {describe(base_source.data)}, "
                        "not a spec (a mapping with name, input, layers and output)"
                    )
            except SpecError as err:
                raise err.at("extends") from None
            changes = data.get("set", {})
            if not isinstance(changes, dict):
                raise SpecError(f"expected a mapping of dotted paths to values, got {describe(changes)}", path=("set",))
        return _merge(self.extend(base_source), source, changes)


def _merge(base: reader.Source, child: reader.Source, changes: dict) -> reader.Source:
    merged = reader.Source(child.file, {}, {})
    for key, value in base.data.items():
        if key not in child.data:
            merged.data[key] = copy.deepcopy(_rebase(key, value, base.file, child.file))
            merged.borrow(base, (key,))
    for key, value in child.data.items():
        if key not in ("extends", *_CHANGES):
            merged.data[key] = copy.deepcopy(value)
            merged.borrow(child, (key,))
    if "remove" in child.data or "insert" in child.data:
        with in_source(child):
            _edit_layers(merged, child)
    for key in changes:
        merged.borrow(child, ("set", key), as_path=overrides.parse_override_path(str(key)))
    with in_source(merged):
        overrides.apply_overrides(merged, changes)
    return merged


def _local_paths_from(data, folder) -> None:
    """A relative weights file or preset folder in an entry of a file is read
    from that file's folder, as `weights:`, `extends` and `imports` are: the
    spec builds the same from any working folder, and a run's spec.yaml
    (resolved) holds the absolute path."""
    if isinstance(data, list):
        for item in data:
            _local_paths_from(item, folder)
    elif isinstance(data, dict):
        if len(data) == 1:
            ((type_name, args),) = data.items()
            arg = applications.local_path(str(type_name), args)
            if arg and not os.path.isabs(os.path.expanduser(args[arg])):
                args[arg] = os.path.normpath(os.path.join(folder, args[arg]))
        for value in data.values():
            _local_paths_from(value, folder)


def _rebase(key, value, base_file, child_file):
    """Inherited `imports` stay relative to the base file's folder."""
    if key != "imports" or not isinstance(value, list):
        return value
    base_dir, child_dir = os.path.dirname(os.path.abspath(base_file)), os.path.dirname(os.path.abspath(child_file))
    return [os.path.relpath(os.path.join(base_dir, p), child_dir) if isinstance(p, str) else p for p in value]


def _edit_layers(merged: reader.Source, child: reader.Source) -> None:
    """`remove: [NAME, ...]` and `insert: [{before|after: NAME, layers: [...]}]`
    on the extended spec's `layers`, by entry name; each entry keeps the file
    and line it was written at."""
    layers = merged.data.get("layers")
    if not isinstance(layers, list):
        raise SpecError(
            f"the extended spec's 'layers' is {describe(layers)}, not a list to change",
            path=("remove" if "remove" in child.data else "insert",),
        )
    before = reader.Source(merged.file, merged.data, dict(merged.positions))
    before.files = dict(merged.files)
    entries: list[tuple[Any, Any, tuple]] = [(entry, before, ("layers", i)) for i, entry in enumerate(layers)]

    def find(name, path):
        names = [overrides.entry_name(entry) for entry, _, _ in entries]
        if name not in names:
            known = ", ".join(str(n) for n in names if n is not None) or "none"
            raise SpecError(
                f"no entry named {name!r} in layers.{suggest(name, [n for n in names if n])} "
                f"The entries are named: {known}",
                path=path,
            )
        return names.index(name)

    removals = child.data.get("remove", [])
    if not isinstance(removals, list):
        raise SpecError(f"expected a list of entry names, got {describe(removals)}", path=("remove",))
    for k, name in enumerate(removals):
        if not isinstance(name, str):
            raise SpecError(f"expected an entry's name, got {describe(name)}", path=("remove", k))
        del entries[find(name, ("remove", k))]
    insertions = child.data.get("insert", [])
    if not isinstance(insertions, list):
        raise SpecError(
            "expected a list of {before: NAME, layers: [...]} or {after: NAME, layers: [...]}, "
            f"got {describe(insertions)}",
            path=("insert",),
        )
    for k, item in enumerate(insertions):
        where = [key for key in ("before", "after") if isinstance(item, dict) and key in item]
        if not isinstance(item, dict) or len(where) != 1 or set(item) != {where[0], "layers"}:
            raise SpecError(
                f"expected {{before: NAME, layers: [...]}} or {{after: NAME, layers: [...]}}, got {describe(item)}",
                path=("insert", k),
            )
        if not isinstance(item["layers"], list):
            raise SpecError(f"expected a list of entries, got {describe(item['layers'])}", path=("insert", k, "layers"))
        if not isinstance(item[where[0]], str):
            raise SpecError(f"expected an entry's name, got {describe(item[where[0]])}", path=("insert", k, where[0]))
        index = find(item[where[0]], ("insert", k, where[0])) + (where[0] == "after")
        entries[index:index] = [(entry, child, ("insert", k, "layers", j)) for j, entry in enumerate(item["layers"])]
    merged.data["layers"] = [copy.deepcopy(entry) for entry, _, _ in entries]
    for table in (merged.positions, merged.files):
        for path in [p for p in table if len(p) > 1 and p[0] == "layers"]:
            del table[path]
    for i, (_, source, path) in enumerate(entries):
        merged.borrow(source, path, as_path=("layers", i))
