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


def test_stages_are_sub_packages():
    for stage in ("spec", "keras", "training", "io"):
        assert os.path.exists(os.path.join(PACKAGE, stage, "__init__.py")), stage


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
        if name == "builder.keras.registry":
            continue
        for number, line in enumerate(open(path, encoding="utf-8"), 1):
            if NAME_GUESSES.search(line) and "__main__" not in line:
                offenders.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()}")
    assert not offenders
