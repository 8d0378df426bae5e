"""The spec language as a JSON Schema (draft 2020-12), for editors.

Generated from the definitions the validator uses — the language's pydantic
models (builder/spec/language.py, training.py) for the sections, the
registry's argument models for every entry — never kept by hand. `python
cli.py schema` prints it; `specs/spec.schema.json`, beside the shipped specs, is
this output, checked in (`python tools/regenerate.py` rewrites it; a test
fails when it is stale). The schema is a little looser than `validate`: it
cannot know which block names a spec defines, arguments may be `$param`
strings anywhere, and an extending spec may leave out any section.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from ..catalogue import registry
from ..spec import argtypes, arguments, entries, expressions, language

TARGET = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "specs", "spec.schema.json"
)
DRAFT = "https://json-schema.org/draft/2020-12/schema"
_NUMBERING: dict[str, Any] = {
    "anyOf": [
        {"enum": list(language.NUMBERINGS)},
        {
            "type": "object",
            "properties": {
                "style": {"enum": list(language.NUMBERINGS)},
                "start": {"enum": [0, 1]},
                "always": {"type": "boolean"},
                "continue": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
    ]
}

_ARITHMETIC = r"[\d\s.()+\-*/%,]"
PARAMETER: dict[str, Any] = {
    "type": "string",
    # a $name, arithmetic on numbers alone (88 / 24), or one of the expressions' functions
    "pattern": rf"\$[A-Za-z0-9_]+|^[-+(\s]*\d{_ARITHMETIC}*[-+*/%]{_ARITHMETIC}*$"
    rf"|^({'|'.join(expressions.FUNCTIONS)})\(",
    "description": "a parameter ($name), or an expression over $names or numbers (docs/spec.md#expressions)",
}


def _ref(name):
    return {"$ref": f"#/$defs/{name}"}


def _layer_args(layer_type) -> tuple[dict, dict]:
    generated = arguments.args_model(layer_type).model_json_schema()
    properties = {}
    for arg, prop in generated.get("properties", {}).items():
        prop.pop("title", None)
        kind = argtypes.arg_type(layer_type, arg)
        if kind == "activation":
            prop = {**_ref("activation"), "description": prop.get("description", "")}
        elif kind == "entry":
            prop = {"anyOf": [_ref("entry"), {"type": "null"}], "description": prop.get("description", "")}
        properties[arg] = {"anyOf": [_items_may_be_parameters(prop), PARAMETER]}
    properties.update(_entry_keys())
    result = {"type": "object", "description": layer_type.doc, "properties": properties, "additionalProperties": False}
    return result, generated.get("$defs", {})


def _items_may_be_parameters(schema):
    """A list argument's items may be block parameters too (`target_shape: [1, 1, $filters]`)."""
    if isinstance(schema, list):
        return [_items_may_be_parameters(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    found = {key: _items_may_be_parameters(value) for key, value in schema.items()}
    if isinstance(found.get("items"), dict):
        found["items"] = {"anyOf": [found["items"], PARAMETER]}
    if isinstance(found.get("prefixItems"), list):
        found["prefixItems"] = [{"anyOf": [item, PARAMETER]} for item in found["prefixItems"]]
    return found


def _entry_keys() -> dict:
    names = {"type": "string", "pattern": rf"^{language.ENTRY_NAME}(\.[0-9]+)?$"}
    forms: dict[str, dict] = {
        "name": {"type": "string"},
        "inputs": {
            "anyOf": [
                names,
                {"type": "array", "items": names, "minItems": 1},
                {"type": "object", "additionalProperties": names},
            ]
        },
        "repeat": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": entries.MAX_REPEAT}, PARAMETER]},
        "vary": {"type": "object", "additionalProperties": {"type": "object"}},
        "when": {"anyOf": [{"type": "boolean"}, PARAMETER]},
        "numbering": _NUMBERING,
    }
    return {key: {**forms[key], "description": text} for key, text in language.ENTRY_KEYS.items()}


def _scalar_schema(layer_type):
    annotation_type = argtypes.arg_type(layer_type, layer_type.short)
    model = arguments.args_model(layer_type).model_json_schema()
    prop = copy.deepcopy(model["properties"][layer_type.short])
    prop.pop("title", None)
    prop.pop("default", None)
    if annotation_type == "entry":
        return _ref("entry")
    if annotation_type == "activation":
        return _ref("activation")
    return prop


def generate() -> dict:
    """The spec language's JSON Schema: the document's sections from the
    language's pydantic models, every layer type's arguments from the registry."""
    document = language.SpecFile.model_json_schema(ref_template="#/$defs/{model}")
    return _document(_entry_defs(), document)


def _entry_defs() -> dict:
    """The definitions of a layer entry: every layer type's arguments, activations and block instances."""
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
        entry_properties.setdefault(
            name,
            {
                "anyOf": [
                    {"type": "null"},
                    {"type": "object", "properties": _entry_keys(), "additionalProperties": False},
                ],
                "description": f"the {name} activation",
            },
        )
    entry_properties[language.SHARE] = {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {"layer": {"type": "string"}, **_entry_keys()},
                "required": ["layer"],
                "additionalProperties": False,
            },
        ],
        "description": "an earlier layer (or named block instance) called again with the same weights",
    }
    defs["entry"] = {
        "anyOf": [
            {"type": "string", "description": "a layer type, activation or block without arguments"},
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": entry_properties,
                "additionalProperties": {"type": ["object", "null"], "description": "a block instance"},
            },
        ]
    }
    defs["entries"] = {"type": "array", "items": _ref("entry"), "minItems": 1}
    defs["activation"] = _activation_def(activations)
    return defs


def _activation_def(activations: list) -> dict:
    """An `activation:` value: a name, {leaky_relu|prelu|maxout: arguments}, null or a parameter."""
    layer_activations = {}
    for name in registry.LAYER_ACTIVATIONS:
        forms = [{"type": "null"}, _ref(f"args_{name}")]
        if registry.LAYERS[name].short:
            forms.append(_scalar_schema(registry.LAYERS[name]))
        layer_activations[name] = {"anyOf": forms}
    return {
        "anyOf": [
            {"enum": activations + list(registry.LAYER_ACTIVATIONS)},
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": layer_activations,
                "additionalProperties": False,
            },
            {"type": "null"},
            PARAMETER,
        ],
        "description": "an activation name, or {leaky_relu|prelu|maxout: arguments}",
    }


def _document(defs: dict, document: dict) -> dict:
    """The schema of a whole spec file, from the language's models and the entry definitions."""
    defs.update(document.pop("$defs"))
    dense_args = {k: v for k, v in defs[f"args_{registry.HEAD}"]["properties"].items() if k not in language.ENTRY_KEYS}
    defs["Output"]["properties"] = {**dense_args, **defs["Output"]["properties"], "activation": _ref("activation")}
    defs["Output"]["additionalProperties"] = False
    properties = document["properties"]
    properties["defaults"] = {
        **properties["defaults"],
        "propertyNames": {"enum": sorted(registry.default_args() | {"numbering"})},
        "properties": {"activation": _ref("activation"), "numbering": _NUMBERING},
    }
    # No section is required: a spec with `extends` may take any of them from its base.
    return {
        "$schema": DRAFT,
        "$id": "spec.schema.json",
        "title": "keras-spec-builder spec",
        "description": "A YAML spec for builder (docs/spec.md).",
        "type": "object",
        "properties": _untitled(properties),
        "additionalProperties": False,
        "$defs": _untitled(defs),
    }


def _untitled(value):
    """The schema without pydantic's generated titles (editors show the
    descriptions), and with layer entries referring to their definition."""
    if isinstance(value, dict):
        if value.get(language.ENTRY_MARK):
            return _ref("entry")
        return {k: _untitled(v) for k, v in value.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(value, list):
        return [_untitled(v) for v in value]
    return value


def render() -> str:
    return json.dumps(generate(), indent=1, sort_keys=False) + "\n"
