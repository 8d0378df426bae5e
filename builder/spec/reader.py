"""Reading spec files: safe YAML to plain data, with the line and column of
every key and item kept aside so errors can point at them.

Only YAML's plain types are accepted (mapping, sequence, string, integer,
float, boolean, null); any other tag is an error and nothing is constructed.
Duplicate keys are errors (PyYAML would silently keep the last one).
"""

from __future__ import annotations

import os

import yaml

from ..errors import SpecError, describe, suggest
from ..files import not_regular, read_bounded
from . import shipped

MAX_BYTES = 5 * 1024 * 1024  # a spec is a page or two; this is far past any real one
MAX_VALUES = 200_000  # after alias expansion: stops "billion laughs"
MAX_DEPTH = 64

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}


class Source:
    """One loaded YAML document: its data and where each path is in the file."""

    def __init__(self, file: str, data, positions: dict):
        self.file = file
        self.data = data
        self.positions = positions  # path tuple -> (line, col), 1-based
        self.files: dict = {}  # path tuple -> file, for parts taken from another file (extends)

    def position(self, path) -> tuple[int, int]:
        path = self._nearest(path, self.positions)
        return self.positions.get(path, (1, 1))

    def file_of(self, path) -> str:
        return self.files.get(self._nearest(path, self.files), self.file)

    def locate(self, err, path=None):
        """Place `err` at `path` (default: its own path) in this document: the
        file it came from (extends borrows parts of other files), line and column."""
        if path is not None:
            err.path = tuple(path)
        err.file = self.file_of(err.path)
        err.line, err.col = self.position(err.path)
        return err

    @staticmethod
    def _nearest(path, table):
        path = tuple(path)
        while path not in table and path:
            path = path[:-1]
        return path

    def borrow(self, other: Source, prefix: tuple, as_path: tuple | None = None) -> None:
        """Take `other`'s positions under `prefix` (placed at `as_path`)."""
        target = prefix if as_path is None else as_path
        for path, where in other.positions.items():
            if path[: len(prefix)] == prefix:
                self.positions[target + path[len(prefix) :]] = where
        self.files[target] = other.file_of(prefix)
        for path, file in other.files.items():
            if path[: len(prefix)] == prefix and len(path) > len(prefix):
                self.files[target + path[len(prefix) :]] = file

    @property
    def dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.file)) if os.path.exists(self.file) else os.getcwd()


def load_file(path) -> Source:
    """Read and parse a spec file (or a shipped spec, by name). Raises SpecError for anything wrong with it."""
    path = shipped.resolve(os.fspath(path))
    if not os.path.lexists(path) and "/" not in path and os.sep not in path:
        known = shipped.names()
        raise SpecError(
            f"cannot read the spec: no such file, nor a shipped spec of that name.{suggest(path, known)} "
            f"Shipped: {', '.join(known)}",
            file=path,
            line=1,
            col=1,
        )
    what = not_regular(path)
    if what:
        raise SpecError(f"cannot read the spec: it is {what}, not a file", file=path, line=1, col=1)
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise SpecError(
                f"the file is {size:,} bytes; a spec may be at most {MAX_BYTES:,} bytes", file=path, line=1, col=1
            )
        raw = read_bounded(path, MAX_BYTES)
    except OSError as err:
        raise SpecError(f"cannot read the spec: {err.strerror or err}", file=path, line=1, col=1) from None
    except ValueError as err:
        raise SpecError(f"cannot read the spec: {err}", file=path, line=1, col=1) from None
    return load_bytes(raw, path)


def load_bytes(raw: bytes, file: str = "<spec>") -> Source:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise SpecError(
            f"the file is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})",
            file=file,
            line=line,
            col=col,
        ) from None
    return load_text(text, file)


def load_text(text: str, file: str = "<spec>") -> Source:
    if len(text) > MAX_BYTES:
        raise SpecError(
            f"the spec is {len(text):,} characters; at most {MAX_BYTES:,} are allowed", file=file, line=1, col=1
        )
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise SpecError("the file holds NUL bytes; a spec is YAML text", file=file, line=line, col=1)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        raise _yaml_error(err, file, text) from None
    except yaml.YAMLError as err:
        raise SpecError(f"YAML error: {err}", file=file, line=1, col=1) from None
    except RecursionError:
        raise SpecError(
            f"the YAML is nested too deeply (more than {MAX_DEPTH} levels)", file=file, line=1, col=1
        ) from None
    if node is None:
        raise SpecError(
            "the spec is empty; expected a mapping with name, input, layers and output", file=file, line=1, col=1
        )
    positions: dict = {}
    walker = _Walker(file, positions)
    data = walker.value(node, ())
    return Source(file, data, positions)


def _yaml_error(err: yaml.MarkedYAMLError, file: str, text: str) -> SpecError:
    mark = err.problem_mark or err.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = " ".join(part for part in (err.context, err.problem) if part) or str(err)
    if "maximum nesting depth" in message:  # libyaml's own limit, newer PyYAML builds
        return SpecError(f"the spec is nested too deeply (more than {MAX_DEPTH} levels)", file=file, line=line, col=col)
    message = f"invalid YAML: {message}"
    lines = text.splitlines()
    if mark and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
        message += " (a tab: YAML indents with spaces, never tabs)"
    return SpecError(message, file=file, line=line, col=col)


class _Walker:
    """Turns composed YAML nodes into dicts, lists and scalars."""

    def __init__(self, file, positions):
        self.file = file
        self.positions = positions
        self.count = 0
        self.constructor = yaml.SafeLoader("")

    def error(self, message, node) -> SpecError:
        return SpecError(message, file=self.file, line=node.start_mark.line + 1, col=node.start_mark.column + 1)

    def value(self, node, path):
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.error(
                f"the spec expands to more than {MAX_VALUES:,} values (an alias repeated too often?)", node
            )
        if len(path) > MAX_DEPTH:
            raise self.error(f"the spec is nested too deeply (more than {MAX_DEPTH} levels)", node)
        self.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            self.check_tag(node, _TAG + "map")
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            self.check_tag(node, _TAG + "seq")
            return [self.value(item, path + (i,)) for i, item in enumerate(node.value)]
        return self.scalar(node)

    def check_tag(self, node, expected):
        if node.tag != expected:
            raise self.error(
                f"the YAML tag '{node.tag}' is not allowed: specs hold plain data "
                "(mappings, lists, strings, numbers, booleans, null)",
                node,
            )

    def scalar(self, node):
        if node.tag == _TAG + "timestamp":
            return node.value  # a date-like string stays a string
        if node.tag not in _SCALAR_TAGS:
            self.check_tag(node, _TAG + "str")
        try:
            return self.constructor.construct_object(node, deep=True)
        except ValueError:  # an integer with more digits than Python reads
            raise self.error(
                f"cannot read the number {node.value[:20]}... ({len(node.value):,} characters); "
                "no size in a spec needs more than 10 digits",
                node,
            ) from None

    def mapping(self, node, path):
        result: dict = {}
        first_seen: dict = {}
        merged: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merged.update(self.merge_sources(value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error("a mapping key must be a plain name, not a list or mapping", key_node)
            key = self.scalar(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise self.error(f"a mapping key must be a name, got {describe(key)}", key_node)
            if key in first_seen:
                raise self.error(
                    f"duplicate key '{key}' (first set at {first_seen[key]}); "
                    "YAML would silently keep only the last value",
                    key_node,
                )
            first_seen[key] = f"{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}"
            child = path + (key,)
            self.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.value(value_node, child)
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def merge_sources(self, node, path):
        """YAML merge keys (`<<: *base`): the mapping(s) to fill in from."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                raise self.error("'<<' merges mappings only", source)
            merged.update(self.mapping(source, path))
        return merged
