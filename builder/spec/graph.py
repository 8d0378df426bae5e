"""Expanding a Spec into a flat graph of layer nodes, without Keras: entries,
short forms, defaults, activations, references, blocks and repeats.

Every check that needs no tensor shapes happens here, so `validate` catches
it; graph building then only turns nodes into Keras layers.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import re
import warnings
from typing import Any

from ..errors import SpecError, SpecNote, SpecWarning, at, describe, format_path, in_source, suggest, unknown
from ..keras import registry, signatures
from . import activations, arguments, budget, expressions
from .language import NUMBERINGS, REQUIRED, RESERVED, BlockDef, Spec

MAX_REPEAT = 1000
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


@dataclasses.dataclass
class Graph:
    spec: Spec
    nodes: list
    output: str  # the node (or input) the body ends in
    head: Node | None  # the output Dense layer, or None
    notes: list = dataclasses.field(default_factory=list)  # SpecNotes: builds, but likely not as meant
    tie: str | None = None  # the embedding node the head runs in reverse (`output: {tie: NAME}`)


class _Scope:
    """Names visible to one list of entries (the spec's layers, or one block instance's)."""

    def __init__(self, source, prefix, names, params, via, stack, entries_path, entries):
        self.source = source
        self.prefix = prefix  # prepended to the layer names made here
        self.names = dict(names)  # reference name -> node (or input) name
        self.params = params  # block parameter -> (value, source, path)
        self.via = via
        self.stack = stack  # block names being expanded, for cycles
        self.last = next(iter(self.names.values()), None)
        self.later = _later_names(entries, entries_path)
        self.frames = ()  # Frames of the nodes made here, for diagrams

    def full_name(self, name: str) -> str:
        return f"{self.prefix}_{name}" if self.prefix else name


def _later_names(entries, entries_path) -> dict:
    """Name -> path of every entry that names itself, to tell 'defined later' from 'unknown'."""
    later: dict = {}
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and len(entry) == 1:
            args = next(iter(entry.values()))
            if isinstance(args, dict) and isinstance(args.get("name"), str):
                later.setdefault(args["name"], entries_path + (i,))
    return later


class _Expander:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.nodes: list[Node] = []
        self.taken: dict[str, tuple] = {}  # layer name -> where it was made
        self.counters: dict[str, int] = {}
        self.notes: list[SpecNote] = []
        self.channels: dict[str, int | None] = {  # a node's output channels where arguments alone tell
            item.name: item.shape[-1] if item.shape else None for item in spec.inputs
        }
        self.kinds: dict[str, str] = {}  # node name -> its layer type, for messages

    # --- names ---------------------------------------------------------------------

    def auto_name(self, scope, base: str) -> str:
        stem = scope.full_name(base)
        count = self.counters.get(stem, 0)
        self.counters[stem] = count + 1
        name = stem if count == 0 else f"{stem}_{count}"
        return name if name not in self.taken else self.auto_name(scope, base)

    def claim(self, name: str, scope, path):
        if name in self.taken:
            file, line = self.taken[name]
            raise SpecError(
                f"the layer name '{name}' is already used (at {file}:{line}); names must be unique in the model"
            )
        self.taken[name] = (scope.source.file, scope.source.position(path)[0])

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
            args, origins = self.substitute(scope, args, path + (type_name,))
            name = args.pop("name", None)
            inputs = args.pop("inputs", None)
            vary = args.pop("vary", {})
            if name is not None:
                with at("name"):
                    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]+", name):
                        raise SpecError(f"expected a name of letters, digits and _, got {describe(name)}")
            sources, keys = self.resolve_inputs(scope, inputs)
            names = self.known(scope, sources)
            when = self.resolved(args.pop("when", True), names, "when")
            repeat = self.resolved(args.pop("repeat", 1), names, "repeat")
            numbering = args.pop("numbering", "numbers")
            with at("when"):
                if not isinstance(when, bool):
                    raise SpecError(
                        f"expected true or false (often a block parameter such as $shortcut), got {describe(when)}"
                    )
            with at("repeat"):
                if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= MAX_REPEAT:
                    raise SpecError(
                        f"expected a whole number of repetitions from 1 to {MAX_REPEAT}, got {describe(repeat)}"
                    )
            with at("numbering"):
                if numbering not in NUMBERINGS:
                    raise SpecError(f"expected {' or '.join(NUMBERINGS)}, got {describe(numbering)}")
                if numbering == "letters" and repeat > 26:
                    raise SpecError(f"letters name at most 26 repetitions; this entry has {repeat}")
            vary = _vary(vary, repeat)
            if not when:  # a switched-off entry passes its (first) input through
                merge = type_name in registry.LAYERS and registry.LAYERS[type_name].kind == "merge"
                if len(sources) != 1 and not merge:
                    raise SpecError(
                        "an entry switched off with `when: false` must have exactly one input, "
                        "which it passes on (a merge passes its first)"
                    ).at("when")
                if name is not None:
                    scope.names[name] = sources[0]
                return sources[0]
        output = self.repeated(scope, type_name, args, origins, vary, repeat, name, sources, keys, path, numbering)
        if name is not None:
            scope.names[name] = output
        return output

    def repeated(
        self, scope, type_name, args, origins, vary, repeat, name, sources, keys, path, numbering="numbers"
    ) -> str:
        """The entry made `repeat` times, each repetition taking the last one's output;
        repetitions are named NAME1, NAME2, ... (one alone: NAME), or NAMEa, NAMEb, ... (Keras's EfficientNet)."""
        block = self.spec.blocks.get(type_name)
        outer = scope.frames
        if repeat > 1:
            scope.frames = (
                *outer,
                Frame(
                    f"{outer[-1].id if outer else ''}/{format_path(path)}",
                    f"{name or type_name} ×{repeat}",
                    scope.source,
                    path,
                    count=repeat,
                ),
            )
        for k in range(1, repeat + 1):
            origins_k = {**origins, **{key: (scope.source, path + (type_name, "vary", key)) for key in vary.get(k, {})}}
            name_k = (
                name
                if name is None or (repeat == 1 and numbering == "numbers")
                else f"{name}{k if numbering == 'numbers' else chr(ord('a') + k - 1)}"
            )
            with at(type_name):
                names = self.known(scope, sources)
                if repeat > 1:  # a repeated entry's own repetition; else its block instance's
                    names.update(index=k - 1, count=repeat)
                args_k = {key: self.resolved(value, names, key) for key, value in {**args, **vary.get(k, {})}.items()}
                if block is not None:
                    if keys is not None:
                        raise SpecError("a block takes its inputs as a name or a list").at("inputs")
                    output = self.block(scope, block, args_k, origins_k, name_k, sources, path, (k - 1, repeat))
                else:
                    output = self.layer(scope, type_name, args_k, origins_k, name_k, sources, keys, path)
            sources = [output, *sources[1:]]  # repetitions chain the first input; others stay
        scope.frames = outer
        return output

    def known(self, scope, sources) -> dict:
        """What an expression in an entry may name: the block's parameters, with the
        instance's $index, $count and $in_channels (the channels of the block's input);
        outside blocks $in_channels is the channels of the entry's own input."""
        names = {key: value for key, (value, _, _) in (scope.params or {}).items()}
        names.setdefault("index", 0)
        names.setdefault("count", 1)
        if "in_channels" not in names:
            names["in_channels"] = (
                self.channels_of(sources[0]) if sources else expressions.Unknown("$in_channels needs an input")
            )
        return names

    def channels_of(self, reference):
        """The channels (last dimension) of a node's output where arguments alone tell, else an Unknown."""
        base, dot, _ = reference.partition(".")
        found = None if dot else self.channels.get(base)
        if found is None:
            kind = self.kinds.get(base)
            what = f"a {kind} layer" if kind else "an input without a fixed last dimension"
            return expressions.Unknown(
                f"the channels of '{base}' ({what}) are not known before the model is built; write the number"
            )
        return found

    @staticmethod
    def resolved(value, names, key):
        """`value` with its expressions evaluated (errors at `key`)."""
        if isinstance(value, _Expression):
            with at(key):
                return expressions.evaluate(value.text, names)
        if isinstance(value, list):
            return [_Expander.resolved(item, names, key) for item in value]
        if isinstance(value, dict):
            return {k: _Expander.resolved(v, names, key) for k, v in value.items()}
        return value

    def substitute(self, scope, args, path):
        """Replace `$param` values with the block's arguments and mark expressions
        (evaluated per repetition); remember where each argument came from so an
        error can point there."""
        origins = {}

        def walk(value, key):
            if expressions.is_expression(value) or (isinstance(value, str) and value[1:] in expressions.GIVEN):
                return _Expression(value)
            if isinstance(value, str) and value.startswith("$"):
                param = value[1:]
                if scope.params is None:
                    raise SpecError(f"'{value}' refers to a block parameter, but this entry is not inside a block").at(
                        key
                    )
                if param not in scope.params:
                    raise unknown("block parameter", param, scope.params).at(key)
                found, source, where = scope.params[param]
                origins.setdefault(key, (source, where))
                return copy.deepcopy(found)
            if isinstance(value, list):
                return [walk(item, key) for item in value]
            if isinstance(value, dict):
                return {k: walk(v, key) for k, v in value.items()}
            return value

        return {key: walk(value, key) for key, value in args.items()}, origins

    def resolve_inputs(self, scope, inputs) -> tuple[list, list | None]:
        """The node names an entry takes, and the call keywords when `inputs`
        is a mapping ({query: a, value: b, attention_mask: m})."""
        if inputs is None:
            if scope.last is None:
                raise SpecError("this entry has no input: name one with `inputs:`")
            return [scope.last], None
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
            return [self.reference(scope, name) for name in names], keys

    def reference(self, scope, reference: str) -> str:
        """An entry name, or `name.K` for output K of a layer with several (an RNN's states)."""
        base, dot, index = reference.partition(".")
        if dot:
            if not index.isdigit():
                raise SpecError(f"'{reference}': after the dot comes an output number, e.g. {base}.1")
            return f"{self.reference(scope, base)}.{index}"
        if reference in scope.names:
            return scope.names[reference]
        if reference in scope.later:
            line = scope.source.position(scope.later[reference])[0]
            raise SpecError(f"'{reference}' is defined later (line {line}); an entry can only use entries above it")
        known = [n for n in scope.names if n]
        raise SpecError(
            f"unknown reference '{reference}'.{suggest(reference, known)} "
            f"Names defined above: {', '.join(known) or 'none'}."
        )

    # --- layers --------------------------------------------------------------------

    def layer(self, scope, type_name, args, origins, name, sources, keys, path) -> str:
        path = path + (type_name,)
        if type_name not in registry.LAYERS or registry.LAYERS[type_name].applies_activation:
            type_name, args = self.activation_entry(type_name, args, origins, scope, path)
        layer_type = registry.get(type_name)
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
        explicit = frozenset(args)
        self.apply_defaults(layer_type, args, origins, path)
        activation_entry = self.split_activation(layer_type, args, origins, scope, path)
        self.check(layer_type, args, origins, scope, path)
        if layer_type.wraps:
            explicit = self.wrapped(layer_type, args, origins, scope, path)
        _check_input_count(layer_type, sources, keys)
        full = scope.full_name(name) if name else self.auto_name(scope, type_name)
        self.claim(full, scope, path)
        output = self.add(
            Node(
                full,
                layer_type,
                args,
                list(sources),
                scope.source,
                path,
                scope.via,
                keys,
                explicit,
                scope.frames,
                origins,
            )
        )
        if activation_entry is not None:
            act_type, act_args = activation_entry
            act_name = f"{full}_{act_type.name}"
            self.claim(act_name, scope, path)
            output = self.add(
                Node(
                    act_name,
                    act_type,
                    act_args,
                    [output],
                    scope.source,
                    path,
                    scope.via,
                    frames=scope.frames,
                    origins=origins,
                )
            )
        return output

    def wrapped(self, wrapper, args, origins, scope, path) -> frozenset:
        """Check the entries a layer holds (`bidirectional: {layer: {lstm: 64}}`,
        `rnn: {cell: {lstm_cell: 8}}`, `stacked_rnn_cells: {cells: [...]}`) and
        store them normalized; returns the first held entry's own arguments."""
        explicit = None
        for key in [arg for arg in wrapper.args if wrapper.arg_type(arg) in ("entry", "entries")]:
            if args.get(key) is None:
                continue
            with at(key):
                many = wrapper.arg_type(key) == "entries"
                held = []
                for i, entry in enumerate(args[key] if many else [args[key]]):
                    with at(*((i,) if many else ())):
                        inner_name, inner_args, own = self.held_entry(wrapper, entry, scope, path)
                        held.append({inner_name: inner_args})
                        if explicit is None:
                            explicit = own
            args[key] = held if many else held[0]
        return explicit or frozenset()

    def held_entry(self, wrapper, entry, scope, path):
        inner_name, inner_args = parse_entry(entry, {})
        with at(inner_name):
            inner = registry.get(inner_name)
            if inner.kind not in wrapper.wraps:
                raise SpecError(_cannot_wrap(wrapper, inner_name))
            explicit = frozenset(inner_args)
            self.apply_defaults(inner, inner_args, {}, path)
            if self.split_activation(inner, inner_args, {}, scope, path) is not None:
                raise SpecError(
                    "a wrapped layer takes a plain activation (relu, tanh, ...), not leaky_relu, prelu or maxout"
                ).at("activation")
            arguments.check_args(inner, inner_args)
            if inner.wraps:
                self.wrapped(inner, inner_args, {}, scope, path)
        return inner_name, inner_args, explicit

    def add(self, node: Node) -> str:
        if len(self.nodes) >= MAX_NODES:
            raise SpecError(f"the model would have more than {MAX_NODES:,} layers")
        self.nodes.append(node)
        self.kinds[node.name] = node.type.name
        inputs = [None if "." in reference else self.channels.get(reference) for reference in node.inputs]
        self.channels[node.name] = registry.channels(node.type, node.args, inputs)
        return node.name

    def apply_defaults(self, layer_type, args, origins, path):
        for key, value in self.spec.defaults.items():
            if key in args or key not in layer_type.args or key in layer_type.no_defaults:
                continue
            if key == "activation" and (layer_type.kind != "layer" or args.get("activation", 0) is None):
                continue
            args[key] = copy.deepcopy(value)
            origins[key] = (self.spec.source, ("defaults", key))

    def activation_entry(self, type_name, args, origins, scope, path):
        """`- swish`, `- activation: swish` or `- activation: prelu` -> the layer type that does it."""
        if type_name in registry.LAYERS:  # the type that applies a named activation
            if "activation" not in args:
                return type_name, args  # the schema check reports the missing argument
            value = args.pop("activation")
        else:
            value = type_name
        act_name, act_args = self.activation(value, origins, scope, path)
        if act_name in registry.LAYER_ACTIVATIONS:
            return act_name, {**act_args, **args}
        return _activation_type(), {"activation": act_name, **args}

    def activation(self, value, origins, scope, path):
        try:
            return activations.parse(value)
        except SpecError as err:
            raise self.located(err.at("activation"), origins, "activation", scope, path) from None

    def split_activation(self, layer_type, args, origins, scope, path):
        """`activation: prelu` (or leaky_relu, maxout, or {name: args}) on a layer
        becomes the layer without activation, then that activation's own layer."""
        value = args.get("activation")
        if value is None or layer_type.kind != "layer":
            return None
        act_name, act_args = self.activation(value, origins, scope, path)
        if act_name not in registry.LAYER_ACTIVATIONS:
            args["activation"] = act_name
            return None
        act_type = registry.LAYERS[act_name]
        args["activation"] = None
        if act_type.widens:
            factor = act_args.get(act_type.widens, act_type.args[act_type.widens]["default"])
            width = layer_type.width
            if width is None:
                raise SpecError(
                    f"{act_name} as the activation of {layer_type.name} needs a layer with units "
                    f"or filters; add a `- {act_name}` entry after it instead"
                ).at("activation")
            if isinstance(args.get(width), int):
                args[width] = args[width] * factor  # maxout: k linear pieces per output unit
        return act_type, act_args

    def check(self, layer_type, args, origins, scope, path):
        try:
            arguments.check_args(layer_type, args)
            if layer_type.check is not None:
                layer_type.check(args)
        except SpecError as err:
            raise self.located(err, origins, err.path[0] if err.path else None, scope, path) from None

    def located(self, err, origins, arg, scope, path):
        """Point an argument's error where the value was written: the entry, the
        spec's defaults, or the block instance that passed it."""
        if arg in origins:
            source, where = origins[arg]
            source.locate(err, where)
        return err

    # --- blocks --------------------------------------------------------------------

    def block(self, scope, block: BlockDef, args, origins, name, sources, path, position=(0, 1)) -> str:
        if block.name in scope.stack:
            chain = " -> ".join((*scope.stack, block.name))
            raise SpecError(f"block cycle: {chain}")
        params = {}
        for key, value in args.items():
            if key not in block.params:
                raise unknown("argument", key, block.params, of=f" for block '{block.name}'").at(key)
            source, where = origins.get(key, (scope.source, path + (block.name, key)))
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
                params[key] = (default, block.source, block.path + ("params", key))
        params["index"] = (position[0], scope.source, path)
        params["count"] = (position[1], scope.source, path)
        params["in_channels"] = (self.channels_of(sources[0]) if sources else None, scope.source, path)
        if len(sources) != len(block.inputs):
            raise SpecError(
                f"block '{block.name}' takes {len(block.inputs)} input(s) "
                f"({', '.join(block.inputs)}), got {len(sources)}"
            )
        instance = scope.full_name(name) if name else self.auto_name(scope, block.name)
        line = scope.source.position(path)[0]
        via = [*scope.via, (format_path(path), scope.source.file, line)]
        inner = _Scope(
            block.source,
            instance,
            dict(zip(block.inputs, sources)),
            params,
            via,
            (*scope.stack, block.name),
            block.path + ("layers",),
            block.layers,
        )
        inner.frames = (*scope.frames, Frame(instance, instance, scope.source, path, block=block.name))
        try:
            output = self.entries(inner, block.layers, block.path + ("layers",))
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
        return output


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


def _activation_type() -> str:
    """The layer type that applies an activation function by name."""
    return next(name for name, t in registry.LAYERS.items() if t.applies_activation)


def _cannot_wrap(wrapper, inner_name) -> str:
    if len(wrapper.wraps) == 1:
        kind = wrapper.wraps[0]
        return f"{wrapper.name} wraps a {kind} layer ({', '.join(registry.of_kind(kind))}), not {inner_name}"
    return f"{wrapper.name} cannot wrap {inner_name}"


def parse_entry(entry, blocks):
    """`- flatten`, `- dense: 120` or `- conv2d: {filters: 6, ...}` -> (type, args dict)."""
    if isinstance(entry, str):
        type_name, args = entry, None
    elif isinstance(entry, dict) and len(entry) == 1:
        type_name, args = next(iter(entry.items()))
        type_name = str(type_name)
    elif isinstance(entry, dict):
        keys = ", ".join(map(str, entry))
        raise SpecError(
            f"an entry is one `TYPE: ARGS` pair, got the keys {keys}; put name, inputs and the "
            "other arguments inside ARGS, e.g. `- conv2d: {filters: 8, kernel_size: 3, name: c1}`"
        )
    else:
        raise SpecError(f"expected an entry such as `- dense: 64` or `- flatten`, got {describe(entry)}")
    known = [*registry.LAYERS, *registry.activation_names(), *blocks]
    if type_name not in known:
        raise unknown("layer type", type_name, known).at(type_name)
    if args is None:
        return type_name, {}
    if isinstance(args, dict):
        return type_name, dict(args)
    layer_type = registry.LAYERS.get(type_name)
    if layer_type is None or layer_type.short is None:
        raise SpecError(
            f"{type_name} has no short form; write its arguments as a mapping, "
            f"e.g. `- {type_name}: {{...}}`, got {describe(args)}"
        ).at(type_name)
    return type_name, {layer_type.short: args}


def _vary(vary, repeat) -> dict:
    """`vary: {first: {...}, 3: {...}, last: {...}}` -> {repetition number: overrides}."""
    with at("vary"):
        if not isinstance(vary, dict):
            raise SpecError(
                f"expected a mapping of repetitions (first, last or a number) to "
                f"argument overrides, got {describe(vary)}"
            )
        result: dict = {}
        for key, overrides in vary.items():
            index = {"first": 1, "last": repeat}.get(key, key)
            with at(key):
                if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= repeat:
                    raise SpecError(f"expected first, last or a repetition from 1 to {repeat}, got {describe(key)}")
                if not isinstance(overrides, dict):
                    raise SpecError(f"expected argument overrides as a mapping, got {describe(overrides)}")
                if set(overrides) & set(RESERVED):
                    raise SpecError("vary changes arguments only, not name, inputs, repeat, vary or when")
            result[index] = {**result.get(index, {}), **overrides}
        return result


def expand(spec: Spec) -> Graph:
    """The spec's layers, blocks expanded, as a list of nodes in build order."""
    expander = _Expander(spec)
    names = {i.name: i.name for i in spec.inputs}
    for i in spec.inputs:
        expander.taken[i.name] = (spec.source.file, spec.source.position(i.path)[0])
    scope = _Scope(spec.source, "", names, _spec_params(spec), [], (), ("layers",), spec.layers)
    output = expander.entries(scope, spec.layers, ("layers",))
    _return_sequences(expander.nodes)
    head, tie = None, None
    if spec.output is not None and spec.output.get("tie") is not None:
        head, tie = _tied_head(expander, spec, scope, output)
    elif spec.output is not None:
        head = _head(expander, spec, scope, output)
    graph = Graph(spec, expander.nodes, output, head, expander.notes, tie)
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
        extra = [k for k in spec.output if k not in ("pool", "name", "tie", "activation", "dtype")]
        if extra:
            raise SpecError(f"a tied output takes its size and weights from '{tie}'; leave out {', '.join(extra)}").at(
                extra[0]
            )
        with at("tie"):
            target = expander.reference(scope, tie)
        node = next((n for n in expander.nodes if n.name == target), None)
        if node is None or not node.type.reverses:
            kind = f"a {node.type.name} layer" if node else "an input"
            raise SpecError(
                f"'{tie}' is {kind}; a tied output runs an embedding in reverse: make '{tie}' a reversible_embedding"
            ).at("tie")
        args = {
            "activation": spec.output["activation"],
            **({"dtype": spec.output["dtype"]} if "dtype" in spec.output else {}),
        }
        expander.check(registry.LAYERS["activation"], args, {}, scope, ("output",))
        expander.claim(name, scope, ("output",))
    return Node(name, registry.LAYERS["activation"], args, [output], spec.source, ("output",), []), target


def _head(expander, spec, scope, output) -> Node:
    args = {k: v for k, v in spec.output.items() if k not in ("pool", "name", "tie")}
    name = spec.output["name"]
    origins = {key: (spec.source, ("output", key)) for key in args}
    with in_source(spec.source), at("output"):
        dense = registry.LAYERS[registry.HEAD]
        expander.apply_defaults(dense, args, origins, ("output",))
        if args.get("use_bias") is False and "use_bias" not in spec.output:
            source, path = origins["use_bias"]
            expander.notes.append(
                source.locate(
                    SpecNote(
                        f"false applies to the output layer too, which then has no bias ({args.get('units')} "
                        "parameters fewer than a classifier's usual head); write `output: {use_bias: true}` "
                        "to keep its bias, or `output: {use_bias: false}` to say that none is meant"
                    ),
                    path,
                )
            )
        activation_entry = expander.split_activation(dense, args, origins, scope, ("output",))
        expander.check(dense, args, origins, scope, ("output",))
        if activation_entry is not None:
            raise SpecError("the output layer takes a plain activation (softmax, sigmoid, linear, ...)").at(
                "activation"
            )
        expander.claim(name, scope, ("output",))
    return Node(name, dense, args, [output], spec.source, ("output",), [])


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
