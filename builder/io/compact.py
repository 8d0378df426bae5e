"""A flat imported spec in the language's own shape: repeated sub-graphs
become blocks (with `repeat` for numbered runs of them), repeated chains of
layers become small blocks, and arguments most layers share go to `defaults`.

Works on spec data alone (no Keras): the flat spec of keras_import, one entry
per layer. Sub-graphs are found by the names Keras applications give their
layers (`conv2_block1_1_conv` belongs to `conv2_block1`) and kept when the
same structure occurs twice or more; the arguments that differ between the
occurrences become block parameters, entries only some occurrences have are
switched on and off with `when:`. Every layer keeps its name where the names
allow it; `renamed` says where not.
"""

from __future__ import annotations

import collections
import dataclasses
import re

from ..catalogue import registry
from ..spec import argtypes
from ..spec.language import RESERVED, TOP_LEVEL_ORDER, as_entry_name
from .keras_values import simplify

MIN_CHAIN_REPEATS = 3  # a chain of layers becomes a block when it occurs this often
_SHORT = {
    "conv1d": "conv",
    "conv2d": "conv",
    "conv3d": "conv",
    "depthwise_conv2d": "dwconv",
    "separable_conv2d": "sepconv",
    "batch_normalization": "bn",
    "layer_normalization": "ln",
}


@dataclasses.dataclass
class Item:
    """A top-level entry: one layer, or an instance of a block."""

    type: str
    args: dict
    name: str  # the name it is written with and referred to by
    refs: list | dict  # the names it takes (a list, or call argument -> name)
    members: list | None = None  # a block instance: the layers it stands for, named locally
    origin: str = ""  # a member: the layer's name in the imported model
    reps: list | None = None  # a repeated instance: the instances it stands for


@dataclasses.dataclass
class BlockShape:
    name: str
    entries: list  # [(local name, type, refs in local names)]; '<in>' is the input
    instances: list  # Items
    params: dict = dataclasses.field(default_factory=dict)  # name -> default
    fixed: dict = dataclasses.field(default_factory=dict)  # local -> {arg: value or '$param'}
    when: dict = dataclasses.field(default_factory=dict)  # local -> '$param'


def compact(spec: dict) -> tuple[dict, dict]:
    """(the spec in blocks, original layer name -> its name in the new spec's model)."""
    previous = _only_input(spec)
    items = []
    for entry in spec["layers"]:
        ((type_name, args),) = entry.items()
        args = dict(args)
        name = args.pop("name")
        refs = args.pop("inputs", previous)
        refs = [refs] if isinstance(refs, str) else refs
        items.append(Item(type_name, args, name, refs))
        previous = name
    used = set(registry.LAYERS) | set(registry.activation_names()) | {i.name for i in items}
    blocks: list[BlockShape] = []
    items = _group_regions(items, blocks)
    items = _group_chains(items, blocks)
    _name_blocks(blocks, used)
    for block in blocks:
        _parameters(block)
    items = _repeats(items)
    renamed = _names(items)
    result = {key: value for key, value in spec.items() if key != "layers"}
    if isinstance(result.get("output"), dict):
        result["output"] = dict(result["output"])  # defaults may take arguments out of it
    heads = [result["output"]] if isinstance(result.get("output"), dict) else []
    reads = {}  # named output -> the entry it reads, kept out of the defaults
    if "outputs" in result:
        result["outputs"] = {name: dict(head) for name, head in result["outputs"].items()}
        reads = {name: head.pop("input") for name, head in result["outputs"].items() if "input" in head}
        heads += list(result["outputs"].values())
    defaults = _defaults(items, blocks, heads)
    for name, entry in reads.items():
        result["outputs"][name]["input"] = renamed.get(entry, entry)
    if defaults:
        result["defaults"] = defaults
    if blocks:
        result["blocks"] = {block.name: _block_data(block) for block in blocks}
    result["layers"] = _entries(items, _only_input(spec))
    return _order(result), renamed


def _only_input(spec):
    if "input" not in spec:
        return None
    value = spec["input"]
    return value.get("name", "input") if isinstance(value, dict) else "input"


def _bases(refs) -> list:
    values = refs.values() if isinstance(refs, dict) else refs or []
    return [value.split(".", 1)[0] for value in values]


def _map_refs(refs, change):
    if isinstance(refs, dict):
        return {key: change(value) for key, value in refs.items()}
    return [change(value) for value in refs]


def _rename_ref(ref, names):
    base, dot, rest = ref.partition(".")
    return names.get(base, base) + dot + rest


# --- sub-graphs named alike ---------------------------------------------------------------


def _group_regions(items, blocks):
    """Replace runs of layers named PREFIX_... that repeat in structure by block instances."""
    rejected: set = set()
    while True:
        chosen = _choose_regions(items, rejected)
        homes = _homes([_region_shape(items, *region) for region in chosen])
        counts = collections.Counter(homes)
        lonely = {region for region, home in zip(chosen, homes) if counts[home] < 2}
        if not lonely:
            break
        rejected |= lonely
    by_home: dict = {}
    for home in homes:
        if home not in by_home:
            by_home[home] = BlockShape(None, list(home), [])
            blocks.append(by_home[home])
    starts = {region[0]: (region, home) for region, home in zip(chosen, homes)}
    result, i, exits = [], 0, {}
    while i < len(items):
        if i not in starts:
            result.append(items[i])
            i += 1
            continue
        (start, end, prefix), home = starts[i]
        members = items[start:end]
        exits[members[-1].name] = prefix
        instance = Item(None, {}, prefix, [_external(members)], [_local(m, prefix) for m in members])
        by_home[home].instances.append(instance)
        result.append(instance)
        i = end
    for item in result:
        item.refs = _map_refs(item.refs, lambda ref, exits=exits: _rename_ref(ref, exits))
    return result


def _local(member: Item, prefix: str) -> Item:
    return Item(member.type, member.args, member.name[len(prefix) + 1 :], member.refs, origin=member.name)


def _external(members) -> str:
    names = {m.name for m in members}
    (outside,) = {ref for m in members for ref in _all_refs(m) if ref.split(".", 1)[0] not in names}
    return outside


def _all_refs(item):
    return list(item.refs.values()) if isinstance(item.refs, dict) else list(item.refs)


def _consumers(items) -> dict:
    found = collections.defaultdict(set)
    for i, item in enumerate(items):
        for base in _bases(item.refs):
            found[base].add(i)
    return found


def _candidate_regions(items) -> list:
    """(start, end, prefix) for runs of items named PREFIX_..., entered by one
    tensor and used outside only through their last item."""
    consumers = _consumers(items)
    seen, found = set(), []
    for i, item in enumerate(items):
        tokens = item.name.split("_")
        for depth in range(1, len(tokens)):
            prefix = "_".join(tokens[:depth])
            if prefix in seen or not prefix:
                continue
            seen.add(prefix)
            end = i
            while end < len(items) and items[end].name.startswith(prefix + "_"):
                end += 1
            if end - i >= 2 and _is_region(items, i, end, prefix, consumers):
                found.append((i, end, prefix))
    return found


def _is_region(items, start, end, prefix, consumers) -> bool:
    members = items[start:end]
    if (
        any(item.name.startswith(prefix + "_") for item in items[end:])
        or prefix in {i.name for i in items}
        or any(m.name == prefix + "_input" for m in members)
    ):
        return False
    names = {m.name for m in members}
    outside = {ref for m in members for ref in _all_refs(m) if ref.split(".", 1)[0] not in names}
    if len(outside) != 1 or any("." in ref for ref in outside):
        return False
    return all(not any(not start <= j < end for j in consumers.get(member.name, ())) for member in members[:-1])


def _choose_regions(items, rejected) -> list:
    """Regions that share their structure with others, those that save the
    most lines first, not overlapping."""
    candidates = [c for c in _candidate_regions(items) if c not in rejected]
    shapes = {c: _region_shape(items, *c) for c in candidates}
    homes = dict(zip(candidates, _homes([shapes[c] for c in candidates])))
    saving: collections.Counter = collections.Counter()
    for candidate, home in homes.items():
        saving[home] += len(shapes[candidate]) - 1
    for home in set(homes.values()):
        saving[home] -= len(home)
    taken, chosen = [False] * len(items), []
    for start, end, prefix in sorted(candidates, key=lambda c: (-saving[homes[c]], c[0] - c[1])):
        if saving[homes[(start, end, prefix)]] > 0 and not any(taken[start:end]):
            chosen.append((start, end, prefix))
            taken[start:end] = [True] * (end - start)
    return sorted(chosen)


def _region_shape(items, start, end, prefix) -> tuple:
    members = items[start:end]
    names = {m.name for m in members}

    def local(ref):
        base, dot, rest = ref.partition(".")
        return (base[len(prefix) + 1 :] if base in names else "<in>") + dot + rest

    return tuple((m.name[len(prefix) + 1 :], m.type, _freeze(_map_refs(m.refs, local))) for m in members)


def _freeze(refs):
    return tuple(sorted(refs.items())) if isinstance(refs, dict) else tuple(refs)


def _fits(small, big) -> bool:
    """Whether shape `small` is shape `big` with some one-input entries switched off."""
    big_entries = {local: (type_name, refs) for local, type_name, refs in big}
    small_locals = [local for local, _, _ in small]
    if len(small) >= len(big) or not set(small_locals) <= set(big_entries):
        return False
    if [local for local, _, _ in big if local in set(small_locals)] != small_locals or small[-1][0] != big[-1][0]:
        return False
    removed = {local: refs for local, (_, refs) in big_entries.items() if local not in set(small_locals)}
    for local, refs in removed.items():  # switched off, an entry passes on its input (a merge its first)
        if (
            not refs
            or not isinstance(refs[0], str)
            or "." in refs[0]
            or (len(refs) != 1 and registry.get(big_entries[local][0]).kind != "merge")
        ):
            return False

    def resolve(ref):
        while ref in removed:
            ref = removed[ref][0]
        return ref

    for local, type_name, refs in small:
        big_type, big_refs = big_entries[local]
        if big_type != type_name or tuple(resolve(r) if isinstance(r, str) else r for r in big_refs) != refs:
            return False
    return True


def _homes(shapes) -> list:
    """For each shape, the largest shape it is or fits in: the shape of its block."""
    home: dict = {}
    for shape in sorted(set(shapes), key=len, reverse=True):
        home[shape] = next((key for key in dict.fromkeys(home.values()) if _fits(shape, key)), shape)
    return [home[shape] for shape in shapes]


# --- chains of layers -------------------------------------------------------------------


def _group_chains(items, blocks):
    """Replace a chain of layer types that occurs MIN_CHAIN_REPEATS times or
    more (conv2d -> batch_normalization -> activation) by a block."""
    for _ in range(2):
        found = _best_chain(items)
        if found is None:
            break
        pattern, matches = found
        locals_ = _chain_locals(items, pattern, matches)
        if locals_ is None:
            break
        local_names, prefixes = locals_
        shape = tuple(
            (local, type_name, ("<in>",) if k == 0 else (local_names[k - 1],))
            for k, (local, type_name) in enumerate(zip(local_names, pattern))
        )
        block = BlockShape(None, list(shape), [])
        blocks.append(block)
        starts = {match[0]: (match, prefix) for match, prefix in zip(matches, prefixes)}
        inside = {i for match in matches for i in match[1:]}
        exits, result = {}, []
        for i, item in enumerate(items):
            if i in inside:
                continue
            if i in starts:
                match, prefix = starts[i]
                members = [items[j] for j in match]
                instance = Item(
                    None,
                    {},
                    prefix,
                    list(members[0].refs),
                    [Item(m.type, m.args, local, m.refs, origin=m.name) for m, local in zip(members, local_names)],
                )
                block.instances.append(instance)
                exits[members[-1].name] = prefix
                result.append(instance)
            else:
                result.append(item)
        for item in result:
            item.refs = _map_refs(item.refs, lambda ref, exits=exits: _rename_ref(ref, exits))
        items = result
    return items


def _best_chain(items):
    """(types, [indices of each occurrence]) of the chain that saves the most lines."""
    consumers = _consumers(items)
    index = {item.name: i for i, item in enumerate(items)}
    follows = {}
    for i, item in enumerate(items):
        if item.members is None and isinstance(item.refs, list) and len(item.refs) == 1:
            j = index.get(item.refs[0])
            if j is not None and items[j].members is None and consumers[items[j].name] == {i}:
                follows[j] = i
    best, best_saving = None, 0
    for length in (4, 3, 2):
        occurrences, taken = collections.defaultdict(list), collections.defaultdict(set)
        for start in range(len(items)):
            chain = [start]
            while len(chain) < length and chain[-1] in follows:
                chain.append(follows[chain[-1]])
            pattern = tuple(items[j].type for j in chain)
            if len(chain) == length and not taken[pattern] & set(chain):
                occurrences[pattern].append(chain)
                taken[pattern].update(chain)
        for pattern, matches in occurrences.items():
            saving = len(matches) * (length - 1) - (length + 3)
            if len(matches) >= MIN_CHAIN_REPEATS and saving > best_saving:
                best, best_saving = (pattern, matches), saving
    return best


def _chain_locals(items, pattern, matches):
    """Local layer names and instance names: the layers' own (PREFIX_local)
    when every occurrence is named that way, else short type names and the first layer's name."""
    suffixes = None
    prefixes = []
    for match in matches:
        names = [items[j].name for j in match]
        common = _common_prefix(names)
        if not common:
            suffixes = None
            break
        these = [name[len(common) + 1 :] for name in names]
        if suffixes not in (None, these):
            suffixes = None
            break
        suffixes = these
        prefixes.append(common)
    if suffixes is not None and len(set(suffixes)) == len(suffixes) and len(set(prefixes)) == len(prefixes):
        return suffixes, prefixes
    local_names = []
    for type_name in pattern:
        base = _SHORT.get(type_name, type_name)
        local_names.append(base if base not in local_names else f"{base}_{len(local_names)}")
    return local_names, [items[match[0]].name for match in matches]


def _common_prefix(names) -> str:
    tokens = [name.split("_") for name in names]
    common = []
    for parts in zip(*tokens):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    if any(len(t) <= len(common) for t in tokens):
        return ""
    return "_".join(common)


# --- blocks, parameters, repeats ----------------------------------------------------------


def _name_blocks(blocks, used):
    """conv2_block1, block2a, ... -> `conv_block`, `block`: the instances'
    names without their numbers; a second block of that name is told apart by
    a layer only it has (`block_with_add`)."""
    first_of: dict = {}
    for block in blocks:
        stems = collections.Counter(
            "_".join(t for t in (re.match(r"[A-Za-z]*", token).group() for token in inst.name.split("_")) if t)
            for inst in block.instances
        )
        base = stems.most_common(1)[0][0] or "block"
        if all(inst.members[0].origin == inst.name for inst in block.instances):
            base = "_".join(local for local, _, _ in block.entries)  # a chain named by its layers
        if base in first_of:
            others = {local for local, _, _ in first_of[base].entries}
            own = next((local for local, _, _ in block.entries if local not in others), None)
            name = f"{base}_with_{own}" if own else base
        else:
            first_of[base] = block
            name = base
        name = _unique(name if re.match(r"[A-Za-z]", name) else f"block_{name}", used)
        used.add(name)
        block.name = name
        for inst in block.instances:
            inst.type = name


_ABSENT = object()


def _default_of(type_name, key):
    layer_type = registry.get(type_name)
    info = layer_type.args.get(key, {})
    return _ABSENT if info.get("required") else simplify(layer_type, key, info.get("default"))


def _key(value) -> str:
    return repr(value)


def _parameters(block: BlockShape):
    """What differs between a block's instances becomes its parameters."""
    members = [{m.name: m for m in inst.members} for inst in block.instances]
    groups: dict = {}  # (arg, value vector) -> [locals]
    for local, type_name, _ in block.entries:
        present = [local in found for found in members]
        if not all(present):
            groups.setdefault(("when", tuple(present)), []).append(local)
        keys = dict.fromkeys(k for found in members if local in found for k in found[local].args)
        for key in keys:
            default = _default_of(type_name, key)
            values = [found[local].args.get(key, default) if local in found else _ABSENT for found in members]
            shown = [v for v in values if v is not _ABSENT]
            if all(_key(v) == _key(shown[0]) for v in shown):
                if _key(shown[0]) != _key(default):
                    block.fixed.setdefault(local, {})[key] = shown[0]
                continue
            _join(groups, key, local, values)
    arg_names = collections.Counter(key for key, _ in groups if key != "when")
    for (key, _), found in groups.items():
        if key != "when":
            values = _merged([v for _, v in found])
        if key == "when":
            param = _unique(f"with_{found[0]}", block.params)
            values = [all(local in m for local in found) for m in members]
            for local in found:
                block.when[local] = f"${param}"
        else:
            local = found[0][0]
            param = _unique(key if arg_names[key] == 1 and key not in RESERVED else f"{local}_{key}", block.params)
            for local, _ in found:
                block.fixed.setdefault(local, {})[key] = f"${param}"
        shown = [v for v in values if v is not _ABSENT]
        default = collections.Counter(_key(v) for v in shown).most_common(1)[0][0]
        block.params[param] = next(v for v in shown if _key(v) == default)
        for inst, value in zip(block.instances, values):
            if value is not _ABSENT and _key(value) != default:
                inst.args[param] = value


def _join(groups, key, local, values):
    """Parameters of one argument share a name where their values agree
    wherever both entries are present (a projection's filters and the output's)."""
    for (other_key, _number), found in groups.items():
        if other_key == key and all(
            a is _ABSENT or b is _ABSENT or _key(a) == _key(b) for a, b in zip(_merged([v for _, v in found]), values)
        ):
            found.append((local, values))
            return
    groups[(key, len(groups))] = [(local, values)]


def _merged(vectors) -> list:
    return [next((v[i] for v in vectors if v[i] is not _ABSENT), _ABSENT) for i in range(len(vectors[0]))]


def _unique(name, taken) -> str:
    """`name` (letters, digits, _), or `name_2`, `name_3`, ... where it is taken or reserved."""
    name = as_entry_name(name)
    candidate, k = name, 1
    while candidate in taken or candidate in RESERVED:
        k += 1
        candidate = f"{name}_{k}"
    return candidate


def _repeats(items) -> list:
    """Runs of instances NAME1, NAME2, ... NAMEn of one block, each taking the
    one before it, become one entry `{name: NAME, repeat: n, vary: ...}`."""
    consumers = _consumers(items)
    result, renames, i = [], {}, 0
    while i < len(items):
        run = _run_from(items, i, consumers)
        if len(run) < 2:
            result.append(items[i])
            i += 1
            continue
        stem = items[i].name[:-1]
        reps = items[i : i + len(run)]
        common = {
            k: v for k, v in reps[0].args.items() if all(k in r.args and _key(r.args[k]) == _key(v) for r in reps)
        }
        vary = {}
        for k, rep in enumerate(reps, 1):
            changed = {key: value for key, value in rep.args.items() if key not in common}
            if changed:
                vary["first" if k == 1 else "last" if k == len(reps) else k] = changed
        args = {**common, "repeat": len(reps), **({"vary": vary} if vary else {})}
        result.append(Item(reps[0].type, args, stem, reps[0].refs, reps=reps))
        renames[reps[-1].name] = stem
        i += len(run)
    for item in result:
        item.refs = _map_refs(item.refs, lambda ref: _rename_ref(ref, renames))
    return result


def _run_from(items, i, consumers) -> list:
    first = items[i]
    match = re.fullmatch(r"(.*[A-Za-z])1", first.name)
    if first.members is None or match is None:
        return [first]
    run, stem = [first], match.group(1)
    while i + len(run) < len(items):
        nxt, last = items[i + len(run)], run[-1]
        if (
            nxt.type != first.type
            or nxt.name != f"{stem}{len(run) + 1}"
            or nxt.refs != [last.name]
            or consumers[last.name] != {i + len(run)}
        ):
            break
        run.append(nxt)
    return run


def _names(items) -> dict:
    """Each imported layer's name -> its name in the model the new spec builds."""
    renamed = {}
    for item in items:
        for inst in item.reps or ([item] if item.members is not None else []):
            for member in inst.members:
                renamed[member.origin] = f"{inst.name}_{member.name}"
    return {old: new for old, new in renamed.items() if old != new}


# --- defaults ---------------------------------------------------------------------------


def _argument_sets(items, blocks, heads) -> list:
    """(layer type, arguments) of every layer the spec writes, wrapped ones included."""
    found = [(item.type, item.args) for item in items if item.members is None and item.reps is None]
    for block in blocks:
        found += [(type_name, block.fixed.setdefault(local, {})) for local, type_name, _ in block.entries]
    found += [(registry.HEAD, head) for head in heads]
    for type_name, args in list(found):
        layer_type = registry.get(type_name)
        for key, value in args.items():
            if argtypes.arg_type(layer_type, key) == "entry" and isinstance(value, dict) and len(value) == 1:
                found.append(next(iter(value.items())))
    return found


def _defaults(items, blocks, heads) -> dict:
    """Arguments most layers that take them share, moved to `defaults:`."""
    sets = _argument_sets(items, blocks, heads)
    chosen = {}
    counts = collections.Counter(
        (key, _key(value))
        for _, args in sets
        for key, value in args.items()
        if key != "activation" and not (isinstance(value, str) and value.startswith("$"))
    )
    for (key, shown), count in counts.most_common():
        if key in chosen or count < 3:
            continue
        takers = [
            (t, args) for t, args in sets if key in registry.get(t).args and key not in registry.get(t).no_defaults
        ]
        absent = [(t, args) for t, args in takers if key not in args]
        if (
            any(_default_of(t, key) in (None, _ABSENT) for t, _ in absent)
            or count - len(absent) < 3
            or 2 * count <= len(takers)
        ):
            continue
        value = next(args[key] for _, args in takers if key in args and _key(args[key]) == shown)
        chosen[key] = value
        for type_name, args in takers:
            if key not in args:
                args[key] = _default_of(type_name, key)
            elif _key(args[key]) == shown:
                del args[key]
    return chosen


# --- the spec ---------------------------------------------------------------------------


def _block_data(block: BlockShape) -> dict:
    layers, previous = [], "<in>"
    for local, type_name, refs in block.entries:
        args = dict(block.fixed.get(local, {}))
        args["name"] = local
        if local in block.when:
            args["when"] = block.when[local]
        refs = _map_refs(
            dict(refs) if refs and isinstance(refs[0], tuple) else list(refs),
            lambda ref: "input" + ref[4:] if ref.startswith("<in>") else ref,
        )
        if refs != ["input" if previous == "<in>" else previous]:
            args["inputs"] = refs[0] if isinstance(refs, list) and len(refs) == 1 else refs
        layers.append({type_name: args})
        previous = local
    return {"params": block.params, "layers": layers} if block.params else {"layers": layers}


def _entries(items, first_input) -> list:
    entries, previous = [], first_input
    for item in items:
        if item.members is None and item.reps is None:
            args = {**item.args, "name": item.name}
        else:  # an instance: its name says what it is
            args = {"name": item.name, **item.args}
        refs = item.refs
        if refs != [previous]:
            args["inputs"] = refs[0] if isinstance(refs, list) and len(refs) == 1 else refs
        entries.append({item.type: args})
        previous = item.name
    return entries


def _order(spec: dict) -> dict:
    return {key: spec[key] for key in TOP_LEVEL_ORDER if key in spec}
