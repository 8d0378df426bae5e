"""Regenerates every generated file from the installed Keras and the registry:
builder/keras/signatures.json (layer signatures, activation names),
docs/layers.md (the layer reference) and spec.schema.json (the JSON Schema).

    python tools/regenerate.py            # rewrite the files that changed
    python tools/regenerate.py --check    # exit 1, naming them, if any is stale

Run it after upgrading Keras or changing the registry; tests fail while any
file is stale.
"""

from __future__ import annotations

import inspect
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from builder.files import write_atomic  # noqa: E402
from builder.keras import registry, signatures  # noqa: E402


def _usable_by_name(function) -> bool:
    """An activation works as `activation: NAME` only if all it needs is its
    input and it keeps the input's shape (glu halves it, which Keras layers
    don't expect of their activation)."""
    params = list(inspect.signature(function).parameters.values())[1:]
    if not all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return False
    import numpy
    return tuple(function(numpy.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)).shape) == (2, 4)


def signature_table() -> dict:
    """signatures.json's content: every built-in layer type's signature and the activation names."""
    from builder.backend import keras
    keras()
    import keras.activations as activations
    layers = {t.qualname: signatures.read_signature(t.keras_class())
              for t in registry.LAYERS.values() if t.plugin_class is None}
    names = sorted(name for name, value in vars(activations).items()
                   if callable(value) and not name.startswith("_")
                   and name not in {"get", "serialize", "deserialize"} and _usable_by_name(value))
    return {"keras_version": keras().__version__, "activations": names + list(registry.EXTRA_ACTIVATIONS),
            "layers": dict(sorted(layers.items()))}


def _others() -> dict:
    from builder.io import json_schema, layer_docs
    return {layer_docs.TARGET: layer_docs.render(), json_schema.TARGET: json_schema.render()}


def _refresh(files: dict, check: bool) -> list:
    """Rewrite (unless `check`) each file whose text differs; return their names."""
    stale = []
    for path, text in files.items():
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                continue
        stale.append(os.path.relpath(path, ROOT))
        if not check:
            write_atomic(path, text.encode())
    return stale


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    stale = _refresh({signatures.FILE: json.dumps(signature_table(), indent=1) + "\n"}, check)
    signatures.table.cache_clear()          # the other files are read through the new signatures
    stale += _refresh(_others(), check)
    if check:
        if stale:
            print(f"stale: {', '.join(stale)}; run python tools/regenerate.py")
            return 1
        return 0
    print(f"rewrote {', '.join(stale)}" if stale else "everything generated is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
