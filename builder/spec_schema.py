"""The spec language as a JSON Schema (draft 2020-12), for editors.

Generated from the definitions the validator uses — the registry, the
argument models of builder/schema.py, the section names of builder/spec.py
and the training model — never kept by hand. `python cli.py schema` prints
it; `spec.schema.json` at the top of the repository is this output, checked
in (a test fails when it is stale). The schema is a little looser than
`validate`: it cannot know which block names a spec defines, and arguments
may be `$param` strings anywhere.
"""

from __future__ import annotations

import copy
import json

from . import argtypes, registry, schema, spec, training_spec

DRAFT = "https://json-schema.org/draft/2020-12/schema"
PARAMETER = {"type": "string", "pattern": r"^\$[A-Za-z_][A-Za-z0-9_]*$", "description": "a block parameter"}


def _ref(name):
    return {"$ref": f"#/$defs/{name}"}


def _layer_args(layer_type) -> dict:
    generated = schema.args_model(layer_type).model_json_schema()
    properties = {}
    for arg, prop in generated.get("properties", {}).items():
        prop.pop("title", None)
        kind = argtypes.type_of(layer_type, arg)
        if kind == "activation":
            prop = {**_ref("activation"), "description": prop.get("description", "")}
        elif kind == "entry":
            prop = {"anyOf": [_ref("entry"), {"type": "null"}], "description": prop.get("description", "")}
        properties[arg] = {"anyOf": [prop, PARAMETER]}
    properties.update(_entry_keys())
    result = {"type": "object", "description": layer_type.doc, "properties": properties,
              "additionalProperties": False}
    return result, generated.get("$defs", {})


def _entry_keys() -> dict:
    names = {"type": "string", "pattern": r"^[A-Za-z0-9_]+(\.[0-9]+)?$"}
    return {
        "name": {"type": "string", "description": "the layer's name, and the handle other entries use"},
        "inputs": {"anyOf": [names, {"type": "array", "items": names, "minItems": 1},
                             {"type": "object", "additionalProperties": names}],
                   "description": "entries (or inputs) to take instead of the previous entry"},
        "repeat": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 1000}, PARAMETER],
                   "description": "chain the entry this many times"},
        "vary": {"type": "object", "additionalProperties": {"type": "object"},
                 "description": "argument changes for some repetitions: first, last or a number"},
        "when": {"anyOf": [{"type": "boolean"}, PARAMETER], "description": "false: pass the input through"},
    }


def _scalar_schema(layer_type):
    annotation_type = argtypes.type_of(layer_type, layer_type.short)
    model = schema.args_model(layer_type).model_json_schema()
    prop = copy.deepcopy(model["properties"][layer_type.short])
    prop.pop("title", None)
    prop.pop("default", None)
    if annotation_type == "entry":
        return _ref("entry")
    if annotation_type == "activation":
        return _ref("activation")
    return prop


def generate() -> dict:
    defs: dict = {}
    entry_properties = {}
    for name, layer_type in sorted(registry.LAYERS.items()):
        args, extra_defs = _layer_args(layer_type)
        defs.update(extra_defs)
        defs[f"args_{name}"] = args
        forms = [_ref(f"args_{name}"), {"type": "null"}]
        if layer_type.short:
            forms.append(_scalar_schema(layer_type))
        entry_properties[name] = {"anyOf": forms, "description": layer_type.doc}
    activations = registry.activation_names()
    for name in activations:
        entry_properties.setdefault(name, {"anyOf": [{"type": "null"}, {"type": "object", "properties":
                                                                        _entry_keys(), "additionalProperties": False}],
                                           "description": f"the {name} activation"})
    defs["entry"] = {
        "anyOf": [
            {"type": "string", "description": "a layer type, activation or block without arguments"},
            {"type": "object", "minProperties": 1, "maxProperties": 1, "properties": entry_properties,
             "additionalProperties": {"type": ["object", "null"], "description": "a block instance"}},
        ]}
    defs["entries"] = {"type": "array", "items": _ref("entry"), "minItems": 1}
    layer_activations = {}
    for name in registry.LAYER_ACTIVATIONS:
        forms = [{"type": "null"}, _ref(f"args_{name}")]
        if registry.LAYERS[name].short:
            forms.append(_scalar_schema(registry.LAYERS[name]))
        layer_activations[name] = {"anyOf": forms}
    defs["activation"] = {"anyOf": [
        {"enum": activations + list(registry.LAYER_ACTIVATIONS)},
        {"type": "object", "minProperties": 1, "maxProperties": 1, "properties": layer_activations,
         "additionalProperties": False},
        {"type": "null"}, PARAMETER],
        "description": "an activation name, or {leaky_relu|prelu|maxout: arguments}"}
    defs["input"] = {"anyOf": [
        {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}, "minItems": 1},
        {"type": "object", "additionalProperties": False, "required": ["shape"], "properties": {
            "shape": {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}},
            "dtype": {"enum": list(spec.INPUT_DTYPES)}, "name": {"type": "string"}}}]}
    accepted = sorted({arg for t in registry.LAYERS.values() for arg in t.args} - {"name", "dtype", "trainable"})
    dense_args = copy.deepcopy(defs["args_dense"]["properties"])
    for key in _entry_keys():
        dense_args.pop(key, None)
    defs["output"] = {"anyOf": [
        {"const": "none"}, {"type": "null"}, {"type": "integer", "minimum": 1},
        {"type": "object", "additionalProperties": False,
         "properties": {**dense_args, "name": {"type": "string"}, "pool": {"enum": list(spec.HEAD_POOLS)}}}]}
    defs["block"] = {"type": "object", "additionalProperties": False, "properties": {
        "description": {"type": "string"},
        "params": {"type": "object", "description": "parameter -> default ('required' for none)"},
        "inputs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "layers": _ref("entries"),
        "output": {"type": "string"}}}
    training = training_spec.Training.model_json_schema(ref_template="#/$defs/{model}")
    defs.update(training.pop("$defs", {}))
    defs["training"] = training
    properties = {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "extends": {"type": "string", "description": "a spec this one builds on (relative path)"},
        "set": {"type": "object", "description": "dotted path -> value, applied to the extended spec"},
        "imports": {"type": "array", "items": {"type": "string"}, "description": "block libraries (relative paths)"},
        "input": _ref("input"),
        "inputs": {"type": "object", "additionalProperties": _ref("input")},
        "defaults": {"type": "object", "propertyNames": {"enum": accepted},
                     "properties": {"activation": _ref("activation")}},
        "blocks": {"type": "object", "additionalProperties": _ref("block")},
        "layers": _ref("entries"),
        "output": _ref("output"),
        "training": _ref("training"),
    }
    missing = set(spec.SECTIONS) - set(properties)
    assert not missing, f"sections without a schema: {missing}"
    return {"$schema": DRAFT, "$id": "spec.schema.json", "title": "keras-spec-builder spec",
            "description": "A YAML spec for builder (docs/spec.md).", "type": "object",
            "properties": properties, "additionalProperties": False, "$defs": defs}


def render() -> str:
    return json.dumps(generate(), indent=1, sort_keys=False) + "\n"
