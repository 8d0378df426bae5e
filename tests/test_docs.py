"""The docs say what the code does: generated references are fresh, every
command and shipped spec is documented, and documented examples run."""

import json
import os
import re

import pytest

from conftest import ROOT, shipped_specs

README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
SPEC_DOC = open(os.path.join(ROOT, "docs", "spec.md"), encoding="utf-8").read()


def test_layer_reference_is_generated_from_the_registry():
    from builder.io import layer_docs
    with open(layer_docs.TARGET, encoding="utf-8") as handle:
        assert handle.read() == layer_docs.render(), "docs/layers.md is stale: run python tools/regenerate.py"


def test_every_command_is_in_the_readme():
    from builder.cli import COMMANDS
    for command in COMMANDS:
        assert re.search(rf"^\| `{command}[ `]", README, re.M), command


def test_every_shipped_spec_is_in_the_readme():
    for name in shipped_specs():
        assert f"specs/{name}.yaml" in README, name


def test_quick_start_is_the_two_ci_commands():
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    block = README.split("## Quick start", 1)[1].split("```console", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines()]
    assert commands == ['pip install -e ".[dev]" && python cli.py build specs/alexnet.yaml', "python -m pytest"]
    for command in commands:
        assert command in ci


def test_readme_json_example_is_what_build_prints(cli):
    example = re.search(r'^\{"name": "lenet5".*\}$', README, re.M).group(0)
    code, out, _ = cli("build", os.path.join(ROOT, "specs", "lenet5.yaml"), "--set", "defaults.activation=prelu",
                       "--json")
    assert json.loads(out.splitlines()[-1]) == json.loads(example)


def test_lenet_in_the_readme_is_the_shipped_spec():
    from builder.spec import reader as loader
    shown = README.split("```yaml", 1)[1].split("```", 1)[0]
    shipped = loader.load_file(os.path.join(ROOT, "specs", "lenet5.yaml")).data
    data = loader.load_text(shown).data
    assert {k: v for k, v in shipped.items() if k != "description"} == data


def yaml_examples(text):
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


@pytest.mark.parametrize("index", range(len(yaml_examples(SPEC_DOC))))
def test_spec_doc_examples_are_valid_yaml(index):
    from builder.spec import reader as loader
    snippet = yaml_examples(SPEC_DOC)[index].replace("\n      ...\n", "\n")
    if all(line.lstrip().startswith("#") for line in snippet.strip().splitlines()):
        return                              # a comment alone (the editor modeline)
    loader.load_text(snippet, "docs/spec.md")


def test_spec_doc_first_example_validates():
    import builder
    builder.validate(text=yaml_examples(SPEC_DOC)[0])
