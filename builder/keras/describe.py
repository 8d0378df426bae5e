"""The facts of a built model that `build` prints and `--json` reports:
parameters, layers, shapes, and the MACs of every layer (by the registry's
formulas)."""

from __future__ import annotations

import math
import sys

from ..backend import keras
from ..catalogue import costs, registry


def layer_macs(model) -> list[tuple[str, str, int]]:
    """(layer name, class, MACs) for every layer of a functional model, in
    order (input layers left out). Sizes that vary count as 1."""
    types: dict = {}
    for layer_type in registry.LAYERS.values():
        # a module not imported yet (keras_hub's layers) made no layer of this model; importing it costs seconds
        if layer_type.plugin_class is None and layer_type.module not in sys.modules:
            continue
        types.setdefault(layer_type.keras_class(), layer_type)

    def macs_of(layer, inputs, outputs):
        layer_type = types.get(type(layer))
        if layer_type is None or layer_type.macs is None:
            return 0
        return int(layer_type.macs(layer, inputs, outputs, macs_of))

    input_layer = keras().layers.InputLayer
    rows = []
    for layer in model.layers:
        if isinstance(layer, input_layer):
            continue
        macs = macs_of(layer, *costs.tensors(layer))
        for node in getattr(layer, "_inbound_nodes", [])[1:]:  # its later calls: a shared layer, a tied head
            macs += macs_of(layer, list(node.input_tensors), list(node.outputs))
        rows.append((layer.name, type(layer).__name__, macs))
    return rows


def facts(model) -> dict:
    """name, params, trainable_params, layers, input_shape, output_shape, macs and macs_by_layer."""

    def shapes(tensors):
        listed = [list(t.shape) for t in (tensors if isinstance(tensors, (list, tuple)) else [tensors])]
        return listed[0] if len(listed) == 1 else listed

    macs = layer_macs(model)
    return {
        "name": model.name,
        "params": int(model.count_params()),
        "trainable_params": sum(math.prod(w.shape) for w in model.trainable_weights),
        "layers": len(macs),
        "input_shape": shapes(model.inputs),
        "output_shape": shapes(model.outputs),
        "macs": sum(m for _, _, m in macs),
        "macs_by_layer": {name: m for name, _, m in macs if m},
    }


def macs_table(model) -> str:
    """The MACs of every counted layer, with shares and the total, as `build` prints it."""
    counted = [(name, kind, m) for name, kind, m in layer_macs(model) if m]
    total = sum(m for _, _, m in counted)
    if not total:
        return "Multiply-accumulates per example: none counted (no convolution, dense, recurrent or attention layer)"
    width = max([len(name) for name, _, _ in counted] + [5])
    lines = ["Multiply-accumulates per example (convolutions, dense, recurrent, attention):"]
    lines += [f"  {name:<{width}}  {kind:<22} {m:>16,}  {m / total:6.1%}" for name, kind, m in counted]
    lines.append(f"  {'total':<{width}}  {'':<22} {total:>16,}  ({total / 1e9:.3f} G)")
    return "\n".join(lines)
