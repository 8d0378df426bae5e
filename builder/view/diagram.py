"""A spec as the live page draws it: every layer with its output shape,
parameters and MACs, the block instances and repeated entries it was made
in, and the lines of YAML it came from (its entry, the block instances
around it, the defaults and block arguments it took) — or the spec's error,
located, with the text of the file it is in."""

from __future__ import annotations

from ..errors import SpecError
from ..files import read_bounded
from ..spec import graph as graph_module
from ..spec import reader
from ..spec.load import load_spec


def diagram(path: str) -> dict:
    """The page's view of the spec at `path`; raises what loading and building raise."""
    spec = load_spec(path)
    graph = graph_module.expand(spec)
    from ..keras.assemble import build_shapes_only, check_layout
    from ..keras.describe import facts, layer_macs

    model = build_shapes_only(graph)
    check_layout(graph, model)
    macs = {name: m for name, _, m in layer_macs(model)}
    spans = _Spans()
    nodes = [_input_node(item, spec.source, model, spans) for item in spec.inputs]
    frames: dict = {}
    nodes += _layer_nodes(graph, model, macs, spans)
    for node in graph.nodes:
        parent = None
        for frame in node.frames:
            frames.setdefault(
                frame.id,
                {
                    "label": frame.label,
                    "block": frame.block,
                    "count": frame.count,
                    "parent": parent,
                    "lines": [spans.of(frame.source, frame.path)],
                },
            )
            parent = frame.id
    totals = facts(model)
    files = sorted(
        {path}
        | {line[0] for n in nodes for line in n["lines"]}  # the spec itself, even when
        | {line[0] for f in frames.values() for line in f["lines"]},  # all it holds is `extends`
        key=lambda f: (f != path, f),
    )
    return {
        "name": spec.name,
        "description": spec.description,
        "spec": path,
        "totals": {
            key: totals[key] for key in ("params", "trainable_params", "layers", "macs", "input_shape", "output_shape")
        },
        "nodes": nodes,
        "frames": frames,
        "files": files,
        "texts": {f: _text(f) for f in files},
        "notes": [note.render() for note in graph.notes],
    }


def failed(err: BaseException, message: str) -> dict:
    """The page's view of a spec that fails: the one line the CLI prints and,
    for a located error, the file's text and the block instances it came through."""
    view: dict = {"error": {"message": message}}
    if isinstance(err, SpecError) and err.file:
        view["error"].update(
            file=err.file,
            line=err.line,
            col=err.col,
            via=[{"path": p, "file": f, "line": line} for p, f, line in err.via],
        )
        view["files"] = [err.file]
        view["texts"] = {err.file: _text(err.file)}
    return view


class _Spans:
    """The lines (file, first, last) a path covers in a source: from its key to its last value."""

    def __init__(self):
        self.ends: dict = {}  # id(source) -> {path: last line of it or anything under it}

    def of(self, source: reader.Source, path) -> list:
        path = tuple(path)
        while path not in source.positions and path:
            path = path[:-1]
        ends = self.ends.get(id(source))
        if ends is None:
            ends = self.ends[id(source)] = {}
            for where, (line, _) in source.positions.items():
                for cut in range(len(where) + 1):
                    prefix = where[:cut]
                    if source.file_of(prefix) == source.file_of(where):
                        ends[prefix] = max(ends.get(prefix, 0), line)
        first = source.position(path)[0]
        return [source.file_of(path), first, max(first, ends.get(path, first))]


def _record(layer, type_name, inputs, frames, lines, macs) -> dict:
    unique = []
    for line in lines:
        if line not in unique:
            unique.append(line)
    return {
        "id": layer.name,
        "type": type_name,
        "class": type(layer).__name__,
        "shape": _shape(layer),
        "params": int(layer.count_params()) if layer.built else 0,
        "macs": int(macs.get(layer.name, 0)),
        "inputs": list(dict.fromkeys(name.partition(".")[0] for name in inputs)),
        "frames": [frame.id for frame in frames],
        "lines": unique,
    }


def _input_node(item, source, model, spans) -> dict:
    return _record(model.get_layer(item.name), "input", [], (), [spans.of(source, item.path)], {})


def _layer_nodes(graph, model, macs, spans) -> list:
    """Every layer of the body and the head; the head's pooling (or flattening) layer,
    which the builder adds before the output layer where the body ends in more than
    (batch, features), is drawn as part of the head."""
    records = []
    for node in graph.nodes:
        lines = [
            spans.of(node.source, node.path),
            *[spans.of(f.source, f.path) for f in node.frames],
            *[spans.of(source, where) for source, where in node.origins.values()],
        ]
        record = _record(model.get_layer(node.layer), node.type.name, node.inputs, node.frames, lines, macs)
        if node.shares is not None:  # a call of a shared layer: its own box, the weights counted at the first
            record.update(id=node.name, type=f"share of {node.shares}", params=0, macs=0)
        records.append(record)
    from ..keras.assemble import head_pooling_name

    for head in graph.heads:
        lines = [spans.of(head.source, head.path), *[spans.of(s, w) for s, w in head.origins.values()]]
        last = head.inputs[0]
        made = {layer.name for layer in model.layers}
        pooling = head_pooling_name(head.name, graph.pools[head.name])
        if pooling in made:
            records.append(_record(model.get_layer(pooling), "output pooling", [last], (), lines[:1], macs))
            last = pooling
        if f"{head.name}_bias" in made:  # a tied head's bias (`use_bias: true`)
            records.append(_record(model.get_layer(f"{head.name}_bias"), "output bias", [last], (), lines, macs))
            last = f"{head.name}_bias"
        records.append(_record(model.get_layer(head.name), "output", [last], (), lines, macs))
    return records


def _shape(layer) -> str:
    output = layer.output
    tensors = output if isinstance(output, (list, tuple)) else [output]
    return ", ".join("(" + ", ".join("None" if d is None else str(d) for d in t.shape) + ")" for t in tensors)


def _text(file: str) -> str:
    try:
        return read_bounded(file, reader.MAX_BYTES).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return ""
