"""What "the same network" means in the tests and in `import`: pair the
layers that hold weights, in order, by class and weight shapes, and copy."""

from __future__ import annotations


def weighted_layers(model) -> list:
    return [layer for layer in model.layers if layer.weights]


def copy_weights(source, target, same_classes=None) -> int:
    """Copy every weight of `source` into `target`, layer for layer in build
    order. Raises ValueError naming the first pair that differs in class or
    weight shapes. `same_classes` maps a source class name to the target's
    where they differ only in name (keras_hub's ReversibleEmbedding is an
    Embedding). Returns the number of layers copied."""
    same_classes = same_classes or {}
    sources, targets = weighted_layers(source), weighted_layers(target)
    if len(sources) != len(targets):
        raise ValueError(f"{source.name} has {len(sources)} layers with weights, {target.name} has {len(targets)}")
    for a, b in zip(sources, targets):
        shapes_a = [tuple(w.shape) for w in a.weights]
        shapes_b = [tuple(w.shape) for w in b.weights]
        class_a = same_classes.get(type(a).__name__, type(a).__name__)
        if class_a != type(b).__name__ or shapes_a != shapes_b:
            raise ValueError(f"layer {a.name} ({type(a).__name__}, {shapes_a}) does not pair with "
                             f"{b.name} ({type(b).__name__}, {shapes_b})")
        b.set_weights(a.get_weights())
    return len(sources)
