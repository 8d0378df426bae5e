"""Scales: one design at several sizes (ResNet-50/101/152, DenseNet-121/169/201).
A spec's `scales:` names each variant's values as `set:` does — dotted paths,
entries by name or position — and `scale: NAME` (in the spec, `--scale NAME`,
or `scale=` in Python) chooses one. Without a choice the spec builds as written."""

from __future__ import annotations

from ..errors import SpecError, at, describe, in_source, unknown
from . import overrides


def apply_scale(source, chosen=None) -> None:
    """Apply the chosen scale's values to `source` (after `extends`, before `--set`);
    `chosen` (from the command line or Python) replaces the spec's own `scale:`."""
    data = source.data
    if not isinstance(data, dict):
        return
    if chosen is not None:
        data["scale"] = chosen
    table = data.get("scales")
    with in_source(source):
        if table is not None and (not isinstance(table, dict) or not table):
            raise SpecError(
                f"expected a mapping of scale names to values to set, got {describe(table)}", path=("scales",)
            )
        if data.get("scale") is None:
            return
        with at("scale"):
            if table is None:
                raise SpecError(f"the scale {data['scale']!r} is chosen, but the spec has no `scales:` section")
            names = {str(name): name for name in table}
            if str(data["scale"]) not in names:
                raise unknown("scale", str(data["scale"]), list(names))
        key = names[str(data["scale"])]
        changes = table[key]
        with at("scales", key):
            if not isinstance(changes, dict):
                raise SpecError(
                    f"expected a mapping of dotted paths to values, as `set:` takes, got {describe(changes)}"
                )
        for path, value in changes.items():
            try:
                target = overrides.parse_override_path(str(path))
                overrides.apply_overrides(source, {str(path): value})
            except SpecError as err:
                raise source.locate(err, ("scales", key, path)) from None
            _point(source, ("scales", key, path), overrides.by_name(source.data, target))


def _point(source, written, target) -> None:
    """Errors in a value a scale set point at the scale's line, not at the value it replaced."""
    for path, where in list(source.positions.items()):
        if path[: len(written)] == written:
            source.positions[target + path[len(written) :]] = where
