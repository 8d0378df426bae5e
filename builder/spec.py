"""The top level of a spec: its sections, inputs, defaults, blocks and head,
checked and gathered into a Spec. Layer entries are expanded by graph.py."""

from __future__ import annotations

import dataclasses
import os

from . import activations, loader, registry, training_spec
from .errors import SpecError, at, describe, in_source, unknown

SECTIONS = ("name", "description", "imports", "input", "inputs", "defaults", "blocks", "layers", "output",
            "training")
INPUT_DTYPES = ("float32", "float16", "bfloat16", "float64", "int32", "int64", "bool", "string")
REQUIRED = "required"      # a block parameter without a default
MAX_IMPORT_DEPTH = 16


@dataclasses.dataclass
class InputDef:
    name: str
    shape: tuple
    dtype: str
    path: tuple


@dataclasses.dataclass
class BlockDef:
    name: str
    params: dict           # name -> default value, or REQUIRED
    inputs: list           # the names the block's inputs go by inside it
    layers: list
    output: str | None
    source: loader.Source
    path: tuple            # ('blocks', name) in its source


@dataclasses.dataclass
class Spec:
    name: str
    description: str
    inputs: list
    defaults: dict
    blocks: dict
    layers: list
    output: dict | None    # the head's Dense arguments plus 'pool', or None for `output: none`
    source: loader.Source
    training: training_spec.Training


def parse(source: loader.Source) -> Spec:
    with in_source(source):
        data = source.data
        if not isinstance(data, dict):
            raise SpecError(f"a spec is a mapping with name, input, layers and output; got {describe(data)}")
        for key in data:
            if key not in SECTIONS:
                raise unknown("top-level key", key, SECTIONS).at(key)
        name = data.get("name", os.path.splitext(os.path.basename(source.file))[0])
        with at("name"):
            if not isinstance(name, str) or not name:
                raise SpecError(f"expected the model's name as a string, got {describe(name)}")
        description = data.get("description", "")
        with at("description"):
            if not isinstance(description, str):
                raise SpecError(f"expected a string, got {describe(description)}")
        inputs = _inputs(data)
        defaults = _defaults(data.get("defaults", {}))
        blocks = _blocks(source, stack=(os.path.abspath(source.file),))
        if "layers" not in data:
            raise SpecError("the spec has no 'layers'; add a list of entries such as `- dense: 64`")
        layers = data["layers"]
        with at("layers"):
            if not isinstance(layers, list) or not layers:
                raise SpecError(f"expected a non-empty list of layer entries, got {describe(layers)}")
        output = _output(data)
        with at("training"):
            training = training_spec.parse(data.get("training"))
        return Spec(name, description, inputs, defaults, blocks, layers, output, source, training)


def _inputs(data) -> list[InputDef]:
    if ("input" in data) == ("inputs" in data):
        raise SpecError("a spec needs exactly one of 'input' (one input, e.g. `input: [32, 32, 1]`) "
                        "or 'inputs' (a mapping of named inputs)")
    if "input" in data:
        with at("input"):
            return [_input(data["input"], "input", ("input",))]
    named = data["inputs"]
    with at("inputs"):
        if not isinstance(named, dict) or not named:
            raise SpecError(f"expected a mapping of input names to shapes, got {describe(named)}")
        result = []
        for name, value in named.items():
            with at(name):
                if isinstance(value, dict) and "name" in value:
                    raise SpecError("a named input takes its name from its key").at("name")
                result.append(_input(value, str(name), ("inputs", name)))
        return result


def _input(value, default_name, path) -> InputDef:
    if isinstance(value, list):
        value = {"shape": value}
    if not isinstance(value, dict):
        raise SpecError(f"expected a shape such as [32, 32, 3] or a mapping {{shape, dtype, name}}, "
                        f"got {describe(value)}")
    for key in value:
        if key not in ("shape", "dtype", "name"):
            raise unknown("input key", key, ("shape", "dtype", "name")).at(key)
    if "shape" not in value:
        raise SpecError("the input needs a 'shape', e.g. [32, 32, 3] (null for a variable size)")
    shape = value["shape"]
    with at("shape"):
        if not isinstance(shape, list) or not shape or not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 2**31 - 1)
                for d in shape):
            raise SpecError(f"expected a list of positive sizes (null for a variable size), got {describe(shape)}")
    dtype = value.get("dtype", "float32")
    with at("dtype"):
        if dtype not in INPUT_DTYPES:
            raise unknown("input dtype", dtype, INPUT_DTYPES)
    name = value.get("name", default_name)
    with at("name"):
        if not isinstance(name, str) or not name:
            raise SpecError(f"expected a name, got {describe(name)}")
    return InputDef(name, tuple(shape), dtype, path)


def _defaults(defaults) -> dict:
    with at("defaults"):
        if not isinstance(defaults, dict):
            raise SpecError(f"expected a mapping of argument names to values, got {describe(defaults)}")
        accepted = {arg for layer_type in registry.LAYERS.values() for arg in layer_type.args}
        accepted -= {"name", "dtype", "trainable"}
        for key in defaults:
            if key not in accepted:
                raise unknown("default (no layer type takes it)", key, accepted).at(key)
        if "activation" in defaults:
            with at("activation"):
                activations.parse(defaults["activation"])
        return dict(defaults)


def _output(data) -> dict | None:
    if "output" not in data:
        raise SpecError("the spec has no 'output'; write `output: {units: N}` for a softmax classifier "
                        "over N classes, or `output: none` for a model without a head")
    output = data["output"]
    with at("output"):
        if output is None or output == "none":
            return None
        if isinstance(output, int) and not isinstance(output, bool):
            output = {"units": output}
        if not isinstance(output, dict):
            raise SpecError(f"expected {{units: N, ...}} or none, got {describe(output)}")
        output = dict(output)
        pool = output.setdefault("pool", "flatten")
        if pool not in HEAD_POOLS:
            raise unknown("output pool", pool, HEAD_POOLS).at("pool")
        output.setdefault("activation", "softmax")
        output.setdefault("name", "predictions")
        return output


HEAD_POOLS = ("flatten", "global_average", "global_max", "none")


def library_blocks(source) -> dict:
    """The blocks a block library defines (and imports), checked."""
    return _blocks(source, stack=(os.path.abspath(source.file),))


def _blocks(source, stack) -> dict:
    data = source.data
    blocks: dict = {}
    with in_source(source):
        imports = data.get("imports", [])
        with at("imports"):
            if not isinstance(imports, list):
                raise SpecError(f"expected a list of relative paths to YAML files, got {describe(imports)}")
        for i, relative in enumerate(imports):
            with at("imports", i):
                for name, block in _import(source, relative, stack).items():
                    if name in blocks:
                        raise SpecError(f"block '{name}' is defined twice: in {blocks[name].source.file} "
                                        f"and {block.source.file}")
                    blocks[name] = block
        local = data.get("blocks", {})
        with at("blocks"):
            if not isinstance(local, dict):
                raise SpecError(f"expected a mapping of block names to definitions, got {describe(local)}")
        for name, definition in local.items():
            with at("blocks", name):
                if name in blocks:
                    raise SpecError(f"block '{name}' is already imported from {blocks[name].source.file}")
                blocks[name] = _block(str(name), definition, source)
    return blocks


def _import(source, relative, stack) -> dict:
    if not isinstance(relative, str) or not relative.endswith((".yaml", ".yml")):
        raise SpecError(f"expected a relative path to a .yaml file, got {describe(relative)}")
    if "://" in relative or os.path.isabs(relative):
        raise SpecError(f"imports are relative file paths only, got {relative!r}")
    path = os.path.normpath(os.path.join(source.dir, relative))
    if path in stack:
        chain = " -> ".join(os.path.basename(p) for p in (*stack, path))
        raise SpecError(f"import cycle: {chain}")
    if len(stack) > MAX_IMPORT_DEPTH:
        raise SpecError(f"imports nest more than {MAX_IMPORT_DEPTH} files deep")
    if not os.path.isfile(path):
        raise SpecError(f"cannot import {relative!r}: no such file ({path})")
    imported = loader.load_file(path)
    with in_source(imported):
        if not isinstance(imported.data, dict):
            raise SpecError(f"a block library is a mapping with 'blocks', got {describe(imported.data)}")
        for key in imported.data:
            if key not in ("blocks", "imports", "description"):
                raise SpecError(
                    f"a block library holds only 'blocks', 'imports' and 'description', not '{key}'").at(key)
    return _blocks(imported, (*stack, path))


def _block(name, definition, source) -> BlockDef:
    if name in registry.LAYERS or name in registry.activation_names():
        raise SpecError(f"block name '{name}' is already a layer type; choose another name")
    if not isinstance(definition, dict):
        raise SpecError(f"expected a block definition {{params, layers}}, got {describe(definition)}")
    for key in definition:
        if key not in BLOCK_KEYS:
            raise unknown("block key", key, BLOCK_KEYS).at(key)
    params = definition.get("params", {})
    with at("params"):
        if not isinstance(params, dict):
            raise SpecError(f"expected a mapping of parameter names to defaults ('required' for none), "
                            f"got {describe(params)}")
        for param in params:
            if param in RESERVED:
                raise SpecError(f"'{param}' is reserved for every entry; "
                                                  "choose another parameter name").at(param)
    inputs = definition.get("inputs", ["input"])
    with at("inputs"):
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            raise SpecError(f"expected the names of the block's inputs, got {describe(inputs)}")
    layers = definition.get("layers")
    with at("layers"):
        if not isinstance(layers, list) or not layers:
            raise SpecError(f"a block needs a non-empty list of layers, got {describe(layers)}")
    output = definition.get("output")
    with at("output"):
        if output is not None and not isinstance(output, str):
            raise SpecError(f"expected the name of the entry whose output the block returns, got {describe(output)}")
    return BlockDef(name, dict(params), list(inputs), layers, output, source, ("blocks", name))


BLOCK_KEYS = ("description", "params", "inputs", "layers", "output")
RESERVED = ("name", "inputs", "repeat", "vary", "when")
