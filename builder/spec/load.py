"""Loading a spec: reading its file (or text, or data), the files it extends
and imports, the overrides, then the checks of the language's models; and
validation, which expands the graph too. No Keras here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import in_source
from . import graph, includes, language, reader, scales
from . import overrides as overrides_module


def load_spec(
    path: str | os.PathLike | None = None,
    *,
    text: str | None = None,
    data: dict | None = None,
    overrides: Mapping[str, Any] | None = None,
    limits: Mapping[str, int] | None = None,
    scale: str | int | None = None,
) -> language.Spec:
    """Read a spec from a file `path`, YAML `text` or plain `data`, apply
    `overrides` ({'dotted.path': value}, a value given as text read as YAML,
    as `--set` reads it; 'scale' chooses one of the spec's `scales:`, before
    the others apply) and check its top level. `limits`
    ({'max_params': N, 'max_activation': N}) raise the size budget; `scale`
    is the same as overrides={'scale': NAME}."""
    if sum(x is not None for x in (path, text, data)) != 1:
        raise TypeError("load_spec takes exactly one of path, text= or data=")
    from .. import plugins

    plugins.load_installed()
    files = includes.Includes()
    if path is not None:
        source = files.load(path)
    elif text is not None:
        source = files.extend(reader.load_text(text))
    else:
        source = reader.Source("<data>", data, {})
    overrides = overrides_module.read_values(overrides or {})
    if scale is not None:
        overrides["scale"] = scale
    scales.apply_scale(source, overrides.pop("scale", None))  # `--scale NAME` is `--set scale=NAME`
    if overrides:
        with in_source(source):
            overrides_module.apply_overrides(source, overrides)
    spec = language.parse(source, files)
    spec.limits = {k: v for k, v in (limits or {}).items() if v is not None}
    return spec


def check_file(path, overrides=None, limits=None) -> dict | graph.Graph:
    """Validate a spec file, or a block library (a file of description,
    imports and blocks only): the spec's graph, or the library's blocks."""
    source = reader.load_file(path)
    data = source.data
    if isinstance(data, dict) and data and set(data) <= set(language.Library.model_fields):
        return language.library_blocks(source, includes.Includes())
    return validate(path, overrides=overrides, limits=limits)


def validate(
    path: str | os.PathLike | None = None,
    *,
    text: str | None = None,
    data: dict | None = None,
    overrides: Mapping[str, Any] | None = None,
    limits: Mapping[str, int] | None = None,
    scale: str | int | None = None,
) -> graph.Graph:
    """Check a spec completely short of building it (no Keras import); return its graph."""
    return graph.expand(load_spec(path, text=text, data=data, overrides=overrides, limits=limits, scale=scale))
