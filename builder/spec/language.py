"""The spec language's top level, defined once as pydantic models: the
sections, inputs, output, blocks, block libraries and entry keys. They check
specs here and become the JSON Schema (builder/io/json_schema.py). `parse`
gathers a checked document into a Spec; layer entries are expanded by graph.py.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ..catalogue import registry
from ..errors import SpecError, at, describe, in_source, unknown
from . import activations
from .argtypes import SIZE_LIMIT, Number
from .reader import Source
from .search import SearchSpace
from .training import OUTPUT_TASKS, LossAndMetrics, Training
from .validation import SpecModel, spec_check, validate

INPUT_DTYPES = ("float32", "float16", "bfloat16", "float64", "int32", "int64", "bool", "string")
REQUIRED = "required"  # a block parameter without a default
# The keys every entry may hold besides its layer's arguments.
ENTRY_KEYS = {
    "name": "the layer's name, and the handle other entries use",
    "inputs": "entries (or inputs) to take instead of the previous entry",
    "repeat": "chain the entry this many times",
    "vary": "argument changes for some repetitions: first, last or a number",
    "when": "false: pass the input through",
    "numbering": "how repetitions are named: numbers (conv2_block1, ...) or letters (block2a, ...), "
    "or a mapping of style, start (0 or 1), always and continue",
}
RESERVED = tuple(ENTRY_KEYS)
SHARE = "share"  # the entry that calls an earlier layer (or block instance) again: `- share: {layer: NAME, ...}`
NUMBERINGS = ("numbers", "letters")
HEAD_POOLS = tuple(registry.HEAD_POOLS)

Size = Annotated[StrictInt, Field(gt=0, le=SIZE_LIMIT)]
# The names a spec gives, said once. An entry's (a layer's) name: letters, digits and _.
# A model's name is a label, never a path: no '/', no leading '.' ('..'); and no leading _,
# which TensorFlow's name scopes refuse.
_ENTRY_CHARS = "A-Za-z0-9_"
_MODEL_CHARS = _ENTRY_CHARS + ".\\-"
ENTRY_NAME = f"[{_ENTRY_CHARS}]+"
MODEL_NAME = f"[A-Za-z0-9][{_MODEL_CHARS}]*"  # TensorFlow's scopes take no leading _
ModelName = Annotated[StrictStr, Field(pattern=f"^{MODEL_NAME}$", max_length=100)]


def as_entry_name(text: str) -> str:
    """`text` as an entry's name: every other character made _."""
    return re.sub(f"[^{_ENTRY_CHARS}]", "_", text)


def as_model_name(text: str) -> str:
    """`text` as a model's name (empty where nothing is left of it)."""
    return re.sub(f"[^{_MODEL_CHARS}]", "_", text).lstrip("._-")


# The order of a spec's top-level keys where builder writes a spec (a run's spec.yaml, an imported model's).
TOP_LEVEL_ORDER = (
    "name",
    "description",
    "input",
    "inputs",
    "weights",
    "defaults",
    "blocks",
    "layers",
    "output",
    "outputs",
    "training",
)
# A layer entry: checked entry by entry when the graph is expanded (graph.py);
# its JSON Schema, one form per registered layer type, is put in this mark's place.
ENTRY_MARK = "x-spec-entry"
Entry = Annotated[Any, WithJsonSchema({ENTRY_MARK: True})]


class Input(SpecModel):
    EXPECTED: ClassVar[str] = "a shape such as [32, 32, 3] or a mapping {shape, dtype, name}"
    UNKNOWN: ClassVar[str] = "input key"
    MISSING: ClassVar[dict] = {"shape": "the input needs a 'shape', e.g. [32, 32, 3] (null for a variable size)"}
    CHOICES: ClassVar[dict] = {"dtype": "input dtype"}

    shape: Annotated[list[Size | None], Field(min_length=1)] = Field(
        description="a list of positive sizes (null for a variable size)"
    )
    dtype: Literal[INPUT_DTYPES] = Field("float32", description="the input's dtype")  # type: ignore[valid-type]
    name: Annotated[StrictStr, Field(min_length=1)] | None = Field(None, description="a name")


def _shape_alone(value):
    return {"shape": value} if isinstance(value, list) else value


InputForm = Annotated[Input, BeforeValidator(_shape_alone, json_schema_input_type=Union[list[Size | None], Input])]


class _Head(SpecModel):
    """An output layer: Dense arguments (checked with the dense layer's own), plus how
    a body that ends in more than (batch, features) is reduced first."""

    model_config = {**SpecModel.model_config, "extra": "allow"}
    CHOICES: ClassVar[dict] = {"pool": "output pool"}

    pool: Literal[HEAD_POOLS] = Field(  # type: ignore[valid-type]
        "flatten", description="how to reduce a body that ends in more than (batch, features) before the output layer"
    )
    activation: Any = Field("softmax", description="the output layer's activation")


class NamedOutput(_Head, LossAndMetrics):
    """One of several named outputs (`outputs:`): a head on the body's last
    entry (or on `input`), with what it learns and how much it counts."""

    model_config = _Head.model_config  # Dense's arguments beside its own (the mixin's config is stricter)
    CHOICES: ClassVar[dict] = {**_Head.CHOICES, "task": "output task"}
    # What an output holds besides its Dense arguments: graph.py leaves these out of the layer.
    SETTINGS: ClassVar[tuple] = ("pool", "input", "task", "loss", "metrics", "loss_weight")

    input: StrictStr | None = Field(None, description="the entry the output reads (default: the last layer)")
    task: Literal[OUTPUT_TASKS] | None = Field(  # type: ignore[valid-type]
        None,
        description="what it learns: " + ", ".join(OUTPUT_TASKS) + " (default: from its activation and units, "
        "as training.task's)",
    )
    loss: StrictStr | None = Field(None, description="a Keras loss name (default: its task's)")
    metrics: list[StrictStr] | None = Field(None, description="Keras metric names (default: its task's)")
    loss_weight: Annotated[Number, Field(ge=0, le=1e6)] = Field(
        1.0, description="its loss's weight in the total loss, a number from 0"
    )

    @model_validator(mode="before")
    @classmethod
    @spec_check
    def _named_by_its_key(cls, data):
        if isinstance(data, dict) and "name" in data:
            raise SpecError("an output is named by its key in `outputs:`; leave out 'name'", path=("name",))
        if isinstance(data, dict) and "tie" in data:
            raise SpecError("a tied head is the one `output:` of a language model, not one of `outputs:`").at("tie")
        return data


class Output(_Head):
    """The head: the output layer of a model with one output."""

    name: StrictStr = Field("predictions", description="the output layer's name")
    tie: StrictStr | None = Field(
        None,
        description="an embedding entry (a reversible_embedding) whose matrix, "
        "transposed, is the output layer's (GPT-2's head)",
    )


def _output_shorthand(value):
    if value is None or value == "none":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return {"units": value}
    return value


OutputForm = Annotated[
    Output | None,
    BeforeValidator(_output_shorthand, json_schema_input_type=Union[Literal["none"], None, Size, Output]),
]
NamedOutputForm = Annotated[
    NamedOutput,
    BeforeValidator(
        lambda v: {"units": v} if isinstance(v, int) and not isinstance(v, bool) else v,
        json_schema_input_type=Union[Size, NamedOutput],
    ),
]


class Weights(SpecModel):
    """Where a model's starting weights come from."""

    EXPECTED: ClassVar[str] = "a path to a .keras or .weights.h5 file, or {path: FILE, skip_mismatch: true}"
    MISSING: ClassVar[dict] = {"path": "weights needs a 'path' to a .keras or .weights.h5 file"}

    path: StrictStr = Field(description="a .keras or .weights.h5 file, relative to the spec's folder")
    skip_mismatch: StrictBool = Field(
        False,
        description="true: load the layers that fit and report the others "
        "(a new head); false: any mismatch is an error",
    )


WeightsForm = Annotated[
    Weights | None,
    BeforeValidator(
        lambda v: {"path": v} if isinstance(v, str) else v, json_schema_input_type=Union[StrictStr, Weights, None]
    ),
]


class Block(SpecModel):
    EXPECTED: ClassVar[str] = "a block definition {params, layers}"
    UNKNOWN: ClassVar[str] = "block key"
    MISSING: ClassVar[dict] = {"layers": "a block needs a non-empty list of layers, got null"}

    description: StrictStr = Field("", description="a string")
    params: dict[StrictStr, Any] = Field(
        default_factory=dict, description="a mapping of parameter names to defaults ('required' for none)"
    )
    inputs: Annotated[
        list[StrictStr],
        Field(min_length=1),
        BeforeValidator(
            lambda v: [v] if isinstance(v, str) else v, json_schema_input_type=Union[StrictStr, list[StrictStr]]
        ),
    ] = Field(["input"], description="the names of the block's inputs")
    layers: Annotated[list[Entry], Field(min_length=1)] = Field(description="a non-empty list of layers")
    output: StrictStr | None = Field(None, description="the name of the entry whose output the block returns")

    @field_validator("params")
    @classmethod
    @spec_check
    def _not_reserved(cls, params):
        for param in params:
            if param in RESERVED:
                raise SpecError(f"'{param}' is reserved for every entry; choose another parameter name", path=(param,))
        return params


Blocks = dict[StrictStr, Block]


class _WithBlocks(SpecModel):
    """What a spec and a block library share: blocks, and the libraries they import."""

    description: StrictStr = Field("", description="a string")
    imports: list[Annotated[Any, WithJsonSchema({"type": "string"})]] = Field(
        default_factory=list, description="a list of relative paths to YAML files"
    )
    blocks: Blocks = Field(default_factory=dict, description="a mapping of block names to definitions")


class Library(_WithBlocks):
    """A block library: a file of blocks that specs import."""

    @classmethod
    def unknown_message(cls, key) -> str:
        return f"a block library holds only 'blocks', 'imports' and 'description', not '{key}'"


class Document(_WithBlocks):
    """A whole spec, after `extends` and `set` are applied."""

    UNKNOWN: ClassVar[str] = "top-level key"
    MISSING: ClassVar[dict] = {
        "layers": "the spec has no 'layers'; add a list of entries such as `- dense: 64`",
        "output": "the spec has no 'output'; write `output: {units: N}` for a softmax classifier over N classes, "
        "or `output: none` for a model without a head",
    }

    name: ModelName | None = Field(
        None,
        description="the model's name, of letters, digits and _ . - starting with a letter or digit (it also names "
        "the run folder, runs/NAME)",
    )
    input: InputForm | None = Field(None, description=Input.EXPECTED)
    inputs: Annotated[dict[StrictStr, InputForm], Field(min_length=1)] | None = Field(
        None, description="a mapping of input names to shapes"
    )
    defaults: dict[StrictStr, Any] = Field(default_factory=dict, description="a mapping of argument names to values")
    layers: Annotated[list[Entry], Field(min_length=1)] = Field(description="a non-empty list of layer entries")
    output: OutputForm = Field(description="{units: N, ...} or none")
    outputs: Annotated[dict[StrictStr, NamedOutputForm], Field(min_length=1)] | None = Field(
        None,
        description="instead of `output:`, named outputs: names to output settings ({units: N, ...}, with "
        "input, task, loss, metrics and loss_weight)",
    )
    weights: WeightsForm = Field(None, description=Weights.EXPECTED)
    training: Training = Field(default_factory=Training, description="a mapping")  # type: ignore[arg-type]
    params: dict[StrictStr, Any] = Field(
        default_factory=dict,
        description="the spec's own parameters, $name in its top-level entries (a value "
        "may be a formula of earlier ones); scales change them",
    )
    scales: dict[StrictStr | StrictInt, dict[StrictStr, Any]] | None = Field(
        None,
        description="named variants of the design (sizes): scale names to the values they set, as `set:` "
        "takes them (dotted paths to values)",
    )
    scale: StrictStr | StrictInt | None = Field(
        None, description="the scale this spec builds (one of `scales:`; --scale NAME chooses another)"
    )
    search: Annotated[SearchSpace, Field(min_length=1)] | None = Field(
        None,
        description="a hyperparameter search space: spec paths to a list of choices, {int: [low, high], "
        "step: N} or {float: [low, high], sampling: log} (cli.py search)",
    )

    @model_validator(mode="after")
    @spec_check
    def _one_task_per_output(self):
        declared = self.training.task
        if self.outputs and declared not in (None, "multi_output"):
            raise SpecError(
                f"the spec has named outputs, each learning its own task: write `task: {declared}` in an output "
                "of `outputs:`, or leave training.task out",
                path=("training", "task"),
            )
        if declared == "multi_output" and not self.outputs:
            raise SpecError("multi_output trains named outputs: write them under `outputs:`", path=("training", "task"))
        return self

    @field_validator("outputs")
    @classmethod
    @spec_check
    def _output_names(cls, outputs):
        for name in outputs or ():
            if not re.fullmatch(ENTRY_NAME, name):
                raise SpecError(
                    f"an output's name is letters, digits and _ (it names its layer), not {name!r}", path=(name,)
                )
        return outputs

    @model_validator(mode="before")
    @classmethod
    @spec_check
    def _a_mapping(cls, data):
        if not isinstance(data, dict):
            raise SpecError(f"a spec is a mapping with name, input, layers and output; got {describe(data)}")
        if "outputs" in data:
            if "output" in data:
                raise SpecError("a spec has one `output:` or several named `outputs:`, not both", path=("outputs",))
            data = {**data, "output": None}
        return data

    @field_validator("inputs", mode="before")
    @classmethod
    @spec_check
    def _named_by_key(cls, inputs):
        for key, value in (inputs or {}).items() if isinstance(inputs, dict) else ():
            if isinstance(value, dict) and "name" in value:
                raise SpecError("a named input takes its name from its key", path=(key, "name"))
        return inputs

    @field_validator("defaults")
    @classmethod
    @spec_check
    def _defaults_some_layer_takes(cls, defaults):
        accepted = registry.default_args() | {"numbering"}  # numbering: how every repeated entry is named
        for key in defaults:
            if key not in accepted:
                raise unknown("default (no layer type takes it)", key, accepted).at(key)
        if "activation" in defaults:
            with at("activation"):
                activations.parse(defaults["activation"])
        return defaults

    @model_validator(mode="after")
    @spec_check
    def _one_input_section(self):
        if (self.input is None) == (self.inputs is None):
            raise SpecError(
                "a spec needs exactly one of 'input' (one input, e.g. `input: [32, 32, 1]`) "
                "or 'inputs' (a mapping of named inputs)"
            )
        return self


INCLUDE_KEYS = {
    "extends": "a spec this one builds on (relative path)",
    "set": "dotted path -> value, applied to the extended spec",
    "remove": "names of the extended spec's layers entries to leave out",
    "insert": "entries to add to the extended spec's layers: {before: NAME} or {after: NAME}, and their layers",
}


class Insertion(SpecModel):
    """Entries added to an extended spec's `layers`, before or after a named entry."""

    before: StrictStr | None = Field(None, description="the name of the entry they go before")
    after: StrictStr | None = Field(None, description="the name of the entry they go after")
    layers: list[Any] = Field(description="the entries, written as in `layers`")


class SpecFile(Document):
    """A spec file as written: a Document, perhaps built on another by `extends` and `set`."""

    extends: StrictStr | None = Field(None, description=INCLUDE_KEYS["extends"])
    set: dict[StrictStr, Any] = Field(default_factory=dict, description=INCLUDE_KEYS["set"])
    remove: list[StrictStr] = Field(default_factory=list, description=INCLUDE_KEYS["remove"])
    insert: list[Insertion] = Field(default_factory=list, description=INCLUDE_KEYS["insert"])


# --- the parsed spec ----------------------------------------------------------------


@dataclasses.dataclass
class InputDef:
    name: str
    shape: tuple
    dtype: str
    path: tuple


@dataclasses.dataclass
class BlockDef:
    name: str
    params: dict  # name -> default value, or REQUIRED
    inputs: list  # the names the block's inputs go by inside it
    layers: list
    output: str | None
    source: Source
    path: tuple  # ('blocks', name) in its source


@dataclasses.dataclass
class Spec:
    name: str
    description: str
    inputs: list
    defaults: dict
    blocks: dict
    layers: list
    output: dict | None  # the head's Dense arguments plus 'pool', or None for `output: none`
    source: Source
    training: Training
    limits: dict = dataclasses.field(default_factory=dict)  # budget.check's: max_params, max_activation
    weights: dict | None = None  # {'path': the file, found from the folder of the spec that names it, 'skip_mismatch'}
    search: dict | None = None  # path -> a list of choices, or {int|float: [low, high], step, sampling}
    params: dict = dataclasses.field(default_factory=dict)  # the spec's own parameters, for its top-level entries
    outputs: dict | None = None  # `outputs:`: name -> the head's Dense arguments plus NamedOutput.SETTINGS


def parse(source: Source, includes) -> Spec:
    """The Spec of a document whose `extends` is resolved; `includes` (an
    includes.Includes) reads the block libraries it imports."""
    with in_source(source):
        document = validate(Document, source.data)
        name = document.name or _name_from(source.file)
        blocks = library_blocks(source, includes, document)
    if document.input is not None:
        inputs = [_input(document.input, "input", ("input",))]
    else:
        inputs = [_input(value, key, ("inputs", key)) for key, value in document.inputs.items()]
    output = document.output.model_dump() if document.output is not None else None
    if output is not None and output["tie"] is not None and "pool" not in document.output.model_fields_set:
        output["pool"] = "none"  # a tied head predicts for every position of its sequence
    spec = Spec(
        name,
        document.description,
        inputs,
        dict(document.defaults),
        blocks,
        document.layers,
        output,
        source,
        document.training,
    )
    if document.weights is not None:
        folder = os.path.dirname(os.path.abspath(source.file_of(("weights",))))
        spec.weights = {
            "path": os.path.join(folder, document.weights.path),
            "skip_mismatch": document.weights.skip_mismatch,
        }
    if document.search:
        spec.search = dict(document.search)
    spec.params = dict(document.params)
    if document.outputs is not None:
        spec.outputs = {name: head.model_dump() for name, head in document.outputs.items()}
    return spec


def _name_from(file) -> str:
    """A spec without `name` is named after its file, as a valid name."""
    stem = as_model_name(os.path.splitext(os.path.basename(file))[0])
    return stem[:100] or "model"


def _input(model: Input, default_name, path) -> InputDef:
    return InputDef(model.name or default_name, tuple(model.shape), model.dtype, path)


def library_blocks(source: Source, includes, library: _WithBlocks | None = None) -> dict:
    """The blocks `source` defines and imports, checked; imported libraries are read through `includes`."""
    with in_source(source):
        library = library or validate(Library, source.data)
        blocks: dict = {}
        for i, relative in enumerate(library.imports):
            with at("imports", i):
                imported = includes.include(source, relative, "imports")
                for name, block in includes.library(imported, library_blocks).items():
                    if blocks.get(name) is block:
                        continue  # the same library, imported again
                    if name in blocks:
                        raise SpecError(
                            f"block '{name}' is defined twice: in {blocks[name].source.file} and {block.source.file}"
                        )
                    blocks[name] = block
        for name, block in library.blocks.items():
            with at("blocks", name):
                if name in blocks:
                    raise SpecError(f"block '{name}' is already imported from {blocks[name].source.file}")
                if name in registry.LAYERS or name in registry.activation_names() or name == SHARE:
                    raise SpecError(f"block name '{name}' is already a layer type; choose another name")
                blocks[name] = BlockDef(
                    name, dict(block.params), list(block.inputs), block.layers, block.output, source, ("blocks", name)
                )
    return blocks
