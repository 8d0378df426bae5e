"""The package's shape: stages as sub-packages, no import cycles, short
functions, and layer behaviour asked of the registry rather than guessed
from names."""

import ast
import os
import re

import pytest

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "builder")


def modules() -> dict:
    """Dotted module name -> its parsed source, for every module of builder/."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(folder, file)
                name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
                found[name] = (path, ast.parse(open(path, encoding="utf-8").read()))
    return found


def imports_of(name, path, tree, known) -> set:
    """The builder modules `name` imports, at the top or inside functions."""
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != name}


# The floors of docs/architecture.md, lowest first: a module imports from its own floor and those below.
FLOORS = [
    ("builder.errors", "builder.files", "builder.network", "builder.backend", "builder.plugins"),
    ("builder.catalogue",),
    ("builder.spec",),
    ("builder.keras",),
    ("builder.training",),
    ("builder.io", "builder.view"),
    ("builder.cli", "builder.__main__", "builder"),
]


def floor_of(name: str) -> int:
    """The floor of module `name`: that of the longest prefix FLOORS names."""
    found = [(len(prefix), number) for number, prefixes in enumerate(FLOORS) for prefix in prefixes
             if name == prefix or name.startswith(prefix + ".")]
    assert found, f"{name} is on no floor: add it to FLOORS and docs/architecture.md"
    return max(found)[1]


def test_stages_are_sub_packages():
    """Every stage below the doors is a package with modules of its own, each on the floor it names."""
    found = modules()
    for prefixes in FLOORS[1:-1]:
        for stage in prefixes:
            inside = [name for name in found if name.startswith(stage + ".")]
            assert os.path.exists(os.path.join(ROOT, *stage.split("."), "__init__.py")), stage
            assert len(inside) >= 2, f"{stage} holds {inside}"
    assert sorted({floor_of(name) for name in found}) == list(range(len(FLOORS)))      # no floor is empty


def test_no_import_runs_back_up_a_floor():
    found = modules()
    upward = sorted(f"{name} (floor {floor_of(name)}) imports {other} (floor {floor_of(other)})"
                    for name, (path, tree) in found.items() for other in imports_of(name, path, tree, found)
                    if floor_of(other) > floor_of(name))
    assert not upward


def test_the_language_and_the_catalogue_import_no_keras():
    """validate, layers and schema stay on floors 0 to 2: no module there imports Keras or TensorFlow
    at its top (the backend module imports it only when asked)."""
    offenders = []
    for name, (_, tree) in modules().items():
        if floor_of(name) > 2 or name == "builder.backend":
            continue
        for node in tree.body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{name}: {n}" for n in names if n.split(".")[0] in ("keras", "tensorflow", "numpy")]
    assert not offenders


def test_no_import_cycles():
    found = modules()
    edges = {name: imports_of(name, path, tree, found) for name, (path, tree) in found.items()}
    done, on_path = set(), []

    def visit(name):
        if name in on_path:
            pytest.fail("import cycle: " + " -> ".join(on_path[on_path.index(name):] + [name]))
        if name in done:
            return
        on_path.append(name)
        for other in sorted(edges[name]):
            visit(other)
        on_path.pop()
        done.add(name)

    for name in sorted(edges):
        visit(name)


def parameters(node) -> list:
    """A function's parameters, `self` and `cls` aside (* and ** ones counted as one each)."""
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def keras_layer_classes(tree) -> set:
    """The classes of a module that are Keras layers (their constructors take their spec entries' arguments)."""
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
            and any(ast.unparse(base).endswith(("layers.Layer", "Layer", "TransformerEncoder")) for base in node.bases)}


def test_no_function_takes_more_than_seven_parameters():
    """KerasHub's style: at most 6-7. The public functions of builder/__init__.py may mirror fit; builder's
    Keras layers take the arguments of their spec entries, as Keras's and KerasHub's layers do."""
    many = []
    for name, (_, tree) in modules().items():
        layers = keras_layer_classes(tree)
        owners = {id(child): node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                  for child in node.body}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or len(parameters(node)) <= 7:
                continue
            if name == "builder" and not node.name.startswith("_"):
                continue
            if node.name == "__init__" and owners.get(id(node)) in layers:
                continue
            many.append(f"{name}.{node.name}: {len(parameters(node))} parameters")
    assert not many


def test_no_class_is_longer_than_200_lines():
    long = [f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
            for name, (_, tree) in modules().items() for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno >= 200]
    assert not long


def test_no_function_is_longer_than_a_screen():
    long = [f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
            for name, (_, tree) in modules().items() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60]
    assert not long


# Guesses about a layer from its name or class name: the registry says these things.
NAME_GUESSES = re.compile(r"""["'](1d|2d|3d|acc)["'] in |__name__ ==|__name__ in |\.name == ["']|\.name in \(""")


def test_only_the_registry_knows_layers_by_name():
    offenders = []
    for name, (path, _) in modules().items():
        if name == "builder.catalogue.registry":
            continue
        for number, line in enumerate(open(path, encoding="utf-8"), 1):
            if NAME_GUESSES.search(line) and "__main__" not in line:
                offenders.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()}")
    assert not offenders
