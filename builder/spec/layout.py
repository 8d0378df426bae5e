"""Where `--distribute model-parallel` puts each weight: the spec's
`training.distribution` (its mesh, and its layout or the default one for
transformer blocks) matched against the weights' paths and shapes.

Keras-free, so that `validate` (given the weights of a model built without
their values) and the run's ModelParallel (as each weight is made) check a
layout by the same rules, at the pattern's line of the spec.
"""

from __future__ import annotations

import re

from ..errors import SpecError

# Without a layout: KerasHub's transformers split as KerasHub's get_layout_map splits them over `model`
# (attention heads, the feed-forward's hidden units, the token embedding's width)
TRANSFORMER_LAYOUT = {
    ".*/(query|key|value)/kernel": [None, "model", None],
    ".*/attention_output/kernel": ["model", None, None],
    ".*feedforward_intermediate_dense/kernel": [None, "model"],
    ".*feedforward_output_dense/kernel": ["model", None],
    "token_embedding/embeddings": [None, "model"],
}

WHERE = ("training", "distribution")


class Placement:
    """A layout checked weight by weight: `axes` for each weight as it is
    made, then `check_used` once the model holds them all."""

    def __init__(self, distribution):
        self.sizes = dict(distribution.mesh)
        self.given = distribution.layout is not None
        if self.given:
            self.layout = dict(distribution.layout)
        else:
            self.layout = TRANSFORMER_LAYOUT if "model" in self.sizes else {}
        self.used: set = set()

    def _path(self, pattern) -> tuple:
        return (*WHERE, "layout", pattern) if self.given else WHERE

    def axes(self, path: str, shape) -> list | None:
        """The mesh axis (or None) of each dimension of the weight `path` of
        `shape`, None where no pattern matches it (replicated)."""
        matched = [p for p in self.layout if re.fullmatch(p, path)]
        if len(matched) > 1:
            raise SpecError(f"'{path}' matches {len(matched)} patterns: {', '.join(matched)}", path=(*WHERE, "layout"))
        if not matched:
            return None
        pattern, shape = matched[0], tuple(shape)
        axes = self.layout[pattern]
        self.used.add(pattern)
        if len(axes) != len(shape):
            raise SpecError(
                f"'{path}' has {len(shape)} dimensions {shape}; the layout gives {len(axes)}", path=self._path(pattern)
            )
        for dimension, (axis, size) in enumerate(zip(axes, shape, strict=True)):
            if axis is not None and size % self.sizes[axis]:
                raise SpecError(
                    f"dimension {dimension} of '{path}' {shape} is {size}, which does not split "
                    f"over the {self.sizes[axis]} devices of '{axis}'",
                    path=self._path(pattern),
                )
        return list(axes)

    def check_used(self, paths: list) -> None:
        """Every pattern the spec gives lays out some weight (`paths`: all the model's)."""
        for pattern in self.layout if self.given else ():
            if pattern not in self.used:
                names = ", ".join(paths[:3])
                raise SpecError(
                    f"'{pattern}' matches no weight of the model (its weights are named like {names}, ...)",
                    path=self._path(pattern),
                )


def check(distribution, weights) -> None:
    """Check a layout against every weight of a model: `weights`, (path, shape) pairs."""
    placement = Placement(distribution)
    for path, shape in weights:
        placement.axes(path, shape)
    placement.check_used([path for path, _ in weights])
