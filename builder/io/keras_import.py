"""Keras to spec: `builder.to_spec(model)` and `cli.py import MODEL.keras`.

Reads a Sequential or Functional model of registered layers through its
public config (`model.get_config()`): Keras argument names, values left out
where they equal the layer's defaults, branches and merges as `inputs:`
references, and a final Dense layer as the spec's `output`. The spec builds
back into the same network: same layers, names, order and parameters.
"""

from __future__ import annotations

import json
import os

import yaml

from ..backend import keras as _keras
from ..catalogue import registry
from ..catalogue.signatures import snake_case
from ..errors import ModelError, article
from ..spec import argtypes
from ..spec.language import as_entry_name, as_model_name
from .compact import compact as compact_spec
from .keras_values import simplify

_DROPPED = {"name", "trainable", "dtype"}


def _args(layer_type, config):
    """The config's arguments, less those equal to the signature's defaults."""
    args = {}
    for key, value in config.items():
        if key in _DROPPED or key not in layer_type.args:
            continue
        info = layer_type.args[key]
        if argtypes.arg_type(layer_type, key) == "entry" and isinstance(value, dict):
            inner = registry.for_config(value["class_name"], value.get("module"))
            if inner is None:
                raise ModelError(f"{layer_type.name} wraps {article(value['class_name'])}, which has no spec type")
            args[key] = {inner.name: _args(inner, value["config"])}
            continue
        simplified = simplify(layer_type, key, value)
        if not info.get("required") and _is_default(layer_type, key, simplified, info.get("default")):
            continue
        args[key] = simplified
    return args


def _is_default(layer_type, key, value, default):
    if key == "data_format" and value == "channels_last" and default is None:
        return True  # Keras writes the resolved default
    if key == "activation" and value == "linear" and default is None:
        return True
    default = simplify(layer_type, key, default)
    if isinstance(value, str) and isinstance(default, str):
        return snake_case(value) == snake_case(default)
    return value == default


def _references(node):
    """(positional references, keyword references, other keyword values) of an inbound node."""

    def ref(item):
        if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
            name, _, index = item["config"]["keras_history"]
            return name if index == 0 else f"{name}.{index}"
        return None

    positional = []
    for arg in node.get("args", []):
        items = arg if isinstance(arg, list) else [arg]
        for item in items:
            found = ref(item)
            if found is None:
                raise ModelError(f"a layer call passes a non-tensor positional argument ({json.dumps(item)[:80]})")
            positional.append(found)
    keywords, options = {}, {}
    for key, value in node.get("kwargs", {}).items():
        found = ref(value)
        if key == "mask":
            continue  # Keras recomputes masks from the layers that make them
        if found is not None:
            keywords[key] = found
        elif value is not None and key not in ("training", "mask"):
            options[key] = value
    return positional, keywords, options


def to_spec(model, name=None, header="", compact=True) -> str:
    """A readable YAML spec of a Sequential or Functional `model`: in blocks,
    repeats and defaults where the model repeats itself (`compact`), else one
    entry per layer."""
    spec = to_spec_data(model, name)
    return to_yaml(_compacted(spec)[0] if compact else spec, header)


def to_spec_data(model, name=None) -> dict:
    """The spec (plain data) of a Sequential or Functional `model`, one entry per layer."""
    return _flat_spec(model, name)[0]


def import_model(model, spec_path, weights_path=None, *, compact=True, overwrite=False, header="") -> str:
    """Write the spec of `model` to `spec_path`, and its weights to
    `weights_path` (a .weights.h5 file the spec names, relative to it), so that
    building the spec gives the model back: same layers, same outputs. Returns the spec's text."""
    from ..files import publish, write_atomic

    spec, original = _flat_spec(model)
    renamed: dict = {}
    if compact:
        spec, renamed = _compacted(spec)
    if weights_path is None:
        text = to_yaml(spec, header)
        write_atomic(spec_path, text.encode(), overwrite=overwrite)
        return text
    built = _build_back(spec)
    for new_name, old_name in _layer_pairs(model, original, renamed):
        built.get_layer(new_name).set_weights(model.get_layer(old_name).get_weights())
    _same_outputs(model, built)
    relative = os.path.relpath(os.path.abspath(weights_path), os.path.dirname(os.path.abspath(spec_path)))
    text = to_yaml({**spec, "weights": relative}, header)
    with publish(weights_path, overwrite=overwrite, suffix=".weights.h5") as staging:
        built.save_weights(staging)
        write_atomic(spec_path, text.encode(), overwrite=overwrite)
    return text


def _compacted(spec) -> tuple[dict, dict]:
    """(the spec in blocks, layer renames), unless blocks would hide a layer
    that a named output reads: then the flat spec as it is."""
    compacted, renamed = compact_spec(spec)
    if any(head.get("input") in renamed for head in (spec.get("outputs") or {}).values()):
        return spec, {}
    return compacted, renamed


def weights_path_of(spec_path) -> str:
    """spec.yaml -> spec.weights.h5, beside it."""
    base = os.fspath(spec_path)
    for suffix in (".yaml", ".yml"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base + ".weights.h5"


def _build_back(spec):
    from ..keras.assemble import build

    return build(data=spec)


def _layer_pairs(model, original, renamed):
    """(name in the spec's model, name in `model`) of every layer with weights."""
    flat_names = {old: new for new, old in original.items()}
    for layer in model.layers:
        if layer.weights:
            flat = flat_names.get(layer.name, layer.name)
            yield renamed.get(flat, flat), layer.name


def _same_outputs(model, built):
    """The spec's model computes what `model` computes (on inputs it accepts)."""
    import numpy as np

    feeds = []
    for tensor in model.inputs:
        shape = (2, *[6 if d is None else d for d in tensor.shape[1:]])
        kind = np.dtype(str(tensor.dtype).replace("bfloat16", "float32"))
        feeds.append(
            np.ones(shape, kind) if kind.kind in "iub" else np.random.default_rng(0).uniform(0, 1, shape).astype(kind)
        )
    feeds = feeds[0] if len(feeds) == 1 else feeds
    expected, got = model.predict(feeds, verbose=0), built.predict(feeds, verbose=0)
    for a, b in zip(expected if isinstance(expected, list) else [expected], got if isinstance(got, list) else [got]):
        if a.shape != b.shape or not np.allclose(a, b, atol=1e-4, rtol=1e-3):
            raise ModelError(
                "the imported spec does not compute what the model computes; please report this "
                "(cli.py import --flat writes one entry per layer)"
            )


def _spec_inputs(inputs: list) -> dict:
    """The spec's `input:` (one input) or `inputs:` (several) for the model's InputLayer configs."""
    found = {}
    for item in inputs:
        shape = list(item["config"]["batch_shape"][1:])
        dtype = item["config"].get("dtype", "float32")
        dtype = dtype.get("config", {}).get("name", "float32") if isinstance(dtype, dict) else dtype
        entry = {"shape": shape}
        if dtype != "float32":
            entry["dtype"] = dtype
        found[item["name"]] = entry
    if len(inputs) != 1:
        return {"inputs": found}
    ((input_name, entry),) = found.items()
    return {"input": entry["shape"] if input_name == "input" and len(entry) == 1 else {**entry, "name": input_name}}


def _flat_spec(model, name=None) -> tuple[dict, dict]:
    keras = _keras()
    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    config, original = _valid_names(model.get_config())
    ends = config["output_layers"]  # [name, node, tensor], or a list of them
    output_names = [end[0] for end in ends] if ends and isinstance(ends[0], list) else [ends[0]]
    layers = config["layers"]
    inputs = [l for l in layers if l["class_name"] == "InputLayer"]
    spec: dict = {"name": name or as_model_name(config["name"]) or "model"}
    spec.update(_spec_inputs(inputs))
    entries, previous = [], inputs[0]["name"] if len(inputs) == 1 else None
    mask_makers = _mask_makers(layers)
    for item in layers:
        if item["class_name"] == "InputLayer" or item["name"] in mask_makers:
            continue
        layer_type = registry.for_config(item["class_name"], item.get("module"))
        if layer_type is None:
            raise ModelError(
                f"layer '{item['name']}' is {article(item['class_name'])}, which has no spec type; "
                "register it with builder.register_layer(...)"
            )
        if len(item["inbound_nodes"]) != 1:
            raise ModelError(
                f"layer '{item['name']}' is called {len(item['inbound_nodes'])} times; specs hold layers called once"
            )
        positional, keywords, options = _references(item["inbound_nodes"][0])
        args = _args(layer_type, item["config"])
        args.update({k: v for k, v in options.items() if k in layer_type.call_options})
        args["name"] = item["name"]
        if keywords:
            names = layer_type.call_tensors
            args["inputs"] = {**{names[i]: r for i, r in enumerate(positional)}, **keywords}
        elif positional != [previous]:
            args["inputs"] = positional[0] if len(positional) == 1 else positional
        entries.append({layer_type.name: args})
        previous = item["name"]
    spec["layers"] = entries
    if len(output_names) > 1:
        spec["outputs"] = _named_heads(model, entries, original, output_names)
    elif not entries or next(iter(entries[-1].values()))["name"] != output_names[0]:
        raise ModelError(f"the model's output '{output_names[0]}' is not its last layer")
    else:
        spec["output"] = _head(model, entries, original)
    if not spec["layers"]:
        raise ModelError("the model has no layers besides its output")
    return spec, original


def _valid_names(config) -> tuple[dict, dict]:
    """The config with every layer named as a spec entry may be (letters,
    digits and _; `a b` becomes `a_b`), and new name -> the model's own."""
    config = json.loads(json.dumps(config))
    renamed, taken = {}, set()
    for item in config["layers"]:
        name = item["name"]
        new = as_entry_name(name) or "layer"
        while new != name and (new in taken or new in {i["name"] for i in config["layers"]}):
            new += "_"
        renamed[name] = new
        taken.add(new)

    def rename(value):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                history = value["config"]["keras_history"]
                history[0] = renamed.get(history[0], history[0])
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    for item in config["layers"]:
        item["name"] = renamed[item["name"]]
        item["inbound_nodes"] = rename(item["inbound_nodes"])
    for key in ("input_layers", "output_layers"):
        config[key] = _rename_ends(config[key], renamed)
    return config, {new: old for old, new in renamed.items() if new != old}


def _rename_ends(ends, renamed):
    """[name, node, tensor] or a list of them, renamed."""
    if ends and isinstance(ends[0], list):
        return [_rename_ends(end, renamed) for end in ends]
    return [renamed.get(ends[0], ends[0]), *ends[1:]] if ends else ends


def _mask_makers(layers) -> set:
    """Operations whose outputs only ever feed `mask=` arguments (Keras records
    the mask an Embedding(mask_zero=True) computes); a spec needs none of them."""
    uses: dict = {}
    for item in layers:
        for node in item["inbound_nodes"]:
            for key, value in [(None, a) for a in node.get("args", [])] + list(node.get("kwargs", {}).items()):
                for tensor in value if isinstance(value, list) else [value]:
                    if isinstance(tensor, dict) and tensor.get("class_name") == "__keras_tensor__":
                        uses.setdefault(tensor["config"]["keras_history"][0], set()).add(key)
    return {name for name, keys in uses.items() if keys == {"mask"}}


def _head(model, entries, original):
    """The last entry becomes `output:` when it is a Dense layer on flat features."""
    ((type_name, args),) = entries[-1].items()
    if type_name != registry.HEAD or "inputs" in args or len(entries) < 2:
        return "none"
    dense_input = model.get_layer(original.get(args["name"], args["name"])).input
    if len(dense_input.shape) != 2:
        return "none"
    entries.pop()
    head = {k: v for k, v in args.items() if k != "name"}
    head["activation"] = head.get("activation", "linear")
    if head["activation"] == "softmax":
        del head["activation"]
    if args["name"] != "predictions":
        head["name"] = args["name"]
    return head


def _named_heads(model, entries, original, names) -> dict:
    """A model's several outputs as `outputs:`: each a Dense layer on (batch,
    features) that no other layer reads, taken out of `entries` with the entry it reads."""
    first_input = model.inputs[0].name if len(model.inputs) == 1 else None
    reads = []  # (entry name, what it reads)
    for i, entry in enumerate(entries):
        args = next(iter(entry.values()))
        previous = next(iter(entries[i - 1].values()))["name"] if i else first_input
        refs = args.get("inputs", previous)
        reads.append((args["name"], refs if isinstance(refs, str) else refs))
    heads = {}
    for name in names:
        index = next(i for i, (entry_name, _) in enumerate(reads) if entry_name == name)
        ((type_name, args),) = entries[index].items()
        layer = model.get_layer(original.get(name, name))
        if type_name != registry.HEAD or len(layer.input.shape) != 2 or not isinstance(reads[index][1], str):
            raise ModelError(
                f"the model's output '{name}' is {article(type(layer).__name__)} on {list(layer.input.shape)}; "
                "a spec's named outputs are Dense layers on (batch, features)"
            )
        if any(name == refs or (isinstance(refs, list) and name in refs) for _, refs in reads):
            raise ModelError(f"the model's output '{name}' also feeds other layers; a spec's outputs end the model")
        head = {k: v for k, v in args.items() if k not in ("name", "inputs")}
        head["activation"] = head.get("activation", "linear")
        if head["activation"] == "softmax":
            del head["activation"]
        heads[name] = {**head, "input": reads[index][1]}
    kept = [entry for entry, (entry_name, _) in zip(entries, reads) if entry_name not in heads]
    if not kept:
        raise ModelError("the model has no layers besides its outputs")
    last = next(iter(kept[-1].values()))["name"]
    for head in heads.values():
        if head["input"] == last:
            del head["input"]  # an output reads the last layer unless it says otherwise
    entries[:] = kept
    return heads


def to_yaml(spec: dict, header: str = "") -> str:
    """A readable YAML text of a spec: one line per entry."""

    def flow(value):
        text = yaml.safe_dump(value, default_flow_style=True, width=10**9, sort_keys=False).strip()
        return text[:-3].strip() if text.endswith("\n...") else text  # a bare scalar ends the document

    def entries(items, indent):
        for entry in items:
            ((type_name, args),) = entry.items()
            lines.append(f"{indent}- {type_name}: {flow(args)}" if args else f"{indent}- {type_name}")

    lines = [header.rstrip()] if header else []
    lines.append(f"name: {flow(spec['name'])}")
    for key in ("input", "inputs", "weights"):
        if key in spec:
            lines.append(f"{key}: {flow(spec[key])}")
    if spec.get("defaults"):
        lines.append("defaults:")
        lines.extend(f"  {key}: {flow(value)}" for key, value in spec["defaults"].items())
    if spec.get("blocks"):
        lines.append("blocks:")
        for block_name, block in spec["blocks"].items():
            lines.append(f"  {block_name}:")
            if block.get("params"):
                lines.append(f"    params: {flow(block['params'])}")
            lines.append("    layers:")
            entries(block["layers"], "      ")
    lines.append("layers:")
    entries(spec["layers"], "  ")
    if "outputs" in spec:
        lines.append("outputs:")
        lines.extend(f"  {name}: {flow(head)}" for name, head in spec["outputs"].items())
    else:
        lines.append(f"output: {flow(spec['output'])}")
    return "\n".join(lines) + "\n"
