"""Expanding a Spec into a flat graph of layer nodes, without Keras: entries,
short forms, defaults, activations, references, blocks and repeats.

Every check that needs no tensor shapes happens here, so `validate` catches
it; graph building then only turns nodes into Keras layers.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib.util
import re
import warnings
from typing import Any

from ..catalogue import registry, shapes, signatures
from ..errors import SpecError, SpecNote, SpecWarning, article, at, describe, format_path, in_source, suggest, unknown
from . import budget, expressions
from .entries import Entry, Numbering, check_settings, parse_entry, parse_numbering, vary_overrides
from .language import ENTRY_NAME, REQUIRED, SHARE, BlockDef, NamedOutput, Spec
from .layer_args import LayerArguments, activation_type

MAX_NODES = 100_000


@dataclasses.dataclass
class Node:
    name: str  # the Keras layer's name, unique in the model
    type: registry.LayerType
    args: dict  # validated keyword arguments, name excluded
    inputs: list  # names of nodes or model inputs
    source: Any  # reader.Source the entry is written in
    path: tuple  # the entry's path there
    via: list  # block instances it was reached through: (path text, file, line)
    input_keys: list | None = None  # call keywords for `inputs: {query: a, ...}`, else positional
    explicit: frozenset = frozenset()  # arguments the spec set itself (not from defaults)
    frames: tuple = ()  # the block instances and repeated entries it was made in, outermost first
    origins: dict = dataclasses.field(default_factory=dict)  # argument -> (source, path) it was written at
    shares: str | None = None  # `- share:`: the node whose layer (and weights) this node calls again

    @property
    def layer(self) -> str:
        """The name of the Keras layer this node calls: its own, or the one it shares."""
        return self.shares or self.name

    @property
    def group(self) -> str | None:
        """The top-level block instance it belongs to, as diagrams label it."""
        block = next((f for f in self.frames if f.block), None)
        return f"{block.id}\n({block.block} block)" if block else None

    def error(self, message: str) -> SpecError:
        err = self.source.locate(SpecError(message), self.path)
        err.via = list(self.via)
        return err


@dataclasses.dataclass(frozen=True)
class _Expression:
    """An expression written in a value, evaluated where the entry is made (per repetition)."""

    text: str


@dataclasses.dataclass(frozen=True)
class Frame:
    """A block instance, or an entry repeated `count` times, that nodes were made in (for diagrams)."""

    id: str  # unique in the model: the instance's name, or the repeated entry's place
    label: str
    source: object  # where the instance's (or the repeated) entry is written
    path: tuple
    block: str | None = None  # the block's name, for an instance
    count: int = 1


@dataclasses.dataclass(frozen=True)
class _Instance:
    """A block instance as `- share:` calls it again: its nodes, the names it took and the one it returned."""

    name: str  # the instance's full name, the prefix of its layers' names
    nodes: list
    sources: list
    output: str


@dataclasses.dataclass
class Graph:
    spec: Spec
    nodes: list
    output: str  # the node (or input) the body ends in
    heads: list  # the output layers (Nodes; one per named output), none for `output: none`
    notes: list = dataclasses.field(default_factory=list)  # SpecNotes: builds, but likely not as meant
    tie: str | None = None  # the embedding node the head runs in reverse (`output: {tie: NAME}`)
    pools: dict = dataclasses.field(default_factory=dict)  # head name -> how its input is reduced first (`pool`)
    channels: dict = dataclasses.field(default_factory=dict)  # node or input -> its output's channels, where known

    @property
    def scales_its_input(self) -> bool:
        """Whether a layer of the model scales its raw input itself (a rescaling layer)."""
        return any(node.type.rescales for node in self.nodes)


class _Scope:
    """Names visible to one list of entries (the spec's layers, or one block instance's)."""

    def __init__(self, source, prefix, names, params, via, stack, later):
        self.source = source
        self.prefix = prefix  # prepended to the layer names made here
        self.names = dict(names)  # reference name -> node (or input) name
        self.params = params  # block parameter -> (value, source, path)
        self.via = via
        self.stack = stack  # block names being expanded, for cycles
        self.last = next(iter(self.names.values()), None)
        self.instances: dict[str, _Instance] = {}  # a named block instance's entry name -> it, for `- share:`
        self.later = later  # name -> path of the entries below, to tell 'defined later' from 'unknown'
        self.frames = ()  # Frames of the nodes made here, for diagrams

    def full_name(self, name: str) -> str:
        return f"{self.prefix}_{name}" if self.prefix else name

    def resolve_inputs(self, inputs) -> tuple[list, list | None]:
        """The node names an entry takes, and the call keywords when `inputs`
        is a mapping ({query: a, value: b, attention_mask: m})."""
        if inputs is None:
            if self.last is None:
                raise SpecError("this entry has no input: name one with `inputs:`")
            return [self.last], None
        with at("inputs"):
            keys = None
            if isinstance(inputs, dict):
                keys, names = [str(k) for k in inputs], list(inputs.values())
            else:
                names = [inputs] if isinstance(inputs, str) else inputs
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise SpecError(
                    f"expected an entry name, a list of them, or a mapping of call arguments "
                    f"to them, got {describe(inputs)}"
                )
            return [self.reference(name) for name in names], keys

    def reference(self, reference: str) -> str:
        """An entry name, or `name.K` for output K of a layer with several (an RNN's states)."""
        base, dot, index = reference.partition(".")
        if dot:
            if not index.isdigit():
                raise SpecError(f"'{reference}': after the dot comes an output number, e.g. {base}.1")
            return f"{self.reference(base)}.{index}"
        if reference in self.names:
            return self.names[reference]
        if reference in self.later:
            line = self.source.position(self.later[reference])[0]
            raise SpecError(f"'{reference}' is defined later (line {line}); an entry can only use entries above it")
        known = [n for n in self.names if n]
        raise SpecError(
            f"unknown reference '{reference}'.{suggest(reference, known)} "
            f"Names defined above: {', '.join(known) or 'none'}."
        )


def _later_names(entries, entries_path) -> dict:
    """Name -> path of every entry that names itself, to tell 'defined later' from 'unknown'."""
    later: dict = {}
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and len(entry) == 1:
            args = next(iter(entry.values()))
            if isinstance(args, dict) and isinstance(args.get("name"), str):
                later.setdefault(args["name"], entries_path + (i,))
    return later


class _LayerNames:
    """The model's layer names, each used once: where each was made, and how
    many automatic names (`conv2d`, `conv2d_1`, ...) each stem has had."""

    def __init__(self):
        self.taken: dict[str, tuple] = {}  # layer name -> (file, line) it was made at
        self.counters: dict[str, int] = {}

    def auto(self, scope, base: str) -> str:
        stem = scope.full_name(base)
        count = self.counters.get(stem, 0)
        self.counters[stem] = count + 1
        name = stem if count == 0 else f"{stem}_{count}"
        return name if name not in self.taken else self.auto(scope, base)

    def claim(self, name: str, scope, path):
        if name in self.taken:
            file, line = self.taken[name]
            raise SpecError(
                f"the layer name '{name}' is already used (at {file}:{line}); names must be unique in the model"
            )
        self.taken[name] = (scope.source.file, scope.source.position(path)[0])


class _Made:
    """The nodes made so far: in build order, by name, and the channels of each (and of the
    spec's inputs) where the arguments alone tell."""

    def __init__(self, spec: Spec):
        self.nodes: list[Node] = []
        self.by_name: dict[str, Node] = {}
        self.channels: dict[str, int | None] = {
            item.name: item.shape[-1] if item.shape else None for item in spec.inputs
        }
        self.kinds: dict[str, str] = {}  # node name -> its layer type, for messages
        self.shapes: dict[str, tuple | None] = {  # a node's output shape, batch first, where arguments tell
            item.name: (None, *item.shape) if item.shape else None for item in spec.inputs
        }

    def add(self, node: Node) -> str:
        if len(self.nodes) >= MAX_NODES:
            raise SpecError(f"the model would have more than {MAX_NODES:,} layers")
        self.nodes.append(node)
        self.by_name[node.name] = node
        self.kinds[node.name] = node.type.name
        inputs = [None if "." in reference else self.channels.get(reference) for reference in node.inputs]
        self.channels[node.name] = registry.channels(node.type, node.args, inputs)
        shapes_in = [None if "." in reference else self.shapes.get(reference) for reference in node.inputs]
        self.shapes[node.name] = shapes.output_shape(node.type, node.args, shapes_in, self.channels[node.name])
        return node.name

    def channels_of(self, reference):
        """The channels (last dimension) of a node's output where arguments alone tell, else an Unknown."""
        return self._known(reference, self.channels, "channels are", "an input without a fixed last dimension")

    def shape_of(self, reference):
        """The output shape of a node (or input), batch first, where arguments alone tell, else an Unknown."""
        found = self._known(reference, self.shapes, "shape is", "an input")
        return found if isinstance(found, expressions.Unknown) else list(found)

    def _known(self, reference, table: dict, what: str, an_input: str):
        """`table`'s entry for a node (or input), or an Unknown that says why not (`what`: 'shape is')."""
        base, dot, _ = reference.partition(".")
        found = None if dot else table.get(base)
        if found is None:
            kind = self.kinds.get(base)
            named = f"{article(kind)} layer" if kind else an_input
            return expressions.Unknown(
                f"the {what.split()[0]} of '{base}' ({named}) {what.split()[1]} "
                "not known before the model is built; write the number"
            )
        return found

    def inputs(self, sources) -> list:
        """`$inputs`: each of an entry's (or a block instance's) inputs, by its channels and shape."""
        return [expressions.Input(self.channels_of(source), self.shape_of(source)) for source in sources]


class _Expander:
    """Makes one spec's nodes: entries, their repetitions, layers and block
    instances, each named uniquely; the arguments are LayerArguments' part."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.arguments = LayerArguments(spec)
        self.made = _Made(spec)
        self.names = _LayerNames()
        self.notes: list[SpecNote] = []
        self.spec_params: dict | None = None  # the spec's `params:`, seen in its blocks too
        self.counts: dict[tuple, int] = {}  # (instance, entry name) -> repetitions named so far (`continue`)
        self.instance: _Instance | None = None  # the block instance made last
        self.sharing = _Sharing(self)

    # --- entries -------------------------------------------------------------------

    def entries(self, scope: _Scope, entries: list, path: tuple) -> str:
        with in_source(scope.source):
            with at(*path):
                if not isinstance(entries, list):
                    raise SpecError(f"expected a list of entries, got {describe(entries)}")
            for i, entry in enumerate(entries):
                with at(*path, i):
                    scope.last = self.entry(scope, entry, path + (i,))
        return scope.last

    def entry(self, scope, entry, path) -> str:
        type_name, args = parse_entry(entry, self.spec.blocks)
        with at(type_name):
            args, origins = _substitute(scope, args)
            name = args.pop("name", None)
            inputs = args.pop("inputs", None)
            vary = args.pop("vary", {})
            if name is not None:
                with at("name"):
                    if not isinstance(name, str) or not re.fullmatch(ENTRY_NAME, name):
                        raise SpecError(f"expected a name of letters, digits and _, got {describe(name)}")
            sources, keys = scope.resolve_inputs(inputs)
            names = _known(self.made, scope, sources)
            when = _resolved(args.pop("when", True), names, "when")
            written = "repeat" in args
            repeat = _resolved(args.pop("repeat", 1), names, "repeat")
            numbering = _numbering(self.spec, args, origins)
            first = self.counts.get((scope.prefix, name), 0) if numbering.carry else 0
            check_settings(when, repeat, numbering, first)
            vary, vary_keys = vary_overrides(vary, repeat)
            if not when:  # a switched-off entry passes its (first) input through
                merge = type_name in registry.LAYERS and registry.LAYERS[type_name].kind == "merge"
                if len(sources) != 1 and not merge and type_name not in self.spec.blocks:
                    raise SpecError(
                        "an entry switched off with `when: false` must have exactly one input, "
                        "which it passes on (a merge or a block passes its first)"
                    ).at("when")
                if name is not None:
                    scope.names[name] = sources[0]
                return sources[0]
        if numbering.carry:
            self.counts[(scope.prefix, name)] = first + repeat
        naming = (numbering, first, written)
        output = self.repeated(
            scope, Entry(type_name, args, origins, name, sources, keys, path), (vary, vary_keys), repeat, naming
        )
        if name is not None:
            scope.names[name] = output
            if type_name in self.spec.blocks and repeat == 1:
                scope.instances[name] = self.instance
        return output

    def repeated(self, scope, entry: Entry, varied: tuple[dict, dict], repeat: int, naming: tuple) -> str:
        """The entry made `repeat` times, each repetition taking the last one's output
        (named as `naming`'s Numbering says, counting on from its `first`), with `varied`'s
        overrides per repetition (the overrides, and the keys they were written under)."""
        vary, vary_keys = varied
        numbering, first, written = naming
        block = self.spec.blocks.get(entry.type_name)
        outer, sources = scope.frames, entry.sources
        if repeat > 1:
            label = f"{entry.name or entry.type_name} ×{repeat}"
            place = f"{outer[-1].id if outer else ''}/{format_path(entry.path)}"
            scope.frames = (*outer, Frame(place, label, scope.source, entry.path, count=repeat))
        for k in range(1, repeat + 1):
            where = {
                key: (scope.source, entry.path + (entry.type_name, "vary", written_under, key))
                for key, written_under in vary_keys.get(k, {}).items()
            }
            with at(entry.type_name):
                names = _known(self.made, scope, sources)
                if repeat > 1:  # a repeated entry's own repetition; else its block instance's
                    names.update(index=k - 1, count=repeat)
                args = {key: _resolved(value, names, key) for key, value in {**entry.args, **vary.get(k, {})}.items()}
                name = numbering.name(entry.name, first + k - 1, repeat, written)
                made = dataclasses.replace(
                    entry, args=args, origins={**entry.origins, **where}, name=name, sources=sources
                )
                if entry.type_name == SHARE:
                    output = self.sharing.share(scope, made)
                elif block is not None:
                    if entry.keys is not None:
                        raise SpecError("a block takes its inputs as a name or a list").at("inputs")
                    output = self.block(scope, block, made, (k - 1, repeat))
                else:
                    output = self.layer(scope, made)
            sources = [output, *sources[1:]]  # repetitions chain the first input; others stay
        scope.frames = outer
        return output

    # --- layers --------------------------------------------------------------------

    def layer(self, scope, entry: Entry) -> str:
        path, type_name, args, origins = entry.path + (entry.type_name,), entry.type_name, entry.args, entry.origins
        if type_name not in registry.LAYERS or registry.LAYERS[type_name].applies_activation:
            type_name, args = self.arguments.activation_entry(type_name, args, origins)
        layer_type = registry.get(type_name)
        _check_available(layer_type, type_name, args)
        explicit = frozenset(args)
        self.arguments.apply_defaults(layer_type, args, origins)
        activation_entry = self.arguments.split_activation(layer_type, args, origins)
        self.arguments.check(layer_type, args, origins)
        if layer_type.wraps:
            explicit = self.arguments.wrapped(layer_type, args)
        _check_input_count(layer_type, entry.sources, entry.keys)
        full = scope.full_name(entry.name) if entry.name else self.names.auto(scope, type_name)
        self.names.claim(full, scope, path)
        made = Node(full, layer_type, args, list(entry.sources), scope.source, path, scope.via, entry.keys, explicit)
        output = self.made.add(dataclasses.replace(made, frames=scope.frames, origins=origins))
        if activation_entry is not None:
            act_type, act_args = activation_entry
            act_name = f"{full}_{act_type.name}"
            self.names.claim(act_name, scope, path)
            made = Node(act_name, act_type, act_args, [output], scope.source, path, scope.via)
            output = self.made.add(dataclasses.replace(made, frames=scope.frames, origins=origins))
        return output

    # --- blocks --------------------------------------------------------------------

    def block(self, scope, block: BlockDef, entry: Entry, position=(0, 1)) -> str:
        if block.name in scope.stack:
            chain = " -> ".join((*scope.stack, block.name))
            raise SpecError(f"block cycle: {chain}")
        inputs = self.made.inputs(entry.sources)
        # the spec's own `params:` are seen inside blocks too; a block parameter of the same name wins
        params = {**(self.spec_params or {}), **_instance_params(scope, block, entry, position, inputs)}
        sources, path = entry.sources, entry.path
        if len(sources) != len(block.inputs):
            raise SpecError(
                f"block '{block.name}' takes {len(block.inputs)} input(s) "
                f"({', '.join(block.inputs)}), got {len(sources)}"
            )
        instance = scope.full_name(entry.name) if entry.name else self.names.auto(scope, block.name)
        line = scope.source.position(path)[0]
        via = [*scope.via, (format_path(path), scope.source.file, line)]
        stack, inner_path = (*scope.stack, block.name), block.path + ("layers",)
        inner = _Scope(
            block.source,
            instance,
            dict(zip(block.inputs, sources)),
            params,
            via,
            stack,
            _later_names(block.layers, inner_path),
        )
        inner.frames = (*scope.frames, Frame(instance, instance, scope.source, path, block=block.name))
        first = len(self.made.nodes)
        try:
            output = self.entries(inner, block.layers, inner_path)
            if block.output is not None:
                if block.output not in inner.names:
                    raise block.source.locate(
                        SpecError(
                            f"the block's output '{block.output}' names no entry of it"
                            f"{suggest(block.output, inner.names)}"
                        ),
                        block.path + ("output",),
                    )
                output = inner.names[block.output]
        except SpecError as err:
            at_instance = (err.file, err.line) == (scope.source.file, line)
            if err.located and not at_instance:
                err.via.insert(len(scope.via), (format_path(path), scope.source.file, line))
            raise
        self.instance = _Instance(instance, self.made.nodes[first:], list(sources), output)
        return output


class _Sharing:
    """`- share:` entries: an earlier layer, or every layer of a named block instance, called
    again on new inputs with the same weights (nodes that name the layer they share)."""

    def __init__(self, expander):
        self.made = expander.made
        self.names = expander.names

    def share(self, scope, entry: Entry) -> str:
        """`- share: {layer: NAME, inputs: ...}`: the layer NAME (or every layer of the block
        instance NAME) called again on new inputs, with the same weights."""
        args = dict(entry.args)
        target = args.pop("layer", None)
        if args:
            raise SpecError(f"share takes layer, name, inputs, repeat and when; got {', '.join(args)}").at(
                next(iter(args))
            )
        with at("layer"):
            if not isinstance(target, str):
                raise SpecError(f"expected the name of an entry above to call again, got {describe(target)}")
            instance = scope.instances.get(target)
            found = None if instance else self.made.by_name.get(scope.reference(target))
            if instance is None and found is None:
                raise SpecError(f"'{target}' is an input; share calls a layer (or a block instance) again")
        if instance is not None:
            with at("inputs"):
                return self.share_instance(scope, entry, instance)
        assert found is not None
        original = self.made.by_name.get(found.shares or "", found)
        _check_input_count(original.type, entry.sources, entry.keys)
        name = scope.full_name(entry.name) if entry.name else self.names.auto(scope, f"{original.name}_shared")
        return self.shared_node(scope, entry, original, name, list(entry.sources))

    def share_instance(self, scope, entry: Entry, instance: _Instance) -> str:
        """Every layer of a block instance called again, its inputs the entry's in the instance's place."""
        if len(entry.sources) != len(instance.sources):
            raise SpecError(
                f"'{instance.name}' took {len(instance.sources)} input(s); this call gives {len(entry.sources)}"
            )
        prefix = scope.full_name(entry.name) if entry.name else self.names.auto(scope, f"{instance.name}_shared")
        renamed = dict(zip(instance.sources, entry.sources))
        for node in instance.nodes:
            original = self.made.by_name.get(node.shares or "", node)
            inputs = [_renamed(reference, renamed) for reference in node.inputs]
            renamed[node.name] = self.shared_node(
                scope, entry, original, prefix + node.name[len(instance.name) :], inputs, node.input_keys
            )
        return _renamed(instance.output, renamed)

    def shared_node(self, scope, entry: Entry, original: Node, name: str, inputs: list, keys=None) -> str:
        path = entry.path + (SHARE,)
        self.names.claim(name, scope, path)
        made = Node(
            name, original.type, original.args, inputs, scope.source, path, scope.via,
            entry.keys if keys is None else keys, original.explicit, scope.frames, shares=original.name,
        )  # fmt: skip
        return self.made.add(made)


def _known(made: _Made, scope, sources) -> dict:
    """What an expression in an entry may name: the block's parameters (and the spec's), with the
    instance's $index, $count, $in_channels, $in_shape and $inputs (of the block's inputs); outside
    blocks, the spec's parameters, and $in_channels, $in_shape and $inputs of the entry's own inputs."""
    names = {key: value for key, (value, _, _) in (scope.params or {}).items()}
    names.setdefault("index", 0)
    names.setdefault("count", 1)
    if "in_channels" not in names:
        names["in_channels"] = (
            made.channels_of(sources[0]) if sources else expressions.Unknown("$in_channels needs an input")
        )
    if "inputs" not in names:
        names["inputs"] = made.inputs(sources)
    if "in_shape" not in names:
        names["in_shape"] = made.shape_of(sources[0]) if sources else expressions.Unknown("$in_shape needs an input")
    return names


def _numbering(spec, args: dict, origins: dict) -> Numbering:
    """The entry's `numbering:` over the spec's `defaults: {numbering: ...}`, each read where it was written."""
    numbering = Numbering()
    if "numbering" in spec.defaults:
        with in_source(spec.source), at("defaults", "numbering"):
            numbering = parse_numbering(spec.defaults["numbering"])
    if "numbering" not in args:
        return numbering
    value = args.pop("numbering")
    source, where = origins.get("numbering", (None, ("numbering",)))
    with in_source(source) if source is not None else contextlib.nullcontext(), at(*where):
        return parse_numbering(value, numbering)


def _renamed(reference: str, renamed: dict) -> str:
    """A reference (`name` or `name.K`) with its node replaced where `renamed` says."""
    base, dot, index = reference.partition(".")
    return f"{renamed.get(base, base)}{dot}{index}"


def _instance_params(scope, block: BlockDef, entry: Entry, position, inputs) -> dict:
    """A block instance's parameters: its arguments, the block's defaults, and the $index, $count,
    $in_channels (of its first input) and $inputs it is given, each with where it was written."""
    in_channels = inputs[0].channels if inputs else None
    params = {}
    for key, value in entry.args.items():
        if key not in block.params:
            raise unknown("argument", key, block.params, of=f" for block '{block.name}'").at(key)
        source, where = entry.origins.get(key, (scope.source, entry.path + (block.name, key)))
        params[key] = (value, source, where)
    for key, default in block.params.items():
        if key in expressions.GIVEN:
            raise block.source.locate(
                SpecError(f"'{key}' is a name expressions are given (${key}); call the parameter something else"),
                block.path + ("params", key),
            )
        if key not in params:
            if default == REQUIRED:
                raise SpecError(f"block '{block.name}' needs the argument '{key}'")
            if isinstance(default, str) and expressions.is_constant_arithmetic(default):  # `expand: 88 / 24`
                with in_source(block.source), at(*block.path, "params", key):
                    default = expressions.evaluate(default, {})
            params[key] = (default, block.source, block.path + ("params", key))
    params["index"] = (position[0], scope.source, entry.path)
    params["count"] = (position[1], scope.source, entry.path)
    params["in_channels"] = (in_channels, scope.source, entry.path)
    params["inputs"] = (inputs, scope.source, entry.path)
    params["in_shape"] = (inputs[0].shape if inputs else None, scope.source, entry.path)
    return params


def _resolved(value, names, key):
    """`value` with its expressions evaluated (errors at `key`)."""
    if isinstance(value, _Expression):
        with at(key):
            return expressions.evaluate(value.text, names)
    if isinstance(value, list):
        return [_resolved(item, names, key) for item in value]
    if isinstance(value, dict):
        return {k: _resolved(v, names, key) for k, v in value.items()}
    return value


def _substitute(scope, args) -> tuple[dict, dict]:
    """Replace `$param` values with the block's arguments and mark expressions
    (evaluated per repetition); remember where each argument came from so an
    error can point there."""
    origins: dict = {}

    def walk(value, key):
        if expressions.is_expression(value) or (isinstance(value, str) and value[1:] in expressions.GIVEN):
            return _Expression(value)
        if isinstance(value, str) and value.startswith("$"):
            param = value[1:]
            if scope.params is None:
                raise SpecError(
                    f"'{value}' names a parameter, but the spec has no `params:` and this entry is not inside a block"
                ).at(key)
            if param not in scope.params:
                kind = "block parameter" if scope.stack else "parameter (the spec's `params:`)"
                raise unknown(kind, param, [p for p in scope.params if p not in expressions.GIVEN]).at(key)
            found, source, where = scope.params[param]
            origins.setdefault(key, (source, where))
            return copy.deepcopy(found)
        if isinstance(value, list):
            return [walk(item, key) for item in value]
        if isinstance(value, dict):
            return {k: walk(v, key) for k, v in value.items()}
        return value

    return {key: walk(value, key) for key, value in args.items()}, origins


def _check_available(layer_type, type_name: str, args: dict):
    """The layer type can be made here: its package is installed, the installed
    Keras has it and every argument given, and it is not an RNN cell on its own."""
    if layer_type.requires and importlib.util.find_spec(layer_type.requires[0]) is None:
        raise SpecError(
            f"{type_name} comes from {layer_type.requires[1]}, which is not installed: "
            f"pip install {layer_type.requires[1]}"
        )
    if layer_type.module == "keras.layers" and layer_type.plugin_class is None:
        missing = signatures.missing_in_installed_keras(layer_type.cls_name)
        if missing:
            raise SpecError(f"{type_name} needs a newer Keras: {missing}")
        newer = signatures.newer_arguments(
            layer_type.cls_name, [arg for arg in args if arg in layer_type.constructor_args]
        )
        if newer:
            version, wanted = signatures.installed_keras()[0], signatures.table()["keras_version"]
            raise SpecError(
                f"'{newer[0]}' needs a newer Keras: keras.layers.{layer_type.cls_name} of the "
                f"installed Keras {version} does not take it (this package's layer table is Keras "
                f'{wanted}\'s): pip install -U "keras>={wanted}"',
                path=(newer[0],),
            )
    if layer_type.kind == "cell":
        raise SpecError(
            f"{type_name} is an RNN cell: it goes inside an rnn entry, `rnn: {{cell: {{{type_name}: ...}}}}`"
        )


def _check_input_count(layer_type, sources, keys):
    count, kind = len(sources), layer_type.kind
    tensors = layer_type.call_tensors
    if keys is not None:
        if layer_type.call == "dict":
            return  # the network's own input names, checked when it is built
        for key in keys:
            if key not in tensors:
                raise unknown("call input", key, tensors, of=f" for {layer_type.name}").at("inputs", key)
        return
    if kind == "merge" and count < 2:
        raise SpecError(f"{layer_type.name} merges several inputs; list them with `inputs: [a, b]`")
    if kind == "attention" and count > 3:
        raise SpecError(f"{layer_type.name} takes [query, value] or [query, value, key], got {count} inputs")
    if kind in ("layer", "activation") and count > len(tensors):
        hint = "; merge them first (add, concatenate, ...)" if len(tensors) == 1 else ""
        raise SpecError(
            f"{layer_type.name} takes at most {len(tensors)} input(s) ({', '.join(tensors)}), got {count}{hint}"
        ).at("inputs")


def expand(spec: Spec) -> Graph:
    """The spec's layers, blocks expanded, as a list of nodes in build order."""
    expander = _Expander(spec)
    names = {i.name: i.name for i in spec.inputs}
    for i in spec.inputs:
        expander.names.taken[i.name] = (spec.source.file, spec.source.position(i.path)[0])
    later = _later_names(spec.layers, ("layers",))
    expander.spec_params = _spec_params(spec)
    scope = _Scope(spec.source, "", names, expander.spec_params, [], (), later)
    output = expander.entries(scope, spec.layers, ("layers",))
    _return_sequences(expander.made.nodes)
    heads, tie = [], None
    if spec.output is not None and spec.output.get("tie") is not None:
        head, tie = _tied_head(expander, spec, scope, output)
        heads.append(head)
    elif spec.output is not None:
        heads.append(_head(expander, (spec.output["name"], spec.output), scope, output, ("output",)))
    for name, settings in (spec.outputs or {}).items():
        with in_source(spec.source), at("outputs", name, "input"):
            body = scope.reference(settings["input"]) if settings["input"] is not None else output
        heads.append(_head(expander, (name, settings), scope, body, ("outputs", name)))
    pools = {head.name: settings["pool"] for head, settings in zip(heads, _head_settings(spec))}
    graph = Graph(spec, expander.made.nodes, output, heads, expander.notes, tie, pools, expander.made.channels)
    budget.check(graph, **spec.limits)
    for note in graph.notes:
        warnings.warn(note.render(), SpecWarning, stacklevel=2)
    return graph


def _spec_params(spec) -> dict | None:
    """The spec's own `params:` for its top-level entries, each worked out in order (a
    later one may be a formula of earlier ones: `blocks: ceil(2 * $depth) + ...`)."""
    if not spec.params:
        return None
    params: dict = {}
    values: dict = {}
    with in_source(spec.source):
        for key, value in spec.params.items():
            with at("params", key):
                if key in expressions.GIVEN:
                    raise SpecError(f"'{key}' is a name expressions are given (${key}); call it something else")
                if expressions.is_expression(value) or (isinstance(value, str) and value.startswith("$")):
                    value = expressions.evaluate(value, values)
            values[key] = value
            params[key] = (value, spec.source, ("params", key))
    return params


def _tied_head(expander, spec, scope, output) -> tuple[Node, str]:
    """`output: {tie: NAME}`: the named embedding run in reverse (its matrix transposed:
    no weights of its own), then the output's activation."""
    tie, name = spec.output["tie"], spec.output["name"]
    with in_source(spec.source), at("output"):
        extra = [k for k in spec.output if k not in ("pool", "name", "tie", "activation", "dtype", "use_bias")]
        if extra:
            raise SpecError(f"a tied output takes its size and weights from '{tie}'; leave out {', '.join(extra)}").at(
                extra[0]
            )
        if not isinstance(spec.output.get("use_bias", False), bool):
            raise SpecError(f"expected true or false, got {describe(spec.output['use_bias'])}").at("use_bias")
        with at("tie"):
            target = scope.reference(tie)
        node = expander.made.by_name.get(target)
        if node is None or not node.type.reverses:
            kind = f"{article(node.type.name)} layer" if node else "an input"
            raise SpecError(
                f"'{tie}' is {kind}; a tied output runs an embedding in reverse: make '{tie}' a reversible_embedding"
            ).at("tie")
        args = {
            "activation": spec.output["activation"],
            **({"dtype": spec.output["dtype"]} if "dtype" in spec.output else {}),
        }
        applies = registry.LAYERS[activation_type()]
        expander.arguments.check(applies, args, {})
        expander.names.claim(name, scope, ("output",))
    return Node(name, applies, args, [output], spec.source, ("output",), []), target


def _head_settings(spec) -> list:
    """The settings of the spec's output layers, in order: its `output`, or each of its `outputs`."""
    return [spec.output] if spec.output is not None else list((spec.outputs or {}).values())


def _head(expander, named, scope, body, path) -> Node:
    """An output layer (Dense) on `body`: `named` is (its name, its settings) written at `path`."""
    name, settings = named
    spec = expander.spec
    args = {k: v for k, v in settings.items() if k not in ("name", "tie", *NamedOutput.SETTINGS)}
    origins = {key: (spec.source, (*path, key)) for key in args}
    with in_source(spec.source), at(*path):
        dense = registry.LAYERS[registry.HEAD]
        expander.arguments.apply_defaults(dense, args, origins)
        if args.get("use_bias") is False and "use_bias" not in settings:
            source, where = origins["use_bias"]
            written = "output: {%s}" if len(path) == 1 else "outputs: {" + name + ": {%s}}"
            expander.notes.append(
                source.locate(
                    SpecNote(
                        f"false applies to the output layer too, which then has no bias ({args.get('units')} "
                        f"parameters fewer than a classifier's usual head); write `{written % 'use_bias: true'}` "
                        f"to keep its bias, or `{written % 'use_bias: false'}` to say that none is meant"
                    ),
                    where,
                )
            )
        activation_entry = expander.arguments.split_activation(dense, args, origins)
        expander.arguments.check(dense, args, origins)
        if activation_entry is not None:
            raise SpecError("the output layer takes a plain activation (softmax, sigmoid, linear, ...)").at(
                "activation"
            )
        expander.names.claim(name, scope, path)
    return Node(name, dense, args, [body], spec.source, path, [])


def _recurrent(node) -> dict | None:
    """The recurrent layer's arguments if `node` is one, or wraps one."""
    if node.type.kind == "recurrent":
        return node.args
    if node.type.kind == "wrapper":
        ((inner_name, inner_args),) = node.args["layer"].items()
        if registry.LAYERS[inner_name].kind == "recurrent":
            return inner_args
    return None


def _return_sequences(nodes):
    """A recurrent layer that feeds a layer which needs a sequence (another RNN,
    attention, a 1-D convolution, ...) returns its sequence unless the spec says
    otherwise; if the spec says `return_sequences: false`, that's an error here
    rather than a shape error from Keras later."""
    by_name = {node.name: node for node in nodes}
    for consumer in nodes:
        if not consumer.type.takes_sequence:
            continue
        for reference in consumer.inputs[:1]:
            producer = by_name.get(reference)
            args = _recurrent(producer) if producer is not None else None
            if args is None:
                continue
            if "return_sequences" not in producer.explicit:
                args["return_sequences"] = True
            elif not args["return_sequences"]:
                raise producer.error(
                    f"'{producer.name}' returns only its last step (return_sequences: false), but "
                    f"'{consumer.name}' ({consumer.type.name}) needs the whole sequence; set "
                    "return_sequences: true, or leave it out and it is set for you"
                )
