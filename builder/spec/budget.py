"""The size budget: a model whose weights or input are absurdly large is
refused by `validate`, at the line that makes it so, before any allocator
sees it. The counts are lower bounds from arguments alone (costs.py), so a
model under the limits is never refused; `--max-params` and
`--max-activation` raise them. Activations are bounded where arguments alone
tell: the inputs, and the outputs of layers with units or filters."""

from __future__ import annotations

import math

from ..catalogue import registry
from ..errors import SpecError

MAX_PARAMS = 1_000_000_000  # 4 GB of float32 weights
MAX_ACTIVATION = 1_000_000_000  # values in one tensor, per example


def check(graph, max_params=None, max_activation=None) -> None:
    spec = graph.spec
    max_params = max_params or MAX_PARAMS
    max_activation = max_activation or MAX_ACTIVATION
    for item in spec.inputs:
        values = math.prod(d for d in item.shape if d is not None)
        if values > max_activation:
            raise spec.source.locate(
                SpecError(
                    f"the input '{item.name}' holds {values:,} values per example, more than the limit of "
                    f"{max_activation:,}; --max-activation N raises it"
                ),
                (*item.path, "shape"),
            )
    total = 0
    for node in [*graph.nodes, *graph.heads]:
        width = node.args.get(node.type.width) if node.type.width else None
        if isinstance(width, int) and width > max_activation:
            raise node.error(
                f"'{node.name}' makes at least {width:,} values per example, more than the limit of "
                f"{max_activation:,}; --max-activation N raises it"
            )
        least = node_weights(graph, node) if node.shares is None else 0  # a shared layer's weights count once
        total += least
        if total > max_params:
            raise node.error(
                f"the model has at least {total:,} weights up to '{node.name}' ({least:,} of them "
                f"there), more than the limit of {max_params:,}; --max-params N raises it"
            )


def node_weights(graph, node) -> int:
    """A lower bound of a node's weights: its arguments' (least_weights), and a
    Dense layer's kernel, its input's features (where the graph knows them) by its units."""
    least = least_weights(node.type, node.args)
    units = node.args.get("units") if node.type.width == "units" else None
    features = graph.channels.get(node.inputs[0]) if node.inputs else None
    if isinstance(units, int) and isinstance(features, int):
        least = max(least, units * features)
    if node.type.weights_by_features is not None and isinstance(features, int):
        least = max(least, node.type.weights_by_features(node.args, features))
    return least


def least_weights(layer_type, args) -> int:
    """A lower bound of the weights of a layer of `layer_type` made with `args`."""
    if layer_type.min_weights is None:
        return 0

    def least_of(entry):
        ((name, inner_args),) = entry.items()
        return least_weights(registry.LAYERS[name], inner_args)

    return int(layer_type.min_weights(args, least_of))
