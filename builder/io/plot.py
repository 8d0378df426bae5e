"""`plot`: a diagram of a spec with layer names and output shapes, through
Keras's model_to_dot (pydot and Graphviz's `dot`), or with each block
instance drawn as one node."""

from __future__ import annotations

import os
import shutil

from ..errors import DependencyError, FlagError
from ..files import publish

FORMATS = (".png", ".svg")


def _check_tools():
    try:
        import pydot  # noqa: F401
    except ImportError:
        raise DependencyError("plot needs pydot: pip install pydot (or the project's [plot] extra)") from None
    if shutil.which("dot") is None:
        raise DependencyError(
            "plot needs Graphviz's `dot` program: apt-get install graphviz, brew install graphviz, "
            "or see https://graphviz.org/download/"
        )


def plot(spec, path, collapse_blocks=False, overwrite=False) -> str:
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise FlagError(f"-o takes a .png or .svg file, got {path!r}")
    _check_tools()
    from ..keras.assemble import build_model
    from ..spec import graph as graph_module

    graph = graph_module.expand(spec)
    model = build_model(graph)
    with publish(path, overwrite=overwrite, suffix=extension) as temporary:
        if collapse_blocks:
            _collapsed(graph, model).write(temporary, format=extension[1:])
        else:
            # model_to_dot and our own write, not plot_model: where IPython is installed, plot_model
            # returns the file as an IPython Image, which raises for SVG after the file is written
            from ..backend import keras

            dot = keras().utils.model_to_dot(
                model, show_shapes=True, show_layer_names=True, show_layer_activations=True, dpi=96
            )
            dot.write(temporary, format=extension[1:])
    return path


def _shape(layer):
    output = layer.output
    shapes = output if isinstance(output, (list, tuple)) else [output]
    return ", ".join("(" + ", ".join("None" if d is None else str(d) for d in t.shape) + ")" for t in shapes)


def _collapsed(graph, model):
    """A pydot graph: one box per layer outside blocks, one per block instance."""
    import pydot

    dot = pydot.Dot(graph_type="digraph", rankdir="TB", fontname="Helvetica")
    dot.set_node_defaults(shape="record", fontname="Helvetica", fontsize="10")
    box_of, last_of = {}, {}
    for item in graph.spec.inputs:
        box_of[item.name] = item.name
        dot.add_node(pydot.Node(item.name, label=f"{item.name}\\n(input)\\n{_shape(model.get_layer(item.name))}"))
    for node in graph.nodes:
        box = node.group or node.name
        box_of[node.name] = box
        last_of[box] = node.name
    nodes = list(graph.nodes) + list(graph.heads)
    layer_of = {node.name: node.layer for node in nodes}  # a shared layer's later call draws the layer it calls
    for head in graph.heads:
        box_of[head.name] = last_of[head.name] = head.name
    drawn, edges = set(), set()
    for node in nodes:
        box = box_of[node.name]
        if box not in drawn:
            drawn.add(box)
            label = box.replace("\n", "\\n") if node.group else f"{node.name}\\n({node.type.cls_name})"
            layer = model.get_layer(layer_of[last_of[box]])
            dot.add_node(pydot.Node(_id(box), label=f"{label}\\n{_shape(layer)}"))
        for reference in node.inputs:
            source = box_of[reference.partition(".")[0]]
            if source != box and (source, box) not in edges:
                edges.add((source, box))
                dot.add_edge(pydot.Edge(_id(source), _id(box)))
    return dot


def _id(box):
    return '"' + box.split("\n")[0] + '"'
